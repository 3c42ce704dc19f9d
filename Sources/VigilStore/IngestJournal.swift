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
/// `[u32 length | 1 << 31][u32 FNV-1a of body][body]`, varints LEB128, signed ones zigzagged;
/// body = receivedAt i64; the message's machines (count varint, then each as varint length + bytes)
/// and its distinct series (count varint, then machine index varint + sensor as varint length +
/// bytes each); reading count varint, readings (series index varint, ts − receivedAt signed
/// varint, value bits u64, seq flag u8 — 0 none, 1 a signed varint follows, 2 the series' previous
/// seq + 1); rejection count varint, and if any:
/// topic u16+bytes, payload head u16+bytes, then (reason u8+bytes, detail u16+bytes) each; then,
/// for a message that is not live only, a flags byte (1 = backfill).
/// A live reading costs 12–16 bytes and its series' names, once per message (a line-protocol
/// message of one machine's 8 sensors: ≈ 30 bytes a reading, all told).
///
/// With `1 << 30` in the length too, a record's machines and series are only those its segment
/// has not named yet (`Names`), and its indices count on from the segment's earlier records: a
/// segment holds a commit's worth of messages (the applier swaps segments at each batch), so a
/// series is named about once a commit instead of in every message; its receipt time is a signed
/// varint from the previous record's, and a seq one more than its series' previous one is the flag
/// alone (≈ 13 bytes a reading in all). Such a record is read only after the records before it in
/// its segment; one whose names are missing stops the decoding like a torn one.
///
/// With `1 << 29` too (every record written since 2026-12-08), a reading's time is a difference
/// from the reading before it in the record (the first's from the receipt: a message's readings
/// mostly share one), and its flag byte comes before its value and says in its upper six bits how
/// the value is held: 0, its 8 bytes; `1 + e`, a signed varint `m` with the value `m / 10^e` to the
/// bit (`e` ≤ 9, |m| < 2^47); `11 + e`, `m` as a signed varint difference from its series' previous
/// mantissa of that exponent (in the segment, like the seq) — a sensor's short decimal in one to
/// three bytes instead of eight; the seq mode stays in the low two bits.
///
/// Records without the length's top bit are the first format (journals written before
/// 2026-12-07, replayed after an upgrade): series as (machine u16+bytes, sensor u16+bytes), counts
/// u32, ts i64, seq i64. Pure: no I/O, tested directly.
public enum JournalCodec {
    static let compact: UInt32 = 1 << 31
    /// The record's names count on from its segment's earlier records.
    static let segmentNames: UInt32 = 1 << 30
    /// The record's readings say their flag before their value, which may be a decimal.
    static let decimalValues: UInt32 = 1 << 29
    static let formatBits = compact | segmentNames | decimalValues

    /// The machines and series a segment's records have named so far, in the order they were
    /// named, each series' last `seq` and the last record's receipt time.
    public struct Names: Sendable {
        var machines: [String: Int] = [:]
        var series: [SeriesKey: Int] = [:]
        var seq: [Int64?] = []
        /// Each series' last value as a decimal (its exponent tried first for the next value, its
        /// mantissa the base of the next one's difference), nil after a value that was not.
        var decimal: [Decimal?] = []
        var receivedAt: Int64 = 0
        /// Each machine's series by their position in its last message (found without hashing).
        var byPosition = SeriesByPosition<Int>()

        public init() {}
    }

    // MARK: decimal values

    /// A value `m / 10^e`, exact.
    struct Decimal: Equatable {
        var e: Int
        var m: Int64
    }

    static let maxExponent = 9
    /// The value modes of a reading's flag (its upper six bits): 0 the value's 8 bytes; `absolute +
    /// e` a mantissa; `difference + e` a mantissa as a difference from its series' previous one
    /// (of the same exponent).
    static let absolute: UInt8 = 1, difference: UInt8 = 1 + UInt8(maxExponent) + 1

    /// `v` as `m / 10^e` with exactly its bits (a sensor's value is mostly a short decimal: 41.23 is
    /// 4123 / 10^2, a 2-byte varint instead of 8 bytes), trying `hint` first, then the smallest
    /// exponent; nil when none up to `maxExponent` is exact or the mantissa would not be shorter.
    @inline(__always)
    static func decimal(_ v: Double, hint: Int) -> Decimal? {
        if let m = mantissa(v, hint) { return Decimal(e: hint, m: m) }
        for e in 0...maxExponent where e != hint {
            if let m = mantissa(v, e) { return Decimal(e: e, m: m) }
        }
        return nil
    }

    /// The chunk format's exact mantissa (`ChunkCodec.mantissa`), below 2^47: a 7-byte varint at most.
    @inline(__always)
    static func mantissa(_ v: Double, _ e: Int) -> Int64? {
        guard let m = ChunkCodec.mantissa(v, e), m.magnitude < 1 << 47 else { return nil }
        return m
    }

