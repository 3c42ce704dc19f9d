import Foundation
import Synchronization
import Testing
import VigilCore
import VigilRollup
@testable import VigilStore

/// The rollup engine against a real SQLite file: whatever order, duplication or lateness the
/// readings arrive with, the rollup tables equal an independent recomputation from what the raw
/// table holds (last write wins per key).
@Suite struct RollupStoreTests {
    static let leapDay: Int64 = 1_709_164_800_000 // 2024-02-29T00:00:00Z
    static let newYear: Int64 = 1_704_067_200_000 // 2024-01-01T00:00:00Z
    static let farFuture = SystemClock.wallMillis() + 86_400_000
    static let minute = BucketWidth.minute.rawValue
    static let day = BucketWidth.day.rawValue

    struct Key: Hashable { var machine, sensor: String; var ts: Int64 }

    /// Two-pass statistics per bucket from a key → value map, by dictionary grouping.
    static func oracle(_ truth: [Key: Double], machine: String, sensor: String, width: Int64) -> [Int64: BucketStats] {
        var groups: [Int64: [Double]] = [:]
        for (k, v) in truth where k.machine == machine && k.sensor == sensor {
            groups[k.ts - ((k.ts % width) + width) % width, default: []].append(v)
        }
        return groups.mapValues { xs in
            let mean = xs.reduce(0, +) / Double(xs.count)
            return BucketStats(count: xs.count, sum: xs.reduce(0, +), mean: mean,
                               m2: xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }, min: xs.min()!, max: xs.max()!)
        }
    }

    static func expectEqual(_ got: [Bucket], _ want: [Int64: BucketStats], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(got.map(\.start) == want.keys.sorted(), "\(what): bucket starts", sourceLocation: sourceLocation)
        for b in got {
            guard let w = want[b.start] else { continue }
            let scale = max(abs(w.min), abs(w.max), 1)
            #expect(b.stats.count == w.count && b.stats.min == w.min && b.stats.max == w.max, "\(what) \(b.start): \(b.stats) vs \(w)", sourceLocation: sourceLocation)
            #expect(abs(b.stats.sum - w.sum) <= 1e-12 * scale * Double(w.count), "\(what) \(b.start) sum", sourceLocation: sourceLocation)
            #expect(abs(b.stats.mean - w.mean) <= 1e-12 * scale, "\(what) \(b.start) mean", sourceLocation: sourceLocation)
            #expect(abs(b.stats.stddev - w.stddev) <= 1e-9 * scale, "\(what) \(b.start) stddev \(b.stats.stddev) vs \(w.stddev)", sourceLocation: sourceLocation)
        }
    }

    static func rollups(_ reader: StoreReader, _ machine: String, _ sensor: String, _ width: BucketWidth) async throws -> [Bucket] {
        try #require(try await reader.rollupSeries(machine: machine, sensor: sensor, width: width, from: .min, to: .max, limit: 1_000_000))
    }

    /// A fleet's readings around a leap day and a year end, then the same keys again (replaced
    /// values), shuffled, split into messages, some received long after their minute.
    static func chaoticStream(seed: UInt64) -> (messages: [IngestMessage], truth: [Key: Double]) {
        var rng = SplitMix64(seed: seed)
        var readings: [Reading] = []
        for (m, base) in [("plant1/press7", leapDay), ("pump2", newYear)] {
            for sensor in ["temp", "vib"] {
                var t = base - 3 * minute - Int64.random(in: 0..<minute, using: &rng)
                for _ in 0..<Int.random(in: 100...400, using: &rng) {
                    t += Int64.random(in: 1...4_000, using: &rng)
                    readings.append(Reading(machine: m, sensor: sensor, ts: t, value: 1e6 + Double.random(in: -1...1, using: &rng)))
                }
                // Exactly on edges, and far back (backfill into an old day).
                readings.append(Reading(machine: m, sensor: sensor, ts: base, value: 7))
                readings.append(Reading(machine: m, sensor: sensor, ts: base + minute - 1, value: -7))
                readings.append(Reading(machine: m, sensor: sensor, ts: base - 40 * day + 123, value: 3))
            }
        }
        // Duplicates: a third of the keys again, half with new values.
        let dupes = readings.shuffled(using: &rng).prefix(readings.count / 3).map { r -> Reading in
            var d = r
            if Bool.random(using: &rng) { d.value += 0.5 }
            return d
        }
        var all = readings + dupes
        all.shuffle(using: &rng)
        var messages: [IngestMessage] = []
        var truth: [Key: Double] = [:]
        var i = 0
        while i < all.count {
            let j = min(all.count, i + Int.random(in: 1...50, using: &rng))
            let chunk = Array(all[i..<j])
            for r in chunk { truth[Key(machine: r.machine, sensor: r.sensor, ts: r.ts)] = r.value }
            messages.append(IngestMessage(readings: chunk, rejections: [], topic: "t", payload: [], receivedAt: chunk[0].ts + 3_600_000))
            i = j
        }
        return (messages, truth)
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func rollupsEqualRecomputationUnderChaos(seed: UInt64) async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        let (messages, truth) = Self.chaoticStream(seed: seed)
        var late = 0
        for (n, batch) in stride(from: 0, to: messages.count, by: 7).map({ Array(messages[$0..<min($0 + 7, messages.count)]) }).enumerated() {
            late += try writer.write(batch).late
            // Close buckets now and then, so later readings land in closed minutes and days.
            if n % 3 == 0 { _ = try writer.rollupAllDue(now: Self.farFuture) }
        }
        #expect(late > 0)
        _ = try writer.rollupAllDue(now: Self.farFuture)
        #expect(try writer.rollupBacklog().pending == 0)
        let reader = try StoreReader(path: tmp.path)
        for m in ["plant1/press7", "pump2"] {
            for s in ["temp", "vib"] {
                // The raw table holds exactly the truth (idempotent on the key, last write wins)...
                let raw = try #require(try await reader.rawSeries(machine: m, sensor: s, from: .min, to: .max, limit: 1_000_000))
                #expect(Dictionary(uniqueKeysWithValues: raw.map { (Key(machine: m, sensor: s, ts: $0.ts), $0.value) })
                        == truth.filter { $0.key.machine == m && $0.key.sensor == s })
                // ... and the rollups equal its recomputation.
                Self.expectEqual(try await Self.rollups(reader, m, s, .minute), Self.oracle(truth, machine: m, sensor: s, width: Self.minute), "\(m)/\(s) minute")
                Self.expectEqual(try await Self.rollups(reader, m, s, .day), Self.oracle(truth, machine: m, sensor: s, width: Self.day), "\(m)/\(s) day")
            }
        }
    }

    /// Schema v18: a pass's newest buckets go to the time-first tables and move, once they span
    /// two hours (minutes) or four days (days), to the series-first ones. Read through the API,
    /// minutes and days equal the recomputation all along; a late reading into a moved minute
    /// updates it where it is (no bucket twice); the extent and a removal see both tables.
    @Test func recentBucketsMoveToTheSeriesFirstTablesAndReadTheSame() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        let reader = try StoreReader(path: tmp.path)
        let db = try SQLiteConnection(path: tmp.path)
        let t0 = SystemClock.wallMillis() / Self.day * Self.day - 10 * Self.day  // passes mark by the wall clock
        var truth: [Key: Double] = [:]
        var rng = SplitMix64(seed: 18)
        func send(_ readings: [Reading], at now: Int64) throws {
            for r in readings { truth[Key(machine: r.machine, sensor: r.sensor, ts: r.ts)] = r.value }
            _ = try writer.write([IngestMessage(readings: readings, rejections: [], topic: "t", payload: [], receivedAt: now)])
        }
        func count(_ table: String) throws -> Int64 { try db.query("SELECT count(*) FROM \(table)") { $0.int(0) }[0] }
        // Five days of a 3-sensor machine, a reading a minute, rolled up every ten minutes.
        for m in 0..<(5 * 1440) {
            let ts = t0 + Int64(m) * Self.minute + 7_000
            try send(["a", "b", "c"].map { Reading(machine: "m1", sensor: $0, ts: ts, value: Double.random(in: 0...100, using: &rng)) }, at: ts)
            if m % 10 == 9 { _ = try writer.rollupAllDue(now: Self.farFuture) }
        }
        let end = t0 + 5 * Self.day
        _ = try writer.rollupAllDue(now: Self.farFuture)
        let horizon = try RollupRows.minute.horizon(db)
        #expect(horizon > end - 3 * 3_600_000 && horizon < end - 3_600_000 && horizon % Self.minute == 0)
        #expect(try count("rollup_minute_recent") <= 3 * 121 && count("rollup_minute_kept") >= 3 * (5 * 1440 - 121))
        #expect(try RollupRows.day.horizon(db) > t0 && count("rollup_day_recent") >= 3 && count("rollup_day_kept") >= 3)
        // A late reading into a kept minute and one into a recent minute.
        try send([Reading(machine: "m1", sensor: "a", ts: t0 + 30_000, value: 1e6),
                  Reading(machine: "m1", sensor: "a", ts: end - 30_000, value: -1e6)], at: end + 3 * Self.minute)
        _ = try writer.rollupAllDue(now: Self.farFuture)
        for sensor in ["a", "b", "c"] {
            Self.expectEqual(try await Self.rollups(reader, "m1", sensor, .minute), Self.oracle(truth, machine: "m1", sensor: sensor, width: Self.minute), "\(sensor) minute")
            Self.expectEqual(try await Self.rollups(reader, "m1", sensor, .day), Self.oracle(truth, machine: "m1", sensor: sensor, width: Self.day), "\(sensor) day")
            let part = try #require(try await reader.rollupSeries(machine: "m1", sensor: sensor, width: .minute, from: horizon - 5 * Self.minute, to: horizon + 5 * Self.minute, limit: 7))
            #expect(part.map(\.start) == (0..<7).map { horizon - 5 * Self.minute + Int64($0) * Self.minute })  // across the horizon
            let extent = try #require(try await reader.minuteSeriesExtent(machine: "m1", sensor: sensor))
            #expect(extent.first == t0 && extent.last == end - Self.minute)
        }
        #expect(try count("rollup_minute") == 3 * 5 * 1440)
        let removed = try #require(try writer.removeMachine("m1"))
        #expect(removed.rollupRows == 3 * (5 * 1440 + 5))
        #expect(try count("rollup_minute") == 0 && count("rollup_day") == 0)
    }

    @Test func rebuildReproducesTheStreamedRollups() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        let (messages, truth) = Self.chaoticStream(seed: 9)
        _ = try writer.write(messages)
        _ = try writer.rollupAllDue(now: Self.farFuture)
        let reader = try StoreReader(path: tmp.path)
        let before = try await Self.rollups(reader, "pump2", "vib", .minute)
        // Wreck the derived tables, then rebuild them from raw.
        let db = try SQLiteConnection(path: tmp.path)
        try db.execute("""
            UPDATE rollup_minute_kept SET count = 0, mean = 0; UPDATE rollup_minute_recent SET count = 0, mean = 0;
            DELETE FROM rollup_day_kept WHERE start % 2 = 0; DELETE FROM rollup_day_recent WHERE start % 2 = 0;
            INSERT INTO rollup_minute_kept VALUES(1, 60000, 1, 1, 1, 0, 1, 1)
            """)
        let result = try writer.rebuildRollups(from: .min, to: .max)
        #expect(result.readings == truth.count)
        for m in ["plant1/press7", "pump2"] {
            for s in ["temp", "vib"] {
                Self.expectEqual(try await Self.rollups(reader, m, s, .minute), Self.oracle(truth, machine: m, sensor: s, width: Self.minute), "rebuilt \(m)/\(s) minute")
                Self.expectEqual(try await Self.rollups(reader, m, s, .day), Self.oracle(truth, machine: m, sensor: s, width: Self.day), "rebuilt \(m)/\(s) day")
            }
        }
        let after = try await Self.rollups(reader, "pump2", "vib", .minute)
        #expect(after.map(\.start) == before.map(\.start))
    }

    /// The series cache's freshness check: every change to a series' minute rollups (a pass, a
    /// rebuild, retention) bumps its generation; reading without changes does not.
    @Test func everyMinuteRollupChangeBumpsTheSeriesGeneration() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        let reader = try StoreReader(path: tmp.path)
        func generation(_ sensor: String = "temp") async throws -> Int64 {
            try #require(try await reader.minuteSeriesExtent(machine: "pump2", sensor: sensor)).generation
        }
        let (messages, _) = Self.chaoticStream(seed: 4)
        _ = try writer.write(messages)
        let g0 = try await generation()
        _ = try writer.rollupAllDue(now: Self.farFuture)
        let g1 = try await generation()
        #expect(g1 > g0)
        let extent = try #require(try await reader.minuteSeriesExtent(machine: "pump2", sensor: "temp"))
        let buckets = try await reader.minuteBuckets(seriesID: extent.id, from: .min, to: .max)
        #expect(extent.first == buckets.first?.start && extent.last == buckets.last?.start)
        _ = try writer.rollupAllDue(now: Self.farFuture)
        #expect(try await generation() == g1, "nothing changed, nothing bumped")
        // A late reading into a closed minute.
        let late = Reading(machine: "pump2", sensor: "temp", ts: extent.first! + 1, value: 7)
        _ = try writer.write([IngestMessage(readings: [late], rejections: [], topic: "t", payload: [], receivedAt: Self.farFuture)])
        _ = try writer.rollupAllDue(now: Self.farFuture + Self.day)
        let g2 = try await generation()
        #expect(g2 > g1)
        _ = try writer.rebuildRollups(from: .min, to: .max)
        let g3 = try await generation()
        #expect(g3 > g2)
        _ = try writer.applyRetention(rawDays: 1, minuteDays: 1, now: Self.farFuture + 400 * Self.day)
        #expect(try await generation() > g3)
    }

    @Test func rebuildOfARangeTouchesOnlyThoseDays() throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        let rs = (0..<3).map { Reading(machine: "m", sensor: "s", ts: Self.leapDay + Int64($0) * Self.day + 5, value: Double($0)) }
        _ = try writer.write([IngestMessage(readings: rs, rejections: [], topic: "t", payload: [], receivedAt: 0)])
        _ = try writer.rollupAllDue(now: Self.farFuture)
        let r = try writer.rebuildRollups(from: Self.leapDay + Self.day + 1000, to: Self.leapDay + 2 * Self.day)
        #expect(r.days == 1 && r.readings == 1)
    }

    @Test func pruningRawOrMinutesNeverChangesARollup() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        let now = Self.leapDay + 12 * Self.day + 3_600_000
        var truth: [Key: Double] = [:]
        var rng = SplitMix64(seed: 11)
        var readings: [Reading] = []
        for d in 0..<12 {
            for i in 0..<300 {
                let r = Reading(machine: "m", sensor: "s", ts: Self.leapDay + Int64(d) * Self.day + Int64(i) * 997, value: 50 + Double.random(in: -5...5, using: &rng))
                readings.append(r)
                truth[Key(machine: r.machine, sensor: r.sensor, ts: r.ts)] = r.value
            }
        }
        _ = try writer.write([IngestMessage(readings: readings, rejections: [], topic: "t", payload: [], receivedAt: now)])
        // Some changes are still dirty when retention runs: it must reduce them before pruning.
        let reader = try StoreReader(path: tmp.path)
        let pruned = try writer.applyRetention(rawDays: 4, minuteDays: 7, now: now)
        #expect(pruned.rawRows == 8 * 300)
        #expect(pruned.minuteRows == 5 * 5) // 300 readings ≈ 5 minutes per day
        _ = try writer.rollupAllDue(now: Self.farFuture) // the days retention did not touch
        let raw = try #require(try await reader.rawSeries(machine: "m", sensor: "s", from: .min, to: .max, limit: 1_000_000))
        #expect(raw.first?.ts == Self.leapDay + 8 * Self.day)
        let days = try await Self.rollups(reader, "m", "s", .day)
        Self.expectEqual(days, Self.oracle(truth, machine: "m", sensor: "s", width: Self.day), "days after pruning")
        let minutes = try await Self.rollups(reader, "m", "s", .minute)
        Self.expectEqual(minutes, Self.oracle(truth.filter { $0.key.ts >= Self.leapDay + 5 * Self.day }, machine: "m", sensor: "s", width: Self.minute),
                         "minutes kept after pruning")

        // Rebuilding and re-running retention change nothing.
        _ = try writer.rebuildRollups(from: .min, to: .max)
        _ = try writer.applyRetention(rawDays: 4, minuteDays: 7, now: now)
        Self.expectEqual(try await Self.rollups(reader, "m", "s", .day), Self.oracle(truth, machine: "m", sensor: "s", width: Self.day), "days after rebuild")

        // Late readings below both horizons are stored and rolled up on top of what was pruned.
        let lateRaw = Reading(machine: "m", sensor: "s", ts: Self.leapDay + 6 * Self.day + 10, value: 1_000) // raw pruned, minutes kept
        let lateMinute = Reading(machine: "m", sensor: "s", ts: Self.leapDay + 1 * Self.day + 20, value: -1_000) // minutes pruned too
        let outcome = try writer.write([IngestMessage(readings: [lateRaw, lateMinute], rejections: [], topic: "t", payload: [], receivedAt: now)])
        #expect(outcome.late == 2)
        for r in [lateRaw, lateMinute] { truth[Key(machine: r.machine, sensor: r.sensor, ts: r.ts)] = r.value }
        _ = try writer.rollupAllDue(now: Self.farFuture)
        Self.expectEqual(try await Self.rollups(reader, "m", "s", .day), Self.oracle(truth, machine: "m", sensor: "s", width: Self.day), "days after late readings")
        let minute6 = try await Self.rollups(reader, "m", "s", .minute).first { $0.start == Self.leapDay + 6 * Self.day }
        #expect(minute6?.stats == Self.oracle(truth, machine: "m", sensor: "s", width: Self.minute)[Self.leapDay + 6 * Self.day].map {
            BucketStats(count: $0.count, sum: minute6!.stats.sum, mean: minute6!.stats.mean, m2: minute6!.stats.m2, min: $0.min, max: $0.max)
        })
        // A rebuild keeps them too.
        _ = try writer.rebuildRollups(from: .min, to: .max)
        Self.expectEqual(try await Self.rollups(reader, "m", "s", .day), Self.oracle(truth, machine: "m", sensor: "s", width: Self.day), "days after late + rebuild")
    }

    @Test func dirtyMinutesSurviveARestart() async throws {
        let tmp = try TempDatabase()
        do {
            let writer = try StoreWriter(path: tmp.path)
            _ = try writer.write([IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: Self.leapDay, value: 1)], rejections: [], topic: "t", payload: [], receivedAt: 0)])
        }
        let writer = try StoreWriter(path: tmp.path)
        #expect(try writer.rollupBacklog().pending == 1)
        #expect(try writer.rollupAllDue(now: Self.farFuture) == RollupPass(minutes: 1, days: 1))
    }

    /// The soak saw a live stream report ≈ 55 s of lag right after every minute ended (the lag
    /// was counted from the minute's first reading); it counts from when the minute could first
    /// be rolled up.
    @Test func rollupLagCountsFromWhenAMinuteCouldFirstBeRolledUp() throws {
        let tmp = try TempDatabase()
        let open = Self.leapDay, now = open + 30_000
        let writer = try StoreWriter(path: tmp.path, rollupFlushDelayMillis: 5_000, clock: { now })
        _ = try writer.write([IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: open + 1, value: 1)],
                                            rejections: [], topic: "t", payload: [], receivedAt: now)])
        #expect(try writer.rollupBacklog(now: open + 50_000).lagMillis == 0)        // still open
        #expect(try writer.rollupBacklog(now: open + 61_000).lagMillis == 1_000)    // ended a second ago
        // A late reading into a minute that ended long ago waits from its arrival.
        _ = try writer.write([IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: open - 600_000, value: 1)],
                                            rejections: [], topic: "t", payload: [], receivedAt: now)])
        #expect(try writer.rollupBacklog(now: now + 7_000).lagMillis == 7_000)
    }

    @Test func openMinutesWaitForTheFlushDelay() throws {
        let tmp = try TempDatabase()
        let open = Self.leapDay, now = open + 30_000 // the writes happen mid-minute
        let writer = try StoreWriter(path: tmp.path, rollupFlushDelayMillis: 5_000, clock: { now })
        _ = try writer.write([IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: open + 1, value: 1),
                                                       Reading(machine: "m", sensor: "s", ts: open - 600_000, value: 1)],
                                            rejections: [], topic: "t", payload: [], receivedAt: now)])
        // Neither the open minute nor the just-touched old one is due yet...
        #expect(try writer.rollupPass(now: now + 1_000).minutes == 0)
        // ... the old one is after the flush delay, the open one once it has ended and been quiet
        // as long.
        #expect(try writer.rollupPass(now: now + 5_000).minutes == 1)
        #expect(try writer.rollupPass(now: open + 60_000 + 4_999).minutes == 0)
        #expect(try writer.rollupPass(now: open + 60_000 + 5_000).minutes == 1)
    }

    /// A backlog is rolled up oldest minute first, every series' minute together (their rows share
    /// the time-first row tables' pages; series by series, a month's backlog read every page once
    /// per series), whatever order the series were written in.
    @Test func aPassTakesTheOldestMinutesOfEverySeriesFirst() async throws {
        let tmp = try TempDatabase()
        let base = Self.leapDay
        let writer = try StoreWriter(path: tmp.path, rollupFlushDelayMillis: 1_000, clock: { base + 3_600_000 })
        let sensors = ["c", "a", "b"]
        for sensor in sensors {
            let readings = (0..<5).map { n in Reading(machine: "m", sensor: sensor, ts: base + Int64(n) * Self.minute + 7, value: Double(n)) }
            _ = try writer.write([IngestMessage(readings: readings, rejections: [], topic: "t", payload: [], receivedAt: base + 3_600_000)])
        }
        #expect(try writer.rollupPass(now: base + 3_700_000, limit: 6).minutes == 6)
        let reader = try StoreReader(path: tmp.path)
        for sensor in sensors {
            #expect(try await Self.rollups(reader, "m", sensor, .minute).map(\.start) == [base, base + Self.minute], "\(sensor)")
        }
    }

    /// A mark inside a live minute is written once (a plant's commits every few seconds do not
    /// rewrite it); one after the minute's end (a late reading) postpones the minute's pass.
    @Test func onlyMarksAfterAMinuteEndedPostponeIt() throws {
        let tmp = try TempDatabase()
        let open = Self.leapDay
        let clock = Mutex(open + 10_000)
        let writer = try StoreWriter(path: tmp.path, rollupFlushDelayMillis: 5_000, clock: { clock.withLock { $0 } })
        func write(at now: Int64, ts: Int64) throws {
            clock.withLock { $0 = now }
            _ = try writer.write([IngestMessage(readings: [Reading(machine: "m", sensor: "s", ts: ts, value: 1)],
                                                rejections: [], topic: "t", payload: [], receivedAt: now)])
        }
        for k in Int64(1)...5 { try write(at: open + k * 10_000, ts: open + k * 10_000 - 500) }
        let db = try SQLiteConnection(path: tmp.path)
        #expect(try db.query("SELECT first_mark, last_mark FROM rollup_dirty") { [$0.int(0), $0.int(1)] } == [[open + 10_000, open + 10_000]])
        try write(at: open + 63_000, ts: open + 59_000)
        #expect(try writer.rollupPass(now: open + 63_000 + 4_999).minutes == 0)
        #expect(try writer.rollupPass(now: open + 63_000 + 5_000).minutes == 1)
    }

    /// A backlog worked through in full passes merges each series' day once, by the pass that
    /// reaches its last waiting minute, and the days are exact.
    @Test func aBacklogMergesEachDayOnceItsMinutesAreIn() async throws {
        let tmp = try TempDatabase()
        let base = Self.leapDay + 3_600_000
        let writer = try StoreWriter(path: tmp.path, rollupFlushDelayMillis: 1_000, clock: { base + 7_200_000 })
        var truth: [Key: Double] = [:]
        for sensor in ["a", "b", "c"] {
            var readings: [Reading] = []
            for n in Int64(0)..<30 {
                for k in Int64(0)..<3 {
                    let ts: Int64 = base + n * Self.minute + k * 20_000
                    readings.append(Reading(machine: "m", sensor: sensor, ts: ts, value: Double(n * 3 + k) + 0.25))
                }
            }
            for r in readings { truth[Key(machine: r.machine, sensor: r.sensor, ts: r.ts)] = r.value }
            _ = try writer.write([IngestMessage(readings: readings, rejections: [], topic: "t", payload: [], receivedAt: base + 7_200_000)])
        }
        var minutes = 0, days = 0
        while true {
            let pass = try writer.rollupPass(now: base + 7_300_000, limit: 9)
            if pass.minutes == 0 { break }
            minutes += pass.minutes
            days += pass.days
        }
        #expect(minutes == 90)
        #expect(days == 3)
        let reader = try StoreReader(path: tmp.path)
        for sensor in ["a", "b", "c"] {
            Self.expectEqual(try await Self.rollups(reader, "m", sensor, .day), Self.oracle(truth, machine: "m", sensor: sensor, width: Self.day), "\(sensor) day")
            Self.expectEqual(try await Self.rollups(reader, "m", sensor, .minute), Self.oracle(truth, machine: "m", sensor: sensor, width: Self.minute), "\(sensor) minutes")
        }
    }

    /// A pass merges the minutes it recomputed into the day where the last pass left it (they
    /// follow every minute merged so far) instead of merging the whole day again: the days come
    /// out with the very bits of a merge from scratch — in order, in a backlog's small passes, with
    /// a late minute in between (merged again from every minute), across midnight, with a second
    /// series alongside.
    @Test func daysMergedPassByPassHaveTheBitsOfAFullMerge() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        let db = try SQLiteConnection(path: tmp.path)
        var rng = SplitMix64(seed: 27)
        let t0 = Self.leapDay + 20 * 3_600_000  // 20:00: the stream crosses midnight
        func send(_ ts: Int64, _ sensor: String) throws {
            let r = Reading(machine: "m", sensor: sensor, ts: ts, value: Double.random(in: -50...150, using: &rng) * 1.1)
            _ = try writer.write([IngestMessage(readings: [r], rejections: [], topic: "t", payload: [], receivedAt: ts)])
        }
        var passes = 0
        for m in Int64(0)..<(10 * 60) {
            for k in Int64(0)..<6 {
                for sensor in ["a", "b"] { try send(t0 + m * Self.minute + k * 10_000 + 3, sensor) }
            }
            if m == 500 { try send(t0 + 450 * Self.minute + 5_000, "a") }  // late: a minute of the day already merged
            if m % 14 == 6 { passes += try writer.rollupAllDue(now: Self.farFuture).days > 0 ? 1 : 0 }
            // A backlog, in passes of five minutes: a day whose next minutes wait is merged later.
            if m % 14 == 13 { while try writer.rollupPass(now: Self.farFuture, limit: 5).minutes > 0 { passes += 1 } }
        }
        _ = try writer.rollupAllDue(now: Self.farFuture)
        #expect(passes > 50)
        func bits(_ series: Int64, _ start: Int64, _ s: BucketStats) -> [UInt64] {
            [UInt64(series), UInt64(start), UInt64(s.count)] + [s.sum, s.mean, s.m2, s.min, s.max].map(\.bitPattern)
        }
        let streamed = try RollupRows.day.tables.flatMap { table in
            try db.query("SELECT series_id, start, count, sum, mean, m2, min, max FROM \(table)") { s in
                bits(s.int(0), s.int(1), RollupMaintenance.stats(s, from: 2))
            }
        }.sorted { $0.lexicographicallyPrecedes($1) }
        #expect(streamed.count == 4)  // two series × two days
        // Each day merged from scratch: every minute it holds, in order.
        var merged: [[UInt64]] = []
        for series in try db.query("SELECT id FROM series ORDER BY id", row: { $0.int(0) }) {
            for day in [Self.leapDay, Self.leapDay + Self.day] {
                var stats = BucketStats.empty
                for m in try MinuteChunks.read(db, series: series, from: day, to: day + Self.day, limit: nil) { stats.merge(m.stats) }
                merged.append(bits(series, day, stats))
            }
        }
        #expect(streamed == merged.sorted { $0.lexicographicallyPrecedes($1) })
    }
}
