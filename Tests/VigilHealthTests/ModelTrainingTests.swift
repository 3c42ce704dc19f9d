import Foundation
import Testing
import VigilCore
@testable import VigilHealth

@Suite struct ModelTrainingTests {
    func minutes(_ table: SensorTable, from start: Int64 = 1_700_000_000_000) -> [Int64] {
        (0..<Int64(table.rows.count)).map { start + $0 * 60_000 }
    }

    @Test func commissioningGivesAPromotedReferenceWithItsLineage() throws {
        let table = pumpTable(rows: 200, seed: 3)
        let times = minutes(table)
        let first = try ModelTraining.commission(sensors: table.sensors, times: times, rows: table.rows, completeRows: 200, trigger: .commissioning,
                                                 parent: nil, parameters: .init(), minimumRows: 120, at: 42)
        #expect(first.activate && first.model.reference == first.model.anomaly)
        let l = first.lineage
        #expect(l.trigger == .commissioning && l.parentVersion == nil && l.createdAt == 42 && l.gateDecision == .promoted)
        #expect(l.trainFrom == times.first && l.trainTo == times.last && l.rowCount == 200 && l.sensors == table.sensors)
        #expect(l.gateReason == "first model of the machine (commissioning)" && l.metrics["completeRows"] == 200)
        #expect(l.contentSha256 == HealthModel.contentHash(sensors: table.sensors, times: times, rows: table.rows))
        // After maintenance: a child of the active version.
        let again = try ModelTraining.commission(sensors: table.sensors, times: times, rows: table.rows, completeRows: 200, trigger: .maintenance,
                                                 parent: 3, parameters: .init(), minimumRows: 120, at: 43)
        #expect(again.lineage.parentVersion == 3 && again.lineage.gateReason.contains("after maintenance"))
        // Too few complete minutes: refused, naming both counts (the usual state of a new machine).
        let refused = #expect(throws: ModelTraining.Failure.self) {
            try ModelTraining.commission(sensors: table.sensors, times: times, rows: table.rows, completeRows: 100, trigger: .commissioning,
                                         parent: nil, parameters: .init(), minimumRows: 120, at: 42)
        }
        #expect(refused?.tooFewRows == true && refused?.description == "100 complete minutes, 120 needed")
        // Rows that cannot be learned from (a sensor that never reported): a real failure.
        let blank = table.rows.map { r in r.enumerated().map { $0.offset == 0 ? nil : $0.element } }
        let failed = #expect(throws: ModelTraining.Failure.self) {
            try ModelTraining.commission(sensors: table.sensors, times: times, rows: blank, completeRows: 200, trigger: .commissioning,
                                         parent: nil, parameters: .init(), minimumRows: 120, at: 42)
        }
        #expect(failed?.tooFewRows == false)
    }

    @Test func aRetrainedCandidateKeepsTheReferenceAndCarriesTheGatesVerdict() throws {
        let old = pumpTable(rows: 400, seed: 11)
        let active = try ModelTraining.commission(sensors: old.sensors, times: minutes(old), rows: old.rows, completeRows: 400,
                                                  trigger: .commissioning, parent: nil, parameters: .init(), minimumRows: 120, at: 1)
        // The plant moved to a new operating point.
        var recent = pumpTable(rows: 600, seed: 12)
        for i in 0..<recent.rows.count { recent.rows[i][2] = recent.rows[i][2].map { $0 + 1.5 } }
        let times = minutes(recent, from: 1_800_000_000_000)
        let candidate = try ModelTraining.retrain(active: active.model, activeVersion: 4, trigger: .drift, times: times, rows: recent.rows,
                                                  excluding: [], parameters: .init(), minimumRows: 120, at: 2)
        #expect(candidate.activate && candidate.lineage.parentVersion == 4 && candidate.lineage.trigger == .drift)
        #expect(candidate.model.reference == active.model.reference && candidate.model.anomaly != active.model.anomaly)
        // It learned from the first four fifths only, never from excluded minutes.
        #expect(candidate.lineage.trainFrom == times[0] && candidate.lineage.trainTo == times[479] && candidate.lineage.rowCount == 480)
        let excluded = Set(times[0..<100])
        let without = try ModelTraining.retrain(active: active.model, activeVersion: 4, trigger: .schedule, times: times, rows: recent.rows,
                                                excluding: excluded, parameters: .init(), minimumRows: 120, at: 2)
        #expect(without.lineage.trainFrom == times[100] && without.lineage.rowCount == 400)
        // Nothing left to learn from: refused.
        #expect(throws: ModelTraining.Failure.self) {
            try ModelTraining.retrain(active: active.model, activeVersion: 4, trigger: .drift, times: times, rows: recent.rows,
                                      excluding: Set(times), parameters: .init(), minimumRows: 120, at: 2)
        }
    }

    @Test func presenceIsReportedOnceWhenAMachineFallsSilentAndWhenItIsBack() {
        var known: [String: Bool] = [:]
        let silent = HealthEvents.presence(lastReceived: [("a", 0), ("b", 950_000)], known: &known, now: 1_000_000, silentAfter: 900_000)
        #expect(silent.map(\.kind) == [.machineSilent] && silent.first?.machine == "a" && silent.first?.at == 1_000_000)
        #expect(HealthEvents.presence(lastReceived: [("a", 0), ("b", 950_000)], known: &known, now: 1_100_000, silentAfter: 900_000).isEmpty)
        let back = HealthEvents.presence(lastReceived: [("a", 1_150_000), ("b", 950_000)], known: &known, now: 1_200_000, silentAfter: 900_000)
        #expect(back.map(\.kind) == [.machineBack] && back.first?.at == 1_150_000 && known["a"] == false)
    }
}

