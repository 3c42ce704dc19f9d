public import Logging
public import ServiceLifecycle
public import VigilStore
public import VigilHealth
public import VigilMQTT
import Dispatch
import Foundation
import Synchronization
public import VigilAPI
public import VigilCore
import VigilRollup

/// Scores every machine from its minute rollups, on its own thread, and retrains: the one writer
/// of every machine's health record, active version and maintenance state.
///
/// The rules live in `MachineLifecycle` (VigilHealth, pure): each tick, per machine, the
/// service tells the lifecycle what it found and carries out the actions it returns —
/// commissioning (`commissionMinutes` complete minute rows, or the fleet reference of its type
/// meanwhile), scoring every final minute once and in order (health, status and contributors from
/// the reference, the anomaly score from the anomaly model; history, current health and scorer
/// state in one transaction, published retained on `vigil-out/health/<machine>`), re-commissioning
/// after maintenance, and retraining the anomaly model on drift or schedule through the gate
/// (`RetrainGate`). Operators' commands (promote, rollback, maintenance, remove) are queued to the
/// same thread (`perform`) and applied between machine updates, so a command is never overwritten
/// by an update that read the machine before it; the caller is answered once it is applied.
public final class HealthService: Service, Sendable {
    public struct Settings: Sendable {
        public var commissionMinutes = 1440
        public var bands = HealthBands()
        public var parameters = HealthParameters()
        /// A minute is final this long after it ended (the rollup flush delay plus a pass).
        public var finalAfterMillis: Int64 = 6_000
        public var interval: Double = 5
        /// Data minutes after the newest model's data at which a retraining is tried anyway
        /// (0 = only on drift).
        public var retrainMinutes = 1440
        /// Minutes of recent data a candidate learns from (its last fifth is held out).
        public var retrainWindowMinutes = 2880
        public var drift = PageHinkley()
        /// Machine types (`pattern=type`, pattern an id or `prefix*`): a new machine of a type is
        /// scored from its first minute with a fleet reference — the commissioning data of the
        /// other machines of its type — until it has `commissionMinutes` of its own.
        public var machineTypes: [(pattern: String, type: String)] = []
        /// A machine with no reading for this long is reported silent (`machine_silent`); 0 = never.
        public var silentAfterMillis: Int64 = 900_000
        /// The most data the sensor judge takes in one step (a backlog is judged in steps, and
        /// scoring waits for it). Short, so that in a backlog the judge runs at most this far ahead
        /// of the minutes being scored, as it does live (6 hours let it see a drift's future and
        /// found 10 of seed 7's 25 drifts instead of 18).
        public var judgeStepMillis: Int64 = 3_600_000
        public init() {}

        func type(of machine: String) -> String? {
            machineTypes.first { $0.pattern.hasSuffix("*") ? machine.hasPrefix($0.pattern.dropLast()) : machine == $0.pattern }?.type
        }

        var rules: MachineLifecycle.Rules { .init(commissionMinutes: commissionMinutes, retrainMinutes: retrainMinutes) }
    }

    /// What an operator asks of a machine's health.
    public enum Command: Sendable {
        case promote(version: Int)
        /// Back to the active version's parent.
        case rollback
        case maintenance(at: Int64, note: String)
        /// Decommission: delete what is stored under the machine and clear its retained topic.
        case remove
    }

    public enum Outcome: Sendable, Equatable {
        case active(version: Int)
        case maintenance(API.MaintenanceEvent)
        case removed(API.RemovedMachine)
    }

    public enum CommandError: Error, Sendable, Equatable {
        case noMachine
        case refused(MachineLifecycle.Refusal)
        /// The service is stopping; the command was not applied.
        case stopped
        /// Applying it failed (e.g. a storage error); nothing was changed.
        case failed(String)
    }

