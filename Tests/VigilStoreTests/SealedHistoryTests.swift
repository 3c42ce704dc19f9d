import Foundation
import Testing
import VigilCodec
import VigilCore
import VigilRollup
@testable import VigilStore

/// Sealed history against a real SQLite file: whatever is sealed, merged late or pruned, every
/// reader sees exactly what the row table alone would have held, and the rollups stay exact.
@Suite struct SealedHistoryTests {
    typealias Key = RollupStoreTests.Key
    static let far = RollupStoreTests.farFuture + 400 * RollupStoreTests.day

    static func rawSeries(_ reader: StoreReader, _ m: String, _ s: String, from: Int64 = .min, to: Int64 = .max, limit: Int = 1_000_000) async throws -> [Reading] {
        try #require(try await reader.rawSeries(machine: m, sensor: s, from: from, to: to, limit: limit))
    }

    static func tableCounts(_ path: String) throws -> (rows: Int, chunks: Int, sealed: Int) {
        let db = try SQLiteConnection(path: path, readOnly: true)
        return try db.query("SELECT (SELECT coalesce(sum(count), 0) FROM reading_slot), (SELECT count(*) FROM chunk), (SELECT coalesce(sum(count), 0) FROM chunk)") {
            (Int($0.int(0)), Int($0.int(1)), Int($0.int(2)))
        }[0]
    }

    /// Every row table's readings as a table `name(series_id, ts, value, seq)`, a row each (for
    /// making a database what an earlier release wrote).
    static func copyReadings(_ db: SQLiteConnection, into name: String) throws {
        try db.execute("CREATE TABLE \(name)(series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, seq INTEGER)")
        for span in try RowTable.spans(db) {
            let slots = try db.query("SELECT key, data FROM \(RowTable.table(span)) ORDER BY key") { r in
                let (b, series) = RowTable.decode(span: span, key: r.int(0))
                var slot = SeriesColumns(), scratch = SeriesColumns()
                _ = try r.withBlob(1) { try RowTable.decode($0, begin: RowTable.start(ofBucket: b), withSeq: true, scratch: &scratch, into: &slot) }
                return (series, slot)
            }
            for (series, slot) in slots {
                for i in 0..<slot.count {
                    try db.run("INSERT INTO \(name) VALUES(?, ?, ?, ?)", [.int(series), .int(slot.ts[i]), .double(slot.values[i]), slot.seq[i].map { .int($0) } ?? .null])
                }
            }
        }
    }

    /// Minute-rollup rows and sealed minute buckets.
    static func minuteCounts(_ path: String) throws -> (rows: Int, sealed: Int) {
        let db = try SQLiteConnection(path: path, readOnly: true)
        return try db.query("SELECT (SELECT count(*) FROM rollup_minute), (SELECT coalesce(sum(buckets), 0) FROM minute_chunk)") { (Int($0.int(0)), Int($0.int(1))) }[0]
    }

