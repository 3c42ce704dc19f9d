import Foundation
import Testing

/// vigil-sim's ground truth: deterministic per seed, wear monotone between repairs, failures and
/// repairs alternate, faults inside the simulated span.
@Suite struct SimulatorTruthTests {
    struct Label: Decodable {
        var type: String
        var machine: String
        var ts: Int64?
        var wear: Double?
        var start: Int64?
        var end: Int64?
        var kind: String?
        var sensor: String?
        var expect: String?
    }

    @Test func labelsAreDeterministicAndWearIsMonotoneBetweenRepairs() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let start: Int64 = 1_790_812_800_000 // 2026-10-01T00:00:00Z
        func run(_ name: String) throws -> String {
            let out = try Harness.run(try Harness.product("vigil-sim"), [
                "--broker", broker.url, "--topic-prefix", "simtest", "--machines", "4", "--sensors", "8", "--interval", "60",
                "--start", String(start), "--duration", "6d", "--speedup", "10000000", "--life", "1d-3d", "--faults", "1",
                "--seed", "11", "--labels", dir + "/" + name, "--format", "batch", "--batch", "120", "--quiet",
            ])
            #expect(out.status == 0, "\(out.stderr)")
            return try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
        }
        let a = try run("a.jsonl"), b = try run("b.jsonl")
        #expect(a == b)
        let labels = try a.split(separator: "\n").map { try JSONDecoder().decode(Label.self, from: Data($0.utf8)) }
        let end = start + 6 * 86_400_000
        for m in Set(labels.map(\.machine)) {
            let mine = labels.filter { $0.machine == m }
            let events = mine.filter { $0.type == "failure" || $0.type == "maintenance" }.sorted { $0.ts! < $1.ts! }
            #expect(!events.isEmpty, "\(m) never failed in 6 days with a 1-3 day life")
            #expect(zip(events, events.dropFirst()).allSatisfy { $0.type != $1.type }, "\(m): failures and repairs must alternate")
            #expect(events.first?.type == "failure")
            // Hourly wear rises until a failure and restarts near zero after the repair.
            var last = -1.0
            for w in mine.filter({ $0.type == "wear" }).sorted(by: { $0.ts! < $1.ts! }) {
                let v = w.wear!
                #expect((0...1).contains(v))
                if v < last { #expect(v < 0.05, "\(m): wear fell from \(last) to \(v) without a repair") }
                last = v
            }
            let faults = mine.filter { $0.type == "fault" }.sorted { $0.start! < $1.start! }
            for f in faults {
                #expect(f.start! >= start && f.start! < end && f.end! > f.start!)
                // Each fault names the sensor-fault kind to expect; a process fault is none.
                let expected: [String: String?] = ["spike": "spike", "spike_burst": "spike", "stuck": "stuck", "stuck_wobble": "stuck",
                                                   "rail": "out_of_range", "drift": "drift", "calibration": "drift", "noise": "noise",
                                                   "dropout": "dropout", "process": nil]
                #expect(expected[f.kind!] == .some(f.expect), "\(f.kind!) expects \(f.expect ?? "nil")")
            }
            // One at a time.
            #expect(zip(faults, faults.dropFirst()).allSatisfy { $0.end! <= $1.start! })
        }
    }
}
