import Testing
import VigilCore
@testable import VigilHealth

/// The health lifecycle's rules, driven event by event without a store.
@Suite struct MachineLifecycleTests {
    typealias L = MachineLifecycle
    static let rules = L.Rules(commissionMinutes: 60, retrainMinutes: 120)

    @Test func aNewMachineCollectsRowsThenIsCommissionedAndScored() {
        var m = L(phase: .commissioning, rules: Self.rules)
        #expect(m.needsCommissioningRows)
        #expect(m.handle(.tick(completeRows: 59, fleetReference: false)) == [.saveProgress])
        #expect(m.handle(.tick(completeRows: 60, fleetReference: false)) == [.train(.commissioning)])
        #expect(m.handle(.registered(version: 1, trigger: .commissioning, decision: .promoted, trainFrom: 0)) == [.score(version: 1)])
        #expect(m.phase == .active(version: 1) && !m.needsCommissioningRows)
        #expect(m.handle(.tick(completeRows: 0, fleetReference: false)) == [.score(version: 1)])
    }

    @Test func aTypedMachineIsScoredFromItsFleetReferenceUntilItHasItsOwnRows() {
        var m = L(phase: .commissioning, rules: Self.rules)
        #expect(m.handle(.tick(completeRows: 5, fleetReference: true)) == [.train(.fleetReference)])
        #expect(m.handle(.registered(version: 1, trigger: .fleetReference, decision: .promoted, trainFrom: 0)) == [.score(version: 1)])
        #expect(m.phase == .fleetReference(version: 1) && m.needsCommissioningRows)
        #expect(m.handle(.tick(completeRows: 30, fleetReference: true)) == [.score(version: 1)])
        // No retraining of a borrowed model: the machine's own commissioning comes first.
        #expect(m.handle(.scored(minutesSinceNewestModel: 500, drift: true)) == [])
        #expect(m.handle(.tick(completeRows: 60, fleetReference: true)) == [.train(.commissioning)])
        #expect(m.handle(.registered(version: 2, trigger: .commissioning, decision: .promoted, trainFrom: 0)) == [.score(version: 2)])
        #expect(m.phase == .active(version: 2))
    }

    @Test func aFailedTrainingKeepsScoringWithWhatThereIs() {
        var m = L(phase: .fleetReference(version: 1), rules: Self.rules)
        #expect(m.handle(.trainingFailed(.commissioning)) == [.score(version: 1)])
        var fresh = L(phase: .commissioning, rules: Self.rules)
        #expect(fresh.handle(.trainingFailed(.fleetReference)) == [.saveProgress])
        #expect(fresh.phase == .commissioning)
    }

    @Test func maintenanceReCommissionsTheReferenceOnceRowsAfterItExist() {
        var m = L(phase: .active(version: 1), commissionFrom: 0, newestModelFrom: 0, rules: Self.rules)
        #expect(m.handle(.maintenance(at: 10_000)) == [.recordMaintenance(at: 10_000)])
        #expect(m.recommissionDue && m.needsCommissioningRows)
        // Until then the old reference keeps scoring.
        #expect(m.handle(.tick(completeRows: 59, fleetReference: false)) == [.score(version: 1)])
        #expect(m.handle(.tick(completeRows: 60, fleetReference: false)) == [.train(.maintenance)])
        #expect(m.handle(.registered(version: 2, trigger: .maintenance, decision: .promoted, trainFrom: 10_000)) == [.score(version: 2)])
        #expect(!m.recommissionDue && m.phase == .active(version: 2))
        // A rollback to the version before the maintenance is not undone by re-commissioning.
        #expect(m.handle(.rollback(parent: .init(version: 1, trigger: .commissioning))) == [.activate(version: 1)])
        #expect(!m.recommissionDue)
        #expect(m.handle(.tick(completeRows: 500, fleetReference: false)) == [.score(version: 1)])
    }

    @Test func retrainingOnDriftOrScheduleGoesThroughTheGate() {
        var m = L(phase: .active(version: 1), newestModelFrom: 0, rules: Self.rules)
        #expect(m.handle(.scored(minutesSinceNewestModel: 30, drift: false)) == [])
        #expect(m.handle(.scored(minutesSinceNewestModel: 30, drift: true)) == [.train(.drift)])
        #expect(m.driftPending)
        // Rejected by the gate: the active version stays, the drift is settled.
        #expect(m.handle(.registered(version: 2, trigger: .drift, decision: .rejected, trainFrom: 100)) == [])
        #expect(m.phase == .active(version: 1) && !m.driftPending)
        #expect(m.handle(.scored(minutesSinceNewestModel: 120, drift: false)) == [.train(.schedule)])
        // Promoted: scoring continues with it from the next tick.
        #expect(m.handle(.registered(version: 3, trigger: .schedule, decision: .promoted, trainFrom: 200)) == [])
        #expect(m.phase == .active(version: 3))
        // A drift whose retraining fails is settled too (it is tried again on the next drift).
        _ = m.handle(.scored(minutesSinceNewestModel: 1, drift: true))
        #expect(m.handle(.trainingFailed(.drift)) == [] && !m.driftPending)
        // A schedule of 0 retrains only on drift.
        var driftOnly = L(phase: .active(version: 1), rules: .init(commissionMinutes: 60, retrainMinutes: 0))
        #expect(driftOnly.handle(.scored(minutesSinceNewestModel: 100_000, drift: false)) == [])
    }

    @Test func operatorsPromoteAndRollBackOnlyWhatExists() {
        var m = L(phase: .active(version: 3), rules: Self.rules)
        #expect(m.handle(.promote(version: 9, trigger: nil)) == [.refuse(.noSuchVersion(9))])
        #expect(m.phase == .active(version: 3))
        #expect(m.handle(.promote(version: 2, trigger: .drift)) == [.activate(version: 2)])
        #expect(m.phase == .active(version: 2))
        #expect(m.handle(.promote(version: 1, trigger: .fleetReference)) == [.activate(version: 1)])
        #expect(m.phase == .fleetReference(version: 1))
        #expect(m.handle(.rollback(parent: nil)) == [.refuse(.firstModel(1))])
        var none = L(phase: .commissioning, rules: Self.rules)
        #expect(none.handle(.rollback(parent: nil)) == [.refuse(.noActiveModel)])
        #expect(none.handle(.maintenance(at: 5)) == [.recordMaintenance(at: 5)] && none.commissionFrom == 5)
    }
}
