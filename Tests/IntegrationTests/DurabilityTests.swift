import Foundation
import Testing
import VigilAPI
import VigilCore

/// No acknowledged reading is lost: not when vigild is killed with SIGKILL mid-stream, not when
/// the broker restarts. The sender is the simulator's load mode (QoS 1, numbered readings).
@Suite(.serialized) struct DurabilityTests {
    /// These tests count and check rows in the `reading` table itself, so nothing may be sealed
    /// into chunks under them (history two hours old would be, at some times of day).
    static let rowsOnly = ["VIGIL_STORAGE_SEAL_AFTER": "30d"]

    /// Readings in the database, read back: `(count, distinct keys)`.
    func storedCount(_ db: String) async throws -> (Int, Int) {
        let stored = try await Harness.storedReadings(db)
        return (stored.count, Set(stored.map { "\($0.series) \($0.ts)" }).count)
    }

    func readingsStored(_ d: TestDaemon) async throws -> Int {
        try await Harness.getJSON(d.baseURL + "/healthz", as: API.DaemonStatus.self).readingsStored
    }

    func startLoad(_ broker: TestBroker, readings: Int, batch: Int, rate: Int? = nil, log: String) throws -> ChildProcess {
        var args = ["load", "--broker", broker.url, "--readings", "\(readings)", "--batch", "\(batch)", "--machines", "5", "--sensors", "4"]
        if let rate { args += ["--rate", "\(rate)"] }
        return try ChildProcess(try Harness.product("vigil-sim"), args, stdout: log, stderr: log)
    }

    /// Starts vigild again on `dataDir` (same database and persistent session) and expects every
    /// one of `total` readings, exactly once, once the simulator has finished.
    func restartAndExpectAll(_ broker: TestBroker, dataDir: String, sim: ChildProcess, total: Int, sessions: Int = 1) async throws {
        let daemon = try TestDaemon(broker: broker, dataDirectory: dataDir, environment: Self.rowsOnly.merging(["VIGIL_INGEST_SESSIONS": "\(sessions)"]) { $1 })
        try await daemon.waitReady()
        #expect(sim.wait() == 0, "vigil-sim: \((try? String(contentsOfFile: dataDir + "/sim.log", encoding: .utf8)) ?? "")")
        let db = daemon.databasePath
        try await Harness.waitUntil("all \(total) readings stored", seconds: 60) { try await storedCount(db).0 >= total }
        let stored1 = try await storedCount(db)
        #expect(stored1 == (total, total))
        #expect(await daemon.terminate() == 0)
    }

    /// vigild on `dataDir` in the middle of ingesting a `total`-reading QoS 1 load.
    func busyDaemon(_ broker: TestBroker, dataDir: String, total: Int, sessions: Int = 1) async throws -> (TestDaemon, ChildProcess) {
        let daemon = try TestDaemon(broker: broker, dataDirectory: dataDir, environment: Self.rowsOnly.merging(["VIGIL_INGEST_SESSIONS": "\(sessions)"]) { $1 })
        try await daemon.waitReady()
        // Paced (≥ 10 s for 200,000 readings): on a fast machine, or with this test's own process
        // starved by parallel tests, an unpaced load was all stored before the kill landed.
        let sim = try startLoad(broker, readings: total, batch: 4, rate: 20_000, log: dataDir + "/sim.log")
        try await Harness.waitUntil("ingest under way") { try await readingsStored(daemon) > 4_000 }
        return (daemon, sim)
    }

    /// With one MQTT session, and with three on a shared subscription (each redelivers its own
    /// unacknowledged messages to the restarted daemon).
    @Test(arguments: [1, 3]) func killMinus9MidStreamLosesNothing(sessions: Int) async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let dataDir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let total = 200_000 // ≈ 50,000 QoS 1 messages: seconds of work, so the kill lands mid-stream
        // Kill the gateway while it is busy: some readings stored, most still coming. On a starved
        // machine the whole load can be stored before the kill lands; that run proves nothing, so
        // it is tried again on a fresh broker (at most three times).
        var attempt = 0
        var (daemon, sim) = try await busyDaemon(broker, dataDir: dataDir, total: total, sessions: sessions)
        daemon.kill9()
        var (atKill, _) = try await storedCount(daemon.databasePath)
        while atKill >= total, attempt < 2 {
            attempt += 1
            _ = sim.wait()
            try FileManager.default.removeItem(atPath: dataDir)
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
            (daemon, sim) = try await busyDaemon(broker, dataDir: dataDir, total: total, sessions: sessions)
            daemon.kill9()
            (atKill, _) = try await storedCount(daemon.databasePath)
        }
        #expect(atKill > 0 && atKill < total, "killed at \(atKill) of \(total) (\(attempt + 1) tries): the test needs a mid-stream kill")

