import Foundation
import Testing
import VigilAPI
import VigilCore

/// vigild as a Sparkplug B host against an edge node built on a third-party library
/// (pysparkplug from PyPI, `sparkplug/edge_node.py`) through a real mosquitto: births with
/// aliases and properties, alias-only DDATA of seven datatypes across two seq wraps with one
/// message lost, a vigild restart mid-stream, a stale and a real death, a rebirth with a new
/// bdSeq (the death at a webhook at once), and a node vigild never saw healed by a rebirth command. Every numeric reading the
/// client sent is compared with what vigild stored.
@Suite(.serialized) struct SparkplugIntegrationTests {
    static let sourceDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/sparkplug"

    /// The pinned client's Python (`.build/sparkplug-venv`).
    static func python() throws -> String {
        try Harness.virtualEnvironment("sparkplug-venv", requirements: sourceDirectory + "/requirements.txt") + "/python3"
    }

    struct Sent: Decodable, Hashable {
        var machine: String
        var sensor: String
        var ts: Int64
        var value: Double
    }

    @Test func aThirdPartyEdgeNodeIsReadCompletelyThroughDeathsRestartsAndRebirths() async throws {
        let python = try Self.python()
        let broker = try TestBroker()
        try await broker.waitReady()
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let work = dir + "/edge"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        // A webhook receiver: the death reaches operators like every event.
        let hookPort = try Harness.freePort()
        try NotificationTests.receiver.write(toFile: work + "/receiver.py", atomically: true, encoding: .utf8)
        let receiver = try ChildProcess(try Harness.tool("python3"), [work + "/receiver.py", "\(hookPort)", work + "/hooks.txt", NotificationTests.token,
                                                                      NotificationTests.secret], stdout: work + "/receiver.log", stderr: work + "/receiver.log")
        defer { receiver.stop() }
        try await Harness.waitUntil("receiver listening") { Harness.canConnect(port: hookPort) }
        let config = """
            [sparkplug]
            enabled = true
            rebirth_min_interval = "1s"
            reorder_timeout = "2s"
            [[notify.webhook]]
            url = "http://127.0.0.1:\(hookPort)/vigil"
            bearer_token = "\(NotificationTests.token)"
            secret = "\(NotificationTests.secret)"
            """
        var daemon = try TestDaemon(broker: broker, dataDirectory: dir, config: config)
        try await daemon.waitReady()
        try await Harness.waitUntil("STATE online retained") { try Self.retained(broker, "spBv1.0/STATE/vigil")?.contains("\"online\":true") == true }

        let edge = try ChildProcess(python, [Self.sourceDirectory + "/edge_node.py", "\(broker.port)", work],
                                    stdout: work + "/edge.log", stderr: work + "/edge.log")
        defer { edge.stop(signal: SIGKILL) }
        func step(_ name: String, _ check: () async throws -> Void) async throws {
            try await Harness.waitUntil("the edge node at \(name)", seconds: 120) {
                if let status = edge.exitStatus() {
                    throw Harness.Failure("edge node exited \(status): \((try? String(contentsOfFile: work + "/edge.log", encoding: .utf8)) ?? "")")
                }
                return FileManager.default.fileExists(atPath: work + "/ready-" + name)
            }
            try await check()
            _ = FileManager.default.createFile(atPath: work + "/go-" + name, contents: nil)
        }
        func sent() throws -> [Sent] {
            try String(contentsOfFile: work + "/sent.jsonl", encoding: .utf8).split(separator: "\n").map {
                try JSONDecoder().decode(Sent.self, from: Data($0.utf8))
            }
        }
        /// Every reading sent is stored with its exact value (and nothing else under those series).
        func allStored() async throws {
            let expected = Dictionary(grouping: try sent()) { "\($0.machine)|\($0.sensor)" }
            try await Harness.waitUntil("\(expected.values.reduce(0) { $0 + $1.count }) readings stored", seconds: 30) {
                for (key, readings) in expected {
                    let parts = key.split(separator: "|").map(String.init)
                    guard try await Self.series(daemon, parts[0], parts[1]).count == Set(readings.map(\.ts)).count else { return false }
                }
                return true
            }
            for (key, readings) in expected {
                let parts = key.split(separator: "|").map(String.init)
                let stored = Dictionary(try await Self.series(daemon, parts[0], parts[1]).map { ($0.ts, $0.mean) }) { a, _ in a }
                for r in readings { #expect(stored[r.ts] == r.value, "\(key) at \(r.ts): stored \(String(describing: stored[r.ts])), sent \(r.value)") }
            }
        }
        func node(_ edge: String) async throws -> API.SparkplugNode? {
            try await Harness.getJSON(daemon.baseURL + "/api/v1/sparkplug/nodes", as: [API.SparkplugNode].self).first { $0.edge == edge }
        }
        func events(_ kind: EventKind) async throws -> [Event] {
            try await Harness.getJSON(daemon.baseURL + "/api/v1/events?limit=1000&kind=\(kind.rawValue)", as: [Event].self)
        }
        let press = "plantA/edge1/press_1"

        try await step("stream") {
            try await allStored()
            let n = try #require(try await node("edge1"))
            #expect(n.online && n.bdSeq == 0 && n.messages.missing == 1, "\(n)")  // DDATA 300 was lost
            #expect(n.messages.duplicates == 0 && n.unknownAliases == 0)
            let q = try await Harness.getJSON(daemon.baseURL + "/api/v1/quarantine?limit=1000", as: [API.QuarantineItem].self)
            #expect(q.allSatisfy { $0.reason == "unsupported_datatype" } && q.contains { $0.detail.contains("Serial: String is not a reading") })
            let sensors = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/plantA%2Fedge1%2Fpress_1/sensors", as: [SensorCondition].self)
            let temperature = try #require(sensors.first { $0.sensor == "Temperature" })
            #expect(temperature.unit == "degC" && temperature.min == -40 && temperature.max == 150, "\(temperature)")
            #expect(sensors.map(\.sensor).sorted() == ["Count", "Energy", "Hydraulics.Pressure", "Level", "Running", "Temperature"])
            // vigild restarts mid-stream: the node's aliases and numbering survive it.
            #expect(await daemon.terminate() == 0)
            let state = try Self.retained(broker, "spBv1.0/STATE/vigil")
            #expect(state?.contains("\"online\":false") == true, "STATE offline before a clean stop: \(String(describing: state)) \(daemon.log.suffix(2500))")
            daemon = try TestDaemon(broker: broker, dataDirectory: dir, config: config)
            try await daemon.waitReady()
        }
        try await step("after-restart") {
            try await allStored()
            let n = try #require(try await node("edge1"))
            #expect(n.unknownAliases == 0 && n.messages.missing == 1, "\(n)")  // the lost message asked for one rebirth (reorder timeout)
        }
        try await step("death") {
            // Reported at once (not after notify.silent_after_seconds), and the stale death ignored.
            try await Harness.waitUntil("the death reported", seconds: 8) { try await events(.machineSilent).contains { $0.machine == press } }
            let silent = try await events(.machineSilent).filter { $0.machine == press }
            #expect(silent.count == 1 && silent[0].detail.contains("death certificate"), "\(silent.map(\.detail))")
            let n = try #require(try await node("edge1"))
            #expect(!n.online && n.staleDeaths == 1 && n.deaths == 1, "\(n)")
            try await Harness.waitUntil("the death at the webhook", seconds: 15) {
                NotificationTests.received(work + "/hooks.txt").contains { $0.1.kind == .machineSilent && $0.1.machine == press && $0.1.detail.contains("death certificate") }
            }
        }
        try await step("reborn") {
            try await Harness.waitUntil("back after the birth", seconds: 15) { try await events(.machineBack).contains { $0.machine == press } }
            try await allStored()
            let n = try #require(try await node("edge1"))
            #expect(n.online && n.bdSeq == 1 && n.messages.missing == 1, "\(n)")
        }
        try await step("stranger") {
            try await allStored()
            let n = try #require(try await node("edge2"))
            #expect(n.online && n.rebirthRequests >= 1 && n.unknownAliases == 7, "\(n)")
            let q = try await Harness.getJSON(daemon.baseURL + "/api/v1/quarantine?limit=1000", as: [API.QuarantineItem].self)
            #expect(q.contains { $0.reason == "unknown_alias" && $0.topic == "spBv1.0/plantA/DDATA/edge2/press 1" })
            let (_, metrics) = try await Harness.get(daemon.baseURL + "/metrics")
            let text = String(decoding: metrics, as: UTF8.self)
            #expect(text.contains("vigil_sparkplug_node_online{group=\"plantA\",edge=\"edge2\"} 1"))
            #expect(text.contains("vigil_sparkplug_messages_missing{group=\"plantA\",edge=\"edge1\"} 1"))
            // The CLI: a table, and JSON that is exactly the API's.
            let vigil = try Harness.product("vigil")
            let table = try Harness.run(vigil, ["sparkplug", "--url", daemon.baseURL])
            #expect(table.status == 0 && table.stdout.contains("edge2") && table.stdout.contains("MISSING"), "\(table.stdout)")
            let json = try Harness.run(vigil, ["sparkplug", "--url", daemon.baseURL, "--format", "json"])
            let cli = try JSONDecoder().decode([API.SparkplugNode].self, from: Data(json.stdout.utf8))
            #expect(cli.map(\.edge) == ["edge1", "edge2"] && cli.first?.messages.missing == 1)
        }
        #expect(edge.wait() == 0, "\((try? String(contentsOfFile: work + "/edge.log", encoding: .utf8)) ?? "")")
        #expect(await daemon.terminate() == 0)
    }

    static func series(_ d: TestDaemon, _ machine: String, _ sensor: String) async throws -> [API.SeriesPoint] {
        let m = machine.replacingOccurrences(of: "/", with: "%2F")
        let (status, data) = try await Harness.get(d.baseURL + "/api/v1/machines/\(m)/sensors/\(sensor)/series?resolution=raw&limit=100000")
        guard status == 200 else { return [] }
        return try JSONDecoder().decode([API.SeriesPoint].self, from: data)
    }

    /// The retained message on `topic`, read with the real mosquitto_sub.
    static func retained(_ broker: TestBroker, _ topic: String) throws -> String? {
        let out = try Harness.run(try Harness.tool("mosquitto_sub"), ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", topic, "-C", "1", "-W", "2", "--retained-only"])
        return out.status == 0 ? out.stdout : nil
    }
}
