import Foundation
import Testing
import VigilCore
import VigilStore

/// `vigild --seal` killed with SIGKILL at random moments, again and again: after every kill each
/// reading is in exactly one place (a row or a chunk), none lost and none twice, and the series
/// read back exactly as written; the last run finishes the job.
@Suite(.serialized) struct SealingCrashTests {
    static let start: Int64 = 1_709_164_800_000  // 2024-02-29T00:00:00Z: long past seal_after

    @Test func killNineWhileSealingLosesAndDuplicatesNothing() async throws {
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/vigil.sqlite"
        let series = 16, perSeries = 24 * 1800  // a day at one reading per 2 s: 4 spans each
        var expected: [String: [Reading]] = [:]
        do {
            let writer = try StoreWriter(path: path)
            var rng = SplitMix64(seed: 13)
            for s in 0..<series {
                let machine = "m\(s / 4)", sensor = "s\(s % 4)"
                var level = 20.0 + Double(s)
                let readings = (0..<perSeries).map { i -> Reading in
                    level += Double.random(in: -0.05...0.05, using: &rng)
                    return Reading(machine: machine, sensor: sensor, ts: Self.start + Int64(i) * 2_000 + Int64.random(in: 0...40, using: &rng),
                                   value: (level * 1000).rounded() / 1000, seq: Int64(i))
                }
                expected["\(machine)/\(sensor)"] = readings
                _ = try writer.write([IngestMessage(readings: readings, rejections: [], topic: "t", payload: [], receivedAt: 0)])
            }
        }
        // The sealer waits for a span's rollups; this test is about the sealing transactions only.
        let db = try SQLiteConnection(path: path)
        try db.execute("DELETE FROM rollup_dirty")
        let total = series * perSeries

        func placement() throws -> (rows: Int, sealed: Int) {
            try db.query("SELECT (SELECT coalesce(sum(count), 0) FROM reading_slot), (SELECT coalesce(sum(count), 0) FROM chunk)") { (Int($0.int(0)), Int($0.int(1))) }[0]
        }
        let vigild = try Harness.product("vigild")
        let config = try TestDaemon.config("# defaults\n", in: dir)
        var rng = SplitMix64(seed: 5)
        var kills = 0, finished = false, midway = 0
        for _ in 0..<12 {
            let sealedBefore = try placement().sealed
            let child = try ChildProcess(vigild, ["--config", config, "--db", path, "--seal"], stdout: dir + "/seal.log", stderr: dir + "/seal.log")
            // Kill it while it is sealing: once a transaction of this run has committed (however
            // long the start took on a busy machine), a random moment later.
            let deadline = Date().addingTimeInterval(20)
            while child.exitStatus() == nil, try placement().sealed == sealedBefore, Date() < deadline { usleep(5_000) }
            usleep(UInt32.random(in: 0...60_000, using: &rng))
            if child.exitStatus() != nil {
                finished = true
                #expect(child.wait() == 0)
                break
            }
            child.signal(SIGKILL)
            let status = child.wait()
            if status == 0 {
                // It finished between the look and the kill.
                finished = true
                break
            }
            #expect(status == 128 + SIGKILL)
            kills += 1
            let p = try placement()
            #expect(p.rows + p.sealed == total, "after kill \(kills): \(p.rows) rows + \(p.sealed) sealed")
            if p.rows > 0 && p.sealed > 0 { midway += 1 }
        }
        #expect(kills >= 2 && midway >= 1, "the kills landed while sealing (\(kills) kills, \(midway) with the job half done)")
        if !finished {
            let last = try Harness.run(vigild, ["--config", config, "--db", path, "--seal"])
            #expect(last.status == 0, "\(last.stderr)")
        }
        #expect(try placement() == (rows: 0, sealed: total))
        let reader = try StoreReader(path: path)
        for (key, want) in expected {
            let parts = key.split(separator: "/").map(String.init)
            let got = try await reader.rawSeries(machine: parts[0], sensor: parts[1], from: .min, to: .max, limit: 100_000)
            #expect(got == want, "\(key) reads back exactly")
        }
    }

    /// A backfill leaves its peak size behind once it is sealed; the daemon gives the free pages
    /// back to the file system on its own (no `vigild --seal` needed), counts them in /metrics and
    /// loses nothing.
    @Test func theDaemonGivesABackfillsSpaceBackOnItsOwn() async throws {
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/vigil.sqlite"
        // A day at one reading per 2 s, long past seal_after; enough rows (≈ 9 B a reading) for
        // more than `FileSpace.mostlyFree`'s 16 MB to be freed by sealing.
        let series = 80, perSeries = 43_200
        do {
            let writer = try StoreWriter(path: path)
            for s in 0..<series {
                let readings = (0..<perSeries).map { i in
                    Reading(machine: "m\(s / 8)", sensor: "s\(s % 8)", ts: Self.start + Int64(i) * 2_000, value: Double(s) + Double(i % 977) / 100)
                }
                _ = try writer.write([IngestMessage(readings: readings, rejections: [], topic: "t", payload: [], receivedAt: 0)])
            }
        }
        func fileBytes() throws -> Int { (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        let peak = try fileBytes()
        #expect(peak > 24 << 20, "the backfill's rows take \(peak) bytes")

        let broker = try TestBroker()
        try await broker.waitReady()
        let daemon = try TestDaemon(broker: broker, dataDirectory: dir, environment: ["VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1"])
        try await daemon.waitReady()
        func metric(_ line: String) async throws -> Int? {
            let (_, m) = try await Harness.get(daemon.baseURL + "/metrics")
            return String(decoding: m, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(line + " ") }
                .flatMap { Int($0.split(separator: " ").last ?? "") }
        }
        try await Harness.waitUntil("the backfill sealed and its space given back", seconds: 120) {
            (try await metric("vigil_store_released_bytes_total") ?? 0) > 0
        }
        let live = try #require(try await metric("vigil_store_file_bytes{state=\"live\"}"))
        let left = try fileBytes()
        #expect(left < peak / 4 && left <= live + (1 << 20), "\(left) bytes of \(peak) left, \(live) live")
        #expect(daemon.log.contains("gave free space back to the file system"))
        let db = try SQLiteConnection(path: path)
        #expect(try db.query("SELECT (SELECT coalesce(sum(count), 0) FROM reading_slot), (SELECT coalesce(sum(count), 0) FROM chunk)") { [$0.int(0), $0.int(1)] }[0]
                == [0, Int64(series * perSeries)])
        // Its health service is meanwhile commissioning the four backfilled machines (a day each):
        // a stop waits only for the machine in progress, within the unit's TimeoutStopSec (15 s;
        // before the round was cut short it took over 10 s in CI).
        #expect(await daemon.terminate(within: 15) == 0, "vigild log:\n\(daemon.log)")
    }
}
