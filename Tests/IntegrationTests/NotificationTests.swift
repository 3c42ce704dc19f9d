import Foundation
import Testing
import VigilAPI
import VigilCore

/// Operators are told: a webhook receiver (a real HTTP server, Python's) gets every event of a
/// simulated machine wearing into alarm — status changes, model versions, silence — signed and
/// with its token, in order per machine, even though it was killed for a while in the middle.
@Suite(.serialized) struct NotificationTests {
    static let token = "receiver-token-0123456789"
    static let secret = "hmac-secret-for-the-test"

    /// A receiver that checks the token and the signature, records `id kind machine` per POST and
    /// answers 200 (401 for a bad token or signature, which the test would see as missing events).
    static let receiver = """
        import hashlib, hmac, sys
        from http.server import BaseHTTPRequestHandler, HTTPServer
        port, out, token, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].encode()
        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sig = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
                ok = self.headers.get("Authorization") == "Bearer " + token and hmac.compare_digest(sig, self.headers.get("X-Vigil-Signature", ""))
                if ok:
                    with open(out, "ab") as f:
                        f.write(self.headers["X-Vigil-Event-Id"].encode() + b" " + body + b"\\n")
                self.send_response(200 if ok else 401)
                self.end_headers()
            def log_message(self, *a): pass
        HTTPServer(("127.0.0.1", port), H).serve_forever()
        """

    /// The events the receiver accepted: `(header id, event)` in arrival order.
    static func received(_ path: String) -> [(Int64, Event)] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let id = Int64(parts[0]), let e = try? JSONDecoder().decode(Event.self, from: Data(parts[1].utf8)) else { return nil }
            return (id, e)
        }
    }

    @Test func everyEventArrivesOncePerIdInOrderThroughAReceiverOutage() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let work = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let script = work + "/receiver.py", log = work + "/received.txt"
        try Self.receiver.write(toFile: script, atomically: true, encoding: .utf8)
        let port = try Harness.freePort()
        func startReceiver() throws -> ChildProcess {
            try ChildProcess(try Harness.tool("python3"), [script, "\(port)", log, Self.token, Self.secret],
                             stdout: work + "/receiver.log", stderr: work + "/receiver.log")
        }
        var receiver = try startReceiver()
        try await Harness.waitUntil("receiver listening") { Harness.canConnect(port: port) }
        let daemon = try TestDaemon(broker: broker, environment: [
            "VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1", "VIGIL_HEALTH_COMMISSION_MINUTES": "30", "VIGIL_NOTIFY_SILENT_AFTER_SECONDS": "10",
        ], config: """
            [[notify.webhook]]
            url = "http://127.0.0.1:\(port)/vigil"
            bearer_token = "\(Self.token)"
            secret = "\(Self.secret)"
            """)
        try await daemon.waitReady()
        let now = Int64(Date().timeIntervalSince1970 * 1000) / 60_000 * 60_000
        func publish(from: Int64, duration: String) throws {
            let sim = try Harness.run(try Harness.product("vigil-sim"), [
                "--broker", broker.url, "--machines", "2", "--sensors", "4", "--format", "batch", "--seed", "9", "--life", "3h-4h",
                "--start", String(from), "--duration", duration, "--speedup", "100000", "--quiet",
            ])
            #expect(sim.status == 0, "\(sim.stderr)")
        }
        // Two hours of two machines wearing out (lives of 3–4 h): commissioning, first changes.
        let start = now - 5 * 3_600_000
        try publish(from: start, duration: "2h")
        try await Harness.waitUntil("the first model's event delivered", seconds: 60) { Self.received(log).contains { $0.1.kind == .modelPromoted } }

        // The receiver dies; the wear goes on to alarm meanwhile.
        receiver.stop(signal: SIGKILL)
        try publish(from: start + 2 * 3_600_000, duration: "3h")
        try await Harness.waitUntil("alarms raised while the receiver is down", seconds: 60) {
            let events = try await Harness.getJSON(daemon.baseURL + "/api/v1/events?limit=1000", as: [Event].self)
            return events.contains { $0.kind == .statusChanged && $0.status == .alarm }
        }
        try await Harness.waitUntil("failed deliveries counted", seconds: 30) {
            String(decoding: try await Harness.get(daemon.baseURL + "/metrics").1, as: UTF8.self)
                .split(separator: "\n").contains { $0.hasPrefix("vigil_notify_failures_total{sink=\"webhook[0]\"} ") && !$0.hasSuffix(" 0") }
        }
        // Nothing more is published: 10 s later the machines are reported silent (judged on when
        // readings arrive; their timestamps are hours old from the start).
        try await Harness.waitUntil("the machines reported silent", seconds: 60) {
            try await Harness.getJSON(daemon.baseURL + "/api/v1/events?limit=1000", as: [Event].self).filter { $0.kind == .machineSilent }.count >= 2
        }
        receiver = try startReceiver()
        defer { receiver.stop(signal: SIGKILL) }

        // Everything the daemon logged arrives: once per id, in the log's order, so per machine too.
        var logged: [Event] = []
        try await Harness.waitUntil("every event delivered after the outage", seconds: 90) {
            logged = try await Harness.getJSON(daemon.baseURL + "/api/v1/events?limit=10000", as: [Event].self).reversed()
            let ids = Set(Self.received(log).map(\.0))
            return !logged.isEmpty && logged.allSatisfy { ids.contains($0.id) }
        }
        let got = Self.received(log)
        var firstArrival: [Int64] = []
        for (id, e) in got where !firstArrival.contains(id) {
            #expect(e.id == id)
            firstArrival.append(id)
        }
        #expect(firstArrival == logged.map(\.id), "delivered in the log's order, each id once")
        let kinds = Set(logged.map(\.kind))
        #expect(kinds.isSuperset(of: [.statusChanged, .modelPromoted, .machineSilent]), "\(kinds)")
        for machine in Set(logged.compactMap(\.machine)) {
            let changes = logged.filter { $0.machine == machine && $0.kind == .statusChanged }
            // Each change starts where the previous one ended.
            #expect(zip(changes, changes.dropFirst()).allSatisfy { $0.status == $1.previousStatus }, "\(machine): \(changes.map(\.detail))")
        }
        let alarm = try #require(logged.first { $0.kind == .statusChanged && $0.status == .alarm })
        #expect(alarm.health! <= 50 && alarm.modelVersion != nil && !(alarm.contributors ?? []).isEmpty, "\(alarm)")

        // The CLI lists the same events.
        let cli = try Harness.run(try Harness.product("vigil"), ["events", "--limit", "5", "--format", "json", "--url", daemon.baseURL])
        let listed = try JSONDecoder().decode([Event].self, from: Data(cli.stdout.utf8))
        #expect(listed.map(\.id) == Array(logged.reversed().prefix(5)).map(\.id), "\(cli.stderr)")
        #expect(await daemon.terminate() == 0, "vigild log:\n\(daemon.log)")
    }
}
