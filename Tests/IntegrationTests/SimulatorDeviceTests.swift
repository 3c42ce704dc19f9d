import Foundation
import Testing
import VigilAPI
import VigilCore

/// vigil-sim behaving like a messy real fleet: a dialect per machine, redelivered and reordered
/// messages, skewed clocks. Storage must hold every reading exactly once at its device time.
@Suite(.serialized) struct SimulatorDeviceTests {
    @Test func mixedDialectsDuplicatesReorderingAndSkewStoreEachReadingOnce() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let daemon = try TestDaemon(broker: broker)
        try await daemon.waitReady()
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = Int64(Date().timeIntervalSince1970 * 1000) / 60_000 * 60_000 - 3_600_000
        let sim = try Harness.run(try Harness.product("vigil-sim"), [
            "--broker", broker.url, "--machines", "4", "--sensors", "3", "--format", "mixed", "--batch", "7", "--seed", "9",
            "--start", String(base), "--duration", "120s", "--speedup", "6000", "--life", "off",
            "--duplicates", "0.3", "--reorder", "0.3", "--skew", "20", "--labels", dir + "/truth.jsonl", "--quiet",
        ])
        #expect(sim.status == 0, "\(sim.stderr)")
        let skews = try String(contentsOfFile: dir + "/truth.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["type"] as? String == "skew" }
            .reduce(into: [String: Int64]()) { $0[$1["machine"] as! String] = ($1["ms"] as! NSNumber).int64Value }
        #expect(skews.count == 4)
        try await Harness.waitUntil("every reading stored once", seconds: 30) {
            let machines = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self)
            guard machines.count == 4 else { return false }
            for m in machines {
                for s in m.sensors {
                    let raw = try await Harness.getJSON("\(daemon.baseURL)/api/v1/machines/\(m.id)/sensors/\(s)/series?resolution=raw",
                                                        as: [API.SeriesPoint].self)
                    if raw.count != 120 { return false }
                }
            }
            return true
        }
        // Each machine's readings sit at its own skewed clock: the last tick + its skew.
        let machines = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self)
        for m in machines { #expect(m.lastSeen == base + 119_000 + (skews[m.id] ?? 0), "\(m.id)") }
        let (_, metrics) = try await Harness.get(daemon.baseURL + "/metrics")
        let text = String(decoding: metrics, as: UTF8.self)
        let accepted = text.split(separator: "\n").first { $0.hasPrefix("vigil_ingest_readings_accepted_total ") }.map { Int($0.split(separator: " ")[1])! } ?? 0
        #expect(accepted > 4 * 3 * 120, "duplicates were sent (\(accepted) accepted) yet stored once")
        #expect(await daemon.terminate() == 0)
    }

    @Test func replayPublishesARecordingAsOneMachineShiftedToStart() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let daemon = try TestDaemon(broker: broker)
        try await daemon.waitReady()
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var csv = "timestamp,flow,current,temp\n"
        for i in 0..<100 { csv += "2020-03-09 10:\(String(format: "%02d", 14 + i / 60)):\(String(format: "%02d", i % 60)),\(50 + i),\(i % 7 == 0 ? "" : "1.5"),20\n" }
        try csv.write(toFile: dir + "/rec.csv", atomically: true, encoding: .utf8)
        let start = Int64(Date().timeIntervalSince1970 * 1000) / 1000 * 1000 - 3_600_000
        let out = try Harness.run(try Harness.product("vigil-sim"), ["replay", "--broker", broker.url, "--input", dir + "/rec.csv",
                                                                   "--machine", "plant1/rec", "--speedup", "0", "--start", String(start)])
        #expect(out.status == 0 && out.stdout.contains("sent 285 readings of 100 rows"), "\(out.stdout)\(out.stderr)")
        try await Harness.waitUntil("the recording stored") {
            let flow = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/plant1%2Frec/sensors/flow/series", as: [API.SeriesPoint].self)
            return flow.count == 100
        }
        let flow = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/plant1%2Frec/sensors/flow/series", as: [API.SeriesPoint].self)
        #expect(flow.first?.ts == start && flow.last?.ts == start + 99_000 && flow.last?.mean == 149)
        let current = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/plant1%2Frec/sensors/current/series", as: [API.SeriesPoint].self)
        #expect(current.count == 85) // empty cells are not sent
        #expect(await daemon.terminate() == 0)
    }
}