    /// The rollup suite's chaotic stream (duplicates, replacements, late data, leap day, year end),
    /// sealed between batches: later batches replace and add readings inside sealed spans.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func sealedAndLateDataGiveTheRowTablesAnswers(seed: UInt64) async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path, sealAfterMillis: 0)
        let (messages, truth) = RollupStoreTests.chaoticStream(seed: seed)
        var merges = 0
        for (n, batch) in stride(from: 0, to: messages.count, by: 5).map({ Array(messages[$0..<min($0 + 5, messages.count)]) }).enumerated() {
            _ = try writer.write(batch)
            if n % 2 == 0 {
                _ = try writer.rollupAllDue(now: Self.far)
                merges += try writer.sealAll(now: Self.far).merges
            }
        }
        #expect(merges > 0, "late readings were folded into sealed chunks")
        _ = try writer.rollupAllDue(now: Self.far)
        let reader = try StoreReader(path: tmp.path)
        func check(_ what: String) async throws {
            for m in ["plant1/press7", "pump2"] {
                for s in ["temp", "vib"] {
                    let raw = try await Self.rawSeries(reader, m, s)
                    #expect(raw.map(\.ts) == raw.map(\.ts).sorted(), "\(what): oldest first")
                    #expect(Dictionary(uniqueKeysWithValues: raw.map { (Key(machine: m, sensor: s, ts: $0.ts), $0.value) })
                            == truth.filter { $0.key.machine == m && $0.key.sensor == s }, "\(what): \(m)/\(s) raw")
                    RollupStoreTests.expectEqual(try await RollupStoreTests.rollups(reader, m, s, .minute),
                                                 RollupStoreTests.oracle(truth, machine: m, sensor: s, width: RollupStoreTests.minute), "\(what) \(m)/\(s) minute")
                    RollupStoreTests.expectEqual(try await RollupStoreTests.rollups(reader, m, s, .day),
                                                 RollupStoreTests.oracle(truth, machine: m, sensor: s, width: RollupStoreTests.day), "\(what) \(m)/\(s) day")
                }
            }
        }
        try await check("mixed rows and chunks")
        _ = try writer.sealAll(now: Self.far)
        let counts = try Self.tableCounts(tmp.path)
        #expect(counts.rows == 0 && counts.sealed == truth.count, "everything sealed once its rollups are done")
        let minutes = try Self.minuteCounts(tmp.path)
        #expect(minutes.rows == 0 && minutes.sealed > 0, "whole days of minute rollups sealed too")
        #expect(writer.sealedTotals.readings == truth.count && writer.sealedTotals.chunks == counts.chunks)
        try await check("all sealed")
        let rebuilt = try writer.rebuildRollups(from: .min, to: .max)
        #expect(rebuilt.readings == truth.count)
        try await check("rebuilt from chunks")
    }

    @Test func pagesAndRangesCrossChunksAndRows() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path, sealAfterMillis: 0)
        let t0 = RollupStoreTests.leapDay
        // 20 hours at one reading per 7 s, with seq on every third reading.
        let all: [Reading] = (0..<(20 * 3600 / 7)).map { (i: Int) -> Reading in
            let seq: Int64? = i % 3 == 0 ? Int64(i) : nil
            return Reading(machine: "m", sensor: "s", ts: t0 + Int64(i) * 7_000, value: 20 + Double(i % 97) / 8, seq: seq)
        }
        _ = try writer.write([IngestMessage(readings: Array(all.prefix(all.count / 2)), rejections: [], topic: "t", payload: [], receivedAt: 0)])
        _ = try writer.rollupAllDue(now: Self.far)
        let sealed = try writer.sealAll(now: Self.far)
        #expect(sealed.chunks == 2 && sealed.readings == all.count / 2)  // hours 0–6 and 6–10
        _ = try writer.write([IngestMessage(readings: Array(all.suffix(from: all.count / 2)), rejections: [], topic: "t", payload: [], receivedAt: 0)])
        let reader = try StoreReader(path: tmp.path)
        #expect(try await Self.rawSeries(reader, "m", "s") == all)
        // Pages of every size walk the whole series exactly once.
        for limit in [1, 7, 999, 5_000] {
            var got: [Reading] = []
            var from = limit == 1 ? all[all.count / 2 - 50].ts : Int64.min  // pages of one: across the sealed/row edge
            let want = limit == 1 ? Array(all[(all.count / 2 - 50)..<(all.count / 2 + 50)]) : all
            while got.count < want.count {
                let page = try await Self.rawSeries(reader, "m", "s", from: from, limit: limit)
                got += page
                guard page.count == limit, let last = page.last else { break }
                from = last.ts + 1
            }
            #expect(got == want, "pages of \(limit)")
        }
        // Ranges with edges inside chunks, on span edges, and across the sealed/row boundary.
        let spans: [Int64] = [0, 1, 3_600_000, 6 * 3_600_000 - 1, 6 * 3_600_000, 9 * 3_600_000 + 3, 10 * 3_600_000, 20 * 3_600_000]
        for a in spans {
            for b in spans where b > a {
                let got = try await Self.rawSeries(reader, "m", "s", from: t0 + a, to: t0 + b)
                #expect(got == all.filter { $0.ts >= t0 + a && $0.ts < t0 + b }, "[\(a), \(b))")
            }
        }
    }

    /// `perDay` readings `spacing` ms apart on each of `days` days from the leap day, rolled up and
    /// sealed an hour after the last day; returns them and that time.
    static func writeSealedDays(_ writer: StoreWriter, days: Int, perDay: Int, spacing: Int64) throws -> (truth: [Key: Double], now: Int64) {
        let d0 = RollupStoreTests.leapDay, day = RollupStoreTests.day
        var truth: [Key: Double] = [:]
        var readings: [Reading] = []
        for d in 0..<days {
            for i in 0..<perDay {
                let ts = d0 + Int64(d) * day + Int64(i) * spacing
                readings.append(Reading(machine: "m", sensor: "s", ts: ts, value: Double((d * perDay + i) % 113) / 8))
            }
        }
        for r in readings { truth[Key(machine: "m", sensor: "s", ts: r.ts)] = r.value }
        _ = try writer.write([IngestMessage(readings: readings, rejections: [], topic: "t", payload: [], receivedAt: 0)])
        let now = d0 + Int64(days) * day + 3_600_000
        _ = try writer.rollupAllDue(now: Self.far)  // the to-do marks carry the wall clock
        _ = try writer.sealAll(now: now)
        return (truth, now)
    }

    /// What the sensor judge reads of a sensor's peers: the minute means of one sensor on every
    /// machine that has it, from minute rows and sealed minute days alike.
    @Test func minuteMeansOfOneSensorAcrossTheFleet() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path, sealAfterMillis: 0)
        let d0 = RollupStoreTests.leapDay, day = RollupStoreTests.day
        var readings: [Reading] = []
        for (k, machine) in ["a", "b", "c"].enumerated() {
            for i in 0..<(2 * 24 * 60) {  // a reading a minute for two days: the first day sealed
                let ts = d0 + Int64(i) * 60_000
                readings.append(Reading(machine: machine, sensor: "ambient", ts: ts, value: 20 + Double(k) + Double(i % 7) / 4))
                readings.append(Reading(machine: machine, sensor: "flow", ts: ts, value: 99))
            }
        }
        _ = try writer.write([IngestMessage(readings: readings, rejections: [], topic: "t", payload: [], receivedAt: 0)])
        _ = try writer.rollupAllDue(now: Self.far)
        _ = try writer.sealAll(now: d0 + day + day / 2)
        #expect(try Self.minuteCounts(tmp.path).sealed > 0, "the first day's minutes are sealed")
        // Ten minutes on each side of midnight.
        let means = try writer.minuteMeans(sensor: "ambient", after: d0 + day - 600_001, through: d0 + day + 540_000)
        #expect(means.count == 20)
        for (t, byMachine) in means {
            let i = Int((t - d0) / 60_000)
            #expect(byMachine == ["a": 20 + Double(i % 7) / 4, "b": 21 + Double(i % 7) / 4, "c": 22 + Double(i % 7) / 4])
        }
        #expect(try writer.minuteMeans(sensor: "nothing", after: d0, through: d0 + day).isEmpty)
    }

    @Test func retentionDeletesWholeChunksAndKeepsEveryRollup() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path, sealAfterMillis: 0)
        let d0 = RollupStoreTests.leapDay, day = RollupStoreTests.day
        let (truth, now) = try Self.writeSealedDays(writer, days: 6, perDay: 400, spacing: 211_000)
        let before = try Self.tableCounts(tmp.path)
        #expect(before.rows == 0 && before.chunks == 6 * 4)
        let pruned = try writer.applyRetention(rawDays: 2, minuteDays: 0, now: now)
        #expect(pruned.rawRows == 4 * 400 && pruned.chunks.chunks == 4 * 4 && pruned.chunks.readings == 4 * 400)
        #expect(try Self.tableCounts(tmp.path).chunks == 2 * 4)
        #expect(writer.sealedTotals.readings == 2 * 400)
        let reader = try StoreReader(path: tmp.path)
        #expect(try await Self.rawSeries(reader, "m", "s").first?.ts == d0 + 4 * day)
        RollupStoreTests.expectEqual(try await RollupStoreTests.rollups(reader, "m", "s", .minute),
                                     RollupStoreTests.oracle(truth, machine: "m", sensor: "s", width: RollupStoreTests.minute), "minutes after pruning chunks")
        _ = try writer.rebuildRollups(from: .min, to: .max)
        RollupStoreTests.expectEqual(try await RollupStoreTests.rollups(reader, "m", "s", .day),
                                     RollupStoreTests.oracle(truth, machine: "m", sensor: "s", width: RollupStoreTests.day), "days after pruning and rebuild")
    }

    /// Retention below sealed minute days: pruning raw folds sealed minutes into their bases,
    /// pruning minutes drops whole sealed days; day rollups and the kept minutes never change.
    @Test func retentionOverSealedMinuteDays() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path, sealAfterMillis: 0)
        let d0 = RollupStoreTests.leapDay, day = RollupStoreTests.day
        let sealed = try Self.writeSealedDays(writer, days: 8, perDay: 500, spacing: 167_000)
        var truth = sealed.truth
        let now = sealed.now
        #expect(try Self.minuteCounts(tmp.path).rows == 0)
        let reader = try StoreReader(path: tmp.path)
        let minutesBefore = try await RollupStoreTests.rollups(reader, "m", "s", .minute)
        let pruned = try writer.applyRetention(rawDays: 3, minuteDays: 5, now: now)
        #expect(pruned.rawRows == 5 * 500 && pruned.minuteRows == minutesBefore.filter { $0.start < d0 + 3 * day }.count)
        RollupStoreTests.expectEqual(try await RollupStoreTests.rollups(reader, "m", "s", .day),
                                     RollupStoreTests.oracle(truth, machine: "m", sensor: "s", width: RollupStoreTests.day), "days after pruning")
        #expect(try await RollupStoreTests.rollups(reader, "m", "s", .minute) == minutesBefore.filter { $0.start >= d0 + 3 * day })
        // A late reading below the raw horizon lands on top of the sealed, folded minutes.
        let late = Reading(machine: "m", sensor: "s", ts: d0 + 4 * day + 5, value: 1_000)
        truth[Key(machine: "m", sensor: "s", ts: late.ts)] = late.value
        _ = try writer.write([IngestMessage(readings: [late], rejections: [], topic: "t", payload: [], receivedAt: 0)])
        _ = try writer.rollupAllDue(now: Self.far)
        _ = try writer.sealAll(now: now)
        RollupStoreTests.expectEqual(try await RollupStoreTests.rollups(reader, "m", "s", .day),
                                     RollupStoreTests.oracle(truth, machine: "m", sensor: "s", width: RollupStoreTests.day), "days after a late reading")
        let minute = try await RollupStoreTests.rollups(reader, "m", "s", .minute).first { $0.start == d0 + 4 * day }
        #expect(minute?.stats.count == 2 && minute?.stats.max == 1_000)
    }

    @Test func removingAMachineTakesItsChunks() throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path, sealAfterMillis: 0)
        let rs = (0..<3_000).map { Reading(machine: $0 % 2 == 0 ? "a" : "b", sensor: "s", ts: RollupStoreTests.leapDay + Int64($0) * 30_000, value: 1) }
        _ = try writer.write([IngestMessage(readings: rs, rejections: [], topic: "t", payload: [], receivedAt: 0)])
        _ = try writer.rollupAllDue(now: Self.far)
        _ = try writer.sealAll(now: Self.far)
        let removed = try #require(try writer.removeMachine("a"))
        #expect(removed.readings == 1_500)
        let counts = try Self.tableCounts(tmp.path)
        #expect(counts.sealed == 1_500 && writer.sealedTotals.readings == 1_500)
    }

    /// Rows live in a table per 6-hour span, which sealing drops whole; a late reading for a
    /// sealed span makes its table again, wins over the chunk, and is folded in by the next seal.
    @Test func rowsLiveInATablePerSpanThatSealingDrops() async throws {
        let tmp = try TempDatabase()
        let t0 = RollupStoreTests.leapDay  // a span start
        let writer = try StoreWriter(path: tmp.path)
        // Two series, every 7 s for 15 hours: spans 0, 1 and 2 (the last one partly).
        let readings = stride(from: t0, to: t0 + 15 * 3_600_000, by: 7_000).flatMap { ts in
            ["a", "b"].map { Reading(machine: "m", sensor: $0, ts: ts, value: Double(ts % 1000) / 10, seq: nil) }
        }
        _ = try writer.write([IngestMessage(readings: readings, rejections: [], topic: "t", payload: [], receivedAt: 0)])
        let db = try SQLiteConnection(path: tmp.path, readOnly: true)
        let first = RowTable.span(of: t0)
        #expect(try RowTable.spans(db) == [first, first + 1, first + 2])
        let perSpan = try (Int64(0)..<3).map { n in try db.query("SELECT sum(count) FROM \(RowTable.table(first + n))") { Int($0.int(0)) }[0] }
        #expect(perSpan == (Int64(0)..<3).map { n in readings.filter { ChunkSpan.start(of: $0.ts) == t0 + n * ChunkSpan.millis }.count })

        _ = try writer.rollupAllDue(now: Self.far)
        let pass = try writer.sealAll(now: Self.far)
        #expect(pass.readings == readings.count && pass.chunks == 6)
        #expect(try RowTable.spans(db).isEmpty, "every span's table dropped")
        #expect(try Self.tableCounts(tmp.path).rows == 0)

        // A replacing reading for the first span, after it was sealed.
        let late = Reading(machine: "m", sensor: "a", ts: t0 + 7_000, value: 99, seq: nil)
        _ = try writer.write([IngestMessage(readings: [late], rejections: [], topic: "t", payload: [], receivedAt: 0)])
        #expect(try RowTable.spans(db) == [first])
        let reader = try StoreReader(path: tmp.path)
        let want = readings.filter { $0.sensor == "a" }.map { $0.ts == late.ts ? late : $0 }
        #expect(try await Self.rawSeries(reader, "m", "a") == want, "the row wins over the chunk")
        _ = try writer.rollupAllDue(now: Self.far)
        #expect(try writer.sealAll(now: Self.far).merges == 1)
        #expect(try RowTable.spans(db).isEmpty)
        #expect(try await Self.rawSeries(reader, "m", "a") == want, "folded into the chunk")
    }

    /// A backfill of more than 500 spans (a compound SELECT's limit) still makes a valid `reading`
    /// view, and is read and sealed whole.
    @Test func aLongBackfillMakesATableForEachSpan() async throws {
        let tmp = try TempDatabase()
        let t0 = RollupStoreTests.leapDay
        let writer = try StoreWriter(path: tmp.path)
        let readings = (0..<Int64(600)).map { Reading(machine: "m", sensor: "s", ts: t0 + $0 * ChunkSpan.millis + 1_000, value: Double($0), seq: nil) }
        _ = try writer.write([IngestMessage(readings: readings, rejections: [], topic: "t", payload: [], receivedAt: 0, live: false)])
        let db = try SQLiteConnection(path: tmp.path, readOnly: true)
        #expect(try RowTable.spans(db).count == 600)
        #expect(try Self.tableCounts(tmp.path).rows == 600)
        let reader = try StoreReader(path: tmp.path)
        #expect(try await Self.rawSeries(reader, "m", "s") == readings)
        _ = try writer.rollupAllDue(now: Self.far)
        #expect(try writer.sealAll(now: Self.far).readings == 600)
        #expect(try RowTable.spans(db).isEmpty && Self.tableCounts(tmp.path) == (rows: 0, chunks: 600, sealed: 600))
        #expect(try await Self.rawSeries(reader, "m", "s") == readings)
    }

    @Test func spansWaitForSealAfterAndForTheirRollups() throws {
        let tmp = try TempDatabase()
        let t0 = RollupStoreTests.leapDay
        let writer = try StoreWriter(path: tmp.path, sealAfterMillis: 3_600_000)
        _ = try writer.write([IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: t0 + 10, value: 1)], rejections: [], topic: "t", payload: [], receivedAt: 0)])
        let spanEnd = t0 + 6 * 3_600_000
        #expect(try writer.sealAll(now: spanEnd + 3_599_999).chunks == 0, "not yet past seal_after")
        #expect(try writer.sealAll(now: spanEnd + 3_600_000).chunks == 0, "its minute is not rolled up yet")
        _ = try writer.rollupAllDue(now: Self.far)
        #expect(try writer.sealAll(now: spanEnd + 3_600_000).chunks == 1)
    }

    /// The sealer on a fresh store (nothing to move) leaves the minute horizon alone, so a
    /// backfill of older days that follows writes its minutes time first, to the recent table —
    /// with the horizon at the seal horizon's day, every one went to the series-first table.
    @Test func aBackfillAfterAnEmptySealPassWritesItsMinutesTimeFirst() throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path, sealAfterMillis: 3_600_000)
        let db = try SQLiteConnection(path: tmp.path)
        let now = SystemClock.wallMillis()
        _ = try writer.sealAll(now: now)
        #expect(try RollupRows.minute.horizon(db) == .min)
        let dayBefore = BucketWidth.day.start(of: now) - 2 * RollupStoreTests.day + 3_600_000  // the day before yesterday
        for m in Int64(0)..<30 {
            _ = try writer.write([IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: dayBefore + m * 60_000, value: Double(m))],
                                                rejections: [], topic: "t", payload: [], receivedAt: now)])
        }
        _ = try writer.rollupAllDue(now: RollupStoreTests.farFuture)
        #expect(try db.query("SELECT count(*) FROM rollup_minute_recent") { $0.int(0) }[0] == 30)
        #expect(try db.query("SELECT count(*) FROM rollup_minute_kept") { $0.int(0) }[0] == 0)
        // Sealing that day later still moves and seals all of it.
        _ = try writer.sealAll(now: now + RollupStoreTests.day)
        #expect(try Self.minuteCounts(tmp.path) == (rows: 0, sealed: 30))
    }

    /// An existing database (schema 5, every reading a row) is converted on open and by sealing,
    /// and answers exactly as before.
    @Test func aRowTableDatabaseIsMigrated() async throws {
        let tmp = try TempDatabase()
        let (messages, truth) = RollupStoreTests.chaoticStream(seed: 6)
        do {
            let writer = try StoreWriter(path: tmp.path)
            _ = try writer.write(messages)
            _ = try writer.rollupAllDue(now: Self.far)
        }
        // Make it what the previous release wrote.
        let db = try SQLiteConnection(path: tmp.path)
        try db.execute("DROP TABLE chunk; DROP TABLE chunk_data; DROP TABLE minute_chunk; DROP TABLE series_quality; DROP TABLE loss_minute; DROP TABLE event; DROP TABLE notify_cursor; DROP TABLE upstream_change; DROP TABLE upstream_cursor; DROP TABLE sensor_condition; DROP TABLE sparkplug_node; DROP TABLE sensor_metadata; DROP TABLE site_setting; PRAGMA user_version = 5")
        try db.execute(SchemaBefore.v17 + "DROP TABLE health_state; ALTER TABLE machine_health ADD COLUMN scorer_state TEXT")
        // Its rows were one table keyed by series first (v1), not a table per span.
        try db.execute("""
            CREATE TABLE reading_by_series(series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, seq INTEGER, PRIMARY KEY(series_id, ts)) WITHOUT ROWID;
            DROP VIEW reading_slot
            """)
        try Self.copyReadings(db, into: "everything")
        try db.execute("INSERT INTO reading_by_series SELECT * FROM everything; DROP TABLE everything")
        for name in try db.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'reading_[0-9]*'", row: { $0.text(0) }) {
            try db.execute("DROP TABLE \"\(name)\"")
        }
        try db.execute("ALTER TABLE reading_by_series RENAME TO reading")
        let before = try db.query("SELECT ts, value, seq FROM reading JOIN series ON series.id = series_id WHERE machine = 'pump2' AND sensor = 'vib' ORDER BY ts") {
            Reading(machine: "pump2", sensor: "vib", ts: $0.int(0), value: $0.double(1), seq: $0.isNull(2) ? nil : $0.int(2))
        }
        let minutesBefore = try db.query("SELECT start, count, sum, mean, m2, min, max FROM rollup_minute JOIN series ON series.id = series_id WHERE machine = 'pump2' AND sensor = 'vib' ORDER BY start") {
            Bucket(start: $0.int(0), stats: RollupMaintenance.stats($0, from: 1))
        }

        let writer = try StoreWriter(path: tmp.path)
        #expect(try db.query("PRAGMA user_version") { $0.int(0) }.first == Int64(Schema.migrations.count))
        let pass = try writer.sealAll(now: Self.far)
        #expect(pass.readings == truth.count)
        let reader = try StoreReader(path: tmp.path)
        #expect(try await Self.rawSeries(reader, "pump2", "vib") == before)
        #expect(try await RollupStoreTests.rollups(reader, "pump2", "vib", .minute) == minutesBefore)
        #expect(try Self.tableCounts(tmp.path).rows == 0)
    }

    /// Rows of schema 14 — tables keyed `(bucket, series_id, ts)`, slots on the 10 s — become
    /// tables of one integer key on open, and every reading is found again, before and after
    /// sealing.
    @Test func rowsOfTheThreeColumnKeyAreRekeyed() async throws {
        let tmp = try TempDatabase()
        let (messages, truth) = RollupStoreTests.chaoticStream(seed: 7)
        do {
            let writer = try StoreWriter(path: tmp.path)
            _ = try writer.write(messages)
        }
        let db = try SQLiteConnection(path: tmp.path)
        let tables = try db.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'reading_[0-9]*'", row: { $0.text(0) })
        #expect(!tables.isEmpty)
        let count = try db.query("SELECT sum(count) FROM reading_slot") { $0.int(0) }.first
        // Make them what schema 14 wrote.
        try Self.copyReadings(db, into: "everything")
        try db.execute("DROP VIEW reading_slot")
        for name in tables {
            let span = Int64(name.dropFirst("reading_".count))! * ChunkSpan.millis
            try db.execute("""
                CREATE TABLE old(bucket INTEGER NOT NULL, series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, seq INTEGER,
                                 PRIMARY KEY(bucket, series_id, ts)) WITHOUT ROWID;
                INSERT INTO old SELECT (ts - ((ts % 10000) + 10000) % 10000) / 10000, series_id, ts, value, seq FROM everything WHERE ts >= \(span) AND ts < \(span + ChunkSpan.millis);
                """)
            try db.execute("DROP TABLE \"\(name)\"; ALTER TABLE old RENAME TO \"\(name)\"")
        }
        try db.execute("DROP TABLE everything; PRAGMA user_version = 14")
        try db.execute(SchemaBefore.v16)

        let writer = try StoreWriter(path: tmp.path)
        #expect(try db.query("PRAGMA user_version") { $0.int(0) }.first == Int64(Schema.migrations.count))
        #expect(try db.query("SELECT sum(count) FROM reading_slot") { $0.int(0) }.first == count)
        for name in tables {
            let columns = try db.query("SELECT name FROM pragma_table_info(?)", [.text(name)]) { $0.text(0) }
            #expect(columns == ["key", "count", "data"])
        }
        let reader = try StoreReader(path: tmp.path)
        for machine in ["plant1/press7", "pump2"] {
            for sensor in ["temp", "vib"] {
                let rows = try await Self.rawSeries(reader, machine, sensor)
                let expected = truth.filter { $0.key.machine == machine && $0.key.sensor == sensor }.sorted { $0.key.ts < $1.key.ts }
                #expect(rows.map(\.ts) == expected.map(\.key.ts), "\(machine) \(sensor)")
                #expect(rows.map(\.value) == expected.map(\.value))
            }
        }
        _ = try writer.rollupAllDue(now: Self.far)
        #expect(try writer.sealAll(now: Self.far).readings == truth.count)
        #expect(try Self.tableCounts(tmp.path).rows == 0)
    }
}
