import Foundation
import Testing
import VigilCore
@testable import VigilStore

@Suite struct IngestJournalTests {
    static let messages: [IngestMessage] = [
        IngestMessage(readings: [Reading(machine: "plant1/press7", sensor: "temp", ts: 1_764_000_000_000, value: -0.0, seq: 9),
                                 Reading(machine: "m", sensor: "vib", ts: 1_764_000_000_001, value: .greatestFiniteMagnitude)],
                      rejections: [], topic: "ignored", payload: [1, 2], receivedAt: 5),
        IngestMessage(readings: [], rejections: [Rejection(.malformedJSON, "unexpected end at byte 3"), Rejection(.notFinite, "é")],
                      topic: "vigil/m/s", payload: Array(repeating: 0xFF, count: 3000), receivedAt: 6),
    ]

    @Test func codecRoundTrips() {
        var bytes: [UInt8] = []
        for m in Self.messages { JournalCodec.encode(m, into: &bytes) }
        let (decoded, consumed) = JournalCodec.decode(bytes)
        #expect(consumed == bytes.count)
        #expect(decoded.count == 2)
        #expect(decoded[0].readings.map(\.value.bitPattern) == Self.messages[0].readings.map(\.value.bitPattern))
        #expect(decoded[0].readings.map(\.seq) == [9, nil])
        #expect(decoded[1] == Self.messages[1])
        #expect(decoded[1].payloadHead.count == 1024)
        #expect(decoded[0].topic.isEmpty)  // only kept for quarantine
    }

    /// A backfill (Sparkplug `is_historical`) keeps its flag through the journal, with or without
    /// rejections, beside live messages.
    @Test func backfillFlagRoundTrips() {
        let backfill = IngestMessage(readings: [Reading(machine: "g/e/d", sensor: "t", ts: 1_764_000_000_000, value: 1)], rejections: [],
                                     topic: "spBv1.0/g/DDATA/e/d", payload: [], receivedAt: 1_764_000_000_500, live: false)
        var rejected = backfill
        rejected.rejections = [Rejection(.unknownAlias, "alias 7")]
        rejected.topic = "spBv1.0/g/DDATA/e/d"
        var bytes: [UInt8] = []
        for m in [backfill, Self.messages[0], rejected] { JournalCodec.encode(m, into: &bytes) }
        let (decoded, consumed) = JournalCodec.decode(bytes)
        #expect(consumed == bytes.count)
        #expect(decoded.map(\.live) == [false, true, false])
        #expect(decoded[2].rejections == rejected.rejections)
    }

