import Foundation
import Testing
import VigilCore
import VigilRollup
@testable import VigilStore

/// Day rollups on the plant's local days: a plant in Europe/Berlin through both 2026 DST changes
/// and one in Asia/Kathmandu (+05:45). Every day rollup must equal the fold of its raw readings
/// over the local day, with the local midnights computed independently by Python's `zoneinfo`;
/// changing the zone cuts the days again from the minute rollups, and retention keeps them.
@Suite struct PlantDayRollupTests {
    static let minute: Int64 = 60_000
    static let farFuture = SystemClock.wallMillis() + 86_400_000

    static func calendar(_ zone: String) throws -> PlantCalendar {
        try PlantCalendar(timeZone: zone, tzif: Array(try Data(contentsOf: URL(fileURLWithPath: "/usr/share/zoneinfo/" + zone))))
    }

    /// The UTC instants (ms) of local midnight for `dates` in `zone`, from Python.
    static func midnights(_ zone: String, _ dates: [String]) throws -> [Int64] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", """
            import sys
            from datetime import datetime
            from zoneinfo import ZoneInfo
            z = ZoneInfo(sys.argv[1])
            for d in sys.argv[2:]:
                print(int(datetime.fromisoformat(d).replace(tzinfo=z).timestamp() * 1000))
            """, zone] + dates
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map { Int64($0)! }
    }

    /// Readings every 7 minutes (never on a minute edge twice in a row) over March 27 – April 1 and
    /// October 23 – 28, 2026, local days either side of both changes.
    static func readings(machine: String, seed: UInt64) -> [Reading] {
        var rng = SplitMix64(seed: seed)
        var out: [Reading] = []
        for (from, to) in [(Int64(1_774_569_600_000), Int64(1_775_088_000_000)), (Int64(1_792_713_600_000), Int64(1_793_232_000_000))] {
            var t = from - 3_600_000
            while t < to {
                out.append(Reading(machine: machine, sensor: "temp", ts: t, value: 20 + Double.random(in: -5...5, using: &rng)))
                t += 7 * minute + Int64.random(in: 0..<1_000, using: &rng)
            }
        }
        return out
    }

    static func ingest(_ writer: StoreWriter, _ readings: [Reading]) throws {
        _ = try writer.write(stride(from: 0, to: readings.count, by: 500).map {
            IngestMessage(readings: Array(readings[$0..<min($0 + 500, readings.count)]), rejections: [], topic: "t", payload: [], receivedAt: 0)
        })
        _ = try writer.rollupAllDue(now: farFuture)
    }

    /// The fold of `readings` over the local days that start at `starts` (each ends where the
    /// next starts).
    static func fold(_ readings: [Reading], dayStarts starts: [Int64]) -> [Int64: BucketStats] {
        var out: [Int64: BucketStats] = [:]
        for (a, b) in zip(starts, starts.dropFirst()) {
            let xs = readings.filter { $0.ts >= a && $0.ts < b }.map(\.value)
            guard !xs.isEmpty else { continue }
            let mean = xs.reduce(0, +) / Double(xs.count)
            out[a] = BucketStats(count: xs.count, sum: xs.reduce(0, +), mean: mean, m2: xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) },
                                 min: xs.min()!, max: xs.max()!)
        }
        return out
    }

    static let dates = ["2026-03-26", "2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30", "2026-03-31", "2026-04-01", "2026-04-02",
                        "2026-10-22", "2026-10-23", "2026-10-24", "2026-10-25", "2026-10-26", "2026-10-27", "2026-10-28", "2026-10-29"]

    /// The days the store holds against the fold over Python's local days (only days wholly inside
    /// the two stretches of data are compared: the days at the stretches' edges are partial).
    static func expectLocalDays(_ reader: StoreReader, _ readings: [Reading], zone: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let starts = try midnights(zone, dates)
        var want: [Int64: BucketStats] = [:]
        for half in [Array(starts[0..<8]), Array(starts[8...])] { want.merge(fold(readings, dayStarts: half)) { a, _ in a } }
        let got = try #require(try await reader.rollupSeries(machine: "m", sensor: "temp", width: .day, from: .min, to: .max, limit: 1000))
        let inside = Set(starts.dropFirst().prefix(6) + starts.dropFirst(9).prefix(6))
        let compared = got.filter { inside.contains($0.start) }
        #expect(compared.count == 12, "\(zone): \(got.map(\.start)) against \(starts)", sourceLocation: sourceLocation)
        for b in compared {
            let w = try #require(want[b.start])
            #expect(b.stats.count == w.count && b.stats.min == w.min && b.stats.max == w.max, "\(zone) \(b.start)", sourceLocation: sourceLocation)
            #expect(abs(b.stats.sum - w.sum) < 1e-9 && abs(b.stats.mean - w.mean) < 1e-12 && abs(b.stats.stddev - w.stddev) < 1e-9,
                    "\(zone) \(b.start)", sourceLocation: sourceLocation)
        }
        // Berlin: the spring day has 23 hours of readings, the autumn day 25.
        if zone == "Europe/Berlin" {
            let spring = try #require(got.first { $0.start == starts[3] }), autumn = try #require(got.first { $0.start == starts[11] })
            #expect(starts[4] - starts[3] == 23 * 3_600_000 && starts[12] - starts[11] == 25 * 3_600_000)
            #expect(abs(Double(spring.stats.count) - 23 * 60 / 7.0) <= 2 && abs(Double(autumn.stats.count) - 25 * 60 / 7.0) <= 2)
        }
    }

    @Test(arguments: ["Europe/Berlin", "Asia/Kathmandu"]) func dayRollupsAreTheFoldOverTheLocalDay(zone: String) async throws {
        let dir = NSTemporaryDirectory() + "vigil-days-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try StoreWriter(path: dir + "/v.sqlite", calendar: try Self.calendar(zone))
        let readings = Self.readings(machine: "m", seed: 5)
        try Self.ingest(writer, readings)
        try await Self.expectLocalDays(try StoreReader(path: dir + "/v.sqlite"), readings, zone: zone)
        // A rebuild from raw cuts the same days.
        _ = try writer.rebuildRollups(from: .min, to: .max)
        try await Self.expectLocalDays(try StoreReader(path: dir + "/v.sqlite"), readings, zone: zone)
    }

    @Test func changingTheZoneCutsTheDaysAgainFromTheMinutesAndRetentionKeepsThem() async throws {
        let dir = NSTemporaryDirectory() + "vigil-days-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/v.sqlite"
        let readings = Self.readings(machine: "m", seed: 6)
        do {
            let utc = try StoreWriter(path: path)
            #expect(utc.recutDays == nil)
            try Self.ingest(utc, readings)
            _ = try utc.sealAll(now: Self.farFuture)  // minutes sealed into UTC-day chunks too
        }
        do {
            let berlin = try StoreWriter(path: path, calendar: try Self.calendar("Europe/Berlin"))
            #expect(berlin.recutDays?.from == "UTC" && berlin.recutDays?.to == "Europe/Berlin" && (berlin.recutDays?.days ?? 0) >= 12)
            try await Self.expectLocalDays(try StoreReader(path: path), readings, zone: "Europe/Berlin")
        }
        let kathmandu = try StoreWriter(path: path, calendar: try Self.calendar("Asia/Kathmandu"))
        #expect(kathmandu.recutDays?.from == "Europe/Berlin")
        try await Self.expectLocalDays(try StoreReader(path: path), readings, zone: "Asia/Kathmandu")
        #expect(try StoreWriter(path: path, calendar: try Self.calendar("Asia/Kathmandu")).recutDays == nil, "cut once")

        // Retention on local days: raw rows and minutes go, every day rollup stays what it was.
        let before = try #require(try await StoreReader(path: path).rollupSeries(machine: "m", sensor: "temp", width: .day, from: .min, to: .max, limit: 1000))
        let pruned = try kathmandu.applyRetention(rawDays: 2, minuteDays: 2, now: 1_793_232_000_000)
        #expect(pruned.rawRows > 0 && pruned.minuteRows > 0)
        let after = try #require(try await StoreReader(path: path).rollupSeries(machine: "m", sensor: "temp", width: .day, from: .min, to: .max, limit: 1000))
        #expect(after.map(\.start) == before.map(\.start))
        for (a, b) in zip(after, before) {
            #expect(a.stats.count == b.stats.count && a.stats.min == b.stats.min && a.stats.max == b.stats.max && abs(a.stats.sum - b.stats.sum) < 1e-9)
        }
        // New readings on a pruned day's successor still fold into the right local day.
        _ = try kathmandu.rebuildRollups(from: .min, to: .max)
        let rebuilt = try #require(try await StoreReader(path: path).rollupSeries(machine: "m", sensor: "temp", width: .day, from: .min, to: .max, limit: 1000))
        #expect(rebuilt.map(\.stats.count) == before.map(\.stats.count), "a rebuild after retention keeps every day (from bases and what is left)")
    }
}