@Suite struct HealthWindowsTests {
    func lineage(_ trigger: ModelTrigger, version: Int = 3) -> ModelLineage {
        ModelLineage(version: version, active: true, createdAt: 0, trigger: trigger, parentVersion: nil, trainFrom: 1_000_000, trainTo: 2_000_000,
                     rowCount: 10, contentSha256: "", sensors: [], parameters: [:], codeVersion: "", metrics: [:], gateDecision: .promoted, gateReason: "")
    }

    @Test func sensorsAreProfiledOnTheMachinesOwnCommissioning() {
        #expect(MachineLifecycle.sensorProfileWindow(active: lineage(.commissioning), scoredThrough: 9_000_000)! == (1_000_000, 2_060_000))
        #expect(MachineLifecycle.sensorProfileWindow(active: lineage(.maintenance), scoredThrough: 9_000_000)! == (1_000_000, 2_060_000))
        // A retrained version learned from recent rows: the day before the last scored minute.
        #expect(MachineLifecycle.sensorProfileWindow(active: lineage(.drift), scoredThrough: 90_000_000)! == (3_600_000, 90_060_000))
        // A fleet reference is not the machine's own behaviour.
        #expect(MachineLifecycle.sensorProfileWindow(active: lineage(.fleetReference), scoredThrough: 9_000_000) == nil)
        #expect(MachineLifecycle.Phase(active: lineage(.fleetReference)) == .fleetReference(version: 3))
        #expect(MachineLifecycle.Phase(active: lineage(.schedule, version: 5)) == .active(version: 5))
        #expect(MachineLifecycle.Phase(active: nil) == .commissioning)
    }

    @Test func theJudgeStepsThroughABacklogNoFurtherThanWhatIsStored() {
        var d = SensorFaultDetector(sensors: ["a"], profiles: [nil])
        _ = d.advance(to: 1_000_000)
        // Live: up to 5 s ago.
        #expect(d.nextStep(stored: 1_020_000, now: 1_030_000, stepMillis: 3_600_000) == 1_025_000)
        // A step at most.
        #expect(d.nextStep(stored: 9_000_000, now: 9_010_000, stepMillis: 3_600_000) == 4_600_000)
        // A backlog still being stored: no further than its last complete minute.
        #expect(d.nextStep(stored: 1_200_000, now: 9_000_000, stepMillis: 3_600_000) == 1_259_999)
    }
}

@Suite struct SensorProfileTailTests {
    @Test func theNaturalLogarithmIsAccurate() {
        for x in [1e-300, 0.001, 0.5, 1, 2, 2.718281828459045, 400, 8640, 86400, 1e300] {
            #expect(abs(SensorProfile.ln(x) - Foundation.log(x)) <= 1e-13 * max(1, abs(Foundation.log(x))), "\(x)")
        }
    }

    @Test func aShortCommissioningWidensTheSpikeLimitAndADayDoesNot() throws {
        var rng = SplitMix64(seed: 9)
        func profile(_ n: Int, every ms: Int64) throws -> SensorProfile {
            let values = (0..<n).map { _ in 10 + Double.random(in: -1...1, using: &rng) }
            return try #require(SensorProfile.learn(times: (0..<Int64(n)).map { $0 * ms }, values: values))
        }
        #expect(try profile(8640, every: 10_000).tailGrowth == 1)
        let short = try profile(400, every: 1_000)
        #expect(abs(short.tailGrowth - (Foundation.log(86_400.0) / Foundation.log(400.0)).squareRoot()) < 1e-12)
        // A profile saved before the growth was kept works it out to the same value.
        var saved = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(short)) as? [String: Any])
        #expect(saved.removeValue(forKey: "learnedTailGrowth") != nil)
        let old = try JSONDecoder().decode(SensorProfile.self, from: JSONSerialization.data(withJSONObject: saved))
        #expect(old.tailGrowth == short.tailGrowth && old.spikeLimit == short.spikeLimit)
    }
}
