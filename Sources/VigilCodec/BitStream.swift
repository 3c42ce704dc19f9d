/// LSB-first bit packing over bytes: the first bit written is bit 0 of byte 0. Whole 64-bit words
/// go out at a time, so the writer costs a shift and an or per field.
struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private var acc: UInt64 = 0
    private var used = 0  // bits of `acc` holding data, 0..<64

    /// Writes after `bytes`' end, taking the array over (`finish` hands it back): no second buffer.
    init(appendingTo bytes: inout [UInt8]) { swap(&self.bytes, &bytes) }

    /// Appends the low `count` bits of `value` (`count` in 0...64; higher bits must be zero).
    @inline(__always)
    mutating func write(_ value: UInt64, _ count: Int) {
        guard count > 0 else { return }
        acc |= value &<< UInt64(used)
        let total = used + count
        if total >= 64 {
            flushWord()
            // What did not fit in the word just written (nothing if `used` was 0).
            acc = used == 0 ? 0 : value &>> UInt64(64 - used)
            used = total - 64
        } else {
            used = total
        }
    }

    @inline(__always)
    private mutating func flushWord() {
        withUnsafeBytes(of: acc.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// The bytes, padded with zero bits to a whole byte; the writer is empty afterwards.
    mutating func finish() -> [UInt8] {
        var rest = used
        var word = acc
        while rest > 0 {
            bytes.append(UInt8(truncatingIfNeeded: word))
            word >>= 8
            rest -= 8
        }
        acc = 0
        used = 0
        var done: [UInt8] = []
        swap(&done, &bytes)  // handed over, not shared: the caller appends to it next
        return done
    }
}

/// Reads what `BitWriter` wrote. Reads past the end see zero bits and set `overran`, so corrupt
/// input decodes to garbage that the caller rejects, never to a crash.
struct BitReader {
    private let base: UnsafeRawPointer
    private let count: Int
    private(set) var position = 0  // in bits

    init(_ buffer: UnsafeRawBufferPointer) {
        // A zero-length buffer may have a nil base; any valid pointer will do since nothing is read.
        base = buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!
        count = buffer.count
    }

    var overran: Bool { position > count * 8 }

    /// At least 57 valid bits starting at the current position (zeros past the end).
    @inline(__always)
    func peek() -> UInt64 {
        let byte = position &>> 3
        let word: UInt64
        if byte &+ 8 <= count {
            word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: byte, as: UInt64.self))
        } else {
            var w: UInt64 = 0
            var i = 0
            while byte + i < count && i < 8 {
                w |= UInt64(base.load(fromByteOffset: byte + i, as: UInt8.self)) << UInt64(8 * i)
                i += 1
            }
            word = w
        }
        return word &>> UInt64(position & 7)
    }

    @inline(__always)
    mutating func skip(_ bits: Int) { position &+= bits }

    /// The next `count` bits, `count` in 0...56.
    @inline(__always)
    mutating func read(_ count: Int) -> UInt64 {
        let v = peek() & ((1 &<< UInt64(count)) &- 1)
        position &+= count
        return v
    }

    /// The next 64 bits.
    mutating func read64() -> UInt64 {
        let lo = read(32)
        return lo | (read(32) << 32)
    }
}

/// LEB128 varints (7 bits a byte, high bit = more) and zigzag signs: chunk headers, and the
/// ingest journal's records.
public enum Varint {
    @inline(__always)
    public static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v &<< 1) ^ (v >> 63)) }

    @inline(__always)
    public static func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }

    public static func append(_ v: UInt64, to out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    public static func append(signed v: Int64, to out: inout [UInt8]) { append(zigzag(v), to: &out) }
}

/// A cursor over a chunk's bytes that throws on truncation.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func byte() throws(ChunkCodecError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint() throws(ChunkCodecError) -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw .malformed("varint too long") }
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
        }
    }

    mutating func signed() throws(ChunkCodecError) -> Int64 { Varint.unzigzag(try varint()) }

    mutating func count(max: Int) throws(ChunkCodecError) -> Int {
        let v = try varint()
        guard v <= UInt64(max) else { throw .malformed("count \(v) exceeds \(max)") }
        return Int(v)
    }

    mutating func take(_ n: Int) throws(ChunkCodecError) -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - offset else { throw .truncated }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n])
    }
}
