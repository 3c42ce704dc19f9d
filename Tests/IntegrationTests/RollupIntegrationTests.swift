import Foundation
import Testing
import VigilAPI
import VigilCore

/// The rollup engine end to end: a simulated fleet, replaced and late readings from
/// `mosquitto_pub`, then the API's minute and day series must equal a recomputation from the
/// raw readings the same API returns.
@Suite(.serialized) struct RollupIntegrationTests {
    static func points(_ d: TestDaemon, _ machine: String, _ sensor: String, _ resolution: String) async throws -> [API.SeriesPoint] {
        try await Harness.getJSON("\(d.baseURL)/api/v1/machines/\(machine)/sensors/\(sensor)/series?resolution=\(resolution)&limit=100000",
                                  as: [API.SeriesPoint].self)
    }

    /// Two-pass statistics per bucket from raw points.
    static func recompute(_ raw: [API.SeriesPoint], width: Int64) -> [API.SeriesPoint] {
        let groups = Dictionary(grouping: raw) { $0.ts - $0.ts % width }
        return groups.keys.sorted().map { start in
            let xs = groups[start]!.map(\.mean)
            let mean = xs.reduce(0, +) / Double(xs.count)
            let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(xs.count)
            return API.SeriesPoint(ts: start, count: xs.count, mean: mean, min: xs.min()!, max: xs.max()!,
                                   sum: xs.reduce(0, +), stddev: variance.squareRoot())
        }
    }

    static func same(_ a: [API.SeriesPoint], _ b: [API.SeriesPoint]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in
            x.ts == y.ts && x.count == y.count && x.min == y.min && x.max == y.max
                && abs(x.mean - y.mean) <= 1e-9 * max(1, abs(y.mean)) && abs(x.sum - y.sum) <= 1e-9 * max(1, abs(y.sum))
                && abs(x.stddev - y.stddev) <= 1e-9 * max(1, abs(y.mean))
        }
    }

    @Test func apiRollupsEqualRecomputationFromRaw() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let daemon = try TestDaemon(broker: broker, environment: ["VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1"])
        try await daemon.waitReady()
        let sim = try Harness.product("vigil-sim")

        // Ten simulated minutes two hours ago, crossing no day edge... and one that does.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let base = now / 60_000 * 60_000 - 7_200_000
        let dayEdge = now / 86_400_000 * 86_400_000 - 180_000 // three minutes before today began
        for (start, seed, duration) in [(base, "7", "10m"), (dayEdge, "8", "6m"), (base, "9", "2m")] {
            // The last run repeats the first two minutes' keys with other values: replacements.
            let out = try Harness.run(sim, ["--broker", broker.url, "--machines", "3", "--sensors", "4", "--format", "batch",
                                            "--seed", seed, "--start", String(start), "--duration", duration, "--speedup", "6000", "--quiet"])
            #expect(out.status == 0, "vigil-sim: \(out.stderr)")
        }
        // Wait until a minute is rolled up, then send a reading into it (late) and a duplicate key.
        try await Harness.waitUntil("first minute rolled up", seconds: 30) {
            try await Self.points(daemon, "pump-01", "temp", "minute").contains { $0.ts == base }
        }
        try broker.publish(topic: "vigil/pump-01/temp", "{\"ts\":\(base + 30_500),\"value\":99.5}")
        try broker.publish(topic: "vigil/pump-01/temp", "{\"ts\":\(base + 30_500),\"value\":98.5}")
        try broker.publish(topic: "vigil/pump-01/temp", "{\"ts\":\(base - 86_400_000),\"value\":-4}") // backfill a day ago

        try await Harness.waitUntil("late and backfilled readings stored", seconds: 20) {
            let raw = try await Self.points(daemon, "pump-01", "temp", "raw")
            return raw.contains { $0.ts == base + 30_500 && $0.mean == 98.5 } && raw.contains { $0.ts == base - 86_400_000 }
        }
        var last = ""
        try await Harness.waitUntil("minute and day rollups equal recomputation from raw", seconds: 40) {
            for machine in ["pump-01", "press-02", "fan-03"] {
                for sensor in ["temp", "vib", "current", "pressure"] {
                    let raw = try await Self.points(daemon, machine, sensor, "raw")
                    for (resolution, width) in [("minute", Int64(60_000)), ("day", Int64(86_400_000))] {
                        let got = try await Self.points(daemon, machine, sensor, resolution)
                        guard Self.same(got, Self.recompute(raw, width: width)) else {
                            last = "\(machine)/\(sensor) \(resolution): \(got.count) buckets vs \(Self.recompute(raw, width: width).count)"
                            return false
                        }
                    }
                }
            }
            return true
        }
        let minute = try await Self.points(daemon, "pump-01", "temp", "minute").first { $0.ts == base + 0 }
        #expect(minute?.max == 98.5, "the late reading, replaced by its duplicate, is in the closed minute (\(last))")
        #expect(try await Self.points(daemon, "pump-01", "temp", "day").first?.min == -4)

        // The API answers a range that starts inside a bucket with that bucket.
        let inside = try await Harness.getJSON(
            "\(daemon.baseURL)/api/v1/machines/pump-01/sensors/temp/series?resolution=minute&from=\(base + 30_000)&to=\(base + 120_000)",
            as: [API.SeriesPoint].self)
        #expect(inside.map(\.ts) == [base, base + 60_000])

        let (_, metrics) = try await Harness.get(daemon.baseURL + "/metrics")
        let text = String(decoding: metrics, as: UTF8.self)
        let late = text.split(separator: "\n").first { $0.hasPrefix("vigil_ingest_late_readings_total ") }
        #expect(late.flatMap { Int($0.split(separator: " ")[1]) }.map { $0 >= 2 } == true, "\(text)")
        #expect(text.contains("vigil_rollup_lag_seconds"))

        // The daemon seals on its own: the backfilled reading's 6-hour span ended long before
        // `storage.seal_after` (1 h); once sealed, the API still answers the same.
        try await Harness.waitUntil("the backfilled span sealed", seconds: 20) {
            let (_, m) = try await Harness.get(daemon.baseURL + "/metrics")
            let line = String(decoding: m, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("vigil_store_sealed_readings ") }
            return line.flatMap { Int($0.split(separator: " ")[1]) }.map { $0 >= 1 } == true
        }
        let rawAfter = try await Self.points(daemon, "pump-01", "temp", "raw")
        #expect(rawAfter.contains { $0.ts == base - 86_400_000 && $0.mean == -4 })
        #expect(Self.same(try await Self.points(daemon, "pump-01", "temp", "day"), Self.recompute(rawAfter, width: 86_400_000)))

        // The CLI prints the same rollups.
        let csv = try Harness.run(try Harness.product("vigil"), ["series", "pump-01", "temp", "--resolution", "minute", "--format", "csv",
                                                                  "--from", String(base), "--to", String(base + 600_000), "--url", daemon.baseURL])
        #expect(csv.status == 0, "\(csv.stderr)")
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.first == "machine,sensor,ts,count,mean,min,max,sum,stddev,unit")
        #expect(lines.count == 11)
        #expect(await daemon.terminate() == 0, "vigild log:\n\(daemon.log)")

        // Offline rebuild from raw gives the same rollups.
        let rebuild = try Harness.run(try Harness.product("vigild"), ["--config", try TestDaemon.config("# defaults\n", in: daemon.dir),
                                                                       "--db", daemon.databasePath, "--rebuild-rollups"])
        #expect(rebuild.status == 0, "\(rebuild.stderr)")
        #expect(rebuild.stdout.contains("rebuilt rollups"), "\(rebuild.stdout)")
    }
}
