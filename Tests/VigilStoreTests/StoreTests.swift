import Foundation
import Testing
import VigilCore
@testable import VigilStore

/// A fresh SQLite file in a temp directory, removed afterwards.
final class TempDatabase {
    let dir: String
    var path: String { dir + "/vigil.sqlite" }

    init() throws {
        dir = NSTemporaryDirectory() + "vigil-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }
}

/// What a database looked like before the health migrations (for tests that make a current
/// database an older one): before v17 (one history table) and v16 (states with the record).
enum SchemaBefore {
    /// The rollups as one table each again (their recent buckets moved in first).
    static let v18 = """
        DROP VIEW rollup_minute; INSERT INTO rollup_minute_kept SELECT series_id, start, count, sum, mean, m2, min, max FROM rollup_minute_recent;
        DROP TABLE rollup_minute_recent; ALTER TABLE rollup_minute_kept RENAME TO rollup_minute;
        DROP VIEW rollup_day; INSERT INTO rollup_day_kept SELECT series_id, start, count, sum, mean, m2, min, max FROM rollup_day_recent;
        DROP TABLE rollup_day_recent; ALTER TABLE rollup_day_kept RENAME TO rollup_day;
        DELETE FROM engine_state WHERE key IN ('rollup_minute_recent_from', 'rollup_day_recent_from');
        """
    static let v17 = v18 + """
        DROP VIEW health_history; DROP TABLE health_history_recent; ALTER TABLE health_history_kept RENAME TO health_history;
        """
    static let v16 = v17 + """
        DROP TABLE health_state;
        ALTER TABLE machine_health ADD COLUMN scorer_state TEXT; ALTER TABLE machine_health ADD COLUMN sensor_detector TEXT;
        """
}

extension StoreWriter {
    /// One message's worth, as the tests used to write it.
    @discardableResult
    func write(_ readings: [Reading], rejections: [Rejection], topic: String, payload: [UInt8], receivedAt: Int64) throws -> Outcome {
        try write([IngestMessage(readings: readings, rejections: rejections, topic: topic, payload: payload, receivedAt: receivedAt)])
    }
}

@Suite struct StoreTests {
    /// A series' readings of one 10-s slot are one row (in the chunk format); readings that come
    /// later to the slot — new, replacing, out of order — merge into it, the latest winning; a
    /// deletion of part of a slot keeps the rest.
    @Test func aSlotsReadingsAreOneRowThatLaterReadingsMergeInto() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        let begin = RowTable.start(ofBucket: RowTable.bucket(of: 1_764_000_000_000))
        func reading(_ second: Int64, _ value: Double, seq: Int64? = nil) -> Reading {
            Reading(machine: "m", sensor: "s", ts: begin + second * 1000, value: value, seq: seq)
        }
        let first = (0..<10).map { reading($0, 20 + Double($0) / 100, seq: $0 + 1) }
        _ = try writer.write(first + [reading(3, 99)], rejections: [], topic: "t", payload: [], receivedAt: 0)
        let db = try SQLiteConnection(path: tmp.path, readOnly: true)
        let span = RowTable.span(of: begin)
        let rows = { try db.query("SELECT count, length(data) FROM \(RowTable.table(span))") { (Int($0.int(0)), Int($0.int(1))) } }
        var slot = try rows()
        #expect(slot.count == 1 && slot[0].0 == 10, "one row of ten readings: \(slot)")
        #expect(slot[0].1 <= 40, "\(slot[0].1) bytes for ten readings")
        // Later: a replacement, one out of order inside the slot, one in the next slot.
        _ = try writer.write([reading(5, 7.5, seq: 60), reading(-1, 1), reading(10, 2)], rejections: [], topic: "t", payload: [], receivedAt: 0)
        slot = try rows()
        #expect(slot.map(\.0) == [1, 10, 1], "the slot before, the slot merged, the next: \(slot)")
        var expected = first
        expected[3] = reading(3, 99)
        expected[5] = reading(5, 7.5, seq: 60)
        expected = [reading(-1, 1)] + expected + [reading(10, 2)]
        let reader = try StoreReader(path: tmp.path)
        let all = try #require(try await reader.rawSeries(machine: "m", sensor: "s", from: .min, to: .max, limit: 100))
        #expect(all == expected)
        #expect(try await reader.rawSeries(machine: "m", sensor: "s", from: begin + 2500, to: begin + 6000, limit: 2) == Array(expected[4...5]))
        // Part of the slot goes; the rest stays in its row.
        let id = try #require(try db.query("SELECT id FROM series") { $0.int(0) }.first)
        let gone = try writer.withConnection { db in try db.transaction { try RowTable.delete(db, series: id, from: begin + 2000, to: begin + 4000) } }
        #expect(gone == 2)
        #expect(try rows().map(\.0) == [1, 8, 1])
        #expect(try await reader.rawSeries(machine: "m", sensor: "s", from: .min, to: .max, limit: 100) == expected.filter { $0.ts < begin + 2000 || $0.ts >= begin + 4000 })
    }

