import Testing
@testable import VigilServer

/// When the daemon calls itself degraded, judged from its facts alone.
@Suite struct DaemonConditionTests {
    static let limits = DaemonCondition.Limits(minFreeBytes: 100 << 20, maxRollupLagMillis: 60_000)

    @Test func wellIsOk() {
        let facts = DaemonFacts(freeBytes: 1 << 30, databaseBytes: 5 << 20, mqttConnected: true, rollupLagMillis: 4_000)
        #expect(DaemonCondition.judge(facts, limits: Self.limits, now: 0).isEmpty)
        // Free space unknown (statvfs failed) is not a reason by itself.
        #expect(DaemonCondition.judge(DaemonFacts(freeBytes: nil), limits: Self.limits, now: 0).isEmpty)
    }

    @Test func everyReasonIsNamedWithItsFigures() {
        let facts = DaemonFacts(storageFailingSince: 1_000, lastStorageError: "No space left on device", freeBytes: 3 << 20,
                                mqttConnected: false, rollupLagMillis: 61_000)
        let reasons = DaemonCondition.judge(facts, limits: Self.limits, now: 31_000)
        #expect(reasons.map(\.reason) == [.storageFailing, .diskLow, .mqttDisconnected, .rollupLag])
        #expect(reasons[0].detail.contains("30 s") && reasons[0].detail.contains("No space left on device"))
        #expect(reasons[1].detail.contains("3 MB free") && reasons[1].detail.contains("min_free_mb = 100"))
        #expect(reasons[3].detail.contains("61 s") && reasons[3].detail.contains("max_lag_seconds = 60"))
    }

    @Test func edgesAreExclusive() {
        let facts = DaemonFacts(freeBytes: 100 << 20, rollupLagMillis: 60_000)
        #expect(DaemonCondition.judge(facts, limits: Self.limits, now: 0).isEmpty)
    }
}
