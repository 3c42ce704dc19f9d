public import VigilCore

/// A machine's health lifecycle as a pure state machine: `handle(_:)` takes what happened and
/// returns the actions to carry out, in order. The health service carries them out (training,
/// scoring, storing) and feeds their outcomes back as events. No I/O here, so every rule —
/// when to commission, when a fleet reference is used, when maintenance re-commissions, when to
/// retrain, what an operator may promote or roll back — is tested without SQLite.
public struct MachineLifecycle: Sendable, Equatable {
    /// Where commissioning data ends: after the first `minutes` complete rows (as `vigil replay
    /// --commission-rows` does: a backlog that arrives at once must not teach the model its own
    /// later faults); the end index and the complete rows before it.
    public static func commissioningCut(_ rows: [[Double?]], minutes: Int) -> (end: Int, complete: Int) {
        var complete = 0, end = 0
        while end < rows.count && complete < minutes {
            if rows[end].allSatisfy({ $0 != nil }) { complete += 1 }
            end += 1
        }
        return (end, complete)
    }

    public enum Phase: Sendable, Equatable {
        /// No model yet: collecting the first complete minute rows.
        case commissioning
        /// Scored with its type's fleet reference until it has rows enough of its own.
        case fleetReference(version: Int)
        /// Scored with its own active version.
        case active(version: Int)

        public var version: Int? {
            switch self {
            case .commissioning: nil
            case .fleetReference(let v), .active(let v): v
            }
        }

        /// The phase of a machine whose active version is `active` (nil: none yet).
        public init(active: ModelLineage?) {
            guard let active else { self = .commissioning; return }
            self = active.trigger == .fleetReference ? .fleetReference(version: active.version) : .active(version: active.version)
        }
    }

    /// The readings a machine's sensors are profiled on (`from` ..< `to`, ms): the window its
    /// active health reference learned from when that was commissioned on its own data, else the
    /// day before its last scored minute; nil while it is scored with a fleet reference (it has no
    /// commissioning of its own yet).
    public static func sensorProfileWindow(active: ModelLineage, scoredThrough: Int64) -> (from: Int64, to: Int64)? {
        switch active.trigger {
        case .fleetReference: nil
        case .commissioning, .maintenance: (active.trainFrom, active.trainTo + 60_000)
        case .drift, .schedule: (scoredThrough - 86_400_000, scoredThrough + 60_000)
        }
    }

    public struct Rules: Sendable, Equatable {
        /// Complete minute rows a machine is commissioned on.
        public var commissionMinutes: Int
        /// Minutes of data after the newest model's data at which retraining is tried anyway
        /// (0 = only on drift).
        public var retrainMinutes: Int

        public init(commissionMinutes: Int = 1440, retrainMinutes: Int = 1440) {
            self.commissionMinutes = commissionMinutes
            self.retrainMinutes = retrainMinutes
        }
    }

    public private(set) var phase: Phase
    /// The first minute a (re)commissioning may learn from: 0, or the newest maintenance event.
    public private(set) var commissionFrom: Int64
    /// The newest `trainFrom` of any registered version: a maintenance event after it has not
    /// been re-commissioned yet (an operator's rollback to an older version does not re-open it).
    public private(set) var newestModelFrom: Int64?
    /// Drift was detected and a retraining is owed.
    public private(set) var driftPending: Bool
    public let rules: Rules

    public init(phase: Phase, commissionFrom: Int64 = 0, newestModelFrom: Int64? = nil, driftPending: Bool = false, rules: Rules) {
        self.phase = phase
        self.commissionFrom = commissionFrom
        self.newestModelFrom = newestModelFrom
        self.driftPending = driftPending
        self.rules = rules
    }

    /// A maintenance event newer than every model's data waits for its re-commissioning.
    public var recommissionDue: Bool {
        if case .active = phase { return commissionFrom > 0 && (newestModelFrom ?? .min) < commissionFrom }
        return false
    }

    /// Whether the service must count complete rows from `commissionFrom` before a tick.
    public var needsCommissioningRows: Bool {
        switch phase {
        case .commissioning, .fleetReference: true
        case .active: recommissionDue
        }
    }

    /// A registered version and why it exists.
    public struct VersionRef: Sendable, Equatable {
        public var version: Int
        public var trigger: ModelTrigger

        public init(version: Int, trigger: ModelTrigger) {
            self.version = version
            self.trigger = trigger
        }
    }

