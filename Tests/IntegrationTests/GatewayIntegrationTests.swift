import Foundation
import Testing
import VigilAPI
import VigilCore
import VigilStore

/// One reading's whole trip: device → real mosquitto → vigild → SQLite → HTTP API / vigil CLI.
/// Serialized: each test runs a broker and a daemon, and the machine has two cores.
@Suite(.serialized) struct GatewayIntegrationTests {
    func series(_ d: TestDaemon, _ machine: String, _ sensor: String) async throws -> [API.SeriesPoint] {
        let m = machine.replacingOccurrences(of: "/", with: "%2F")
        return try await Harness.getJSON("\(d.baseURL)/api/v1/machines/\(m)/sensors/\(sensor)/series?resolution=raw", as: [API.SeriesPoint].self)
    }

    @Test func readingsTravelFromMosquittoPubToTheCLI() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let daemon = try TestDaemon(broker: broker)
        try await daemon.waitReady()

        let ts: Int64 = Int64(Date().timeIntervalSince1970 * 1000) - 60_000
        try broker.publish(topic: "vigil/plant1/press7/temp", #"{"ts":\#(ts),"value":21.5}"#)
        try await Harness.waitUntil("the reading in the API") { try await series(daemon, "plant1/press7", "temp").count == 1 }

        // The CLI returns the same key and value.
        let cli = try Harness.run(try Harness.product("vigil"),
                                  ["series", "plant1/press7", "temp", "--resolution", "raw", "--format", "json", "--url", daemon.baseURL])
        #expect(cli.status == 0, "\(cli.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(cli.stdout.utf8)) as? [[String: Any]])
        // `--format json` is the API's series point: a raw reading has count 1 and its value as mean.
        #expect(rows.count == 1 && Set(rows[0].keys) == ["ts", "count", "mean", "min", "max", "sum", "stddev"], "\(rows)")
        #expect((rows.first?["ts"] as? NSNumber)?.int64Value == ts)
        #expect((rows.first?["count"] as? NSNumber)?.intValue == 1)
        #expect((rows.first?["mean"] as? NSNumber)?.doubleValue == 21.5)
        let table = try Harness.run(try Harness.product("vigil"), ["series", "plant1/press7", "temp", "--format", "csv", "--url", daemon.baseURL])
        #expect(table.stdout == "machine,sensor,ts,value,unit\nplant1/press7,temp,\(ts),21.5,\n", "\(table.stdout)")

        // The same reading twice is stored once; a malformed payload does not stop ingestion.
        try broker.publish(topic: "vigil/plant1/press7/temp", #"{"ts":\#(ts),"value":21.5}"#)
        try broker.publish(topic: "vigil/plant1/press7/temp", #"{"ts":\#(ts),"value":"#)
        try broker.publish(topic: "vigil/plant1/press7/temp", #"{"ts":\#(ts + 1000),"value":22.5}"#)
        try await Harness.waitUntil("the second reading") { try await series(daemon, "plant1/press7", "temp").count == 2 }
        let stored = try await series(daemon, "plant1/press7", "temp")
        #expect(stored.map(\.ts) == [ts, ts + 1000])
        #expect(stored.map(\.mean) == [21.5, 22.5])

        let quarantine = try await Harness.getJSON(daemon.baseURL + "/api/v1/quarantine", as: [API.QuarantineItem].self)
        #expect(quarantine.map(\.reason) == ["malformed_json"])
        #expect(quarantine.first?.topic == "vigil/plant1/press7/temp")
        #expect(quarantine.first?.payload == #"{"ts":\#(ts),"value":"#)

        let metrics = String(decoding: try await Harness.get(daemon.baseURL + "/metrics").1, as: UTF8.self)
        #expect(metrics.contains("vigil_ingest_rejected_total{reason=\"malformed_json\"} 1"))
        #expect(metrics.contains("vigil_mqtt_connected 1"))

        // Errors are JSON with a 4xx code.
        let (status, body) = try await Harness.get(daemon.baseURL + "/api/v1/machines/nope/sensors/temp/series")
        #expect(status == 404)
        #expect(try JSONDecoder().decode(API.ErrorBody.self, from: body).error == "not_found")
        #expect(try await Harness.get(daemon.baseURL + "/api/v1/machines/a%20b/sensors/temp/series").0 == 400)
        #expect(try await Harness.get(daemon.baseURL + "/api/v1/machines/plant1%2Fpress7/sensors/temp/series?from=soon").0 == 400)

        #expect(await daemon.terminate() == 0, "vigild log:\n\(daemon.log)")
    }

    @Test func simulatedFleetArrivesCompleteInEveryDialect() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        // Sparkplug's edge nodes are named by their node id alone, as the machines of the other dialects.
        let daemon = try TestDaemon(broker: broker, config: "[sparkplug]\nenabled = true\nmachine = \"{edge}\"\n")
        try await daemon.waitReady()

        // Five dialects, each covering its own simulated minute (60 ticks) of 3 machines × 4 sensors.
        let base = Int64(Date().timeIntervalSince1970 * 1000) / 60_000 * 60_000 - 3_600_000
        let formats = ["json", "multi", "batch", "line", "sparkplug"]
        for (k, format) in formats.enumerated() {
            let sim = try Harness.run(try Harness.product("vigil-sim"), [
                "--broker", broker.url, "--machines", "3", "--sensors", "4", "--format", format, "--seed", "7",
                "--start", String(base + Int64(k) * 60_000), "--duration", "60s", "--speedup", "6000", "--quiet",
            ])
            #expect(sim.status == 0, "vigil-sim --format \(format): \(sim.stderr)")
            #expect(sim.stdout.contains("sent 720 readings"), "\(sim.stdout)")
        }

        let expectedPerSeries = 60 * formats.count
        try await Harness.waitUntil("every simulated reading stored", seconds: 30) {
            let machines = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self)
            guard machines.count == 3 else { return false }
            for m in machines {
                for s in m.sensors where try await series(daemon, m.id, s).count != expectedPerSeries { return false }
            }
            return true
        }
        let machines = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self)
        #expect(machines.map(\.id) == ["fan-03", "press-02", "pump-01"])
        #expect(machines.allSatisfy { $0.sensors == ["current", "pressure", "temp", "vib"] })
        // Latest = largest timestamp: the last tick of the last run.
        #expect(machines.allSatisfy { $0.lastSeen == base + Int64(formats.count) * 60_000 - 1000 })

        // Physically plausible values, identical across dialects for the same seed and tick.
        let temps = try await series(daemon, "pump-01", "temp")
        #expect(temps.allSatisfy { (15.0...120.0).contains($0.mean) })
        let quarantine = try await Harness.getJSON(daemon.baseURL + "/api/v1/quarantine", as: [API.QuarantineItem].self)
        #expect(quarantine.isEmpty, "\(quarantine)")

        let machinesCLI = try Harness.run(try Harness.product("vigil"), ["machines", "--url", daemon.baseURL])
        #expect(machinesCLI.status == 0)
        #expect(machinesCLI.stdout.contains("pump-01"))
        #expect(await daemon.terminate() == 0)
    }