    @Test func writesAreIdempotentOnTheKey() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        let r = Reading(machine: "plant1/press7", sensor: "temp", ts: 1_764_000_000_000, value: 21.5)
        _ = try writer.write([r, r], rejections: [], topic: "t", payload: [], receivedAt: 0)
        _ = try writer.write([r], rejections: [], topic: "t", payload: [], receivedAt: 0)
        var replaced = r
        replaced.value = 22
        _ = try writer.write([replaced], rejections: [], topic: "t", payload: [], receivedAt: 0)
        let reader = try StoreReader(path: tmp.path)
        let rows = try #require(try await reader.rawSeries(machine: r.machine, sensor: r.sensor, from: 0, to: .max, limit: 10))
        #expect(rows.map(\.value) == [22])
    }

    /// A batch whose commit fails (the disk full) is offered again: the series it named for the
    /// first time were rolled back with it, so the retry names them again — its readings are
    /// stored under series that exist, and read back.
    @Test func seriesNamedByAFailedCommitAreNamedAgainByItsRetry() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        let t0: Int64 = 1_764_000_000_000
        _ = try writer.write([Reading(machine: "m", sensor: "a", ts: t0, value: 1)], rejections: [], topic: "t", payload: [], receivedAt: 0)
        // Three new sensors in a new span (a new table): more pages than the file may grow by.
        let batch = (0..<3_000).map { i in
            Reading(machine: "m", sensor: ["b", "c", "d", "a"][i % 4], ts: t0 + 86_400_000 + Int64(i / 4) * 1000, value: Double(i))
        }
        let pages = try writer.withConnection { db in try db.query("PRAGMA page_count") { $0.int(0) }[0] }
        try writer.withConnection { db in try db.execute("PRAGMA max_page_count = \(pages)") }
        #expect(throws: (any Error).self) { try writer.write(batch, rejections: [], topic: "t", payload: [], receivedAt: 0) }
        try writer.withConnection { db in try db.execute("PRAGMA max_page_count = 1073741823") }
        _ = try writer.write(batch, rejections: [], topic: "t", payload: [], receivedAt: 0)
        let reader = try StoreReader(path: tmp.path)
        for (k, sensor) in ["b", "c", "d", "a"].enumerated() {
            let rows = try #require(try await reader.rawSeries(machine: "m", sensor: sensor, from: t0 + 1, to: .max, limit: 10_000), "\(sensor)")
            #expect(rows.count == 750 && rows.first?.value == Double(k), "\(sensor): \(rows.count) readings")
        }
    }

    /// A batch's rows go in key order, many to a statement: scrambled arrivals across two spans'
    /// tables, more than a statement holds, each key twice or three times — every reading is
    /// stored once, with the value that arrived last.
    @Test func aBatchIsStoredInKeyOrderAndTheLaterReadingOfAKeyWins() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        let span: Int64 = 6 * 3_600_000
        let start = 1_764_000_000_000 / span * span + span - 300_000  // the last 5 minutes of a span, then the next's
        var rng = SystemRandomNumberGenerator()
        var arrivals: [Reading] = []
        var last: [String: Double] = [:]
        for round in 0..<3 {
            for sensor in ["a", "b", "c"] {
                for k in 0..<200 where round == 0 || k % (round + 1) == 0 {
                    let ts = start + Int64(k) * 3_000
                    let value = Double(round * 1_000 + k)
                    arrivals.append(Reading(machine: "m", sensor: sensor, ts: ts, value: value))
                    last["\(sensor)/\(ts)"] = value
                }
            }
        }
        // Scrambled within each round (a later round still arrives later).
        var batch: [Reading] = []
        var i = 0
        while i < arrivals.count {
            var j = i
            while j < arrivals.count, arrivals[j].value / 1_000 < arrivals[i].value / 1_000 + 1 { j += 1 }
            batch += arrivals[i..<j].shuffled(using: &rng)
            i = j
        }
        let outcome = try writer.write([IngestMessage(readings: batch, rejections: [], topic: "t", payload: [], receivedAt: start)])
        #expect(outcome.stored == batch.count)
        let reader = try StoreReader(path: tmp.path)
        for sensor in ["a", "b", "c"] {
            let rows = try #require(try await reader.rawSeries(machine: "m", sensor: sensor, from: 0, to: .max, limit: 1_000))
            #expect(rows.count == 200)
            #expect(rows.map(\.ts) == (0..<200).map { start + Int64($0) * 3_000 })
            #expect(rows.allSatisfy { last["\(sensor)/\($0.ts)"] == $0.value })
        }
    }

    /// Readings before 1970 (negative times) are stored and read back over the whole range.
    @Test func readingsBeforeNineteenSeventyAreReadBack() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        let times: [Int64] = [-86_400_000, -12_001, -2_000, -1, 0, 1_999, 2_000]
        _ = try writer.write(times.map { Reading(machine: "m", sensor: "s", ts: $0, value: Double($0)) }, rejections: [], topic: "t", payload: [], receivedAt: 0)
        let reader = try StoreReader(path: tmp.path)
        let rows = try #require(try await reader.rawSeries(machine: "m", sensor: "s", from: .min, to: .max, limit: 100))
        #expect(rows.map(\.ts) == times)
        #expect(rows.map(\.value) == times.map(Double.init))
    }

    /// A series' newest reading time reaches the file once every ten minutes, not at every commit;
    /// the writer knows it exactly, and a store opened again (after a kill: nothing else was
    /// written) finds the exact time from the window's readings.
    @Test func theNewestReadingTimeIsWrittenOnceTenMinutesAndFoundExactlyOnOpening() async throws {
        let tmp = try TempDatabase()
        let window: Int64 = 946_684_800_000
        let writer = try StoreWriter(path: tmp.path)
        func write(_ ts: Int64) throws {
            _ = try writer.write([Reading(machine: "m", sensor: "s", ts: ts, value: 1)], rejections: [], topic: "t", payload: [], receivedAt: 0)
        }
        let db = try SQLiteConnection(path: tmp.path)
        func stored() throws -> Int64 { try db.query("SELECT last_ts FROM series") { $0.int(0) }[0] }
        for ts in [window + 5_000, window + 200_000, window + 150_000, window + 599_000] { try write(ts) }
        #expect(try stored() == window + 5_000)
        #expect(writer.newestReadings(machine: "m") == ["s": window + 599_000])
        #expect(writer.fleet.snapshot().first?.lastSeen == window + 599_000)
        let reopened = try StoreWriter(path: tmp.path)
        #expect(reopened.newestReadings(machine: "m") == ["s": window + 599_000])
        #expect(reopened.fleet.snapshot().first?.lastSeen == window + 599_000)
        #expect(try stored() == window + 599_000)
        try write(window + 601_000)
        #expect(try stored() == window + 601_000)
        #expect(writer.newestReadings(machine: "other").isEmpty)
    }

    @Test func lastSeenIsTheLargestTimestampNotTheLastArrival() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        for ts: Int64 in [3000, 1000, 5000, 2000] {
            _ = try writer.write([Reading(machine: "m", sensor: "s", ts: 946_684_800_000 + ts, value: Double(ts))], rejections: [],
                                 topic: "t", payload: [], receivedAt: 0)
        }
        let reader = try StoreReader(path: tmp.path)
        // The in-memory fleet overview, and a new writer loading it from disk, agree.
        #expect(writer.fleet.snapshot() == [MachineSummary(id: "m", sensors: ["s"], lastSeen: 946_684_805_000, lastReceived: 0, health: nil, status: nil, missing: 0, faultySensors: 0)])
        // (Receipt times live in memory: a reloaded index starts them at the data's last time.)
        #expect(try StoreWriter(path: tmp.path).fleet.snapshot() == writer.fleet.snapshot().map { var m = $0; m.lastReceived = m.lastSeen; return m })
        _ = try writer.write([Reading(machine: "a/b", sensor: "z", ts: 1, value: 1), Reading(machine: "m", sensor: "a", ts: 2, value: 2)], rejections: [],
                             topic: "t", payload: [], receivedAt: 0)
        let before = writer.fleet.snapshotWithGeneration()
        #expect(before.machines == writer.fleet.snapshot() && writer.fleet.generation == before.generation)
        let fromDisk = try StoreWriter(path: tmp.path).fleet.snapshot()
        #expect(fromDisk == writer.fleet.snapshot().map { var m = $0; m.lastReceived = m.lastSeen; return m })
        #expect(fromDisk.map(\.id) == ["a/b", "m"] && fromDisk[1].sensors == ["a", "s"] && fromDisk[1].lastSeen == 946_684_805_000)
        let series = try #require(try await reader.rawSeries(machine: "m", sensor: "s", from: 946_684_802_000, to: 946_684_805_000, limit: 10))
        #expect(series.map(\.value) == [2000, 3000])  // [from, to), oldest first
        #expect(try await reader.rawSeries(machine: "m", sensor: "nope", from: 0, to: .max, limit: 10) == nil)
    }

    @Test func quarantineIsBoundedAndEvictionsAreCounted() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path, quarantineLimit: 10)
        for n in 0..<25 {
            let o = try writer.write([], rejections: [Rejection(.malformedJSON, "bad \(n)")], topic: "vigil/m/s",
                                     payload: Array(repeating: 0x41, count: 5000), receivedAt: Int64(n))
            #expect(o.quarantined == 1)
        }
        let reader = try StoreReader(path: tmp.path)
        let q = try await reader.quarantine(limit: 100)
        #expect(q.count == 10)
        #expect(q.first?.detail == "bad 24")  // newest first
        #expect(q.last?.detail == "bad 15")
        #expect(q.allSatisfy { $0.payload.count == 1024 })  // first 1 KiB kept
        let counts = try await reader.rejectCounts()
        #expect(counts["malformed_json"] == 25)
        #expect(counts["quarantine_evicted"] == 15)
    }

    @Test func reopeningKeepsDataAndSchema() async throws {
        let tmp = try TempDatabase()
        do {
            let writer = try StoreWriter(path: tmp.path)
            _ = try writer.write([Reading(machine: "m", sensor: "s", ts: 1_000_000_000_000, value: 1)], rejections: [],
                                 topic: "t", payload: [], receivedAt: 0)
        }
        let writer = try StoreWriter(path: tmp.path)
        _ = try writer.write([Reading(machine: "m", sensor: "s", ts: 1_000_000_001_000, value: 2)], rejections: [],
                             topic: "t", payload: [], receivedAt: 0)
        let rows = try await StoreReader(path: tmp.path).rawSeries(machine: "m", sensor: "s", from: 0, to: .max, limit: 10)
        #expect(rows?.map(\.value) == [1, 2])
    }
}