    public enum Event: Sendable, Equatable {
        /// New minutes may be final. `completeRows`: complete rows from `commissionFrom` (when
        /// `needsCommissioningRows`); `fleetReference`: whether the machine has a type whose
        /// other machines are commissioned.
        case tick(completeRows: Int, fleetReference: Bool)
        /// Scoring went up to a minute `minutesSinceNewestModel` after the newest model's data;
        /// `drift`: the drift detector fired on the way.
        case scored(minutesSinceNewestModel: Int, drift: Bool)
        /// A model was trained, judged and registered as `version`.
        case registered(version: Int, trigger: ModelTrigger, decision: GateDecision, trainFrom: Int64)
        /// Training could not produce a model (too few usable rows, a singular covariance).
        case trainingFailed(ModelTrigger)
        /// An operator asks for `version`; `trigger` is that version's, nil when there is none.
        case promote(version: Int, trigger: ModelTrigger?)
        /// An operator asks for the active version's parent (nil when it has none).
        case rollback(parent: VersionRef?)
        /// An operator recorded maintenance at `at`.
        case maintenance(at: Int64)
    }

    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case noSuchVersion(Int)
        case noActiveModel
        case firstModel(Int)

        public var description: String {
            switch self {
            case .noSuchVersion(let v): "no model version \(v)"
            case .noActiveModel: "no active model"
            case .firstModel(let v): "version \(v) is the machine's first model; nothing to roll back to"
            }
        }
    }

    public enum Action: Sendable, Equatable {
        /// Save the machine's record as it is (commissioning progress); nothing to score yet.
        case saveProgress
        /// Train a model for `trigger` (commissioning and maintenance: on the first
        /// `commissionMinutes` complete rows from `commissionFrom`; fleet reference: on the
        /// commissioning data of the machine's type; drift and schedule: a candidate anomaly model
        /// on recent normal rows, through the gate) and register it.
        case train(ModelTrigger)
        /// Score the final minutes not yet scored with `version`.
        case score(version: Int)
        /// Make `version` the active one and score with it from the next minute.
        case activate(version: Int)
        /// Store the maintenance event.
        case recordMaintenance(at: Int64)
        /// Answer the operator: the command could not be carried out.
        case refuse(Refusal)
    }

    public mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case let .tick(rows, fleet):
            switch phase {
            case .commissioning:
                if rows >= rules.commissionMinutes { return [.train(.commissioning)] }
                return fleet ? [.train(.fleetReference)] : [.saveProgress]
            case .fleetReference(let v):
                return rows >= rules.commissionMinutes ? [.train(.commissioning)] : [.score(version: v)]
            case .active(let v):
                return recommissionDue && rows >= rules.commissionMinutes ? [.train(.maintenance)] : [.score(version: v)]
            }

        case let .scored(minutes, drift):
            guard case .active = phase else { return [] }
            if drift { driftPending = true }
            if driftPending { return [.train(.drift)] }
            return rules.retrainMinutes > 0 && minutes >= rules.retrainMinutes ? [.train(.schedule)] : []

        case let .registered(version, trigger, decision, trainFrom):
            newestModelFrom = max(newestModelFrom ?? .min, trainFrom)
            if trigger.isRetraining { driftPending = false }
            guard decision == .promoted else { return [] }
            phase = trigger == .fleetReference ? .fleetReference(version: version) : .active(version: version)
            // A fresh reference scores what is final at once; a retrained one from the next tick.
            return trigger.isRetraining ? [] : [.score(version: version)]

        case let .trainingFailed(trigger):
            if trigger.isRetraining { driftPending = false }
            switch (trigger, phase) {
            case (.commissioning, .commissioning), (.fleetReference, .commissioning): return [.saveProgress]
            case (.commissioning, .fleetReference(let v)), (.maintenance, .active(let v)): return [.score(version: v)]
            default: return []
            }

        case let .promote(version, trigger):
            guard let trigger else { return [.refuse(.noSuchVersion(version))] }
            return [.activate(version: adopt(version, trigger))]

        case let .rollback(parent):
            guard let active = phase.version else { return [.refuse(.noActiveModel)] }
            guard let parent else { return [.refuse(.firstModel(active))] }
            return [.activate(version: adopt(parent.version, parent.trigger))]

        case let .maintenance(at):
            commissionFrom = at
            // Without a model yet, commissioning simply starts over from the event.
            return [.recordMaintenance(at: at)]
        }
    }

    private mutating func adopt(_ version: Int, _ trigger: ModelTrigger) -> Int {
        phase = trigger == .fleetReference ? .fleetReference(version: version) : .active(version: version)
        return version
    }
}