    /// A live line-protocol message (one machine's 8 sensors, each with its seq) costs about 30
    /// bytes a reading, names included; extreme keys still round-trip (the deltas wrap).
    @Test func recordsAreCompact() {
        let receivedAt: Int64 = 1_796_000_000_123
        let sensors = ["bearing_temp", "vibration", "current", "pressure", "flow", "speed", "oil_temp", "humidity"]
        let live = IngestMessage(readings: sensors.enumerated().map { i, s in
            Reading(machine: "machine-07", sensor: s, ts: receivedAt - 40 - Int64(i), value: 20.5 + Double(i) / 7, seq: 86_400 + Int64(i))
        }, rejections: [], topic: "", payload: [], receivedAt: receivedAt)
        var bytes: [UInt8] = []
        JournalCodec.encode(live, into: &bytes)
        #expect(bytes.count <= 8 * 31, "\(bytes.count) bytes for 8 readings")
        let extreme = IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: .min, value: .nan, seq: .min),
                                               Reading(machine: "m", sensor: "s", ts: .max, value: -.infinity, seq: .max),
                                               Reading(machine: "n", sensor: "s", ts: 0, value: 1, seq: nil)],
                                    rejections: [], topic: "", payload: [], receivedAt: .max)
        JournalCodec.encode(extreme, into: &bytes)
        let (decoded, consumed) = JournalCodec.decode(bytes)
        #expect(consumed == bytes.count)
        #expect(decoded.first == live)
        #expect(decoded.last?.readings.map { [$0.ts, $0.seq ?? 42] } == [[.min, .min], [.max, .max], [0, 42]])
        #expect(decoded.last?.readings.map(\.machine) == ["m", "m", "n"])
        #expect(decoded.last?.readings[0].value.isNaN == true)
    }

    /// In a segment, a record names only the machines and series the segment's earlier records
    /// did not: a commit's worth of line-protocol messages costs about 13 bytes a reading
    /// instead of 27 (a counter going up by one is a flag; receipt times are deltas), decodes to the same messages, and stops where its names are missing (a record read
    /// without those before it) or torn.
    @Test func aSegmentNamesEachSeriesOnce() {
        let sensors = ["bearing_temp", "vibration", "current", "pressure", "flow", "speed", "oil_temp", "humidity"]
        let t0: Int64 = 1_796_000_000_123
        let messages: [IngestMessage] = (0..<40).map { (k: Int) -> IngestMessage in
            let second = t0 + Int64(k / 4) * 1000
            let readings: [Reading] = sensors.enumerated().map { (i: Int, s: String) -> Reading in
                Reading(machine: "machine-0\(k % 4)", sensor: s, ts: second - Int64(i), value: 20.5 + Double(k * i) / 7, seq: 86_400 + Int64(k / 4))
            }
            return IngestMessage(readings: readings, rejections: [], topic: "", payload: [], receivedAt: second + 40)
        }
        var names = JournalCodec.Names()
        var bytes: [UInt8] = [], alone: [UInt8] = []
        var ends: [Int] = []
        for m in messages {
            JournalCodec.encode(m, names: &names, into: &bytes)
            JournalCodec.encode(m, into: &alone)
            ends.append(bytes.count)
        }
        let (decoded, consumed) = JournalCodec.decode(bytes)
        #expect(consumed == bytes.count && decoded == messages)
        #expect(JournalCodec.decode(alone).messages == messages)
        let perReading = Double(bytes.count - ends[3]) / Double(36 * 8)
        #expect(perReading <= 14 && Double(bytes.count) < 0.55 * Double(alone.count),
                "\(perReading) bytes a reading once named (\(Double(alone.count) / 320) naming every message)")
        // Without the records that named them, the rest is not read (nor misread).
        #expect(JournalCodec.decode(Array(bytes[ends[0]...])).messages.isEmpty)
        #expect(JournalCodec.decode(Array(bytes[ends[3]...])).messages.isEmpty)
        // A torn tail: the whole records before it.
        let torn = JournalCodec.decode(Array(bytes[..<(ends[20] - 3)]))
        #expect(torn.messages == Array(messages[..<20]) && torn.consumed == ends[19])
        // A record naming everything itself, among them, leaves the segment's names alone.
        var mixed = Array(bytes[..<ends[9]])
        JournalCodec.encode(messages[0], into: &mixed)
        mixed += bytes[ends[9]...]
        let expected: [IngestMessage] = Array(messages[..<10]) + [messages[0]] + Array(messages[10...])
        #expect(JournalCodec.decode(mixed).messages == expected)
        // Counters that jump, go back, wrap or are missing, and receipt times going backwards.
        let jumps: [Int64?] = [5, 6, 9, nil, 10, 3, .max, .min, .min + 1, nil, nil, 0]
        let odd = jumps.enumerated().map { k, seq in
            IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: Int64(k), value: 1, seq: seq),
                                     Reading(machine: "m", sensor: "s", ts: Int64(k) + 1, value: 2, seq: seq.map { $0 &+ 1 })],
                          rejections: [], topic: "", payload: [], receivedAt: k % 2 == 0 ? .max - Int64(k) : .min + Int64(k))
        }
        var oddNames = JournalCodec.Names()
        var oddBytes: [UInt8] = []
        for m in odd { JournalCodec.encode(m, names: &oddNames, into: &oddBytes) }
        #expect(JournalCodec.decode(oddBytes).messages == odd)
    }

    /// A body that passes its checksum but is damaged or hostile (random bytes, a valid body with
    /// bytes changed or cut, in any format) decodes to nothing or to a message, never a trap.
    @Test func damagedBodiesWithAValidChecksumAreRefusedNotTrapped() {
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        var valid: [UInt8] = []
        JournalCodec.encode(Self.messages[0], into: &valid)
        let body = Array(valid[8...])
        var rng = SystemRandomNumberGenerator()
        var decoded = 0
        for round in 0..<4_000 {
            var b: [UInt8]
            switch round % 3 {
            case 0: b = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 1:
                b = body
                for _ in 0...Int.random(in: 0...3, using: &rng) { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            default: b = Array(body.prefix(Int.random(in: 0..<body.count, using: &rng)))
            }
            let formats = [JournalCodec.compact, 0, JournalCodec.compact | JournalCodec.segmentNames, JournalCodec.compact | JournalCodec.decimalValues,
                           JournalCodec.formatBits]
            let field = UInt32(b.count) | formats[(round / 3) % formats.count]
            let record = le(field) + le(JournalCodec.fnv1a(b[...])) + b
            decoded += JournalCodec.decode(record).messages.count
        }
        #expect(decoded < 4_000, "most damaged bodies are refused")
    }

    /// A value that is a short decimal is its mantissa, a varint (41.23: 4123, two bytes, not
    /// eight); every other double — -0.0, NaN, infinities, subnormals, 0.1 + 0.2, thirds, beyond
    /// 2^47 — keeps its eight bytes, and every value comes back with exactly its bits.
    @Test func shortDecimalValuesTakeAVarintAndEveryValueComesBackExactly() {
        let tricky: [Double] = [-0.0, 0, .nan, -.nan, .infinity, -.infinity, .leastNonzeroMagnitude, .leastNormalMagnitude,
                                .greatestFiniteMagnitude, 0.1 + 0.2, 1.0 / 3, 1e-9, 1.5e-10, 123_456.789, 41.23, -41.23,
                                9_007_199_254_740_993, 140_737_488_355_327, 140_737_488_355_328, -140_737_488_355_327, 1e15, 0.000_001,
                                Double(bitPattern: 0x7FF8_0000_0000_0001), 5e-324, 1e300, -7, 20.05]
        let odd = IngestMessage(readings: tricky.enumerated().map { Reading(machine: "m", sensor: "s\($0 % 3)", ts: Int64($0), value: $1, seq: nil) },
                                rejections: [], topic: "", payload: [], receivedAt: 50)
        var names = JournalCodec.Names()
        var bytes: [UInt8] = []
        JournalCodec.encode(odd, names: &names, into: &bytes)
        JournalCodec.encode(odd, into: &bytes)
        let decoded = JournalCodec.decode(bytes).messages
        #expect(decoded.count == 2)
        for m in decoded {
            #expect(m.readings.map(\.value.bitPattern) == tricky.map(\.bitPattern))
        }
        // A plant's values: two decimals around a level, counters going up by one.
        let plant = (0..<100).map { (k: Int) -> IngestMessage in
            let second: Int64 = 1_796_000_000_000 + Int64(k) * 1000
            let readings = (0..<8).map { (i: Int) -> Reading in
                let hundredths: Int = 4000 + (k * 37 + i * 11) % 200
                return Reading(machine: "machine-01", sensor: "s\(i)", ts: second, value: Double(hundredths) / 100, seq: Int64(k))
            }
            return IngestMessage(readings: readings, rejections: [], topic: "", payload: [], receivedAt: second + 40)
        }
        var segment = JournalCodec.Names()
        var all: [UInt8] = [], first = 0
        for (k, m) in plant.enumerated() {
            JournalCodec.encode(m, names: &segment, into: &all)
            if k == 0 { first = all.count }
        }
        #expect(JournalCodec.decode(all).messages == plant)
        let perReading = Double(all.count - first) / Double(99 * 8)
        #expect(perReading <= 6, "\(perReading) bytes a reading (8 header bytes and 6 of counts and time a message)")
    }

    /// Records of the segment-names format before decimal values (value bits before the flag) are
    /// still replayed.
    @Test func recordsBeforeDecimalValuesStillDecode() {
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let ts: Int64 = 1_764_000_000_000
        // receivedAt ts + 40 (a delta from 0: a long varint), one machine, one series, two readings.
        var body: [UInt8] = []
        var z = UInt64(bitPattern: (ts + 40) << 1)
        while z >= 0x80 { body.append(UInt8(z & 0x7F) | 0x80); z >>= 7 }
        body.append(UInt8(z))
        body += [1, 5] + Array("press".utf8) + [1, 0, 4] + Array("temp".utf8) + [2]
        body += [0, 79] + le((21.5).bitPattern) + [1, 5]  // ts − 40: zigzag 79; seq −3: zigzag 5
        body += [0, 128, 15] + le((22.0).bitPattern) + [2]  // ts + 1000 − 40: zigzag 1920; seq −2
        body += [0]
        var bytes = le(UInt32(body.count) | JournalCodec.compact | JournalCodec.segmentNames) + le(JournalCodec.fnv1a(body[...])) + body
        var names = JournalCodec.Names()
        JournalCodec.encode(Self.messages[0], names: &names, into: &bytes)  // a record of today's format after it, in another segment's names
        let decoded = JournalCodec.decode(Array(bytes.prefix(8 + body.count))).messages
        #expect(decoded == [IngestMessage(readings: [Reading(machine: "press", sensor: "temp", ts: ts, value: 21.5, seq: -3),
                                                     Reading(machine: "press", sensor: "temp", ts: ts + 1000, value: 22, seq: -2)],
                                          rejections: [], topic: "", payload: [], receivedAt: ts + 40)])
    }

    /// Records of the first format (journals written before 2026-12-07) are still replayed.
    @Test func firstFormatRecordsStillDecode() {
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let body: [UInt8] = le(Int64(7)) + [1] + le(UInt16(5)) + Array("press".utf8) + le(UInt16(4)) + Array("temp".utf8)
            + le(UInt32(2)) + [0] + le(Int64(1_764_000_000_000)) + le((21.5).bitPattern) + [1] + le(Int64(-3))
            + [0] + le(Int64(1_764_000_001_000)) + le((22.0).bitPattern) + [0] + le(UInt32(0)) + [1]
        var bytes = le(UInt32(body.count)) + le(JournalCodec.fnv1a(body[...])) + body
        JournalCodec.encode(Self.messages[0], into: &bytes)  // followed by a record of today's format
        let (decoded, consumed) = JournalCodec.decode(bytes)
        #expect(consumed == bytes.count)
        #expect(decoded.count == 2)
        #expect(decoded[0] == IngestMessage(readings: [Reading(machine: "press", sensor: "temp", ts: 1_764_000_000_000, value: 21.5, seq: -3),
                                                       Reading(machine: "press", sensor: "temp", ts: 1_764_000_001_000, value: 22, seq: nil)],
                                            rejections: [], topic: "", payload: [], receivedAt: 7, live: false))
        #expect(decoded[1] == Self.messages[0])
    }

    @Test func tornOrCorruptTailStopsDecoding() {
        var bytes: [UInt8] = []
        for m in Self.messages { JournalCodec.encode(m, into: &bytes) }
        let firstLength = { var b: [UInt8] = []; JournalCodec.encode(Self.messages[0], into: &b); return b.count }()
        for cut in [bytes.count - 1, firstLength + 5, firstLength + 8] {
            let (decoded, consumed) = JournalCodec.decode(Array(bytes[0..<cut]))
            #expect(decoded.count == 1)
            #expect(consumed == firstLength)
        }
        var flipped = bytes
        flipped[firstLength + 20] ^= 0x40
        #expect(JournalCodec.decode(flipped).messages.count == 1)
    }

    @Test func appendedMessagesSurviveACrashBeforeTheyReachSQLite() async throws {
        let tmp = try TempDatabase()
        do {
            let writer = try StoreWriter(path: tmp.path)
            let buffer = try IngestBuffer(journalPrefix: tmp.path + "-ingest", writer: writer)
            _ = try buffer.recover()
            // No applier started: the readings exist only in the journal, as at a crash.
            try buffer.append(Self.messages[0])
            try buffer.append(Self.messages[1])
            #expect(buffer.stats.pendingReadings == 2)
        }
        let reader = try StoreReader(path: tmp.path)
        #expect(try StoreWriter(path: tmp.path).fleet.snapshot().isEmpty)
        #expect(try await reader.rawSeries(machine: "m", sensor: "vib", from: 0, to: .max, limit: 10) == nil)

        let writer = try StoreWriter(path: tmp.path)
        let buffer = try IngestBuffer(journalPrefix: tmp.path + "-ingest", writer: writer)
        #expect(try buffer.recover() == 2)
        #expect(try StoreWriter(path: tmp.path).fleet.snapshot().map(\.id) == ["m", "plant1/press7"])
        #expect(try await reader.quarantine(limit: 10).map(\.reason) == ["not_finite", "malformed_json"])
        // Recovery empties the journal: a second recovery finds nothing.
        #expect(try IngestBuffer(journalPrefix: tmp.path + "-ingest", writer: writer).recover() == 0)
    }

    /// A journal write that fails (a full disk) leaves nothing of its record behind and names
    /// nothing: the messages appended after it, once there is space again, are replayed after a
    /// crash like the ones before it (a torn record would hide them, and names it never wrote
    /// would misread them).
    @Test func aFailedJournalWriteHidesNothingAppendedAfterIt() async throws {
        let tmp = try TempDatabase()
        let disk = tmp.path + "-disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=256k", "tmpfs", disk]
        try mount.run()
        mount.waitUntilExit()
        try #require(mount.terminationStatus == 0, "mount tmpfs")
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [disk]
            try? umount.run()
            umount.waitUntilExit()
        }
        func message(_ k: Int) -> IngestMessage {
            IngestMessage(readings: (0..<8).map { i in
                Reading(machine: "machine-\(k % 3)", sensor: "sensor-\(i)-with-a-long-name", ts: 1_796_000_000_000 + Int64(k) * 1000, value: Double(k), seq: Int64(k))
            }, rejections: [], topic: "", payload: [], receivedAt: 1_796_000_000_040 + Int64(k) * 1000)
        }
        var stored = 0, failed = 0
        do {
            let writer = try StoreWriter(path: tmp.path)
            let buffer = try IngestBuffer(journalPrefix: disk + "/ingest", writer: writer)
            _ = try buffer.recover()
            // No applier: the readings exist only in the journal. Fill the disk as they come.
            FileManager.default.createFile(atPath: disk + "/ballast", contents: nil)
            let ballast = try #require(FileHandle(forWritingAtPath: disk + "/ballast"))
            var k = 0
            while failed < 3 {
                do {
                    try buffer.append(message(k))
                    stored += 8
                } catch {
                    failed += 1
                }
                if failed == 0 { try? ballast.write(contentsOf: [UInt8](repeating: 0, count: 2_000)) }
                k += 1
            }
            try ballast.close()
            try FileManager.default.removeItem(atPath: disk + "/ballast")
            for _ in 0..<20 {
                try buffer.append(message(k))
                stored += 8
                k += 1
            }
        }
        #expect(failed == 3 && stored > 20 * 8)
        let writer = try StoreWriter(path: tmp.path)
        #expect(try IngestBuffer(journalPrefix: disk + "/ingest", writer: writer).recover() == stored)
    }

    @Test func applierCommitsInBatchesAndStopFlushes() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        var options = IngestBuffer.Options()
        options.batchReadings = 100
        options.maxPendingReadings = 300  // small, so append must wait for the applier
        let buffer = try IngestBuffer(journalPrefix: tmp.path + "-ingest", writer: writer, options: options)
        _ = try buffer.recover()
        buffer.start()
        for n in 0..<2_000 {
            try buffer.append(IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: 1_000_000_000_000 + Int64(n), value: Double(n))],
                                            rejections: [], topic: "", payload: [], receivedAt: 0))
            #expect(buffer.stats.pendingReadings <= 300)
        }
        buffer.stop()
        let stats = buffer.stats
        #expect(stats.appliedReadings == 2_000)
        #expect(stats.pendingReadings == 0)
        #expect(stats.appliedBatches < 2_000)
        let rows = try await StoreReader(path: tmp.path).rawSeries(machine: "m", sensor: "s", from: 0, to: .max, limit: 5_000)
        #expect(rows?.count == 2_000)
        #expect(try IngestBuffer(journalPrefix: tmp.path + "-ingest", writer: writer).recover() == 0)
    }
}