    /// The rest of the store: the fleet, what health reads (minute features, raw readings),
    /// events that are not a machine's health, and removing a machine.
    let writer: StoreWriter
    /// The health tables: only this service writes them.
    let registry: HealthRegistry
    let publisher: MQTTClient?
    let settings: Settings
    let logger: Logger
    /// Per machine, what is kept between ticks. Touched by the health thread only (a Mutex
    /// because the class is shared; it is never contended).
    private let machines = Mutex<[String: Machine]>([:])
    private let inbox = Mutex<[Queued]>([])
    /// Per machine, whether it was last reported silent (loaded from the event log on first use).
    private let presence = Mutex<[String: Bool]?>(nil)
    private let stopping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    struct Queued: Sendable {
        var machine: String
        var command: Command
        var reply: @Sendable (Result<Outcome, CommandError>) -> Void
    }

    /// A machine's lifecycle and, once it has one, its active version's scorers.
    struct Machine: Sendable {
        var lifecycle: MachineLifecycle
        var scoring: MachineScorers?
        /// Its sensors' judge, once they were profiled (after its own commissioning).
        var detector: SensorFaultDetector?
        /// The last `through` this machine was brought up to: until the next minute becomes
        /// final there is nothing to do, and no query is made.
        var checkedThrough: Int64 = .min
        /// Set when the sensor judge stopped short of `checkedThrough` (a backlog is judged, and
        /// so scored, in steps): the machine is worked on again at once.
        var behind = false
    }

    /// Machines offline by a death certificate (the Sparkplug host's), with the reason.
    let offline: @Sendable () -> [String: String]

    /// Takes the store's health registry: one health service per store.
    public init(writer: StoreWriter, publisher: MQTTClient?, settings: Settings, logger: Logger,
                offline: @escaping @Sendable () -> [String: String] = { [:] }) {
        self.offline = offline
        guard let registry = writer.healthRegistry() else {
            preconditionFailure("the store's health registry is already held by another health service")
        }
        self.writer = writer
        self.registry = registry
        self.publisher = publisher
        self.settings = settings
        self.logger = logger
    }

