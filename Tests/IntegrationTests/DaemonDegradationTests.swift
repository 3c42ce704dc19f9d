import Foundation
import Testing
import VigilAPI
import VigilCore

/// The daemon says when it is degraded, and why: a full disk (storage writes failing, free space
/// below `storage.min_free_mb`) and a lost broker show in /healthz and /metrics, and go away when
/// the cause does, with no acknowledged reading lost (with two MQTT sessions: /healthz follows both).
@Suite(.serialized) struct DaemonDegradationTests {
    /// A small tmpfs needs root (CI and this machine run as root; elsewhere the test says so).
    static let canMount: Bool = getuid() == 0 && FileManager.default.fileExists(atPath: "/bin/mount")

    static func status(_ d: TestDaemon) async throws -> API.DaemonStatus {
        try await Harness.getJSON(d.baseURL + "/healthz", as: API.DaemonStatus.self)
    }

    @Test(.enabled(if: canMount, "needs root to mount a small tmpfs"))
    func aFullDiskAndALostBrokerAreReportedAndRecoveredFrom() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let disk = try Harness.tempDirectory(), work = try Harness.tempDirectory()
        defer {
            _ = try? Harness.run("/bin/umount", [disk])
            try? FileManager.default.removeItem(atPath: disk)
            try? FileManager.default.removeItem(atPath: work)
        }
        let mounted = try Harness.run("/bin/mount", ["-t", "tmpfs", "-o", "size=40m", "tmpfs", disk])
        try #require(mounted.status == 0, "mount: \(mounted.stderr)")
        let daemon = try TestDaemon(broker: broker, dataDirectory: disk, environment: [
            "VIGIL_STORAGE_MIN_FREE_MB": "8", "VIGIL_STORAGE_SEAL_AFTER": "30d", "VIGIL_INGEST_SESSIONS": "2",
        ])
        try await daemon.waitReady()
        var s = try await Self.status(daemon)
        #expect(s.status == "ok" && s.reasons.isEmpty && (s.storageFreeBytes ?? 0) > 30 << 20 && s.databaseBytes > 0, "\(s)")

        // Fill the disk to the last byte, then send readings: the journal cannot take them.
        _ = try Harness.run("/bin/dd", ["if=/dev/zero", "of=" + disk + "/ballast", "bs=1M"])
        let total = 40_000
        let sim = try ChildProcess(try Harness.product("vigil-sim"), [
            "load", "--broker", broker.url, "--readings", "\(total)", "--batch", "4", "--machines", "5", "--sensors", "4",
        ], stdout: work + "/sim.log", stderr: work + "/sim.log")
        try await Harness.waitUntil("/healthz degraded by the full disk", seconds: 30) {
            s = try await Self.status(daemon)
            return Set(s.reasons.map(\.reason)).isSuperset(of: ["storage_failing", "disk_low"])
        }
        #expect(s.status == "degraded" && s.reasons.allSatisfy { !$0.detail.isEmpty }, "\(s)")
        let (_, metrics) = try await Harness.get(daemon.baseURL + "/metrics")
        let exposition = String(decoding: metrics, as: UTF8.self)
        #expect(exposition.contains("vigil_daemon_degraded{reason=\"disk_low\"} 1\n"), "\(exposition)")
        #expect(exposition.contains("vigil_daemon_degraded{reason=\"storage_failing\"} 1\n"))
        #expect(exposition.contains("vigil_daemon_degraded{reason=\"mqtt_disconnected\"} 0\n"))
        #expect(exposition.contains("vigil_storage_free_bytes "))
        #expect(exposition.contains("vigil_mqtt_sessions_connected 2\n") && exposition.contains("vigil_mqtt_connected 1\n"))

        // Space back: everything arrives (the broker kept what was not acknowledged) and it is ok.
        try FileManager.default.removeItem(atPath: disk + "/ballast")
        #expect(sim.wait() == 0, "vigil-sim: \((try? String(contentsOfFile: work + "/sim.log", encoding: .utf8)) ?? "")")
        try await Harness.waitUntil("every reading stored and /healthz ok", seconds: 60) {
            s = try await Self.status(daemon)
            return s.readingsStored >= total && s.status == "ok"
        }
        let stored = try await Harness.storedReadings(daemon.databasePath)
        #expect(Set(stored.map { "\($0.series) \($0.ts)" }).count == total, "\(stored.count) stored")

        // The broker goes away: degraded with the reason, until it is back.
        broker.stop()
        try await Harness.waitUntil("/healthz degraded by the lost broker", seconds: 30) {
            s = try await Self.status(daemon)
            return s.reasons.map(\.reason) == ["mqtt_disconnected"] && s.reasons[0].detail.hasPrefix("not connected")
        }
        let (_, after) = try await Harness.get(daemon.baseURL + "/metrics")
        #expect(String(decoding: after, as: UTF8.self).contains("vigil_mqtt_sessions_connected 0\n"))
        #expect(await daemon.terminate() == 0, "vigild log:\n\(daemon.log)")
    }
}