    @Test func everyDialectFromMosquittoPub() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let daemon = try TestDaemon(broker: broker)
        try await daemon.waitReady()
        let t = Int64(Date().timeIntervalSince1970 * 1000) / 1000 * 1000 - 120_000
        try broker.publish(topic: "vigil/site1/m1/scalar", "23.25")
        try broker.publish(topic: "vigil/site1/m1/single", #"{"ts": "\#(Timestamp.rfc3339(millis: t))", "value": 1.5, "seq": 1}"#)
        try broker.publish(topic: "vigil/site1/m1", #"{"ts": \#(t / 1000), "values": {"multiA": 2, "multiB": 3}}"#)
        try broker.publish(topic: "vigil/site1/m1", #"[{"ts": \#(t), "values": {"batch": 4}}, {"ts": \#(t + 1000), "values": {"batch": 5}}]"#)
        try broker.publish(topic: "vigil/site1/m1/batchsingle", #"[{"ts": \#(t), "value": 6}, {"ts": \#(t + 1000), "value": 7}]"#)
        try broker.publish(topic: "vigil/telegraf", "cpu,machine=site1/m1 line=8,linei=9i \(t * 1_000_000)\nbad line")
        try await Harness.waitUntil("every dialect stored") {
            let m = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self)
            return m.first?.sensors.count == 8
        }
        let expected: [(String, [Double])] = [("scalar", [23.25]), ("single", [1.5]), ("multiA", [2]), ("multiB", [3]),
                                              ("batch", [4, 5]), ("batchsingle", [6, 7]), ("line", [8]), ("linei", [9])]
        for (sensor, values) in expected {
            #expect(try await series(daemon, "site1/m1", sensor).map(\.mean) == values, "\(sensor)")
        }
        #expect(try await series(daemon, "site1/m1", "single").first?.ts == t)
        #expect(try await series(daemon, "site1/m1", "multiA").first?.ts == t)
        // The line-protocol message's bad second line is quarantined; its good line is stored.
        let q = try await Harness.getJSON(daemon.baseURL + "/api/v1/quarantine", as: [API.QuarantineItem].self)
        #expect(q.map(\.reason) == ["malformed_line_protocol"])
        #expect(await daemon.terminate() == 0)
    }

    @Test func notifiesSystemdReadyWatchdogAndStopping() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let sock = try NotifySocket()
        let daemon = try TestDaemon(broker: broker, environment: ["NOTIFY_SOCKET": sock.name, "WATCHDOG_USEC": "1000000"])
        let ready = sock.waitFor("READY=1", within: 20)
        #expect(ready != nil, "\(daemon.log)")
        // READY comes only once HTTP answers.
        #expect(try await Harness.get(daemon.baseURL + "/healthz").0 == 200)
        #expect(sock.waitFor("WATCHDOG=1", within: 3) != nil)
        #expect(sock.waitFor("STATUS=", within: 3)?.contains("readings/s") == true)
        kill(daemon.process.pid, SIGTERM)
        #expect(sock.waitFor("STOPPING=1", within: 10) != nil)
        #expect(await daemon.terminate() == 0)
    }

    /// A database of an older schema: vigild asks systemd for more than its start timeout before
    /// it migrates (a migration may rewrite every unsealed row), then becomes ready.
    @Test func aMigrationExtendsSystemdsStartTimeout() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let first = try TestDaemon(broker: broker, dataDirectory: dir)
            try await first.waitReady()
            #expect(await first.terminate() == 0)
        }
        let db = try SQLiteConnection(path: dir + "/vigil.sqlite")
        // As schema 15 left it.
        try db.execute("""
            DROP VIEW rollup_minute; INSERT INTO rollup_minute_kept SELECT series_id, start, count, sum, mean, m2, min, max FROM rollup_minute_recent;
            DROP TABLE rollup_minute_recent; ALTER TABLE rollup_minute_kept RENAME TO rollup_minute;
            DROP VIEW rollup_day; INSERT INTO rollup_day_kept SELECT series_id, start, count, sum, mean, m2, min, max FROM rollup_day_recent;
            DROP TABLE rollup_day_recent; ALTER TABLE rollup_day_kept RENAME TO rollup_day;
            DELETE FROM engine_state WHERE key IN ('rollup_minute_recent_from', 'rollup_day_recent_from');
            DROP VIEW health_history; DROP TABLE health_history_recent; ALTER TABLE health_history_kept RENAME TO health_history;
            DROP TABLE health_state;
            ALTER TABLE machine_health ADD COLUMN scorer_state TEXT;
            ALTER TABLE machine_health ADD COLUMN sensor_detector TEXT;
            PRAGMA user_version = 15;
            """)
        let sock = try NotifySocket()
        let daemon = try TestDaemon(broker: broker, dataDirectory: dir, environment: ["NOTIFY_SOCKET": sock.name])
        let extend = sock.waitFor("EXTEND_TIMEOUT_USEC=", within: 20)
        #expect(extend?.contains("EXTEND_TIMEOUT_USEC=3600000000") == true, "\(daemon.log)")
        #expect(extend?.contains("migrating the database from schema 15") == true)
        #expect(sock.waitFor("READY=1", within: 20) != nil, "\(daemon.log)")
        let versions = try #require(Schema.versions(path: dir + "/vigil.sqlite"))
        #expect(versions.stored == versions.current && versions.current > 15)
        #expect(await daemon.terminate() == 0)
    }

    @Test func badConfigurationExitsTwoAndNamesTheKey() throws {
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nqos = 2\n".write(toFile: dir + "/bad.toml", atomically: true, encoding: .utf8)
        let out = try Harness.run(try Harness.product("vigild"), ["--config", dir + "/bad.toml", "--check-config"])
        #expect(out.status == 2)
        #expect(out.stderr.contains("bad.toml:3"))
        #expect(out.stderr.contains("mqtt.qos"))
        let flag = try Harness.run(try Harness.product("vigild"), ["--config", dir + "/bad.toml", "--no-such-flag"])
        #expect(flag.status == 2)
    }

    @Test func cliExplainsWhenTheDaemonIsDown() throws {
        let port = try Harness.freePort()
        let out = try Harness.run(try Harness.product("vigil"), ["machines", "--url", "http://127.0.0.1:\(port)"])
        #expect(out.status == 1)
        #expect(out.stderr.contains("cannot reach vigild"))
        let usage = try Harness.run(try Harness.product("vigil"), ["series", "m", "s", "--resolution", "hourly"])
        #expect(usage.status == 2)
    }
}
