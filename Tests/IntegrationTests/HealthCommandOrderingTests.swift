import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VigilAPI
import VigilCore

/// An operator's promote, rollback and maintenance are never lost to the health loop: the health
/// service is the one writer of a machine's health, so whatever the API answered is what the
/// store holds afterwards, even while the daemon is busy scoring and retraining a fleet.
@Suite(.serialized) struct HealthCommandOrderingTests {
    static func post(_ url: String, body: String? = nil) async throws -> (Int, Data) {
        var r = URLRequest(url: URL(string: url)!)
        r.httpMethod = "POST"
        if let body { r.httpBody = Data(body.utf8) }
        let (data, response) = try await URLSession.shared.data(for: r)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    /// What one machine's commands were answered with, in the order they were answered.
    struct Answers: Sendable {
        var machine: String
        /// The active version after the last answered promote/rollback, and when it was answered.
        var active: Int?
        var activeSentAt: Int64 = 0
        var activeAnsweredAt: Int64 = 0
        /// Every maintenance event answered, in order.
        var maintenance: [Int64] = []
        var refused = 0
    }

    @Test func everyAnsweredCommandIsWhatTheStoreShowsAfterwards() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let daemon = try TestDaemon(broker: broker, environment: [
            "VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1", "VIGIL_HEALTH_COMMISSION_MINUTES": "30", "VIGIL_HEALTH_RETRAIN_HOURS": "1",
        ])
        try await daemon.waitReady()
        // A day of four pumps published over ≈ 25 s: the daemon commissions, scores and retrains
        // (hourly) all along while the commands arrive.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sim = try ChildProcess(try Harness.product("vigil-sim"), [
            "--broker", broker.url, "--machines", "4", "--sensors", "4", "--format", "multi", "--seed", "11",
            "--start", String(now / 60_000 * 60_000 - 25 * 3_600_000), "--duration", "24h", "--speedup", "3500", "--quiet",
        ], stdout: dir + "/sim.log", stderr: dir + "/sim.log")
        defer { sim.stop() }
        let base = daemon.baseURL + "/api/v1/machines/"
        var machines: [String] = []
        // Every machine commissioned, and most already retrained (a machine that alarms from its
        // first hours has no normal rows to retrain on, which is right: its commands still count).
        try await Harness.waitUntil("four machines with a model, three with two versions", seconds: 240) {
            machines = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self).map(\.id)
            var versions: [Int] = []
            for m in machines { versions.append(try await Harness.getJSON(base + m + "/models", as: [API.ModelVersion].self).count) }
            return machines.count == 4 && versions.allSatisfy { $0 >= 1 } && versions.filter { $0 >= 2 }.count >= 3
        }

        // Per machine, 24 commands in a row (machines in parallel), each chosen by a fixed seed.
        let answers = try await withThrowingTaskGroup(of: Answers.self) { group in
            for (k, machine) in machines.enumerated() {
                group.addTask {
                    var rng = SplitMix64(seed: UInt64(k) + 1)
                    var a = Answers(machine: machine)
                    for i in 0..<24 {
                        let versions = try await Harness.getJSON(base + machine + "/models", as: [API.ModelVersion].self).map(\.version)
                        let sentAt = Int64(Date().timeIntervalSince1970 * 1000)
                        switch rng.next() % 3 {
                        case 0:
                            let v = versions[Int(rng.next() % UInt64(versions.count))]
                            let (status, body) = try await Self.post(base + machine + "/models/\(v)/promote")
                            #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
                            a.active = try JSONDecoder().decode(API.ActiveVersion.self, from: body).version
                            (a.activeSentAt, a.activeAnsweredAt) = (sentAt, Int64(Date().timeIntervalSince1970 * 1000))
                        case 1:
                            let (status, body) = try await Self.post(base + machine + "/models/rollback")
                            if status == 200 {
                                a.active = try JSONDecoder().decode(API.ActiveVersion.self, from: body).version
                                (a.activeSentAt, a.activeAnsweredAt) = (sentAt, Int64(Date().timeIntervalSince1970 * 1000))
                            } else {
                                #expect(status == 409, "\(String(decoding: body, as: UTF8.self))")
                                a.refused += 1
                            }
                        default:
                            // In the future of the data, so no re-commissioning changes the active version.
                            let at = now + 86_400_000 + Int64(i) * 60_000
                            let (status, body) = try await Self.post(base + machine + "/maintenance", body: "{\"at\":\(at),\"note\":\"step \(i)\"}")
                            #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
                            a.maintenance.append(at)
                        }
                        try await Task.sleep(for: .milliseconds(Int(rng.next() % 60)))
                    }
                    return a
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(sim.wait() == 0, "vigil-sim: \((try? String(contentsOfFile: dir + "/sim.log", encoding: .utf8)) ?? "")")
        // Let the daemon finish scoring what was published (a few ticks).
        try await Task.sleep(for: .seconds(12))

        let sqlite = try Harness.tool("sqlite3")
        for a in answers {
            // A retraining can still land between the two reads on a busy machine: read both until
            // they were read with no version registered in between.
            var models: [API.ModelVersion] = []
            var health: API.Health?
            try await Harness.waitUntil("\(a.machine): /models and /health read between two retrainings", seconds: 30) {
                models = try await Harness.getJSON(base + a.machine + "/models", as: [API.ModelVersion].self)
                health = try await Harness.getJSON(base + a.machine + "/health", as: API.Health.self)
                let again = try await Harness.getJSON(base + a.machine + "/models", as: [API.ModelVersion].self)
                return again.map(\.version) == models.map(\.version) && again.first { $0.active }?.version == models.first { $0.active }?.version
            }
            let active = try #require(models.first { $0.active }, "\(a.machine) has an active version")
            #expect(models.filter(\.active).count == 1)
            // The answered command wins, unless a retraining the gate promoted came after it: one
            // registered after the answer must be active; one registered while the command was in
            // flight (sent, not yet answered) may be, either way round.
            let promoted = models.filter { $0.gateDecision == .promoted }
            let what = "\(a.machine): answered \(String(describing: a.active)), store says \(active.version) (\(active.createdAt - a.activeSentAt) ms after the request)"
            if let later = promoted.filter({ $0.createdAt > a.activeAnsweredAt }).max(by: { $0.version < $1.version }) {
                #expect(active.version == later.version, "\(what), promoted after the answer: \(later.version)")
            } else if let answered = a.active, active.version != answered {
                #expect(promoted.contains { $0.version == active.version && $0.createdAt >= a.activeSentAt }, "\(what)")
            }
            #expect(health?.model?.version == active.version, "\(a.machine): /health scores with \(String(describing: health?.model?.version)), /models says \(active.version)")
            // Every answered maintenance event is stored, and the newest one rules re-commissioning.
            let stored = try Harness.run(sqlite, [daemon.databasePath, "SELECT count(*) FROM maintenance WHERE machine = '\(a.machine)';",
                                                  "SELECT commission_from FROM machine_health WHERE machine = '\(a.machine)';"])
            #expect(stored.stdout.split(separator: "\n") == ["\(a.maintenance.count)", "\(a.maintenance.last ?? 0)"], "\(a.machine): \(stored.stdout)")
        }
        #expect(answers.map(\.maintenance.count).reduce(0, +) > 10 && answers.contains { $0.active != nil })
        #expect(await daemon.terminate() == 0, "vigild log:\n\(daemon.log)")
    }
}