    /// A record that names everything it uses.
    public static func encode(_ m: IngestMessage, into out: inout [UInt8]) {
        var names = Names()
        encode(m, names: &names, into: &out, flag: 0)
    }

    /// A record of a segment whose earlier records named `names` (updated with what it names).
    public static func encode(_ m: IngestMessage, names: inout Names, into out: inout [UInt8]) {
        encode(m, names: &names, into: &out, flag: segmentNames)
    }

    private static func encode(_ m: IngestMessage, names: inout Names, into out: inout [UInt8], flag: UInt32) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: 8))  // length + checksum, patched below
        if flag == segmentNames {
            Varint.append(signed: m.receivedAt &- names.receivedAt, to: &out)
            names.receivedAt = m.receivedAt
        } else {
            put(m.receivedAt, &out)
        }
        // The series not named yet: readings of a batch usually share a few, and those a machine or two.
        var new: [SeriesKey] = []
        var positions = names.byPosition
        names.byPosition = SeriesByPosition()  // taken out, so it is updated in place
        let refs = positions.ids(of: m.readings) { r in
            let key = SeriesKey(machine: r.machine, sensor: r.sensor)
            if let n = names.series[key] { return n }
            new.append(key)
            names.series[key] = names.series.count
            names.seq.append(nil)
            names.decimal.append(nil)
            return names.series.count - 1
        }
        names.byPosition = positions
        var newMachines: [String] = []
        for key in new where names.machines[key.machine] == nil {
            names.machines[key.machine] = names.machines.count
            newMachines.append(key.machine)
        }
        Varint.append(UInt64(newMachines.count), to: &out)
        for machine in newMachines { putString(machine, &out) }
        Varint.append(UInt64(new.count), to: &out)
        for key in new {
            Varint.append(UInt64(names.machines[key.machine]!), to: &out)
            putString(key.sensor, &out)
        }
        Varint.append(UInt64(m.readings.count), to: &out)
        var previousTs = m.receivedAt
        for (r, ref) in zip(m.readings, refs) {
            Varint.append(UInt64(ref), to: &out)
            // From the receipt, then from the reading before (a message's readings share a time).
            Varint.append(signed: r.ts &- previousTs, to: &out)
            previousTs = r.ts
            // The flag: seq in its low two bits, the value mode above them.
            var seqFlag: UInt8 = 0
            if let seq = r.seq {
                // A device's counter usually goes up by one: then the flag says it all.
                seqFlag = names.seq[ref].map { $0 != .max && seq == $0 + 1 } == true ? 2 : 1
                names.seq[ref] = seq
            }
            let last = names.decimal[ref]
            if let d = decimal(r.value, hint: last?.e ?? 0) {
                names.decimal[ref] = d
                if let last, last.e == d.e, (d.m &- last.m).magnitude < d.m.magnitude {
                    out.append(seqFlag | (difference + UInt8(d.e)) << 2)
                    Varint.append(signed: d.m &- last.m, to: &out)
                } else {
                    out.append(seqFlag | (absolute + UInt8(d.e)) << 2)
                    Varint.append(signed: d.m, to: &out)
                }
            } else {
                names.decimal[ref] = nil
                out.append(seqFlag)
                put(r.value.bitPattern, &out)
            }
            if seqFlag == 1 { Varint.append(signed: r.seq!, to: &out) }
        }
        Varint.append(UInt64(m.rejections.count), to: &out)
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
        withUnsafeBytes(of: (UInt32(bodyLength) | compact | decimalValues | flag).littleEndian) { b in for k in 0..<4 { out[start + k] = b[k] } }
        withUnsafeBytes(of: sum.littleEndian) { b in for k in 0..<4 { out[start + 4 + k] = b[k] } }
    }

    /// Decodes records from the start of `bytes`; stops at the first torn or corrupt record
    /// (the tail a crash can leave) and returns what came before it and how many bytes it used.
    public static func decode(_ bytes: [UInt8]) -> (messages: [IngestMessage], consumed: Int) {
        var messages: [IngestMessage] = []
        var offset = 0
        var named = Named()  // the segment's names so far
        while offset + 8 <= bytes.count {
            var r = Reader(bytes: bytes, i: offset)
            guard let field = r.u32(), let sum = r.u32() else { break }
            let length = Int(field & ~formatBits)
            guard offset + 8 + length <= bytes.count, fnv1a(bytes[(offset + 8)..<(offset + 8 + length)]) == sum else { break }
            let m: IngestMessage?
            if field & compact == 0 {
                m = decodeFirstFormat(&r, end: offset + 8 + length)
            } else if field & segmentNames != 0 {
                m = decodeBody(&r, end: offset + 8 + length, named: &named, inSegment: true, decimal: field & decimalValues != 0)
            } else {
                var own = Named()
                m = decodeBody(&r, end: offset + 8 + length, named: &own, inSegment: false, decimal: field & decimalValues != 0)
            }
            guard let m, r.i == offset + 8 + length else { break }
            messages.append(m)
            offset = r.i
        }
        return (messages, offset)
    }

    /// What a segment's records have named so far, by number (`Names` as the decoder sees it).
    struct Named {
        var machines: [String] = []
        var series: [SeriesKey] = []
        var seq: [Int64?] = []
        var decimal: [Decimal?] = []
        var receivedAt: Int64 = 0
    }

    static func decodeBody(_ r: inout Reader, end: Int, named: inout Named, inSegment: Bool, decimal: Bool) -> IngestMessage? {
        let at: Int64? = inSegment ? r.varint().map { named.receivedAt &+ Varint.unzigzag($0) } : r.i64()
        guard let receivedAt = at, let machineCount = r.varint(), machineCount <= UInt64(r.bytes.count) else { return nil }
        var machines = named.machines
        for _ in 0..<machineCount {
            guard let machine = r.string() else { return nil }
            machines.append(machine)
        }
        guard let seriesCount = r.varint(), seriesCount <= UInt64(r.bytes.count) else { return nil }
        var series = named.series
        var lastSeq = named.seq
        var lastDecimal = named.decimal
        for _ in 0..<seriesCount {
            guard let m = r.varint(), m < UInt64(machines.count), let sensor = r.string() else { return nil }
            series.append(SeriesKey(machine: machines[Int(m)], sensor: sensor))
            lastSeq.append(nil)
            lastDecimal.append(nil)
        }
        guard let n = r.varint(), n <= UInt64(r.bytes.count) else { return nil }
        var readings: [Reading] = []
        readings.reserveCapacity(Int(n))
        var previousTs = receivedAt
        for _ in 0..<n {
            guard let ref = r.varint(), ref < UInt64(series.count), let delta = r.varint() else { return nil }
            // Decimal-value records count each time from the reading before; the earlier from the receipt.
            let ts = (decimal ? previousTs : receivedAt) &+ Varint.unzigzag(delta)
            previousTs = ts
            let value: Double, flag: UInt8
            if decimal {
                guard let f = r.u8() else { return nil }
                flag = f & 3
                let mode = f >> 2
                if mode == 0 {
                    guard let bits = r.u64() else { return nil }
                    value = Double(bitPattern: bits)
                    lastDecimal[Int(ref)] = nil
                } else {
                    guard mode < difference + UInt8(maxExponent) + 1, let v = r.varint() else { return nil }
                    let d: Decimal
                    if mode >= difference {
                        let e = Int(mode - difference)
                        guard let last = lastDecimal[Int(ref)], last.e == e else { return nil }
                        d = Decimal(e: e, m: last.m &+ Varint.unzigzag(v))
                    } else {
                        d = Decimal(e: Int(mode - absolute), m: Varint.unzigzag(v))
                    }
                    value = Double(d.m) / ChunkCodec.pow10[d.e]
                    lastDecimal[Int(ref)] = d
                }
            } else {
                guard let bits = r.u64(), let f = r.u8() else { return nil }
                (value, flag) = (Double(bitPattern: bits), f)
            }
            var seq: Int64?
            switch flag {
            case 0: break
            case 1:
                guard let s = r.varint() else { return nil }
                seq = Varint.unzigzag(s)
            case 2:
                guard let previous = lastSeq[Int(ref)], previous != .max else { return nil }
                seq = previous + 1
            default: return nil
            }
            if let seq { lastSeq[Int(ref)] = seq }
            readings.append(Reading(machine: series[Int(ref)].machine, sensor: series[Int(ref)].sensor,
                                    ts: ts, value: value, seq: seq))
        }
        guard let rejectCount = r.varint(), rejectCount <= UInt64(r.bytes.count),
              let m = decodeTail(&r, end: end, receivedAt: receivedAt, readings: readings, rejectCount: rejectCount) else { return nil }
        named = Named(machines: machines, series: series, seq: lastSeq, decimal: lastDecimal, receivedAt: receivedAt)  // only a whole record counts
        return m
    }

    /// A record of the first format (no top bit in its length).
    static func decodeFirstFormat(_ r: inout Reader, end: Int) -> IngestMessage? {
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
        return decodeTail(&r, end: end, receivedAt: receivedAt, readings: readings, rejectCount: UInt64(rejectCount))
    }

    /// Rejections and flags, the same in both formats.
    static func decodeTail(_ r: inout Reader, end: Int, receivedAt: Int64, readings: [Reading], rejectCount: UInt64) -> IngestMessage? {
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

    static func putString(_ s: String, _ out: inout [UInt8]) {
        Varint.append(UInt64(s.utf8.count), to: &out)
        out.append(contentsOf: s.utf8)
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

        mutating func string() -> String? {
            guard let n = varint(), n <= UInt64(bytes.count), let b = take(Int(n)) else { return nil }
            return String(decoding: b, as: UTF8.self)
        }

        mutating func string16() -> String? {
            guard let n = u16(), let b = take(Int(n)) else { return nil }
            return String(decoding: b, as: UTF8.self)
        }
    }
}
