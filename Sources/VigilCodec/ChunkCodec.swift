/// A series' readings as columns, oldest first: what a sealed chunk holds.
public struct SeriesColumns: Sendable {
    public var ts: [Int64]
    public var values: [Double]
    /// The device's sequence numbers (nil where a reading had none).
    public var seq: [Int64?]

    public init(ts: [Int64] = [], values: [Double] = [], seq: [Int64?] = []) {
        self.ts = ts
        self.values = values
        self.seq = seq
    }

    public var count: Int { ts.count }

    public mutating func removeAll(keepingCapacity: Bool = true) {
        ts.removeAll(keepingCapacity: keepingCapacity)
        values.removeAll(keepingCapacity: keepingCapacity)
        seq.removeAll(keepingCapacity: keepingCapacity)
    }

    public mutating func append(ts t: Int64, value: Double, seq s: Int64?) {
        ts.append(t)
        values.append(value)
        seq.append(s)
    }
}

/// Why a chunk could not be decoded (a damaged or foreign blob; never from what `encode` wrote).
public struct ChunkCodecError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public static let truncated = ChunkCodecError(description: "chunk truncated")
    public static func malformed(_ what: String) -> ChunkCodecError { ChunkCodecError(description: "chunk malformed: \(what)") }
}

/// The sealed-chunk format: timestamps and sequence numbers as differences, values as decimal
/// mantissas, each sequence with a per-block predictor, all Rice-coded in blocks of 128
/// (`RiceBlocks`). Bit-exact: every double that goes in comes out with the same bits — values
/// that are not short decimals (or are -0.0, subnormal, infinite, NaN, beyond 2^53) are stored
/// whole as exceptions, and a chunk where most are goes plain (8 bytes a value).
///
/// Layout (version 1), varints LEB128, signed ones zigzagged:
/// ```
/// u8 version · varint n · svarint t0 · [n ≥ 2: predicted(Δt, n − 1)]
/// u8 valueMode: 0 decimal → u8 e · predicted(m, n) · varint exceptions · (varint index gap · 8 bytes raw)*
///               1 plain   → n × 8 bytes
/// u8 seqMode: 0 none, 1 all, 2 some → bitmap ⌈n/8⌉ · varint p · then for the p present:
///             svarint s0 · [p ≥ 2: predicted(Δs, p − 1)]
/// predicted(x, k) = svarint x0 · [k ≥ 2: varint byte length · Rice blocks of the residuals of x1…]
/// ```
/// A value `v` is the mantissa `m` of exponent `e` when `Double(m) / 10^e` has exactly `v`'s bits;
/// `e` is chosen per chunk (the ALP idea, SIGMOD 2024). Predictors, chosen per block by cost: 0
/// the previous value (for differences: delta-of-delta), 1 the mean of the previous eight (noise
/// around a slow level costs its own entropy, not the doubled variance of a difference), 2 linear
/// extrapolation.
public enum ChunkCodec {
    static let version: UInt8 = 1
    static let maxExponent = 18
    /// `10^e` for each exponent the format allows.
    public static let pow10: [Double] = (0...18).map { e in (0..<e).reduce(1.0) { x, _ in x * 10 } }
    /// A chunk holds at most this many readings (a day of 20 Hz data is 1.7 M).
    public static let maxCount = 1 << 24

    // MARK: encoding

    public static func encode(_ c: SeriesColumns) -> [UInt8] {
        precondition(c.ts.count == c.values.count && c.ts.count == c.seq.count, "columns of one length")
        precondition(c.count <= maxCount, "chunk too large")
        var out: [UInt8] = [version]
        out.reserveCapacity(c.count * 2 + 64)
        let n = c.count
        Varint.append(UInt64(n), to: &out)
        c.ts.withUnsafeBufferPointer { encodeIntegers($0, into: &out) }
        c.values.withUnsafeBufferPointer { encodeValues($0, into: &out) }
        encodeSeq(c.seq, into: &out)
        return out
    }