        // Restart on the same database and persistent session(s): the broker redelivers the rest.
        try await restartAndExpectAll(broker, dataDir: dataDir, sim: sim, total: total, sessions: sessions)
    }

    @Test func sigtermUnderLoadExitsCleanlyAndKeepsEveryAcknowledgedReading() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let dataDir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let total = 200_000 // ≈ 50,000 QoS 1 messages: seconds of work, so the kill lands mid-stream
        let (daemon, sim) = try await busyDaemon(broker, dataDir: dataDir, total: total)
        let accepted = try await Harness.getJSON(daemon.baseURL + "/healthz", as: API.DaemonStatus.self).readingsAccepted
        let t0 = Date()
        #expect(await daemon.terminate(within: 10) == 0, "vigild log:\n\(daemon.log)")
        #expect(Date().timeIntervalSince(t0) < 10)
        // A clean stop applies everything it acknowledged: the journal is empty, SQLite has it all.
        let (atStop, _) = try await storedCount(daemon.databasePath)
        #expect(atStop >= accepted)
        for n in 0..<2 {
            let size = (try? FileManager.default.attributesOfItem(atPath: daemon.databasePath + "-ingest.\(n)")[.size] as? Int) ?? 0
            #expect(size <= 16, "journal segment \(n) holds \(size) bytes after a clean stop")
        }
        // The rest waits in the broker for the persistent session.
        try await restartAndExpectAll(broker, dataDir: dataDir, sim: sim, total: total)
    }

    /// A persistent broker goes down while `startSim` publishes into a running vigild and comes
    /// back `pause` later on the same port: the simulator must finish with everything
    /// acknowledged and vigild must hold each of `total` readings exactly once. Returns the daemon
    /// and the restarted broker, both still running, for further checks.
    func acrossBrokerOutage(total: Int, underWay: Int, pause: Duration, dir brokerDir: String,
                            startSim: (TestBroker) throws -> ChildProcess) async throws -> (TestDaemon, TestBroker) {
        let persistent = "persistence true\npersistence_location \(brokerDir)/\nautosave_interval 1\n"
        var broker = try TestBroker(extraConfig: persistent, directory: brokerDir)
        try "".write(toFile: brokerDir + "/.keep", atomically: true, encoding: .utf8)
        try await broker.waitReady()
        let port = broker.port
        let daemon = try TestDaemon(broker: broker, environment: Self.rowsOnly)
        try await daemon.waitReady()
        let sim = try startSim(broker)
        try await Harness.waitUntil("publishing under way") { try await readingsStored(daemon) > underWay }
        broker.stop()  // SIGTERM: mosquitto saves its persistent sessions
        #expect(try await readingsStored(daemon) < total, "the broker must go down mid-stream")
        try await Task.sleep(for: pause)  // the publisher keeps producing meanwhile
        broker = try TestBroker(extraConfig: persistent, port: port, directory: brokerDir)
        try await broker.waitReady()
        #expect(sim.wait() == 0, "vigil-sim: \((try? String(contentsOfFile: brokerDir + "/sim.log", encoding: .utf8)) ?? "")")
        let db = daemon.databasePath
        try await Harness.waitUntil("all \(total) readings stored after the broker restart", seconds: 60) { try await storedCount(db).0 >= total }
        let stored2 = try await storedCount(db)
        #expect(stored2 == (total, total))
        return (daemon, broker)
    }

    @Test func brokerRestartMidStreamLosesNothing() async throws {
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (daemon, broker) = try await acrossBrokerOutage(total: 30_000, underWay: 5_000, pause: .milliseconds(300), dir: dir) { broker in
            try startLoad(broker, readings: 30_000, batch: 10, rate: 10_000, log: dir + "/sim.log")
        }
        let metrics = String(decoding: try await Harness.get(daemon.baseURL + "/metrics").1, as: UTF8.self)
        #expect(metrics.contains("vigil_mqtt_reconnects_total 1"), "\(metrics)")
        #expect(await daemon.terminate() == 0)
        broker.stop()
    }

    /// The simulated fleet's store-and-forward: readings produced while the broker is away reach
    /// storage when it returns, none lost, and each machine's `seq` counter rises with time.
    @Test func simulatedDevicesKeepTheirReadingsThroughABrokerOutage() async throws {
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let start = Int64(Date().timeIntervalSince1970 * 1000) / 1000 * 1000 - 7_200_000
        // 3 machines × 2 sensors, 1,200 ticks at 200× real time: 6 s of wall time.
        let (daemon, broker) = try await acrossBrokerOutage(total: 3 * 2 * 1200, underWay: 300, pause: .seconds(1.5), dir: dir) { broker in
            try ChildProcess(try Harness.product("vigil-sim"), [
                "--broker", broker.url, "--machines", "3", "--sensors", "2", "--format", "json", "--seed", "4", "--life", "off",
                "--start", String(start), "--duration", "1200s", "--speedup", "200", "--quiet",
            ], stdout: dir + "/sim.log", stderr: dir + "/sim.log")
        }
        // Per series, ordered by time, seq runs 1, 2, 3, … without a gap or a step back.
        let stored = try await Harness.storedReadings(daemon.databasePath)
        let steps = zip(stored, stored.dropFirst()).filter { $0.series == $1.series }.map { ($1.seq ?? 0) - ($0.seq ?? 0) }
        #expect(stored.count == 3 * 2 * 1200 && steps.allSatisfy { $0 == 1 }, "\(stored.count) readings, steps \(Set(steps))")
        #expect(await daemon.terminate() == 0)
        broker.stop()
    }
    /// `ingest.apply_interval`: readings wait in the journal for one commit of many, yet the raw
    /// series, the sensors list and the fleet show them at once, and a SIGKILL before the commit
    /// loses none.
    @Test func readingsWaitingForTheirCommitAreReadAndSurviveAKill() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let dataDir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let env = Self.rowsOnly.merging(["VIGIL_INGEST_APPLY_INTERVAL": "120"]) { $1 }
        let daemon = try TestDaemon(broker: broker, dataDirectory: dataDir, environment: env)
        try await daemon.waitReady()
        // Commits fall every 2 minutes, 2 s past (`CommitSchedule`): start well clear of one, with
        // live readings (a late one would be committed after a second).
        let phase = (SystemClock.wallMillis() - 2_000) % 120_000
        if phase > 100_000 { try await Task.sleep(for: .milliseconds(120_500 - phase)) }
        let base = SystemClock.wallMillis()
        for k in 0..<5 { try broker.publish(topic: "vigil/line-4/temp", #"{"ts":\#(base + Int64(k) * 1000),"value":\#(20 + k)}"#) }
        // A later message replaces a reading at the same timestamp, as a committed one would be.
        try broker.publish(topic: "vigil/line-4/temp", #"{"ts":\#(base + 2000),"value":99}"#)
        let url = daemon.baseURL + "/api/v1/machines/line-4/sensors/temp/series?resolution=raw"
        try await Harness.waitUntil("the readings in the raw series", seconds: 10) {
            try await Harness.getJSON(url, as: [API.SeriesPoint].self).count == 5
        }
        #expect(try await Harness.getJSON(url, as: [API.SeriesPoint].self).map(\.mean) == [20, 21, 99, 23, 24])
        let page = try await Harness.getJSON(url + "&from=\(base + 1000)&limit=2", as: [API.SeriesPoint].self)
        #expect(page.map(\.ts) == [base + 1000, base + 2000])
        let machines = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self)
        #expect(machines.map(\.id) == ["line-4"] && machines.first?.lastSeen == base + 4000)
        let sensors = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/line-4/sensors", as: [SensorCondition].self)
        #expect(sensors.map(\.sensor) == ["temp"] && sensors.first?.lastSeen == base + 4000)
        // Its first minute is rolled up after the commit: none yet, but the series is known.
        #expect(try await Harness.getJSON(url.replacingOccurrences(of: "raw", with: "minute"), as: [API.SeriesPoint].self).isEmpty)
        let storedBefore = try await storedCount(daemon.databasePath).0
        #expect(try await readingsStored(daemon) == 0 && storedBefore == 0, "committed before the interval")
        daemon.kill9()
        // The journal has them: a restart commits them before it serves.
        let again = try TestDaemon(broker: broker, dataDirectory: dataDir, environment: env)
        try await again.waitReady()
        let stored3 = try await storedCount(again.databasePath)
        #expect(stored3 == (5, 5))
        #expect(try await Harness.getJSON(url.replacingOccurrences(of: daemon.baseURL, with: again.baseURL), as: [API.SeriesPoint].self)
                    .map(\.mean) == [20, 21, 99, 23, 24])
        // A rejected payload is committed at once: quarantine does not wait for the interval.
        try broker.publish(topic: "vigil/line-4/temp", #"{"ts":1,"value":"#)
        try await Harness.waitUntil("the payload in quarantine", seconds: 10) {
            try await Harness.getJSON(again.baseURL + "/api/v1/quarantine", as: [API.QuarantineItem].self).count == 1
        }
        #expect(await again.terminate() == 0)
    }
}