    public func run() async throws {
        DispatchQueue(label: "vigil.health").async {
            while !self.stopping.load(ordering: .relaxed) {
                var behind = false
                do { behind = try self.tick(now: SystemClock.wallMillis()) } catch {
                    self.logger.error("health scoring failed; will retry", metadata: ["error": "\(error)"])
                }
                self.applyCommands()
                // A backlog is worked through without pausing.
                if !behind { _ = self.wake.wait(timeout: .now() + .milliseconds(Int(self.settings.interval * 1000))) }
            }
            // Nobody will apply what is still queued.
            for q in self.inbox.withLock({ inbox in defer { inbox.removeAll() }; return inbox }) { q.reply(.failure(.stopped)) }
            self.done.signal()
        }
        try? await gracefulShutdown()
        stopping.store(true, ordering: .relaxed)
        wake.signal()
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.done.wait()
                cont.resume()
            }
        }
    }

    /// Hands `command` to the health thread and answers once it has been applied, in order with
    /// scoring (the thread applies commands between machine updates).
    public func perform(_ command: Command, machine: String) async throws(CommandError) -> Outcome {
        let result = await withCheckedContinuation { (cont: CheckedContinuation<Result<Outcome, CommandError>, Never>) in
            let queued = Queued(machine: machine, command: command, reply: { cont.resume(returning: $0) })
            let accepted = inbox.withLock { inbox in
                guard !stopping.load(ordering: .relaxed) else { return false }
                inbox.append(queued)
                return true
            }
            if accepted { wake.signal() } else { cont.resume(returning: .failure(.stopped)) }
        }
        return try result.get()
    }

    /// Applies the queued commands, oldest first. Called by the health thread only.
    func applyCommands() {
        while let q = inbox.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
            do {
                q.reply(.success(try apply(q.command, machine: q.machine)))
            } catch let error as CommandError {
                q.reply(.failure(error))
            } catch {
                logger.error("health command failed", metadata: ["machine.id": "\(q.machine)", "error": "\(error)"])
                q.reply(.failure(.failed("\(error)")))
            }
        }
    }

    /// Carries out one command on the calling thread: the health thread, or a test that drives the
    /// service itself (nothing else may call it while the service runs).
    func apply(_ command: Command, machine: String) throws -> Outcome {
        if case .remove = command {
            let sensors = writer.fleet.snapshot().first { $0.id == machine }?.sensors ?? []
            guard let removed = try writer.removeMachine(machine) else { throw CommandError.noMachine }
            for sensor in sensors { _ = try? publisher?.publish(topic: Self.sensorTopic(machine, sensor), payload: [], qos: 1, retain: true) }
            _ = machines.withLock { $0.removeValue(forKey: machine) }
            _ = try? publisher?.publish(topic: Self.healthTopic(machine), payload: [], qos: 1, retain: true)
            return .removed(API.RemovedMachine(removed))
        }
        guard writer.fleet.contains(machine) else { throw CommandError.noMachine }
        var record = try registry.machineHealth(machine) ?? MachineHealthRecord(machine: machine)
        var m = try machines.withLock { $0[machine] } ?? load(&record)
        let event: MachineLifecycle.Event
        switch command {
        case .promote(let version):
            event = .promote(version: version, trigger: try registry.model(machine: machine, version: version).map(\.info.trigger))
        case .rollback:
            let parent = try record.activeVersion.flatMap { try registry.model(machine: machine, version: $0) }?.info.parentVersion
            event = .rollback(parent: try parent.flatMap { p in
                try registry.model(machine: machine, version: p).map { .init(version: p, trigger: $0.info.trigger) }
            })
        case .maintenance(let at, _):
            event = .maintenance(at: at)
        case .remove:
            preconditionFailure("handled above")
        }
        var outcome: Outcome?
        for action in m.lifecycle.handle(event) {
            switch action {
            case .activate(let version):
                let rolledBack: Bool
                if case .rollback = command { rolledBack = true } else { rolledBack = false }
                _ = try registry.activateModel(machine: machine, version: version,
                                               events: [HealthEvents.activated(machine, version: version, rolledBack: rolledBack, at: SystemClock.wallMillis())])
                // Loaded afresh (and its smoothing warmed) by the next update.
                m.scoring = nil
                outcome = .active(version: version)
            case .recordMaintenance(let at):
                guard case .maintenance(_, let note) = command else { continue }
                try registry.recordMaintenance(machine: machine, at: at, note: note)
                outcome = .maintenance(API.MaintenanceEvent(machine: machine, at: at, note: note))
            case .refuse(let refusal):
                throw CommandError.refused(refusal)
            default:
                logger.error("unexpected lifecycle action for a command", metadata: ["action": "\(action)"])
            }
        }
        m.checkedThrough = .min
        let applied = m
        machines.withLock { $0[machine] = applied }
        wake.signal()
        guard let outcome else { throw CommandError.failed("the lifecycle gave no answer to \(command)") }
        return outcome
    }

    static func healthTopic(_ machine: String) -> String { "vigil-out/health/" + machine }

    /// One round over every machine, with queued commands applied between machines; returns
    /// whether a machine has more to do at once (a backlog being judged in steps). Public for
    /// tests, which drive time.
    @discardableResult
    public func tick(now: Int64) throws -> Bool {
        let final = BucketWidth.minute.start(of: now - 60_000 - settings.finalAfterMillis)
        let pending = try writer.earliestPendingMinutes()
        try notePresence(now: now)
        var behind = false
        for machine in writer.fleet.snapshot().map(\.id) {
            applyCommands()
            // A minute is scored once, so only when every sensor's rollup of it is in: never past
            // a minute still waiting for its rollup (a backlog or backfill reduces series by series).
            let through = pending[machine].map { min(final, $0 - 60_000) } ?? final
            do {
                guard writer.fleet.contains(machine) else { continue }  // removed meanwhile
                behind = try update(machine: machine, through: through, now: now) || behind
            } catch {
                logger.error("health update failed", metadata: ["machine.id": "\(machine)", "error": "\(error)"])
            }
        }
        return behind
    }

    /// Brings a machine up to `through`; returns whether it stopped short (more to do at once).
    private func update(machine: String, through: Int64, now: Int64) throws -> Bool {
        if let cached = machines.withLock({ $0[machine] }), cached.checkedThrough == through, !cached.behind { return false }
        var record = try registry.machineHealth(machine) ?? MachineHealthRecord(machine: machine)
        var m = try machines.withLock { $0[machine] } ?? load(&record)
        if m.scoring == nil, let version = m.lifecycle.phase.version {
            m.scoring = try loadScoring(version: version, &record)
        }
        var rows = 0
        if m.lifecycle.needsCommissioningRows {
            rows = try commissioningFeatures(record, through: through).complete
            if m.lifecycle.phase == .commissioning { record.commissioningRows = rows }
        }
        var actions = m.lifecycle.handle(.tick(completeRows: rows, fleetReference: settings.type(of: machine) != nil))
        while !actions.isEmpty {
            let action = actions.removeFirst()
            if let event = try carryOut(action, &m, &record, through: through, now: now) {
                actions += m.lifecycle.handle(event)
            }
        }
        m.checkedThrough = through
        let updated = m
        machines.withLock { $0[machine] = updated }
        return m.behind
    }

    /// Carries out what the lifecycle asked for during a tick; returns what came of it.
    private func carryOut(_ action: MachineLifecycle.Action, _ m: inout Machine, _ record: inout MachineHealthRecord,
                          through: Int64, now: Int64) throws -> MachineLifecycle.Event? {
        switch action {
        case .saveProgress:
            try registry.saveHealth(record, history: [])
            return nil
        case .train(let trigger):
            let trained: (scorers: MachineScorers, lineage: ModelLineage)?
            switch trigger {
            case .commissioning, .maintenance: trained = try commission(&record, trigger: trigger, through: through, now: now)
            case .fleetReference: trained = try fleetReference(&record, through: through, now: now)
            case .drift, .schedule:
                guard var scoring = m.scoring else { return .trainingFailed(trigger) }
                defer { m.scoring = scoring }
                return try retrain(&scoring, &record, trigger: trigger, now: now)
            }
            guard let trained else { return .trainingFailed(trigger) }
            m.scoring = trained.scorers
            return .registered(version: trained.scorers.version, trigger: trigger, decision: .promoted, trainFrom: trained.lineage.trainFrom)
        case .score(let version):
            if m.scoring?.version != version { m.scoring = try loadScoring(version: version, &record) }
            guard var scoring = m.scoring else { return nil }
            // The sensors are judged first; only minutes whose readings were all judged are scored
            // (a backlog is judged in steps).
            var through = through
            m.behind = false
            if let judged = try judgeSensors(&m, &record, scorable: through, now: now) {
                // The last minute whose readings were all judged.
                let judgedMinute = BucketWidth.minute.start(of: judged + 1) - 60_000
                m.behind = judgedMinute < through
                through = min(through, judgedMinute)
            }
            let drift = try score(&scoring, &record, detector: &m.detector, through: through, now: now)
            m.scoring = scoring
            guard let drift else { return nil }
            let newest = try registry.latestModelTrainTo(machine: record.machine) ?? record.scoredThrough
            return .scored(minutesSinceNewestModel: Int((record.scoredThrough - newest) / 60_000), drift: drift)
        case .activate, .recordMaintenance, .refuse:
            return nil  // answers to commands, applied in `apply`
        }
    }

    /// Scores the final minutes not yet scored; nil when there were none, else whether the drift
    /// detector fired on the way. Saves and publishes what came of them.
    private func score(_ t: inout MachineScorers, _ record: inout MachineHealthRecord, detector: inout SensorFaultDetector?,
                       through: Int64, now: Int64) throws -> Bool? {
        let features = try writer.minuteFeatures(machine: record.machine, sensors: t.model.reference.sensors, after: record.scoredThrough, through: through)
        guard !features.times.isEmpty else {
            if record.activeVersion != t.version {
                record.activeVersion = t.version
                try registry.saveHealth(record, history: [])
            }
            return nil
        }
        let scored = t.score(times: features.times, rows: features.rows, completeness: features.completeness,
                             previous: record.status ?? .ok, detector: &detector, bands: settings.bands)
        let history = scored.minutes.map {
            HealthHistoryRow(ts: $0.ts, health: $0.score.health, status: $0.score.status, confidence: $0.score.confidence,
                             modelVersion: t.version, anomaly: $0.anomaly)
        }
        var events = scored.statusChanges.map { HealthEvents.statusChange(record.machine, at: $0.ts, from: $0.from, to: $0.to, version: t.version) }
        if let last = scored.minutes.last?.score {
            record.health = last.health
            record.status = last.status
            record.confidence = last.confidence
            record.contributors = last.contributors
        }
        record.activeVersion = t.version
        record.scoredThrough = features.times.last!
        record.updatedAt = now
        record.scorerState = CanonicalJSON.encode(t.state)
        var conditions: [SensorCondition]?
        if let d = detector {
            events += scored.sensorChanges.map { HealthEvents.sensor(record.machine, $0) }
            record.sensorDetector = CanonicalJSON.encode(d)
            if !scored.sensorChanges.isEmpty { conditions = d.conditions }
        }
        try registry.saveHealth(record, history: history, events: events, sensors: conditions)
        if let conditions, let d = detector { publishSensors(record.machine, conditions, d) }
        publish(record, trainedAt: t.trainedAt)
        return scored.drift
    }

    /// A machine as stored: its lifecycle and, when it has an active version, its scorers.
    private func load(_ record: inout MachineHealthRecord) throws -> Machine {
        let active = try record.activeVersion.flatMap { try registry.model(machine: record.machine, version: $0)?.info }
        let scoring = try active.flatMap { try loadScoring(version: $0.version, &record) }
        let lifecycle = MachineLifecycle(phase: .init(active: active), commissionFrom: record.commissionFrom,
                                         newestModelFrom: try registry.latestModelTrainFrom(machine: record.machine),
                                         driftPending: scoring?.state.driftPending ?? false, rules: settings.rules)
        return Machine(lifecycle: lifecycle, scoring: scoring)
    }

    /// Loads `version` and its scorers: the saved state when that version saved it, else warmed
    /// on the half hour before the next minute to score (after a promote or rollback).
    private func loadScoring(version: Int, _ record: inout MachineHealthRecord) throws -> MachineScorers? {
        guard let stored = try registry.model(machine: record.machine, version: version),
              let model = CanonicalJSON.decode(MachineModel.self, stored.body) else { return nil }
        if let text = record.scorerState, let state = CanonicalJSON.decode(MachineScorers.State.self, text),
           state.fits(model, version: version, activeVersion: record.activeVersion) {
            return MachineScorers(version: version, model: model, trainedAt: stored.info.createdAt, state: state)
        }
        let warm = try writer.minuteFeatures(machine: record.machine, sensors: model.reference.sensors,
                                             after: record.scoredThrough - 30 * 60_000, through: record.scoredThrough)
        return scorers(model, version: version, trainedAt: stored.info.createdAt, warmedOn: warm.rows)
    }

    private func scorers(_ model: MachineModel, version: Int, trainedAt: Int64, warmedOn rows: [[Double?]]) -> MachineScorers {
        MachineScorers(version: version, model: model, trainedAt: trainedAt, warmedOn: rows, bands: settings.bands, drift: settings.drift)
    }

    /// The minutes from the commissioning start, cut after the first `commissionMinutes` complete
    /// rows (as `vigil replay --commission-rows` does: a backlog that arrives at once must not
    /// teach the model its own later faults), and how many complete rows there are.
    private func commissioningFeatures(_ record: MachineHealthRecord, through: Int64) throws -> (features: MinuteFeatures, complete: Int) {
        var features = try writer.minuteFeatures(machine: record.machine, sensors: nil, after: record.commissionFrom - 1, through: through)
        let (end, complete) = MachineLifecycle.commissioningCut(features.rows, minutes: settings.commissionMinutes)
        features.rows.removeSubrange(end...)
        features.times.removeSubrange(end...)
        return (features, complete)
    }

    /// Trains, registers and activates a health reference on the commissioning rows (a first
    /// model, one replacing a fleet reference, or one after maintenance); nil when training fails.
    private func commission(_ record: inout MachineHealthRecord, trigger: ModelTrigger, through: Int64, now: Int64) throws
        -> (scorers: MachineScorers, lineage: ModelLineage)? {
        let (features, complete) = try commissioningFeatures(record, through: through)
        let parent = record.activeVersion
        guard let (version, trained) = try register(record.machine, { () throws(ModelTraining.Failure) in
            try ModelTraining.commission(sensors: features.sensors, times: features.times, rows: features.rows, completeRows: complete,
                                         trigger: trigger, parent: parent, parameters: settings.parameters,
                                         minimumRows: settings.commissionMinutes, at: SystemClock.wallMillis())
        }) else { return nil }
        record.activeVersion = version
        record.commissioningRows = complete
        // A first model scores from the minute after its data; a re-commissioned one continues.
        if parent == nil { record.scoredThrough = max(record.scoredThrough, features.times.last!) }
        return (scorers(trained.model, version: version, trainedAt: now, warmedOn: features.rows), trained.lineage)
    }

    /// A model from the commissioning data of the other machines of this machine's type, so it
    /// is scored from its first minute; nil without a type or without enough such data.
    private func fleetReference(_ record: inout MachineHealthRecord, through: Int64, now: Int64) throws
        -> (scorers: MachineScorers, lineage: ModelLineage)? {
        guard let type = settings.type(of: record.machine) else { return nil }
        let own = try writer.minuteFeatures(machine: record.machine, sensors: nil, after: record.commissionFrom - 1, through: through)
        guard let firstMinute = own.times.first, !own.sensors.isEmpty else { return nil }
        var times: [Int64] = [], rows: [[Double?]] = [], sources: [String] = []
        for other in writer.fleet.snapshot().map(\.id) where other != record.machine && settings.type(of: other) == type {
            guard let version = try registry.machineHealth(other)?.activeVersion, let active = try registry.model(machine: other, version: version),
                  active.info.trigger != .fleetReference else { continue }
            let f = try writer.minuteFeatures(machine: other, sensors: own.sensors, after: active.info.trainFrom - 1, through: active.info.trainTo)
            times += f.times
            rows += f.rows
            sources.append(other)
        }
        guard let (version, trained) = try register(record.machine, { () throws(ModelTraining.Failure) in
            try ModelTraining.fleetReference(type: type, sensors: own.sensors, times: times, rows: rows, sources: sources,
                                             parameters: settings.parameters, minimumRows: settings.commissionMinutes, at: SystemClock.wallMillis())
        }) else { return nil }
        record.activeVersion = version
        record.scoredThrough = firstMinute - 1  // from its very first minute
        return (scorers(trained.model, version: version, trainedAt: now, warmedOn: []), trained.lineage)
    }

    /// Trains a candidate anomaly model on the recent window's normal rows (never rows in alarm,
    /// nor a faulty sensor's) and registers it with the gate's decision (activated when promoted).
    private func retrain(_ t: inout MachineScorers, _ record: inout MachineHealthRecord, trigger: ModelTrigger, now: Int64) throws -> MachineLifecycle.Event {
        t.state.driftPending = false
        let from = record.scoredThrough - Int64(settings.retrainWindowMinutes) * 60_000
        let features = try writer.minuteFeatures(machine: record.machine, sensors: t.model.anomaly.sensors, after: from, through: record.scoredThrough)
        let excluded = try registry.alarmMinutes(machine: record.machine, after: from, through: record.scoredThrough)
            .union(registry.sensorFaultMinutes(machine: record.machine, after: from, through: record.scoredThrough))
        let active = t
        record.scorerState = CanonicalJSON.encode(t.state)
        guard let (version, candidate) = try register(record.machine, { () throws(ModelTraining.Failure) in
            try ModelTraining.retrain(active: active.model, activeVersion: active.version, trigger: trigger, times: features.times,
                                      rows: features.rows, excluding: excluded, parameters: settings.parameters,
                                      minimumRows: max(30, settings.commissionMinutes / 2), at: SystemClock.wallMillis())
        }) else {
            try registry.saveHealth(record, history: [])
            return .trainingFailed(trigger)
        }
        if candidate.activate {
            t.promote(anomaly: candidate.model.anomaly, version: version, trainedAt: now, warmedOn: Array(features.rows.suffix(30)), bands: settings.bands)
            record.activeVersion = version
            record.scorerState = CanonicalJSON.encode(t.state)
        }
        try registry.saveHealth(record, history: [])
        return .registered(version: version, trigger: trigger, decision: candidate.lineage.gateDecision, trainFrom: candidate.lineage.trainFrom)
    }

    /// Trains a version and registers it (activated when it is to be) with its event; nil (logged)
    /// when training fails.
    private func register(_ machine: String, _ train: () throws(ModelTraining.Failure) -> ModelTraining.Version) throws -> (Int, ModelTraining.Version)? {
        let trained: ModelTraining.Version
        do { trained = try train() } catch {
            // Too few rows is the usual state of a new machine (tried every tick): not a warning.
            logger.log(level: error.tooFewRows ? .debug : .warning, "no model trained", metadata: ["machine.id": "\(machine)", "reason": "\(error)"])
            return nil
        }
        let l = trained.lineage
        let version = try registry.registerModel(machine: machine, info: l, body: CanonicalJSON.encode(trained.model), activate: trained.activate,
                                                 events: [HealthEvents.model(l, machine: machine)])
        logger.notice("model registered", metadata: ["machine.id": "\(machine)", "model.version": "\(version)", "model.trigger": "\(l.trigger.rawValue)",
                                                     "model.rows": "\(l.rowCount)", "gate": "\(l.gateDecision.rawValue): \(l.gateReason)"])
        return (version, trained)
    }

    /// Feeds the machine's sensor judge its next step of readings (`SensorFaultDetector.nextStep`:
    /// at most `judgeStepMillis`, never past what is stored), profiling the sensors first if they
    /// are not yet; saves what changed. Returns how far the judge has seen, nil when the machine's
    /// sensors cannot be judged yet.
    private func judgeSensors(_ m: inout Machine, _ record: inout MachineHealthRecord, scorable: Int64, now: Int64) throws -> Int64? {
        // Nil right after loading or profiling: the sensors' state is written once then.
        let before = m.detector?.conditions
        if m.detector == nil {
            m.detector = try record.sensorDetector.flatMap { CanonicalJSON.decode(SensorFaultDetector.self, $0) } ?? profileSensors(record)
        }
        guard var d = m.detector else { return nil }
        // The instruments' declared ranges (config, device, operator), as they are now.
        let declared = d.declare(writer.sensorMetadata(machine: record.machine, sensors: d.sensors))
        let upTo = d.nextStep(stored: scorable, now: now, stepMillis: settings.judgeStepMillis)
        let changes = d.judge(try writer.rawReadings(machine: record.machine, after: d.through, through: upTo), through: upTo)
        m.detector = d
        let after = d.conditions
        let changed = after.filter { before?.contains($0) != true }
        // Saved now only when something changed; otherwise with the minutes it lets be scored (a
        // restart re-judges an unsaved stretch from the readings, to the same verdicts).
        if !changes.isEmpty || !changed.isEmpty || declared {
            record.sensorDetector = CanonicalJSON.encode(d)
            try registry.saveHealth(record, history: [], events: changes.map { HealthEvents.sensor(record.machine, $0) },
                                  sensors: changed.isEmpty ? nil : after)
            publishSensors(record.machine, changed, d)
        }
        return max(d.through, upTo)
    }

    /// Learns the sensors' profiles from the machine's own commissioning readings
    /// (`MachineLifecycle.sensorProfileWindow`); nil while it has none (a fleet reference).
    private func profileSensors(_ record: MachineHealthRecord) throws -> SensorFaultDetector? {
        guard let version = record.activeVersion, let active = try registry.model(machine: record.machine, version: version)?.info,
              let window = MachineLifecycle.sensorProfileWindow(active: active, scoredThrough: record.scoredThrough) else { return nil }
        let readings = try writer.rawReadings(machine: record.machine, after: window.from - 1, through: window.to - 1)
        guard !readings.isEmpty else { return nil }
        // Judged from the end of what it learned from.
        let d = SensorFaultDetector(commissioning: readings, judgedFrom: window.to - 1)
        logger.notice("sensors profiled", metadata: ["machine.id": "\(record.machine)", "sensors": "\(d.sensors.count)",
                                                     "judged": "\(d.profiles.compactMap { $0 }.count)", "readings": "\(readings.count)"])
        return d
    }

    static func sensorTopic(_ machine: String, _ sensor: String) -> String { "vigil-out/sensors/\(machine)/\(sensor)" }

    /// Retains the changed sensors' states, with their newest reading as the judge saw it.
    private func publishSensors(_ machine: String, _ conditions: [SensorCondition], _ d: SensorFaultDetector) {
        guard let publisher else { return }
        for var c in conditions {
            c.lastSeen = d.index(of: c.sensor).flatMap { d.tracks[$0].lastSeen }
            guard let data = try? JSONEncoder().encode(c) else { continue }
            _ = try? publisher.publish(topic: Self.sensorTopic(machine, c.sensor), payload: Array(data), qos: 1, retain: true)
        }
    }

    /// Something changed that the next tick should see now (a death certificate).
    public func nudge() { wake.signal() }

    /// Reports machines that went silent (no reading for `silentAfterMillis`) or came back.
    private func notePresence(now: Int64) throws {
        let offline = offline()
        guard settings.silentAfterMillis > 0 || !offline.isEmpty || presence.withLock({ $0?.values.contains(true) == true }) else { return }
        var known = try presence.withLock { $0 } ?? writer.silentMachines()
        try writer.appendEvents(HealthEvents.presence(lastReceived: writer.fleet.snapshot().map { ($0.id, $0.lastReceived) }, offline: offline,
                                                      known: &known, now: now, silentAfter: settings.silentAfterMillis))
        let updated = known
        presence.withLock { $0 = updated }
    }

    private func publish(_ record: MachineHealthRecord, trainedAt: Int64) {
        guard let publisher else { return }
        let body = API.Health(machine: record.machine, health: record.health, status: record.status, confidence: record.confidence,
                              updatedAt: record.updatedAt, model: record.activeVersion.map { API.Health.ModelRef(version: $0, trainedAt: trainedAt) },
                              contributors: record.contributors)
        guard let data = try? JSONEncoder().encode(body) else { return }
        _ = try? publisher.publish(topic: Self.healthTopic(record.machine), payload: Array(data), qos: 1, retain: true)
    }
}
