import Foundation
import Testing
import VigilAPI
import VigilCore

/// TLS with a CA the test makes (openssl), a password per client, and the shipped ACL: vigild
/// reads everything; a device publishes only under its own machine prefix.
@Suite(.serialized) struct SecureBrokerTests {
    func sh(_ tool: String, _ args: [String]) throws {
        let out = try Harness.run(try Harness.tool(tool), args)
        guard out.status == 0 else { throw Harness.Failure("\(tool) \(args.joined(separator: " ")): \(out.stderr)") }
    }

    /// A CA (`ca.crt`) and a server certificate for 127.0.0.1 (`server.crt`, `server.key`) in `dir`.
    func makeCertificates(in dir: String) throws {
        try sh("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=vigil-test-ca",
                           "-keyout", "\(dir)/ca.key", "-out", "\(dir)/ca.crt"])
        try sh("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                           "-keyout", "\(dir)/server.key", "-out", "\(dir)/server.csr"])
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(dir)/san.ext", atomically: true, encoding: .utf8)
        try sh("openssl", ["x509", "-req", "-in", "\(dir)/server.csr", "-CA", "\(dir)/ca.crt", "-CAkey", "\(dir)/ca.key",
                           "-CAcreateserial", "-days", "2", "-extfile", "\(dir)/san.ext", "-out", "\(dir)/server.crt"])
    }

    static let repo = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/")

    /// A broker in `dir` with TLS (a CA and certificate made there), a password per `users`
    /// entry and `extraConfig`; every file in `dir` is made readable for mosquitto's own user.
    func tlsBroker(in dir: String, users: [(String, String)], extraConfig: String = "") throws -> TestBroker {
        try makeCertificates(in: dir)
        for (n, (user, password)) in users.enumerated() {
            try sh("mosquitto_passwd", (n == 0 ? ["-c"] : []) + ["-b", "\(dir)/passwd", user, password])
        }
        for f in try FileManager.default.contentsOfDirectory(atPath: dir) { chmod("\(dir)/\(f)", 0o644) }
        return try TestBroker(extraConfig: """
            cafile \(dir)/ca.crt
            certfile \(dir)/server.crt
            keyfile \(dir)/server.key
            password_file \(dir)/passwd
            \(extraConfig)
            """, anonymous: false)
    }

    @Test func tlsPasswordsAndACL() async throws {
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: "\(Self.repo)/config/mosquitto/vigil.acl", toPath: "\(dir)/vigil.acl")
        let broker = try tlsBroker(in: dir, users: [("vigild", "gateway-secret"), ("pump-01", "device-secret")], extraConfig: "acl_file \(dir)/vigil.acl")
        try await broker.waitReady()
        let daemon = try TestDaemon(broker: broker, url: "mqtts://127.0.0.1:\(broker.port)", environment: [
            "VIGIL_MQTT_CA_FILE": "\(dir)/ca.crt", "VIGIL_MQTT_USERNAME": "vigild", "VIGIL_MQTT_PASSWORD": "gateway-secret",
        ])
        try await daemon.waitReady()

        let now = Int64(Date().timeIntervalSince1970 * 1000)
        func pub(_ topic: String, _ message: String, password: String = "device-secret") throws -> Int32 {
            try Harness.run(try Harness.tool("mosquitto_pub"), ["-h", "127.0.0.1", "-p", "\(broker.port)", "--cafile", "\(dir)/ca.crt",
                                                                "-u", "pump-01", "-P", password, "-q", "1", "-t", topic, "-m", message]).status
        }
        // Outside its prefix: the broker's ACL drops it. Wrong password: refused.
        #expect(try pub("vigil/press-02/temp", #"{"ts":\#(now),"value":1}"#) == 0)
        #expect(try pub("vigil/pump-01/temp", #"{"ts":\#(now),"value":1}"#, password: "wrong") != 0)
        #expect(try pub("vigil/pump-01/temp", #"{"ts":\#(now),"value":2}"#) == 0)

        // The simulator over TLS with the device's credentials.
        let sim = try Harness.run(try Harness.product("vigil-sim"), [
            "--broker", "mqtts://127.0.0.1:\(broker.port)", "--ca-file", "\(dir)/ca.crt", "--username", "pump-01",
            "--password", "device-secret", "--machines", "1", "--sensors", "2", "--start", String(now - 600_000),
            "--duration", "10s", "--speedup", "1000", "--quiet",
        ])
        #expect(sim.status == 0, "\(sim.stderr)")

