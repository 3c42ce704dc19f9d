import Foundation
import Testing
import VigilAPI
import VigilCore

/// Health end to end: a simulated fleet is commissioned and scored by the daemon; the API, the
/// retained MQTT topic, /metrics and the CLI all tell the same story.
@Suite(.serialized) struct HealthIntegrationTests {
    @Test func fleetIsCommissionedScoredAndExported() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let daemon = try TestDaemon(broker: broker, environment: [
            "VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1", "VIGIL_HEALTH_COMMISSION_MINUTES": "20",
        ])
        try await daemon.waitReady()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let sim = try Harness.run(try Harness.product("vigil-sim"), [
            "--broker", broker.url, "--machines", "2", "--sensors", "4", "--format", "multi", "--seed", "3",
            "--start", String(now / 60_000 * 60_000 - 3 * 3_600_000), "--duration", "90m", "--speedup", "100000", "--quiet",
        ])
        #expect(sim.status == 0, "\(sim.stderr)")

        // Scored through its data: 90 minutes, 20 of them commissioning.
        var history: [API.HealthPoint] = []
        try await Harness.waitUntil("pump-01 commissioned and scored through its data", seconds: 60) {
            history = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/pump-01/health/history", as: [API.HealthPoint].self)
            return history.count >= 60
        }
        let h = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/pump-01/health", as: API.Health.self)
        #expect((0...100).contains(h.health!))
        #expect(h.status != nil, "a scored machine has a status (decoding checked it is one of the four)")
        #expect(h.model?.version == 1 && h.confidence > 0)

        #expect(history.count <= 70, "90 minutes of data, 20 commissioning: \(history.count) scored")
        #expect(zip(history, history.dropFirst()).allSatisfy { $0.ts + 60_000 == $1.ts })

        let models = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/pump-01/models", as: [API.ModelVersion].self)
        #expect(models.count == 1 && models[0].active && models[0].rowCount == 20 && models[0].trigger == .commissioning)

