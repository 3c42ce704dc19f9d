import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc
import Testing
import VigilAPI
import VigilCore

/// Beyond one box: two sites, each a `vigild` with its own broker and simulated fleet (duplicate
/// and reordered messages, and late readings that correct rollups already sent), stream into a
/// two-shard ClickHouse cluster on loopback. One site's daemon is killed with SIGKILL mid-stream
/// and one shard is down for a while; afterwards the cluster's `FINAL` rows equal each site's own
/// API answers exactly (minute and day rollups, health points, model versions, maintenance),
/// with no row missing and none doubled.
@Suite(.serialized) struct ClickHouseUpstreamTests {
    struct SensorRow: Decodable, Equatable { var sensor: String; var unit: String; var min: Double?; var max: Double? }
    struct DayRow: Decodable, Equatable { var ts: Int64; var date: String; var timezone: String }
    struct RollupRow: Decodable, Equatable { var ts: Int64; var count: Int; var mean: Double; var min: Double; var max: Double; var sum: Double; var stddev: Double }
    struct HealthRow: Decodable, Equatable { var ts: Int64; var health: Double; var status: String }
    struct ModelRow: Decodable, Equatable {
        var model_version: Int; var active: Int; var trigger: String; var parent_version: Int?; var content_sha256: String; var gate_decision: String
    }
    struct KeyCount: Decodable { var n: Int; var keys: Int }

    /// One site: broker, daemon (streaming to `node`), simulator.
    final class Site {
        let name: String
        let broker: TestBroker
        let dir: String
        var daemon: TestDaemon
        let config: String

        init(name: String, node: TestClickHouseCluster.Node, upstream: String = "", timeZone: String = "UTC") async throws {
            self.name = name
            broker = try TestBroker()
            try await broker.waitReady()
            dir = try Harness.tempDirectory()
            config = """
                [site]
                timezone = "\(timeZone)"
                [[sensors]]
                sensor = "temp"
                unit = "°C"
                min = -40
                max = 200
                [health]
                commission_minutes = 30
                [rollup]
                flush_delay_seconds = 1
                [upstream]
                site = "\(name)"
                \(upstream)
                [[upstream.clickhouse]]
                url = "\(node.url)"
                user = "\(TestClickHouseCluster.user)"
                password_env = "CLICKHOUSE_PASSWORD"
                batch_rows = 500
                flush_seconds = 1
                """
            daemon = try Self.start(broker: broker, dir: dir, config: config)
            try await daemon.waitReady()
        }

        static func start(broker: TestBroker, dir: String, config: String) throws -> TestDaemon {
            try TestDaemon(broker: broker, dataDirectory: dir, environment: ["CLICKHOUSE_PASSWORD": TestClickHouseCluster.password], config: config)
        }

        func restart() async throws {
            daemon = try Self.start(broker: broker, dir: dir, config: config)
            try await daemon.waitReady()
        }

        deinit { try? FileManager.default.removeItem(atPath: dir) }
    }

