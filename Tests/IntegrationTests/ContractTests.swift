import Foundation
import Testing
import VigilAPI
import VigilCore

/// The HTTP contract a generated client can trust: schemathesis (from PyPI, pinned in
/// `contract/requirements.txt`) generates requests from our own `/api/v1/openapi.json` against a
/// live vigild with two machines' data — every operation, every check, positive and negative
/// cases, undeclared methods and the stateful links — and must find nothing. The only allowances
/// (`contract/schemathesis.toml`) are rules between fields JSON Schema cannot state.
@Suite(.serialized) struct ContractTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/contract"

    static func schemathesis() throws -> String {
        try Harness.virtualEnvironment("contract-venv", requirements: directory + "/requirements.txt") + "/st"
    }

    @Test func schemathesisFindsNothingAgainstOurOwnDocument() async throws {
        let st = try Self.schemathesis()
        let broker = try TestBroker()
        try await broker.waitReady()
        let daemon = try TestDaemon(broker: broker, environment: ["VIGIL_HEALTH_COMMISSION_MINUTES": "30", "VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1"])
        try await daemon.waitReady()
        let start = (Int64(Date().timeIntervalSince1970) - 7200) * 1000
        let sim = try Harness.run(try Harness.product("vigil-sim"), [
            "--broker", broker.url, "--machines", "2", "--sensors", "4", "--format", "batch", "--seed", "3",
            "--start", String(start), "--duration", "2h", "--speedup", "100000", "--quiet",
        ])
        #expect(sim.status == 0, "\(sim.stderr)")
        try await Harness.waitUntil("both machines scored", seconds: 60) {
            try await Harness.getJSON(daemon.baseURL + "/api/v1/machines", as: [API.Machine].self).filter { $0.health != nil }.count == 2
        }
        // One worker: hypothesis's lambda-source cache is not thread-safe under Python 3.11
        // ("AST constructor recursion depth mismatch", an error of the tool, not a finding).
        let out = try Harness.run(st, ["--config-file", Self.directory + "/schemathesis.toml", "run", daemon.baseURL + "/api/v1/openapi.json",
                                       "--checks", "all", "--max-examples", "30", "--workers", "1", "--seed", "20261206", "--no-color"])
        let summary = out.stdout.split(separator: "\n").suffix(12).joined(separator: "\n")
        #expect(out.status == 0, "\(out.stdout.suffix(6000))")
        #expect(out.stdout.contains(" passed") && !out.stdout.contains("failures"), "\(summary)")
        #expect(await daemon.terminate() == 0)
    }
}