        // The machines list carries health; /metrics has the gauge.
        let machines = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self)
        #expect(machines.first { $0.id == "pump-01" }?.health != nil)
        let (_, metrics) = try await Harness.get(daemon.baseURL + "/metrics")
        let exposition = String(decoding: metrics, as: UTF8.self)
        #expect(exposition.contains("vigil_machine_health{machine=\"pump-01\"}"))
        #expect(exposition.contains("vigil_machine_model_version{machine=\"pump-01\"} 1\n"))
        #expect(exposition.contains("vigil_models_registered_total{trigger=\"commissioning\",decision=\"promoted\"} "), "\(exposition)")

        // Retained health on MQTT: a client that subscribes later gets it at once.
        let sub = try Harness.run(try Harness.tool("mosquitto_sub"), ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "vigil-out/health/pump-01", "-C", "1", "-W", "5"])
        #expect(sub.status == 0, "\(sub.stderr)")
        let retained = try JSONDecoder().decode(API.Health.self, from: Data(sub.stdout.utf8))
        #expect(retained.machine == "pump-01" && retained.health != nil)

        // Rollback of a first model is refused; maintenance is recorded.
        let vigil = try Harness.product("vigil")
        let rollback = try Harness.run(vigil, ["models", "pump-01", "--rollback", "--url", daemon.baseURL])
        #expect(rollback.status == 1 && rollback.stderr.contains("no_parent"), "\(rollback.stderr)")
        let maintenance = try Harness.run(vigil, ["maintenance", "pump-01", "--note", "seal replaced", "--url", daemon.baseURL])
        #expect(maintenance.status == 0 && maintenance.stdout.contains("maintenance recorded"), "\(maintenance.stderr)")
        let table = try Harness.run(vigil, ["health", "--url", daemon.baseURL])
        #expect(table.status == 0 && table.stdout.contains("pump-01") && table.stdout.contains("press-02"), "\(table.stdout)\(table.stderr)")
        let csv = try Harness.run(vigil, ["models", "pump-01", "--format", "csv", "--url", daemon.baseURL])
        #expect(csv.stdout.hasPrefix("version,active,trigger,parent"), "\(csv.stdout)")
        #expect(try await Harness.get(daemon.baseURL + "/api/v1/machines/nope/health").0 == 404)

        // `--format json` prints the API's own objects: same keys, same types, field by field.
        func sameJSON(_ cli: [String], _ route: String, _ what: String) async throws {
            let out = try Harness.run(vigil, cli + ["--format", "json", "--url", daemon.baseURL])
            #expect(out.status == 0, "\(what): \(out.stderr)")
            func sorted(_ json: Any) -> Any {
                guard let list = json as? [[String: Any]] else { return json }
                return list.sorted { "\($0["id"] ?? $0["version"] ?? "")" < "\($1["id"] ?? $1["version"] ?? "")" }
            }
            let fromCLI = sorted(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)))
            let fromAPI = sorted(try JSONSerialization.jsonObject(with: try await Harness.get(daemon.baseURL + route).1))
            #expect(NSArray(array: [fromCLI]).isEqual(NSArray(array: [fromAPI])), "\(what): CLI \(fromCLI) vs API \(fromAPI)")
        }
        try await sameJSON(["machines"], "/api/v1/machines", "vigil machines")
        try await sameJSON(["health", "pump-01"], "/api/v1/machines/pump-01/health", "vigil health pump-01")
        try await sameJSON(["models", "pump-01"], "/api/v1/machines/pump-01/models", "vigil models pump-01")
        try await sameJSON(["series", "pump-01", "temp", "--resolution", "minute"], "/api/v1/machines/pump-01/sensors/temp/series?resolution=minute",
                           "vigil series --resolution minute")

        // Hand-off exports in their documented schema.
        let healthExport = try Harness.run(vigil, ["export", "--what", "health", "--format", "jsonl", "--url", daemon.baseURL])
        #expect(healthExport.status == 0, "\(healthExport.stderr)")
        let rows = healthExport.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let pumpRows = rows.filter { $0["machine"] as? String == "pump-01" }
        #expect(Set(rows.flatMap(\.keys)) == ["machine", "ts", "health", "status"])
        #expect(pumpRows.count >= history.count && rows.count > pumpRows.count)
        // An explicit range wider than one API answer may span (from 1970: millions of minutes)
        // is paged by the CLI and gives the same rows as no range.
        let minutes = try Harness.run(vigil, ["export", "--url", daemon.baseURL])
        let wide = try Harness.run(vigil, ["export", "--from", "0", "--to", String(now + 3_600_000), "--url", daemon.baseURL])
        #expect(wide.status == 0 && wide.stdout == minutes.stdout && minutes.stdout.split(separator: "\n").count > 90 * 8, "\(wide.stderr)")
        let page = try Harness.run(vigil, ["series", "pump-01", "temp", "--resolution", "minute", "--limit", "5", "--url", daemon.baseURL])
        #expect(page.status == 0 && page.stderr.contains("more follow: add --from "), "\(page.stderr)")
        let rollups = try Harness.run(vigil, ["export", "--resolution", "day", "--url", daemon.baseURL])
        let lines = rollups.stdout.split(separator: "\n")
        #expect(lines.first == "machine,sensor,ts,date,count,mean,min,max,sum,stddev,unit")
        #expect(lines.count > 1 && lines.dropFirst().allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == 11 })
        #expect(lines.dropFirst().allSatisfy { LocalDate(String($0.split(separator: ",")[3])) != nil }, "day rows carry their local date")

        // Every stored reading (read as columns): as many as the exact day rollups count, the same
        // values as the API's points.
        let raw = try Harness.run(vigil, ["export", "--what", "raw", "--url", daemon.baseURL])
        let rawLines = raw.stdout.split(separator: "\n")
        #expect(raw.status == 0 && rawLines.first == "machine,sensor,ts,value,unit", "\(raw.stderr)")
        let pumpTemp = rawLines.filter { $0.hasPrefix("pump-01,temp,") }.map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let days = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/pump-01/sensors/temp/series?resolution=day", as: [API.SeriesPoint].self)
        #expect(pumpTemp.count == days.map(\.count).reduce(0, +) && pumpTemp.count > 0)
        let firstPoints = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/pump-01/sensors/temp/series?resolution=raw&limit=3",
                                                    as: [API.SeriesPoint].self)
        #expect(pumpTemp.prefix(3).map { [String($0[2]), String($0[3])] } == firstPoints.map { [String($0.ts), "\($0.mean)"] })

        // Colours for people only: on a terminal (script(1) gives the CLI one) the status is
        // coloured; piped, or with NO_COLOR, the output is plain.
        var terminal = ProcessInfo.processInfo.environment.filter { $0.key != "NO_COLOR" }
        terminal["TERM"] = "xterm"
        let tty = try Harness.run(try Harness.tool("script"), ["-qec", "\(vigil) health --url \(daemon.baseURL)", "/dev/null"], environment: terminal)
        #expect(tty.status == 0 && tty.stdout.contains("\u{1B}[") && tty.stdout.contains("pump-01"), "\(tty.status) \(tty.stdout) \(tty.stderr)")
        let noColor = try Harness.run(try Harness.tool("script"), ["-qec", "\(vigil) health --url \(daemon.baseURL)", "/dev/null"],
                                      environment: terminal.merging(["NO_COLOR": "1"]) { $1 })
        #expect(noColor.status == 0 && !noColor.stdout.contains("\u{1B}[") && noColor.stdout.contains("pump-01"))
        #expect(!table.stdout.contains("\u{1B}["))

        // Decommissioning: refused without --yes; then everything of pump-01 goes, its retained
        // health topic is cleared, and the rest of the fleet is untouched.
        let unconfirmed = try Harness.run(vigil, ["remove", "pump-01", "--url", daemon.baseURL])
        #expect(unconfirmed.status == 2 && unconfirmed.stderr.contains("--yes"), "\(unconfirmed.stderr)")
        let removed = try Harness.run(vigil, ["remove", "pump-01", "--yes", "--url", daemon.baseURL])
        #expect(removed.status == 0 && removed.stdout.contains("pump-01: removed 4 sensors"), "\(removed.stdout)\(removed.stderr)")
        #expect(try await Harness.get(daemon.baseURL + "/api/v1/machines/pump-01/health").0 == 404)
        #expect(try await Harness.get(daemon.baseURL + "/api/v1/machines/pump-01/sensors/temp/series?resolution=minute").0 == 404)
        let remaining = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self)
        #expect(remaining.map(\.id) == ["press-02"])
        let cleared = try Harness.run(try Harness.tool("mosquitto_sub"), ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "vigil-out/health/pump-01",
                                                                         "-C", "1", "-W", "2"])
        #expect(cleared.stdout.isEmpty, "retained health of a removed machine: \(cleared.stdout)")
        let (_, metricsAfter) = try await Harness.get(daemon.baseURL + "/metrics")
        #expect(!String(decoding: metricsAfter, as: UTF8.self).contains("machine=\"pump-01\""))
        // The removal is an event of its own (notifications, `vigil events`, the upstream cluster).
        let events = try await Harness.getJSON(daemon.baseURL + "/api/v1/events?machine=pump-01&limit=5", as: [Event].self)
        let gone = try #require(events.first, "no event for the removed machine")
        #expect(gone.kind == .machineRemoved && gone.detail.contains("4 sensors") && gone.detail.contains("model versions"), "\(gone)")
        let again = try Harness.run(vigil, ["remove", "pump-01", "--yes", "--url", daemon.baseURL])
        #expect(again.status == 1 && again.stderr.contains("404"), "\(again.stderr)")
        #expect(await daemon.terminate() == 0, "vigild log:\n\(daemon.log)")
    }
}