    @Test(.enabled(if: TestClickHouseCluster.available, "clickhouse-server is not installed (scripts/deps --test installs it)"))
    func twoSitesStreamIntoAShardedClusterThroughACrashAndAShardOutage() async throws {
        let cluster = try TestClickHouseCluster(shards: 2)
        for node in cluster.nodes { try await cluster.waitReady(node) }
        let schema = try Harness.run(try Harness.product("vigil"), ["upstream", "schema", "clickhouse", "--cluster", "fleet", "--shards-by", "machine"])
        #expect(schema.status == 0, "\(schema.stderr)")
        try cluster.runOnEveryNode(schema.stdout)

        // Site A streams through node 0, site B through node 1; both nodes hold the Distributed tables.
        let a = try await Site(name: "plant-a", node: cluster.nodes[0])
        let b = try await Site(name: "plant-b", node: cluster.nodes[1], timeZone: "Asia/Kathmandu")
        let start = Self.historyStart
        let simA = try Self.simulate(a, seed: 11), simB = try Self.simulate(b, seed: 12)

        // Mid-stream: site A's daemon dies without warning and comes back; shard 1 goes down for a while.
        try await Task.sleep(for: .seconds(6))
        a.daemon.kill9()
        cluster.nodes[1].kill()
        try await Task.sleep(for: .seconds(2))
        try await a.restart()
        try await Task.sleep(for: .seconds(6))
        try cluster.nodes[1].start()
        try await cluster.waitReady(cluster.nodes[1])
        #expect(simA.wait() == 0, "\((try? String(contentsOfFile: a.dir + "/sim.log", encoding: .utf8)) ?? "")")
        #expect(simB.wait() == 0, "\((try? String(contentsOfFile: b.dir + "/sim.log", encoding: .utf8)) ?? "")")

        // Late readings into minutes whose rollups were sent long ago: the corrections must replace them.
        let machinesA = try await Harness.getJSON(a.daemon.baseURL + "/api/v1/machines", as: [API.Machine].self)
        let late = machinesA[0]
        for k in 0..<3 {
            try a.broker.publish(topic: "vigil/\(late.id)/\(late.sensors[0])", #"{"ts": \#(start + 600_000 + Int64(k) * 7_000), "value": \#(1000 + k)}"#)
        }
        // A malformed payload (the quarantine stream) and a maintenance record (its own stream).
        try a.broker.publish(topic: "vigil/\(late.id)/\(late.sensors[0])", #"{"ts": 1, "value": "#)
        let (status, _) = try await post(a.daemon.baseURL + "/api/v1/machines/\(late.id)/maintenance", #"{"note": "bearing replaced"}"#)
        #expect((200..<300).contains(status))

        // Every site's own answers, once they stop changing, equal the cluster's FINAL rows.
        for site in [a, b] {
            let last = try await agreement(site, cluster, seconds: 150)
            #expect(last == nil, "\(site.name) in the cluster differs from its own API: \(last ?? "")")
        }
        // The late readings are in the cluster's minute (count and max changed), not beside it.
        let corrected = try cluster.rows("""
            SELECT ts, count, mean, min, max, sum, stddev FROM vigil.vigil_rollup_minute FINAL
            WHERE site = 'plant-a' AND machine = '\(late.id)' AND sensor = '\(late.sensors[0])' AND ts = \(start + 600_000)
            """, via: cluster.nodes[0], as: RollupRow.self)
        #expect(corrected.count == 1 && corrected.first!.max >= 1002, "\(corrected)")
        // Both shards hold rows (the sharding key spreads the machines).
        for node in cluster.nodes {
            let local = try TestClickHouseCluster.query(node.url, "SELECT count() FROM vigil.vigil_rollup_minute_local")
            #expect((Int(local.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 0, "shard on \(node.httpPort) holds no rows")
        }
        // Inserts are synchronous across shards: site A's failed too while shard 1 was down (the
        // outbox kept the rows), and every lane has caught up since.
        try await Harness.waitUntil("site A's lanes caught up", seconds: 60) {
            try await Harness.getJSON(a.daemon.baseURL + "/api/v1/upstream", as: [API.UpstreamLane].self).allSatisfy { $0.lastError == nil && $0.pendingRows == 0 }
        }
        let lanes = try await Harness.getJSON(a.daemon.baseURL + "/api/v1/upstream", as: [API.UpstreamLane].self)
        #expect(Set(lanes.map(\.stream)) == Set(UpstreamStream.defaults))
        // `vigil upstream status` shows the same lanes (JSON: the API's objects).
        let cli = try Harness.run(try Harness.product("vigil"), ["upstream", "status", "--format", "json", "--url", a.daemon.baseURL])
        #expect(cli.status == 0, "\(cli.stderr)")
        let cliLanes = try JSONDecoder().decode([API.UpstreamLane].self, from: Data(cli.stdout.utf8))
        #expect(cliLanes.map(\.stream) == lanes.map(\.stream) && cliLanes.allSatisfy { $0.sink == "clickhouse[0]" && $0.lastError == nil })
        // Site B's node was down: its inserts failed and were retried, and it says so.
        let lanesB = try await Harness.getJSON(b.daemon.baseURL + "/api/v1/upstream", as: [API.UpstreamLane].self)
        #expect(lanesB.contains { $0.failures > 0 }, "\(lanesB)")
        let metrics = String(decoding: try await Harness.get(b.daemon.baseURL + "/metrics").1, as: UTF8.self)
        #expect(metrics.contains("vigil_upstream_rows_sent_total{sink=\"clickhouse[0]\",stream=\"rollup_minute\"}"))
    }

    /// ClickHouse refuses one stream (its table was dropped: HTTP 404 on every insert). That lane
    /// retries with backoff and shows the server's error, the daemon reports `upstream_lag`, the
    /// other streams keep flowing, and once the table is back the lane catches up: the cluster
    /// equals the site's API again, with nothing lost or doubled.
    @Test(.enabled(if: TestClickHouseCluster.available, "clickhouse-server is not installed (scripts/deps --test installs it)"))
    func aStreamTheServerRefusesIsRetriedAndCatchesUpOnceFixed() async throws {
        let cluster = try TestClickHouseCluster(shards: 1)
        let node = cluster.nodes[0]
        try await cluster.waitReady(node)
        let schema = try Harness.run(try Harness.product("vigil"), ["upstream", "schema", "clickhouse"])
        #expect(schema.status == 0, "\(schema.stderr)")
        try cluster.runOnEveryNode(schema.stdout)
        _ = try TestClickHouseCluster.query(node.url, "DROP TABLE vigil.vigil_health")

        let site = try await Site(name: "plant-c", node: node, upstream: "max_lag_seconds = 10")
        let sim = try Self.simulate(site, seed: 13)
        var lanes: [API.UpstreamLane] = []
        try await Harness.waitUntil("the health lane failing while the minute rollups arrive", seconds: 90) {
            lanes = try await Harness.getJSON(site.daemon.baseURL + "/api/v1/upstream", as: [API.UpstreamLane].self)
            let minutes = try TestClickHouseCluster.query(node.url, "SELECT count() FROM vigil.vigil_rollup_minute")
            return lanes.contains { $0.stream == .health && $0.failures >= 2 } && (Int(minutes.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 0
        }
        let failing = try #require(lanes.first { $0.stream == .health })
        #expect(failing.lastError?.contains("vigil_health") == true && failing.pendingRows >= 0, "\(failing)")
        #expect(lanes.filter { $0.stream != .health }.allSatisfy { $0.failures == 0 }, "\(lanes)")
        try await Harness.waitUntil("/healthz degraded by the upstream lag", seconds: 30) {
            let s = try await Harness.getJSON(site.daemon.baseURL + "/healthz", as: API.DaemonStatus.self)
            return s.reasons.contains { $0.reason == "upstream_lag" }
        }
        #expect(sim.wait() == 0, "\((try? String(contentsOfFile: site.dir + "/sim.log", encoding: .utf8)) ?? "")")

        // The operator puts the table back (the schema is idempotent): everything arrives once.
        try cluster.runOnEveryNode(schema.stdout)
        let last = try await agreement(site, cluster, seconds: 120)
        #expect(last == nil, "the cluster differs from the site's API after the fix: \(last ?? "")")
        try await Harness.waitUntil("/healthz without upstream_lag", seconds: 30) {
            let s = try await Harness.getJSON(site.daemon.baseURL + "/healthz", as: API.DaemonStatus.self)
            return !s.reasons.contains { $0.reason == "upstream_lag" }
        }
    }

    /// Three hours of history, ending now, published ≈ 700× faster than real time.
    static let historyStart = SystemClock.wallMillis() / 60_000 * 60_000 - 3 * 3_600_000

    /// A site's fleet: 8 machines × 2 sensors, mixed dialects, 5 % duplicates and 5 % reordered.
    static func simulate(_ site: Site, seed: Int) throws -> ChildProcess {
        try ChildProcess(try Harness.product("vigil-sim"), [
            "fleet", "--broker", site.broker.url, "--machines", "8", "--sensors", "2", "--format", "mixed", "--seed", "\(seed)",
            "--start", String(historyStart), "--speedup", "700", "--duration", "3h", "--duplicates", "0.05", "--reorder", "0.05", "--quiet",
        ], stdout: site.dir + "/sim.log", stderr: site.dir + "/sim.log")
    }

    func post(_ url: String, _ body: String) async throws -> (Int, Data) {
        var req = URLRequest(url: URL(string: url)!)
        req.httpMethod = "POST"
        req.httpBody = Data(body.utf8)
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (data, response) = try await URLSession.shared.data(for: req)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    /// Compares the site with the cluster until they agree (nil) or `seconds` pass (the last difference).
    func agreement(_ site: Site, _ cluster: TestClickHouseCluster, seconds: Double) async throws -> String? {
        var last: String? = "not compared yet"
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            do { last = try await mismatches(site, cluster) } catch { last = "\(error)" }
            if last == nil { break }
            try await Task.sleep(for: .seconds(1))
        }
        return last
    }

    /// The first difference between a site's API and the cluster (read through node 0's
    /// Distributed tables), or nil when they agree on every row.
    func mismatches(_ site: Site, _ cluster: TestClickHouseCluster) async throws -> String? {
        let node = cluster.nodes[0]
        let base = site.daemon.baseURL
        let machines = try await Harness.getJSON(base + "/api/v1/machines", as: [API.Machine].self)
        guard machines.count == 8 else { return "\(machines.count) machines" }
        for table in ["rollup_minute", "rollup_day", "health", "model"] {
            let key = table.hasPrefix("rollup") ? "machine, sensor, ts" : table == "health" ? "machine, ts" : "machine, model_version"
            let counts = try cluster.rows("SELECT count() AS n, uniqExact(\(key)) AS keys FROM vigil.vigil_\(table) FINAL WHERE site = '\(site.name)'",
                                          via: node, as: KeyCount.self)
            guard let c = counts.first, c.n == c.keys else { return "\(table): a key appears twice under FINAL: \(counts)" }
        }
        for m in machines {
            for sensor in m.sensors {
                for (resolution, table) in [("minute", "rollup_minute"), ("day", "rollup_day")] {
                    let api = try await Harness.getJSON(base + "/api/v1/machines/\(m.id)/sensors/\(sensor)/series?resolution=\(resolution)",
                                                        as: [API.SeriesPoint].self)
                    let ch = try cluster.rows("""
                        SELECT ts, count, mean, min, max, sum, stddev FROM vigil.vigil_\(table) FINAL
                        WHERE site = '\(site.name)' AND machine = '\(m.id)' AND sensor = '\(sensor)' ORDER BY ts
                        """, via: node, as: RollupRow.self)
                    let mine = api.map { RollupRow(ts: $0.ts, count: $0.count, mean: $0.mean, min: $0.min, max: $0.max, sum: $0.sum, stddev: $0.stddev) }
                    if mine != ch {
                        let diff = zip(mine, ch).first { $0 != $1 }.map { "\($0) vs \($1)" } ?? "\(mine.count) vs \(ch.count) rows"
                        return "\(m.id)/\(sensor) \(resolution): \(diff)"
                    }
                    // A day row names its local date and the zone it was cut in.
                    if table == "rollup_day" {
                        let days = try cluster.rows("""
                            SELECT ts, toString(date) AS date, timezone FROM vigil.vigil_rollup_day FINAL
                            WHERE site = '\(site.name)' AND machine = '\(m.id)' AND sensor = '\(sensor)' ORDER BY ts
                            """, via: node, as: DayRow.self)
                        let zone = site.name == "plant-b" ? "Asia/Kathmandu" : "UTC"
                        let mineDays = api.map { DayRow(ts: $0.ts, date: $0.date ?? "?", timezone: zone) }
                        if mineDays != days { return "\(m.id)/\(sensor) day dates: \(mineDays) vs \(days)" }
                    }
                }
            }
            // The sensor dimension: what the site knows of each sensor.
            let known = try await Harness.getJSON(base + "/api/v1/machines/\(m.id)/sensors", as: [API.SensorStatus].self)
                .map { SensorRow(sensor: $0.sensor, unit: $0.unit ?? "", min: $0.min, max: $0.max) }.sorted { $0.sensor < $1.sensor }
            let chSensors = try cluster.rows("SELECT sensor, unit, min, max FROM vigil.vigil_sensor FINAL WHERE site = '\(site.name)' AND machine = '\(m.id)' ORDER BY sensor",
                                             via: node, as: SensorRow.self)
            if known != chSensors { return "\(m.id) sensors: \(known) vs \(chSensors)" }
            if !known.contains(where: { $0.sensor == "temp" && $0.unit == "°C" && $0.max == 200 }) { return "\(m.id): temp's unit not known: \(known)" }
            let history = try await Harness.getJSON(base + "/api/v1/machines/\(m.id)/health/history?limit=10000", as: [API.HealthPoint].self)
            let chHealth = try cluster.rows("SELECT ts, health, status FROM vigil.vigil_health FINAL WHERE site = '\(site.name)' AND machine = '\(m.id)' ORDER BY ts",
                                            via: node, as: HealthRow.self)
            if history.isEmpty { return "\(m.id): no health points yet" }
            if history.map({ HealthRow(ts: $0.ts, health: $0.health, status: $0.status.rawValue) }) != chHealth {
                return "\(m.id) health: \(history.count) points vs \(chHealth.count)"
            }
            let models = try await Harness.getJSON(base + "/api/v1/machines/\(m.id)/models", as: [API.ModelVersion].self)
            let chModels = try cluster.rows("""
                SELECT model_version, active, trigger, parent_version, content_sha256, gate_decision FROM vigil.vigil_model FINAL
                WHERE site = '\(site.name)' AND machine = '\(m.id)' ORDER BY model_version
                """, via: node, as: ModelRow.self)
            let mine = models.sorted { $0.version < $1.version }.map {
                ModelRow(model_version: $0.version, active: $0.active ? 1 : 0, trigger: $0.trigger.rawValue, parent_version: $0.parentVersion,
                         content_sha256: $0.contentSha256, gate_decision: $0.gateDecision.rawValue)
            }
            if mine.isEmpty || mine != chModels { return "\(m.id) models: \(mine) vs \(chModels)" }
        }
        // The event log: the same ids, kinds and machines, once each.
        let events = try await Harness.getJSON(base + "/api/v1/events?limit=10000", as: [Event].self)
        struct EventRow: Decodable, Equatable { var id: Int64; var kind: String; var machine: String }
        let chEvents = try cluster.rows("SELECT id, kind, machine FROM vigil.vigil_event FINAL WHERE site = '\(site.name)' ORDER BY id",
                                        via: node, as: EventRow.self)
        let mineEvents = events.reversed().map { EventRow(id: $0.id, kind: $0.kind.rawValue, machine: $0.machine ?? "") }
        if mineEvents != chEvents { return "events: \(mineEvents.count) vs \(chEvents.count) in the cluster" }
        let maintenance = try TestClickHouseCluster.query(node.url, "SELECT count() FROM vigil.vigil_maintenance FINAL WHERE site = '\(site.name)'")
        let expected = site.name == "plant-a" ? "1" : "0"
        if maintenance.trimmingCharacters(in: .whitespacesAndNewlines) != expected { return "maintenance rows: \(maintenance)" }
        let quarantine = try TestClickHouseCluster.query(node.url, "SELECT count() FROM vigil.vigil_quarantine WHERE site = '\(site.name)' AND reason = 'malformed_json'")
        if quarantine.trimmingCharacters(in: .whitespacesAndNewlines) != expected { return "quarantine rows: \(quarantine)" }
        return nil
    }
}