@Suite struct JournalCodecSizeTests {
    /// `ingest.apply_interval`: a live trickle waits in the journal for its commit time (one
    /// commit for many messages), a backlog of `batchReadings` is committed at once, and stopping
    /// commits what waits. (Bounds are loose: the suite runs in parallel on two cores.)
    @Test func aTrickleWaitsForItsCommitTimeAndABacklogDoesNot() async throws {
        func buffer(_ schedule: CommitSchedule) throws -> (IngestBuffer, TempDatabase) {
            let tmp = try TempDatabase()
            var options = IngestBuffer.Options()
            options.schedule = schedule
            options.batchReadings = 100
            let buffer = try IngestBuffer(journalPrefix: tmp.path + "-ingest", writer: try StoreWriter(path: tmp.path), options: options)
            _ = try buffer.recover()
            buffer.start()
            return (buffer, tmp)
        }
        // Live readings (a late one would wait a second only): stamped again before each part, as
        // the first part can take long on a loaded machine.
        var now = SystemClock.wallMillis()
        func message(_ n: Int) -> IngestMessage {
            IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: now + Int64(n), value: Double(n))],
                          rejections: [], topic: "", payload: [], receivedAt: 0)
        }
        func waitFor(_ b: IngestBuffer, applied n: Int, within seconds: Double) async throws -> Double {
            let start = SystemClock.monotonicSeconds()
            while b.stats.appliedReadings < n, SystemClock.monotonicSeconds() - start < seconds { try await Task.sleep(for: .milliseconds(20)) }
            return SystemClock.monotonicSeconds() - start
        }
        // A trickle is committed at the first commit time (a multiple of 2 s) after its oldest
        // message, not before.
        let (short, shortDB) = try buffer(CommitSchedule(every: 2_000))
        let next = (SystemClock.wallMillis() / 2_000 + 1) * 2_000
        for n in 0..<10 { try short.append(message(n)) }
        _ = try await waitFor(short, applied: 10, within: 30)
        #expect(short.stats.appliedReadings == 10 && short.stats.appliedBatches <= 2)  // 2: a commit time fell between two appends
        #expect(SystemClock.wallMillis() >= next, "committed before its commit time")
        short.stop()
        withExtendedLifetime(shortDB) {}

        // Two minutes apart, the next a minute away.
        now = SystemClock.wallMillis()
        let (long, tmp) = try buffer(CommitSchedule(every: 120_000, offset: SystemClock.wallMillis() + 60_000))
        for n in 0..<10 { try long.append(message(n)) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(long.stats.appliedReadings == 0 && long.stats.pendingReadings == 10, "committed before its commit time")
        // A late reading (an hour old) is committed a second after it arrives, with what waits.
        try long.append(IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: now - 3_600_000, value: 0)],
                                      rejections: [], topic: "", payload: [], receivedAt: 0))
        #expect(try await waitFor(long, applied: 11, within: 30) < 30, "a late reading waited for the commit time")
        // A backlog is not held back: the first full batch goes at once (well within the minute).
        for n in 10..<250 { try long.append(message(n)) }
        #expect(try await waitFor(long, applied: 111, within: 30) < 30, "a backlog waited for its commit time")
        // Stopping commits what still waits.
        try long.append(message(500))
        long.stop()
        #expect(long.stats.appliedReadings == 252 && long.stats.pendingReadings == 0)
        #expect(try await StoreReader(path: tmp.path).rawSeries(machine: "m", sensor: "s", from: 0, to: .max, limit: 500)?.count == 252)
    }

    /// Commit times fall on the wall clock's multiples of the interval, 2 s past each; a minute's
    /// readings are all committed that long after it ends when the interval divides a minute; a
    /// late reading waits a second.
    @Test func commitTimesFallOnTheWallClock() {
        let minute = CommitSchedule(every: 60_000)
        let t0: Int64 = 1_796_040_000_000  // a minute's start
        #expect(!minute.isDue(since: t0 + 30_000, now: t0 + 61_999, waited: 31.9))
        #expect(minute.isDue(since: t0 + 30_000, now: t0 + 62_000, waited: 32))
        #expect(minute.isDue(since: t0 + 1_500, now: t0 + 2_000, waited: 0.5))  // :01.5 waits for :02 only
        #expect(!minute.isDue(since: t0 + 2_000, now: t0 + 61_000, waited: 59))
        // The wall clock stepped back an hour: a full interval of waiting commits anyway.
        #expect(minute.isDue(since: t0, now: t0 - 3_600_000, waited: 60))
        #expect(CommitSchedule(every: 0).isDue(since: t0, now: t0, waited: 0))
        // A late reading (its minute ended more than 2 s before it arrived) waits a second only.
        #expect(!minute.isLate(ts: t0 + 59_000, arrival: t0 + 62_000) && minute.isLate(ts: t0 + 59_000, arrival: t0 + 62_001))
        #expect(minute.isLate(ts: -1, arrival: 2_001) && !minute.isLate(ts: -1, arrival: 2_000))
        #expect(!minute.isDue(since: t0 + 30_000, now: t0 + 30_500, waited: 0.5, lateWaited: 0.5))
        #expect(minute.isDue(since: t0 + 30_000, now: t0 + 31_000, waited: 1, lateWaited: 1))
        #expect(CommitSchedule(every: 2_000).offset == 0)
        #expect([60_000, 10_000, 1_000, 7_000, 120_000, 0].map { CommitSchedule(every: $0).minuteCommittedWithin }
                == [2_000, 2_000, 0, 7_000, 120_000, 0])
        // Before the epoch too (floor, not truncation).
        #expect(minute.isDue(since: -61_000, now: -58_000, waited: 3))
        #expect(!minute.isDue(since: -57_000, now: -1_000, waited: 56))
    }

    @Test func aBatchNamesItsSeriesOnceAndKeepsOrder() {
        let readings = (0..<1000).map { Reading(machine: "plant1/press7", sensor: $0 % 2 == 0 ? "temp" : "vib", ts: 1_764_000_000_000 + Int64($0), value: Double($0)) }
        let m = IngestMessage(readings: readings, rejections: [], topic: "", payload: [], receivedAt: 1)
        var bytes: [UInt8] = []
        JournalCodec.encode(m, into: &bytes)
        #expect(bytes.count < 1000 * 19 + 100)  // varint index + ts + value + flag
        #expect(JournalCodec.decode(bytes).messages == [m])
    }

    @Test func manySeriesUseMultiByteIndexes() {
        let readings = (0..<300).map { Reading(machine: "m\($0)", sensor: "s", ts: 1_000_000_000_000, value: 1) }
        let m = IngestMessage(readings: readings + readings.reversed(), rejections: [], topic: "", payload: [], receivedAt: 1)
        var bytes: [UInt8] = []
        JournalCodec.encode(m, into: &bytes)
        #expect(JournalCodec.decode(bytes).messages == [m])
    }
}
