import Foundation
import Testing
import VigilAPI
import VigilCore

/// Loss accounting end to end: a numbered stream through a broker that drops (a queue of 50
/// messages for vigild's persistent session) while vigild is stopped, then a device restart.
@Suite(.serialized) struct LossAccountingTests {
    @Test func aDroppingBrokerShowsAsMissingReadingsPerMachine() async throws {
        let broker = try TestBroker(extraConfig: "max_queued_messages 50")
        try await broker.waitReady()
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let topic = "vigil/press-9/temp"
        let pub = try Harness.tool("mosquitto_pub")
        func publish(_ seqs: ClosedRange<Int64>, base: Int64) throws {
            // One QoS 1 message per reading, each from the real mosquitto_pub.
            let script = seqs.map { s in
                "\(pub) -h 127.0.0.1 -p \(broker.port) -q 1 -t \(topic) -m '{\"ts\":\(base + s * 1000),\"value\":\(Double(s) / 4),\"seq\":\(s)}' || exit 1"
            }.joined(separator: "\n")
            let out = try Harness.run("/bin/sh", ["-c", script])
            #expect(out.status == 0, "\(out.stderr)")
        }
        let base = Int64(Date().timeIntervalSince1970 * 1000) / 1000 * 1000 - 3_600_000
        var daemon = try TestDaemon(broker: broker, dataDirectory: dir)
        try await daemon.waitReady()
        try publish(1...100, base: base)
        try await Harness.waitUntil("the first 100 stored", seconds: 20) { try await Self.stored(daemon) >= 100 }
        // vigild away: its session queues 50 messages at most, the other 150 are dropped.
        #expect(await daemon.terminate() == 0)
        try publish(101...300, base: base)
        daemon = try TestDaemon(broker: broker, dataDirectory: dir)
        try await daemon.waitReady()
        try publish(301...310, base: base)
        try await Harness.waitUntil("the stream resumed", seconds: 20) {
            let q = try await Self.quality(daemon)
            return q.sensors.first?.highestSeq == 310
        }
        let raw = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/press-9/sensors/temp/series?limit=100000", as: [API.SeriesPoint].self)
        let q = try await Self.quality(daemon)
        #expect(q.total.missing == Int64(310 - raw.count), "missing counts exactly what never arrived (\(raw.count) stored)")
        #expect(q.total.missing >= 100, "the broker dropped (\(q.total.missing))")
        #expect(q.total.restarts == 0)
        #expect(q.minutes.reduce(0) { $0 + $1.missing } == q.total.missing, "the missing readings are placed in minutes")
        // The device restarts: its numbers begin again, newer in time. Not loss.
        try publish(1...5, base: base + 400_000)
        try await Harness.waitUntil("the restart seen", seconds: 20) { try await Self.quality(daemon).total.restarts == 1 }
        #expect(try await Self.quality(daemon).total.missing == q.total.missing)
        let (_, metrics) = try await Harness.get(daemon.baseURL + "/metrics")
        #expect(String(decoding: metrics, as: UTF8.self).contains("vigil_readings_missing{machine=\"press-9\"} \(q.total.missing)"))
        // The fleet overview and `vigil machines` carry it too (the table grows a column only when
        // a machine lost readings).
        let fleet = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self)
        #expect(fleet.first { $0.id == "press-9" }?.missing == q.total.missing)
        let table = try Harness.run(try Harness.product("vigil"), ["machines", "--url", daemon.baseURL])
        #expect(table.status == 0 && table.stdout.contains("MISSING") && table.stdout.contains("\(q.total.missing)"), "\(table.stdout)")
        #expect(await daemon.terminate() == 0)
    }

    static func stored(_ d: TestDaemon) async throws -> Int {
        try await Harness.getJSON(d.baseURL + "/healthz", as: API.DaemonStatus.self).readingsStored
    }

    static func quality(_ d: TestDaemon) async throws -> API.Quality {
        try await Harness.getJSON(d.baseURL + "/api/v1/machines/press-9/quality", as: API.Quality.self)
    }
}