        let tempURL = daemon.baseURL + "/api/v1/machines/pump-01/sensors/temp/series"
        try await Harness.waitUntil("the device's readings (1 by mosquitto_pub + 10 by vigil-sim)") {
            try await Harness.getJSON(tempURL, as: [API.SeriesPoint].self).count == 11
        }
        let machines = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self)
        #expect(machines.map(\.id) == ["pump-01"])
        #expect(machines.first?.sensors == ["temp", "vib"])
        let temps = try await Harness.getJSON(tempURL, as: [API.SeriesPoint].self)
        #expect(temps.contains { $0.ts == now && $0.mean == 2 })
        #expect(temps.count == 11)
        #expect(await daemon.terminate() == 0)
    }

    /// The shipped bridge configuration (config/mosquitto/bridge.conf, with the test's address,
    /// CA and password put in): a site broker forwards vigild's retained health topics over TLS
    /// with a password to a central broker, under the site's prefix, retained.
    @Test func bridgeForwardsHealthToACentralBrokerOverTLS() async throws {
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let central = try tlsBroker(in: dir, users: [("plant-a", "bridge-secret"), ("operator", "operator-secret")])
        try await central.waitReady()

        let shipped = try String(contentsOfFile: "\(Self.repo)/config/mosquitto/bridge.conf", encoding: .utf8)
        let bridge = shipped.split(separator: "\n").map { line -> String in
            if line.hasPrefix("address ") { return "address 127.0.0.1:\(central.port)" }
            if line.hasPrefix("bridge_cafile ") { return "bridge_cafile \(dir)/ca.crt" }
            if line.hasPrefix("remote_password ") { return "remote_password bridge-secret" }
            return String(line)
        }.joined(separator: "\n")
        let site = try TestBroker(extraConfig: bridge)
        try await site.waitReady()
        let daemon = try TestDaemon(broker: site, environment: ["VIGIL_HEALTH_COMMISSION_MINUTES": "30", "VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1"])
        try await daemon.waitReady()
        let start = Int64(Date().timeIntervalSince1970 * 1000) - 2 * 3_600_000
        let sim = try Harness.run(try Harness.product("vigil-sim"), [
            "--broker", site.url, "--machines", "2", "--sensors", "2", "--start", String(start), "--duration", "2h", "--speedup", "2000", "--quiet",
        ])
        #expect(sim.status == 0, "\(sim.stderr)")
        try await Harness.waitUntil("both machines scored", seconds: 60) {
            try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self).filter { $0.health != nil }.count == 2
        }
        // Retained centrally: a client connecting now gets the current health of both machines.
        var seen: [String: API.Health] = [:]
        try await Harness.waitUntil("both machines' health at the central broker", seconds: 30) {
            let out = try Harness.run(try Harness.tool("mosquitto_sub"), [
                "-h", "127.0.0.1", "-p", "\(central.port)", "--cafile", "\(dir)/ca.crt", "-u", "operator", "-P", "operator-secret",
                "-t", "sites/plant-a/vigil-out/health/#", "-v", "-W", "2", "--retained-only",
            ])
            for line in out.stdout.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                if parts.count == 2, let h = try? JSONDecoder().decode(API.Health.self, from: Data(parts[1].utf8)) { seen[String(parts[0])] = h }
            }
            return seen.count == 2
        }
        let machines = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self)
        #expect(Set(seen.keys) == Set(machines.map { "sites/plant-a/vigil-out/health/\($0.id)" }))
        #expect(seen.values.allSatisfy { $0.status != nil })
    }

    /// The API over HTTPS: with http.tls_certificate and http.tls_key the daemon answers only
    /// TLS, verified against the test's CA by a real client (curl); half a configuration or a
    /// file that does not load is a configuration error naming the key.
    @Test func apiOverHTTPS() async throws {
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeCertificates(in: dir)
        let vigild = try Harness.product("vigild")
        let half = try Harness.run(vigild, ["--check-config"], environment: ["VIGIL_HTTP_TLS_CERTIFICATE": "\(dir)/server.crt"])
        #expect(half.status == 2 && half.stderr.contains("http.tls_key"), "\(half.stderr)")

        let broker = try TestBroker()
        try await broker.waitReady()
        let bad = try TestDaemon(broker: broker, environment: [
            "VIGIL_HTTP_TLS_CERTIFICATE": "\(dir)/server.crt", "VIGIL_HTTP_TLS_KEY": "\(dir)/ca.crt",  // not a key
        ])
        #expect(bad.process.wait() == 2 && bad.log.contains("http.tls_key"), "\(bad.log)")

        let daemon = try TestDaemon(broker: broker, environment: [
            "VIGIL_HTTP_TLS_CERTIFICATE": "\(dir)/server.crt", "VIGIL_HTTP_TLS_KEY": "\(dir)/server.key",
        ])
        let https = "https://127.0.0.1:\(daemon.httpPort)"
        let curl = try Harness.tool("curl")
        try await Harness.waitUntil("vigild answers over HTTPS") {
            try Harness.run(curl, ["-fsS", "--cacert", "\(dir)/ca.crt", https + "/healthz"]).status == 0
        }
        try broker.publish(topic: "vigil/press7/temp", "{\"ts\":\(Int64(Date().timeIntervalSince1970 * 1000)),\"value\":21.5}")
        try await Harness.waitUntil("press7 listed over HTTPS") {
            try Harness.run(curl, ["-fsS", "--cacert", "\(dir)/ca.crt", https + "/api/v1/machines"]).stdout.contains("press7")
        }
        // Unverifiable without the CA; no plain HTTP on the port.
        #expect(try Harness.run(curl, ["-fsS", https + "/healthz"]).status != 0)
        #expect(try Harness.run(curl, ["-fsS", "--max-time", "3", daemon.baseURL + "/healthz"]).status != 0)
        #expect(await daemon.terminate() == 0)
    }
}