@Suite struct ReplayCLITests {
    @Test func replayIsDeterministicKeepsItsModelAndRejectsBadInput() throws {
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var csv = "timestamp,flow,current,temp\n"
        for t in 0..<600 {
            let load = 0.7 + 0.2 * sin(Double(t) / 20)
            let fault = t >= 500 ? 4.0 : 0
            csv += "\(t),\(100 * load + Double(t % 7) * 0.1),\(10 * load + fault),\(t % 3 == 0 ? "" : String(60 + 10 * load))\n"
        }
        try csv.write(toFile: dir + "/in.csv", atomically: true, encoding: .utf8)
        let vigil = try Harness.product("vigil")
        let args = ["replay", "--machine", "plant1/pump7", "--input", dir + "/in.csv", "--commission-rows", "300", "--state-dir", dir + "/state"]
        let a = try Harness.run(vigil, args + ["--output", dir + "/a.csv"])
        #expect(a.status == 0, "\(a.stderr)")
        let b = try Harness.run(vigil, ["replay", "--machine", "plant1/pump7", "--input", dir + "/in.csv", "--commission-rows", "300", "--output", dir + "/b.csv"])
        #expect(b.status == 0)
        let outA = try String(contentsOfFile: dir + "/a.csv", encoding: .utf8)
        #expect(outA == (try String(contentsOfFile: dir + "/b.csv", encoding: .utf8)))
        let lines = outA.split(separator: "\n")
        #expect(lines.count == 601 && lines[0] == "timestamp,anomaly_score,alarm,health,status,model_version,contributors,sensor_faults")
        let last = lines[600].split(separator: ",", omittingEmptySubsequences: false)
        #expect(last[2] == "1" && last[4] == "alarm" && last[5] == "1" && last[6].hasPrefix("current:"), "\(lines[600])")
        #expect(FileManager.default.fileExists(atPath: dir + "/state/plant1%2Fpump7.model.json"))
        // A second replay with the saved model scores from the first row.
        let c = try Harness.run(vigil, args + ["--output", "-"])
        #expect(c.status == 0 && !c.stdout.contains("commissioning"))

        try "timestamp,a\n1,zz\n".write(toFile: dir + "/bad.csv", atomically: true, encoding: .utf8)
        let bad = try Harness.run(vigil, ["replay", "--machine", "m", "--input", dir + "/bad.csv", "--output", "-"])
        #expect(bad.status == 2 && bad.stderr.contains("line 2"), "\(bad.stderr)")
        let short = try Harness.run(vigil, ["replay", "--machine", "m", "--input", dir + "/in.csv", "--output", "-", "--commission-rows", "5"])
        #expect(short.status == 2 && short.stderr.contains("cannot commission"), "\(short.stderr)")
    }
}
