public import VigilCore
import VigilCodec

/// One MQTT message's outcome as it travels to storage: its readings and its rejections.
public struct IngestMessage: Sendable, Equatable {
    public var readings: [Reading]
    public var rejections: [Rejection]
    /// Kept only when there are rejections: the quarantine stores them.
    public var topic: String
    public var payloadHead: [UInt8]
    public var receivedAt: Int64
    /// false for a backfill (Sparkplug's `is_historical`): its readings are stored, but receiving
    /// them is no news of the machine (its presence is judged on live readings only).
    public var live = true

    public init(readings: [Reading], rejections: [Rejection], topic: String, payload: [UInt8], receivedAt: Int64, live: Bool = true) {
        self.live = live
        self.readings = readings
        self.rejections = rejections
        self.topic = rejections.isEmpty ? "" : String(decoding: topic.utf8.prefix(1024), as: UTF8.self)
        payloadHead = rejections.isEmpty ? [] : Array(payload.prefix(1024))
        self.receivedAt = receivedAt
    }
}

/// The binary record format of the ingest journal (little endian):
/// `[u32 length][u32 FNV-1a of body][body]`, body = receivedAt i64; the message's distinct series
/// (count varint, then machine u16+bytes, sensor u16+bytes each); reading count u32, readings
/// (series index varint, ts i64, value bits u64, seq flag u8 [+ i64]); rejection count u32, and
/// if any: topic u16+bytes, payload head u16+bytes, then (reason u8+bytes, detail u16+bytes) each;
/// then, for a message that is not live only, a flags byte (1 = backfill).
/// A reading costs 18–26 bytes: a batch names its series once. Pure: no I/O, tested directly.
public enum JournalCodec {
    public static func encode(_ m: IngestMessage, into out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: [0, 0, 0, 0, 0, 0, 0, 0])  // length + checksum, patched below
        put(m.receivedAt, &out)
        // Series table: readings of a batch usually share a few series.
        var index: [SeriesKey: Int] = [:]
        var order: [SeriesKey] = []
        var refs: [Int] = []
        refs.reserveCapacity(m.readings.count)
        var last: (SeriesKey, Int)?
        for r in m.readings {
            let key = SeriesKey(machine: r.machine, sensor: r.sensor)
            if let l = last, l.0 == key { refs.append(l.1); continue }
            let n = index[key] ?? {
                order.append(key)
                index[key] = order.count - 1
                return order.count - 1
            }()
            refs.append(n)
            last = (key, n)
        }
        Varint.append(UInt64(order.count), to: &out)
        for key in order {
            putString16(key.machine, &out)
            putString16(key.sensor, &out)
        }
        put(UInt32(m.readings.count), &out)
        for (r, ref) in zip(m.readings, refs) {
            Varint.append(UInt64(ref), to: &out)
            put(r.ts, &out)
            put(r.value.bitPattern, &out)
            if let seq = r.seq {
                out.append(1)
                put(seq, &out)
            } else {
                out.append(0)
            }
        }
        put(UInt32(m.rejections.count), &out)
        if !m.rejections.isEmpty {
            putString16(m.topic, &out)
            put(UInt16(m.payloadHead.count), &out)
            out.append(contentsOf: m.payloadHead)
            for j in m.rejections {
                let reason = Array(j.reason.rawValue.utf8)
                out.append(UInt8(reason.count))
                out.append(contentsOf: reason)
                putString16(String(decoding: j.detail.utf8.prefix(4000), as: UTF8.self), &out)
            }
        }
        if !m.live { out.append(1) }
        let bodyLength = out.count - start - 8
        let sum = fnv1a(out[(start + 8)...])
        withUnsafeBytes(of: UInt32(bodyLength).littleEndian) { b in for k in 0..<4 { out[start + k] = b[k] } }
        withUnsafeBytes(of: sum.littleEndian) { b in for k in 0..<4 { out[start + 4 + k] = b[k] } }
    }

    /// Decodes records from the start of `bytes`; stops at the first torn or corrupt record
    /// (the tail a crash can leave) and returns what came before it and how many bytes it used.
    public static func decode(_ bytes: [UInt8]) -> (messages: [IngestMessage], consumed: Int) {
        var messages: [IngestMessage] = []
        var offset = 0
        while offset + 8 <= bytes.count {
            var r = Reader(bytes: bytes, i: offset)
            guard let length = r.u32(), let sum = r.u32(), offset + 8 + Int(length) <= bytes.count,
                  fnv1a(bytes[(offset + 8)..<(offset + 8 + Int(length))]) == sum,
                  let m = decodeBody(&r, end: offset + 8 + Int(length)), r.i == offset + 8 + Int(length) else { break }
            messages.append(m)
            offset = r.i
        }
        return (messages, offset)
    }

    static func decodeBody(_ r: inout Reader, end: Int) -> IngestMessage? {
        guard let receivedAt = r.i64(), let seriesCount = r.varint(), seriesCount <= UInt64(r.bytes.count) else { return nil }
        var series: [SeriesKey] = []
        for _ in 0..<seriesCount {
            guard let machine = r.string16(), let sensor = r.string16() else { return nil }
            series.append(SeriesKey(machine: machine, sensor: sensor))
        }
        guard let n = r.u32(), Int(n) <= r.bytes.count else { return nil }
        var readings: [Reading] = []
        readings.reserveCapacity(Int(n))
        for _ in 0..<n {
            guard let ref = r.varint(), ref < UInt64(series.count), let ts = r.i64(), let bits = r.u64(), let flag = r.u8() else { return nil }
            let (machine, sensor) = (series[Int(ref)].machine, series[Int(ref)].sensor)
            var seq: Int64?
            if flag == 1 {
                guard let s = r.i64() else { return nil }
                seq = s
            }
            readings.append(Reading(machine: machine, sensor: sensor, ts: ts, value: Double(bitPattern: bits), seq: seq))
        }
        guard let rejectCount = r.u32() else { return nil }
        var rejections: [Rejection] = []
        var topic = ""
        var head: [UInt8] = []
        if rejectCount > 0 {
            guard let t = r.string16(), let hn = r.u16(), let h = r.take(Int(hn)) else { return nil }
            topic = t
            head = h
            for _ in 0..<rejectCount {
                guard let rn = r.u8(), let rb = r.take(Int(rn)), let reason = RejectReason(rawValue: String(decoding: rb, as: UTF8.self)),
                      let detail = r.string16() else { return nil }
                rejections.append(Rejection(reason, detail))
            }
        }
        var live = true
        if r.i < end {
            guard let flags = r.u8() else { return nil }
            live = flags & 1 == 0
        }
        return IngestMessage(readings: readings, rejections: rejections, topic: topic, payload: head, receivedAt: receivedAt, live: live)
    }

    static func put<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    struct SeriesKey: Hashable {
        var machine: String
        var sensor: String
    }

    static func putString16(_ s: String, _ out: inout [UInt8]) {
        let u = s.utf8.prefix(Int(UInt16.max))
        put(UInt16(u.count), &out)
        out.append(contentsOf: u)
    }

    static func fnv1a(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in bytes { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    struct Reader {
        let bytes: [UInt8]
        var i: Int

        mutating func take(_ n: Int) -> [UInt8]? {
            guard n >= 0, i + n <= bytes.count else { return nil }
            defer { i += n }
            return Array(bytes[i..<(i + n)])
        }

        mutating func int<T: FixedWidthInteger>(_: T.Type) -> T? {
            let n = MemoryLayout<T>.size
            guard i + n <= bytes.count else { return nil }
            var v: T = 0
            for k in 0..<n { v |= T(truncatingIfNeeded: bytes[i + k]) << (8 * k) }
            i += n
            return v
        }

        mutating func u8() -> UInt8? { int(UInt8.self) }
        mutating func u16() -> UInt16? { int(UInt16.self) }
        mutating func u32() -> UInt32? { int(UInt32.self) }
        mutating func u64() -> UInt64? { int(UInt64.self) }
        mutating func i64() -> Int64? { int(Int64.self) }

        mutating func varint() -> UInt64? {
            var v: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 7) {
                guard let b = u8() else { return nil }
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return v }
            }
            return nil
        }

        mutating func string16() -> String? {
            guard let n = u16(), let b = take(Int(n)) else { return nil }
            return String(decoding: b, as: UTF8.self)
        }
    }
}
