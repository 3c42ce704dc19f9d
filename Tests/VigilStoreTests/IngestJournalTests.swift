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
    /// `ingest.apply_interval`: a live trickle waits in the journal for its commit (one commit for
    /// many messages), a backlog of `batchReadings` is committed at once, and stopping commits
    /// what waits. (Bounds are loose: the suite runs in parallel on two cores.)
    @Test func aTrickleWaitsForTheApplyIntervalAndABacklogDoesNot() async throws {
        func buffer(applyAfter: Double) throws -> (IngestBuffer, TempDatabase) {
            let tmp = try TempDatabase()
            var options = IngestBuffer.Options()
            options.applyAfter = applyAfter
            options.batchReadings = 100
            let buffer = try IngestBuffer(journalPrefix: tmp.path + "-ingest", writer: try StoreWriter(path: tmp.path), options: options)
            _ = try buffer.recover()
            buffer.start()
            return (buffer, tmp)
        }
        func message(_ n: Int) -> IngestMessage {
            IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: 1_000_000_000_000 + Int64(n), value: Double(n))],
                          rejections: [], topic: "", payload: [], receivedAt: 0)
        }
        func waitFor(_ b: IngestBuffer, applied n: Int, within seconds: Double) async throws -> Double {
            let start = SystemClock.monotonicSeconds()
            while b.stats.appliedReadings < n, SystemClock.monotonicSeconds() - start < seconds { try await Task.sleep(for: .milliseconds(20)) }
            return SystemClock.monotonicSeconds() - start
        }
        // A trickle is committed once its oldest message has waited the interval, not before.
        let (short, shortDB) = try buffer(applyAfter: 1)
        let start = SystemClock.monotonicSeconds()
        for n in 0..<10 { try short.append(message(n)) }
        _ = try await waitFor(short, applied: 10, within: 30)
        #expect(short.stats.appliedReadings == 10 && SystemClock.monotonicSeconds() - start >= 1)
        short.stop()
        withExtendedLifetime(shortDB) {}

        let (long, tmp) = try buffer(applyAfter: 60)
        for n in 0..<10 { try long.append(message(n)) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(long.stats.appliedReadings == 0 && long.stats.pendingReadings == 10, "committed before the interval")
        // A backlog is not held back: the first full batch goes at once (well within the minute).
        for n in 10..<250 { try long.append(message(n)) }
        #expect(try await waitFor(long, applied: 100, within: 30) < 30, "a backlog waited for the interval")
        // Stopping commits what still waits.
        try long.append(message(500))
        long.stop()
        #expect(long.stats.appliedReadings == 251 && long.stats.pendingReadings == 0)
        #expect(try await StoreReader(path: tmp.path).rawSeries(machine: "m", sensor: "s", from: 0, to: .max, limit: 500)?.count == 251)
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
