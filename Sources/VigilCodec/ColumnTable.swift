/// A small table of equally long integer and double columns in one blob, each column coded like
/// a chunk's (integers: delta-of-delta, doubles: decimal mantissas or plain): how sealed minute
/// rollups are stored (start and count; sum, mean, m2, min and max).
///
/// Layout: `u8 version · varint rows · u8 integer columns · u8 double columns · columns in order`.
public enum ColumnTable {
    static let version: UInt8 = 1

    public static func encode(integers: [[Int64]], doubles: [[Double]]) -> [UInt8] {
        let rows = integers.first?.count ?? doubles.first?.count ?? 0
        precondition(integers.allSatisfy { $0.count == rows } && doubles.allSatisfy { $0.count == rows }, "columns of one length")
        precondition(integers.count < 256 && doubles.count < 256 && rows <= ChunkCodec.maxCount)
        var out: [UInt8] = [version]
        Varint.append(UInt64(rows), to: &out)
        out.append(UInt8(integers.count))
        out.append(UInt8(doubles.count))
        guard rows > 0 else { return out }
        for c in integers { c.withUnsafeBufferPointer { ChunkCodec.encodeIntegers($0, into: &out) } }
        for c in doubles { c.withUnsafeBufferPointer { ChunkCodec.encodeValues($0, into: &out) } }
        return out
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(ChunkCodecError) -> (integers: [[Int64]], doubles: [[Double]]) {
        var c = ByteCursor(bytes)
        guard try c.byte() == version else { throw .malformed("unknown table version") }
        let rows = try c.count(max: ChunkCodec.maxCount)
        let ni = Int(try c.byte()), nd = Int(try c.byte())
        var integers = [[Int64]](repeating: [], count: ni)
        var doubles = [[Double]](repeating: [], count: nd)
        guard rows > 0 else { return (integers, doubles) }
        for i in 0..<ni {
            integers[i] = [Int64](repeating: 0, count: rows)
            try integers[i].withUnsafeMutableBufferPointer { (b) throws(ChunkCodecError) in try ChunkCodec.decodeIntegers(&c, count: rows, into: b) }
        }
        for i in 0..<nd {
            doubles[i] = [Double](repeating: 0, count: rows)
            try doubles[i].withUnsafeMutableBufferPointer { (b) throws(ChunkCodecError) in try ChunkCodec.decodeValues(&c, count: rows, into: b) }
        }
        return (integers, doubles)
    }
}
