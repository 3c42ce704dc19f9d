/// Integer residuals in blocks of 128, each Rice-coded with the parameter `k` that makes it
/// smallest (the FLAC way: a residual `u` costs `(u >> k) + 1 + k` bits, a unary quotient and `k`
/// remainder bits). Near the entropy of the two-sided geometric and Gaussian noise that sensor
/// residuals are, and a block of zeros (regular timestamps, sequence numbers) costs one byte.
///
/// A block starts with an 8-bit header: `k` in the low 6 bits (63: every residual is 0, nothing
/// follows) and a 2-bit predictor id the caller chose for the block. A quotient of `escape` or more
/// is written as `escape` zeros and a one followed by the residual's raw 64 bits, so a wild value
/// costs 89 bits instead of a long unary run.
enum RiceBlocks {
    static let blockSize = 128
    static let escape = 24
    static let maxK = 56
    static let zeroBlock: UInt64 = 63

    /// The cheapest `k` for these zigzagged residuals and its cost in bits (header excluded);
    /// nil when every residual is zero.
    static func bestK(_ u: UnsafeBufferPointer<UInt64>) -> (k: Int, bits: Int)? {
        var sum: Double = 0
        var any: UInt64 = 0
        for x in u {
            sum += Double(x)
            any |= x
        }
        guard any != 0 else { return nil }
        let mean = sum / Double(u.count)
        // For a geometric source the optimum is near log2(mean · ln 2); try its neighbours too.
        let guess = mean < 1 ? 0 : min(maxK, Int((mean * 0.6931471805599453).exponent))
        var best: (k: Int, bits: Int)?
        for k in max(0, guess - 1)...min(maxK, max(0, guess + 1)) {
            let c = cost(u, k: k)
            if best == nil || c < best!.bits { best = (k, c) }
        }
        return best
    }

    @inline(__always)
    static func cost(_ u: UnsafeBufferPointer<UInt64>, k: Int) -> Int {
        var bits = 0
        for x in u {
            let q = x &>> UInt64(k)
            bits &+= q < UInt64(escape) ? Int(q) &+ 1 &+ k : escape + 1 + 64
        }
        return bits
    }

    /// Writes one block: header, then each residual with parameter `k` (nil: all zero).
    static func writeBlock(_ u: UnsafeBufferPointer<UInt64>, k: Int?, predictor: UInt8, into w: inout BitWriter) {
        guard let k else {
            w.write(zeroBlock | UInt64(predictor) << 6, 8)
            return
        }
        w.write(UInt64(k) | UInt64(predictor) << 6, 8)
        let mask = (UInt64(1) &<< UInt64(k)) &- 1
        for x in u {
            let q = x &>> UInt64(k)
            if q < UInt64(escape) {
                w.write(1 &<< q, Int(q) + 1)
                w.write(x & mask, k)
            } else {
                w.write(1 &<< UInt64(escape), escape + 1)
                w.write(x & 0xFFFF_FFFF, 32)
                w.write(x >> 32, 32)
            }
        }
    }

    /// `readBlock` for parameters above 32: a code may need two reads.
    static func readBlockWide(count: Int, k: Int, from r: inout BitReader, into out: UnsafeMutablePointer<UInt64>) throws(ChunkCodecError) {
        for i in 0..<count {
            let q = r.peek().trailingZeroBitCount
            guard q <= escape else { throw .malformed("unary run of \(q) bits") }
            r.skip(q + 1)
            out[i] = q == escape ? r.read64() : (UInt64(q) << UInt64(k)) | r.read(k)
        }
    }

    /// Reads one block of `count` residuals into `out`; returns its predictor id and whether every
    /// residual is zero.
    @inline(__always)
    static func readBlock(count: Int, from r: inout BitReader, into out: UnsafeMutablePointer<UInt64>) throws(ChunkCodecError) -> (predictor: UInt8, zero: Bool) {
        let header = r.read(8)
        let k = Int(header & 63)
        let predictor = UInt8(header >> 6)
        if header & 63 == zeroBlock {
            out.update(repeating: 0, count: count)
            return (predictor, true)
        }
        guard k <= maxK else { throw .malformed("rice parameter \(k)") }
        let mask = (UInt64(1) &<< UInt64(k)) &- 1
        // The common code (quotient < escape) fits in 25 + k ≤ 57 bits of a refilled window when
        // k ≤ 32; the window lives in a register and is refilled from memory only when a code may
        // not fit, so the per-value chain is a tzcnt, a shift and a subtraction.
        guard k <= 32 else {
            try readBlockWide(count: count, k: k, from: &r, into: out)
            return (predictor, false)
        }
        let longest = escape + 1 + k
        var window = r.peek()
        var left = 57
        var used = 0
        for i in 0..<count {
            if left < longest {
                r.skip(used)
                window = r.peek()
                left = 57
                used = 0
            }
            let q = window.trailingZeroBitCount
            if q < escape {
                let n = q &+ 1 &+ k
                out[i] = (UInt64(truncatingIfNeeded: q) &<< UInt64(k)) | ((window &>> UInt64(q &+ 1)) & mask)
                window = window &>> UInt64(n)
                left &-= n
                used &+= n
            } else {
                r.skip(used)
                used = 0
                guard q == escape else { throw .malformed("unary run of \(q) bits") }
                r.skip(q + 1)
                out[i] = r.read64()
                window = r.peek()
                left = 57
            }
        }
        r.skip(used)
        return (predictor, false)
    }
}
