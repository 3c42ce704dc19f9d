import Foundation
import Testing
import VigilAPI
import VigilCore

/// The shipped alerting rules (`config/prometheus/vigil-rules.yml`) are valid, behave as their
/// fixtures say, and fire in a real Prometheus scraping a vigild whose machine wears into alarm.
@Suite(.serialized) struct PrometheusRulesTests {
    static let rulesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config/prometheus").path

    @Test func rulesCheckAndPassTheirUnitTests() throws {
        let promtool = try Harness.tool("promtool")
        let check = try Harness.run(promtool, ["check", "rules", Self.rulesDir + "/vigil-rules.yml"])
        #expect(check.status == 0 && check.stdout.contains("SUCCESS: 10 rules found"), "\(check.stdout)\(check.stderr)")
        let test = try Harness.run(promtool, ["test", "rules", Self.rulesDir + "/vigil-rules.test.yml"])
        #expect(test.status == 0 && test.stdout.contains("SUCCESS"), "\(test.stdout)\(test.stderr)")
        let config = try Harness.run(promtool, ["check", "config", Self.rulesDir + "/prometheus.yml"])
        #expect(config.status == 0, "\(config.stdout)\(config.stderr)")
    }

    struct Alerts: Decodable {
        struct Data: Decodable { var alerts: [Alert] }
        struct Alert: Decodable {
            var labels: [String: String]
            var state: String
        }
        var data: Data
    }

    @Test func aRealPrometheusFiresTheAlarmAlert() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let daemon = try TestDaemon(broker: broker, environment: [
            "VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1", "VIGIL_HEALTH_COMMISSION_MINUTES": "30",
        ])
        try await daemon.waitReady()
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = try Harness.freePort()
        try """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            rule_files: ["\(Self.rulesDir)/vigil-rules.yml"]
            scrape_configs:
              - job_name: vigil
                static_configs: [{targets: ["127.0.0.1:\(daemon.httpPort)"]}]
            """.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = try ChildProcess(try Harness.tool("prometheus"), [
            "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
            "--web.listen-address=127.0.0.1:\(port)",
        ], stdout: dir + "/prometheus.log", stderr: dir + "/prometheus.log")
        defer { prometheus.stop() }

        // A machine wearing out fast (a life of 3–4 h), five hours of it published at once.
        let now = Int64(Date().timeIntervalSince1970 * 1000) / 60_000 * 60_000
        let sim = try Harness.run(try Harness.product("vigil-sim"), [
            "--broker", broker.url, "--machines", "1", "--sensors", "4", "--format", "batch", "--seed", "9", "--life", "3h-4h",
            "--start", String(now - 5 * 3_600_000), "--duration", "5h", "--speedup", "100000", "--quiet",
        ])
        #expect(sim.status == 0, "\(sim.stderr)")
        try await Harness.waitUntil("pump-01 in alarm in vigild", seconds: 60) {
            try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/pump-01/health", as: API.Health.self).status == .alarm
        }
        var alerts: [Alerts.Alert] = []
        try await Harness.waitUntil("VigilMachineAlarm firing in Prometheus", seconds: 60) {
            guard Harness.canConnect(port: port) else { return false }
            alerts = try await Harness.getJSON("http://127.0.0.1:\(port)/api/v1/alerts", as: Alerts.self).data.alerts
            return alerts.contains { $0.labels["alertname"] == "VigilMachineAlarm" && $0.labels["machine"] == "pump-01" && $0.state == "firing" }
        }
        // Nothing about the daemon itself is firing: it is well.
        #expect(!alerts.contains { ["VigilDown", "VigilMQTTDown", "VigilStorageErrors", "VigilDiskNearlyFull"].contains($0.labels["alertname"]) },
                "\(alerts.map(\.labels))")
        #expect(await daemon.terminate() == 0)
    }
}
