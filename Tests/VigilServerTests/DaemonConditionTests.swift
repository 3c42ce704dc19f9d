import Testing
@testable import VigilServer

/// When the daemon calls itself degraded, judged from its facts alone.
@Suite struct DaemonConditionTests {
    static let limits = DaemonCondition.Limits(minFreeBytes: 100 << 20, maxRollupLagMillis: 60_000)

    @Test func wellIsOk() {
        let facts = DaemonFacts(freeBytes: 1 << 30, databaseBytes: 5 << 20, mqttSessionsConnected: 4, mqttSessions: 4,
                                rollupLagMillis: 4_000)
        #expect(DaemonCondition.judge(facts, limits: Self.limits, now: 0).isEmpty)
        // Free space unknown (statvfs failed) is not a reason by itself.
        #expect(DaemonCondition.judge(DaemonFacts(freeBytes: nil), limits: Self.limits, now: 0).isEmpty)
    }

    @Test func everyReasonIsNamedWithItsFigures() {
        let facts = DaemonFacts(storageFailingSince: 1_000, lastStorageError: "No space left on device", freeBytes: 3 << 20,
                                mqttSessionsConnected: 0, rollupLagMillis: 61_000)
        let reasons = DaemonCondition.judge(facts, limits: Self.limits, now: 31_000)
        #expect(reasons.map(\.reason) == [.storageFailing, .diskLow, .mqttDisconnected, .rollupLag])
        #expect(reasons[0].detail.contains("30 s") && reasons[0].detail.contains("No space left on device"))
        #expect(reasons[1].detail.contains("3 MB free") && reasons[1].detail.contains("min_free_mb = 100"))
        #expect(reasons[2].detail.contains("not connected to the MQTT broker"))
        #expect(reasons[3].detail.contains("61 s") && reasons[3].detail.contains("max_lag_seconds = 60"))
    }

    /// With `ingest.sessions` > 1, one session that lost the broker is a reason of its own, even
    /// while the first one (which publishes) is connected.
    @Test func oneSessionDownOfSeveralIsNamed() {
        let facts = DaemonFacts(freeBytes: 1 << 30, mqttSessionsConnected: 3, mqttSessions: 4)
        #expect(!facts.mqttConnected)
        let reasons = DaemonCondition.judge(facts, limits: Self.limits, now: 0)
        #expect(reasons.map(\.reason) == [.mqttDisconnected])
        #expect(reasons[0].detail.contains("1 of 4 MQTT sessions not connected"))
    }

    @Test func edgesAreExclusive() {
        let facts = DaemonFacts(freeBytes: 100 << 20, rollupLagMillis: 60_000)
        #expect(DaemonCondition.judge(facts, limits: Self.limits, now: 0).isEmpty)
    }
}