    /// The first value, then the differences as a predicted sequence: the previous-difference
    /// predictor makes them delta-of-delta (0 for a regular series), the mean of eight predicts
    /// the interval of a jittered one (residual variance 2σ² instead of 6σ²).
    static func encodeIntegers(_ x: UnsafeBufferPointer<Int64>, into out: inout [UInt8]) {
        guard let first = x.first else { return }
        Varint.append(signed: first, to: &out)
        guard x.count >= 2 else { return }
        // On the stack for a recent slot's few readings (ingest encodes one per series and commit).
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: x.count - 1) { deltas in
            for i in 1..<x.count { deltas[i - 1] = x[i] &- x[i - 1] }
            encodePredicted(UnsafeBufferPointer(deltas), into: &out)
        }
    }

    /// `m[0]`, then (for two or more) the Rice-coded residuals of `m[1...]` against the cheapest
    /// predictor of each block.
    static func encodePredicted(_ m: UnsafeBufferPointer<Int64>, into out: inout [UInt8]) {
        Varint.append(signed: m[0], to: &out)
        guard m.count >= 2 else { return }
        // The stream is written straight after a one-byte guess of its length, which is widened
        // in place when the stream is 128 bytes or more.
        let lengthAt = out.count
        out.append(0)
        var w = BitWriter(appendingTo: &out)
        encodeMantissaResiduals(m, into: &w)
        out = w.finish()
        let length = out.count - lengthAt - 1
        if length < 0x80 {
            out[lengthAt] = UInt8(length)
        } else {
            var prefix: [UInt8] = []
            Varint.append(UInt64(length), to: &prefix)
            out.replaceSubrange(lengthAt..<lengthAt + 1, with: prefix)
        }
    }

    /// The exponent for `values`, from a sample of 64 scattered positions (all of a small chunk):
    /// the one with the lowest estimated cost, an exception costing about 80 bits and every
    /// decimal digit about 3.3 bits a value. Nil when no exponent fits any sampled value.
    static func exponent(for values: UnsafeBufferPointer<Double>) -> Int? {
        let n = values.count
        let samples = min(n, 64)
        @inline(__always) func position(_ j: Int) -> Int { n <= 64 ? j : Int((UInt64(j) &* 0x9E37_79B9_7F4A_7C15 &>> 11) % UInt64(n)) }
        var best: (e: Int, cost: Double)?
        for e in 0...maxExponent {
            // The digits alone cost more from here on: no larger exponent can be cheaper.
            if let b = best, 3.32 * Double(e * samples) >= b.cost { break }
            var misses = 0
            for j in 0..<samples where mantissa(values[position(j)], e) == nil { misses += 1 }
            guard misses < samples else { continue }
            let cost = Double(misses) * 80 + 3.32 * Double(e * samples)
            if best == nil || cost < best!.cost { best = (e, cost) }
        }
        return best?.e
    }

    /// `v` as the mantissa `m` of exponent `e` (`e` ≤ 18): `Double(m) / 10^e` has exactly `v`'s bits;
    /// nil when none does (also for the ingest journal's decimal values).
    @inlinable @inline(__always)
    public static func mantissa(_ v: Double, _ e: Int) -> Int64? {
        let x = (v * pow10[e]).rounded()
        guard abs(x) < 9_007_199_254_740_992 else { return nil }  // 2^53; NaN fails too
        let m = Int64(x)
        return (Double(m) / pow10[e]).bitPattern == v.bitPattern ? m : nil
    }

    static func encodeValues(_ v: UnsafeBufferPointer<Double>, into out: inout [UInt8]) {
        let n = v.count
        guard n > 0 else { return }
        guard let e = exponent(for: v) else { return encodePlain(v, into: &out) }
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: n) { m in
            encodeDecimal(v, exponent: e, mantissas: m, into: &out)
        }
    }

    /// `v` as mantissas of exponent `e` (into `m`, the caller's scratch), or plain when most are
    /// exceptions.
    static func encodeDecimal(_ v: UnsafeBufferPointer<Double>, exponent e: Int, mantissas m: UnsafeMutableBufferPointer<Int64>,
                              into out: inout [UInt8]) {
        let n = v.count
        var exceptions: [Int] = []
        var previous: Int64?
        for i in 0..<n {
            if let x = mantissa(v[i], e) {
                m[i] = x
                if previous == nil { for j in 0..<i { m[j] = x } }  // leading exceptions take the first mantissa
                previous = x
            } else {
                exceptions.append(i)
                m[i] = previous ?? 0
            }
        }
        // Plain is 64 bits a value; an exception costs about 72 on top of its slot.
        if exceptions.count * 2 > n { return encodePlain(v, into: &out) }
        out.append(0)
        out.append(UInt8(e))
        encodePredicted(UnsafeBufferPointer(m), into: &out)
        Varint.append(UInt64(exceptions.count), to: &out)
        var last = 0
        for i in exceptions {
            Varint.append(UInt64(i - last), to: &out)
            last = i
            withUnsafeBytes(of: v[i].bitPattern.littleEndian) { out.append(contentsOf: $0) }
        }
    }

    static func encodePlain(_ v: UnsafeBufferPointer<Double>, into out: inout [UInt8]) {
        out.append(1)
        for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
    }

    /// Residuals of m[1...] against the cheapest of three predictors, chosen block by block.
    static func encodeMantissaResiduals(_ m: UnsafeBufferPointer<Int64>, into w: inout BitWriter) {
        let n = m.count
        // A block's residuals under each predictor, side by side: `size` apart.
        let size = min(RiceBlocks.blockSize, n - 1)
        var window = m[0] &* 8  // sum of the previous eight mantissas (m[0] stands in before the start)
        var start = 1
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 3 * size) { s in
            while start < n {
                let count = min(size, n - start)
                var sum = window
                for j in 0..<count {
                    let i = start + j
                    let prev = m[i - 1]
                    let prev2 = i >= 2 ? m[i - 2] : m[0]
                    s[j] = Varint.zigzag(m[i] &- prev)
                    s[size + j] = Varint.zigzag(m[i] &- ((sum &+ 4) >> 3))
                    s[2 * size + j] = Varint.zigzag(m[i] &- (2 &* prev &- prev2))
                    sum = sum &+ m[i] &- m[max(i - 8, 0)]
                }
                window = sum
                // A run the previous value predicts exactly (regular timestamps, sequence numbers,
                // a constant) is one zero byte.
                var changes: UInt64 = 0
                for j in 0..<count { changes |= s[j] }
                if changes == 0 {
                    RiceBlocks.writeBlock(UnsafeBufferPointer(rebasing: s[0..<count]), k: nil, predictor: 0, into: &w)
                    start += count
                    continue
                }
                // The predictor with the smallest residuals (the Rice cost grows with their sum),
                // then the best parameter for it alone.
                var predictor = 0
                var smallest = Double.infinity
                for p in 0..<3 {
                    var sum = 0.0
                    for j in 0..<count { sum += Double(s[p * size + j]) }
                    if sum < smallest {
                        smallest = sum
                        predictor = p
                    }
                }
                let chosen = UnsafeBufferPointer(rebasing: s[predictor * size..<predictor * size + count])
                RiceBlocks.writeBlock(chosen, k: RiceBlocks.bestK(chosen)?.k, predictor: UInt8(predictor), into: &w)
                start += count
            }
        }
    }

    static func encodeSeq(_ seq: [Int64?], into out: inout [UInt8]) {
        var count = 0
        for s in seq where s != nil { count += 1 }
        if count == 0 {
            out.append(0)
            return
        }
        if count == seq.count {
            out.append(1)
        } else {
            out.append(2)
            var bitmap = [UInt8](repeating: 0, count: (seq.count + 7) / 8)
            for (i, s) in seq.enumerated() where s != nil { bitmap[i >> 3] |= 1 << UInt8(i & 7) }
            out.append(contentsOf: bitmap)
            Varint.append(UInt64(count), to: &out)
        }
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: count) { present in
            var next = 0
            for case let s? in seq {
                present[next] = s
                next += 1
            }
            encodeIntegers(UnsafeBufferPointer(present), into: &out)
        }
    }

    // MARK: decoding

    /// The number of readings in a chunk, from its header alone.
    public static func count(of bytes: UnsafeRawBufferPointer) throws(ChunkCodecError) -> Int {
        var c = ByteCursor(bytes)
        guard try c.byte() == version else { throw .malformed("unknown version") }
        return try c.count(max: maxCount)
    }

    public static func decode(_ bytes: [UInt8]) throws(ChunkCodecError) -> SeriesColumns {
        var c = SeriesColumns()
        // `withUnsafeBytes` only rethrows untyped errors: carry the typed one out as a Result.
        let result = bytes.withUnsafeBytes { b in Result { () throws(ChunkCodecError) in try decode(b, into: &c) } }
        try result.get()
        return c
    }

    /// Appends the chunk's readings to `columns` (sequence numbers only when `withSeq`; the seq
    /// column is then left as it was).
    public static func decode(_ bytes: UnsafeRawBufferPointer, into columns: inout SeriesColumns, withSeq: Bool = true) throws(ChunkCodecError) {
        var c = ByteCursor(bytes)
        guard try c.byte() == version else { throw .malformed("unknown version") }
        let n = try c.count(max: maxCount)
        guard n > 0 else { return }
        let base = columns.ts.count
        columns.ts.append(contentsOf: repeatElement(0, count: n))
        try columns.ts.withUnsafeMutableBufferPointer { (t) throws(ChunkCodecError) in
            try decodeIntegers(&c, count: n, into: UnsafeMutableBufferPointer(rebasing: t[base...]))
        }
        columns.values.append(contentsOf: repeatElement(0, count: n))
        try columns.values.withUnsafeMutableBufferPointer { (v) throws(ChunkCodecError) in
            try decodeValues(&c, count: n, into: UnsafeMutableBufferPointer(rebasing: v[base...]))
        }
        if withSeq { try decodeSeq(&c, count: n, into: &columns.seq) }
    }

    static func decodeIntegers(_ c: inout ByteCursor, count n: Int, into x: UnsafeMutableBufferPointer<Int64>) throws(ChunkCodecError) {
        x[0] = try c.signed()
        guard n >= 2 else { return }
        // The differences land in x[1...], then a running sum turns them into values.
        try decodePredicted(&c, count: n - 1, into: UnsafeMutableBufferPointer(rebasing: x[1...]))
        var prev = x[0]
        for i in 1..<n {
            prev = prev &+ x[i]
            x[i] = prev
        }
    }

    /// Reads what `encodePredicted` wrote: `n` integers into `m`.
    static func decodePredicted(_ c: inout ByteCursor, count n: Int, into m: UnsafeMutableBufferPointer<Int64>) throws(ChunkCodecError) {
        m[0] = try c.signed()
        guard n >= 2 else { return }
        let stream = try c.take(try c.count(max: Int.max))
        var r = BitReader(stream)
        try withUnsafeTemporaryAllocation(of: UInt64.self, capacity: min(RiceBlocks.blockSize, n)) { (u) throws(ChunkCodecError) in
            var window = m[0] &* 8
            var i = 1
            while i < n {
                let count = min(RiceBlocks.blockSize, n - i)
                let (predictor, constant) = try RiceBlocks.readBlock(count: count, from: &r, into: u.baseAddress!)
                // Each loop keeps the newest values in registers: the chain is the predictor and
                // one add, not a store and a reload.
                var last = m[i - 1]
                if constant && predictor == 0 && count >= 8 {
                    // The previous value repeated (regular timestamps, sequence numbers).
                    (m.baseAddress! + i).update(repeating: last, count: count)
                    window = last &* 8
                    i += count
                    continue
                }
                switch predictor {
                case 0:
                    for j in 0..<count {
                        let k = i + j
                        last = last &+ Varint.unzigzag(u[j])
                        m[k] = last
                        window = window &+ last &- m[max(k - 8, 0)]
                    }
                case 1:
                    for j in 0..<count {
                        let k = i + j
                        last = ((window &+ 4) >> 3) &+ Varint.unzigzag(u[j])
                        m[k] = last
                        window = window &+ last &- m[max(k - 8, 0)]
                    }
                case 2:
                    var before = i >= 2 ? m[i - 2] : m[0]
                    for j in 0..<count {
                        let k = i + j
                        let x = 2 &* last &- before &+ Varint.unzigzag(u[j])
                        before = last
                        last = x
                        m[k] = x
                        window = window &+ x &- m[max(k - 8, 0)]
                    }
                default:
                    throw .malformed("predictor \(predictor)")
                }
                i += count
            }
        }
        guard !r.overran else { throw .truncated }
    }

    static func decodeValues(_ c: inout ByteCursor, count n: Int, into v: UnsafeMutableBufferPointer<Double>) throws(ChunkCodecError) {
        let mode = try c.byte()
        if mode == 1 {
            let raw = try c.take(n * 8)
            for i in 0..<n { v[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))) }
            return
        }
        guard mode == 0 else { throw .malformed("value mode \(mode)") }
        let e = Int(try c.byte())
        guard e <= maxExponent else { throw .malformed("exponent \(e)") }
        let scale = pow10[e]
        // The mantissas are decoded into the output's own memory (same size), then turned into
        // doubles in place: no buffer the size of the chunk to allocate and fault in.
        try v.withMemoryRebound(to: Int64.self) { (m) throws(ChunkCodecError) in try decodePredicted(&c, count: n, into: m) }
        for i in 0..<n { v[i] = Double(Int64(bitPattern: v[i].bitPattern)) / scale }
        let exceptions = try c.count(max: n)
        var index = 0
        for _ in 0..<exceptions {
            index += try c.count(max: n)
            guard index < n else { throw .malformed("exception index") }
            let raw = try c.take(8)
            v[index] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self)))
        }
    }

    static func decodeSeq(_ c: inout ByteCursor, count n: Int, into seq: inout [Int64?]) throws(ChunkCodecError) {
        let mode = try c.byte()
        switch mode {
        case 0:
            seq.append(contentsOf: repeatElement(nil, count: n))
        case 1:
            var s = [Int64](repeating: 0, count: n)
            try s.withUnsafeMutableBufferPointer { (s) throws(ChunkCodecError) in try decodeIntegers(&c, count: n, into: s) }
            seq.append(contentsOf: s.lazy.map { Optional($0) })
        case 2:
            let bitmap = try c.take((n + 7) / 8)
            let p = try c.count(max: n)
            guard p > 0 else { throw .malformed("empty seq column") }
            var s = [Int64](repeating: 0, count: p)
            try s.withUnsafeMutableBufferPointer { (s) throws(ChunkCodecError) in try decodeIntegers(&c, count: p, into: s) }
            var next = 0
            for i in 0..<n {
                if bitmap[i >> 3] & (1 << UInt8(i & 7)) != 0 {
                    guard next < p else { throw .malformed("seq bitmap") }
                    seq.append(s[next])
                    next += 1
                } else {
                    seq.append(nil)
                }
            }
            guard next == p else { throw .malformed("seq bitmap") }
        default:
            throw .malformed("seq mode \(mode)")
        }
    }
}
