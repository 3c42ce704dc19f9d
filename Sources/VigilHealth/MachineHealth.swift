public import VigilCore

/// One machine's health as it is kept between rounds: its lifecycle, its active version's
/// scorers and its sensors' judge.
public struct MachineHealth: Sendable {
    public var lifecycle: MachineLifecycle
    public var scoring: MachineScorers?
    /// Its sensors' judge, once they were profiled (after its own commissioning).
    public var detector: SensorFaultDetector?
    /// The last `through` it was brought up to: until the next minute becomes final there is
    /// nothing to do, and no query is made.
    public var checkedThrough: Int64 = .min
    /// The sensor judge stopped short of `checkedThrough` (a backlog is judged, and so scored, in
    /// steps): the machine is to be worked on again at once.
    public var behind = false
    /// Loaded after a crash: the minutes scored after its saved states are being scored again
    /// from them (`MachineHealthRecord.stateThrough`); nil once it is past them.
    public var rescoring: Rescoring?

    /// Minutes scored again: up to `at` so far, of those through `until` (scored and saved before
    /// the crash: their history and status changes are not written twice).
    public struct Rescoring: Sendable, Equatable {
        public var at: Int64
        public let until: Int64
    }
}

/// The per-machine decision loop: each round it tells a machine's `MachineLifecycle` what it found
/// and carries out the actions it returns — commissioning (`commissionMinutes` complete minute
/// rows, or the fleet reference of its type meanwhile), judging the sensors' raw readings and then
/// scoring every final minute once and in order (health, status and contributors from the
/// reference with faulty sensors left out, the anomaly score from the anomaly model),
/// re-commissioning after maintenance, and retraining the anomaly model on drift or schedule
/// through the gate (`RetrainGate`) on a window without alarms or faulty sensors. Operators'
/// commands (promote, rollback, maintenance) go through the same lifecycle.
///
/// It reads and writes only through `Storage` and returns what is to be published and logged,
/// so the whole loop runs in unit tests on memory; the health service runs it on the store.
public struct HealthDecisions<Storage: HealthStorage> {
    public let storage: Storage
    public let settings: HealthSettings

    public init(storage: Storage, settings: HealthSettings) {
        self.storage = storage
        self.settings = settings
    }

    /// What a round of one machine leaves for the service to do.
    public struct Report: Sendable {
        public var publications: [Publication] = []
        public var notices: [Notice] = []
    }

    /// What is to be published (retained) after it was saved.
    public enum Publication: Sendable, Equatable {
        /// The machine's current health (`trainedAt`: when its active version was trained).
        case health(MachineHealthRecord, trainedAt: Int64)
        /// Sensors whose state changed, with their newest reading as the judge saw it.
        case sensors(machine: String, [SensorCondition])
    }

    /// What is worth a line in the log.
    public enum Notice: Sendable, Equatable {
        case modelRegistered(machine: String, version: Int, lineage: ModelLineage)
        /// No model could be trained; `routine`: too few rows, the usual state of a new machine.
        case noModel(machine: String, reason: String, routine: Bool)
        /// `withPeers`: sensors also judged against the same sensor on the site's other machines.
        case sensorsProfiled(machine: String, sensors: Int, judged: Int, withPeers: Int, readings: Int)
    }

    // MARK: rounds

    /// Brings `machine` up to the final minute `through`, from its kept state (`kept`, nil when
    /// there is none: it is loaded). Returns its new state and what to publish and log. Saved as
    /// it goes; on an error the kept state is to be left as it was.
    public func update(machine: String, kept: MachineHealth?, through: Int64, now: Int64) throws -> (MachineHealth, Report) {
        var report = Report()
        if let kept, kept.checkedThrough == through, !kept.behind { return (kept, report) }
        var record = try storage.machineHealth(machine) ?? MachineHealthRecord(machine: machine)
        var m = try kept ?? load(record)
        if let r = m.rescoring { record.scoredThrough = r.at }
        if m.scoring == nil, let version = m.lifecycle.phase.version {
            m.scoring = try loadScoring(version: version, record)
        }
        var rows = 0
        if m.lifecycle.needsCommissioningRows {
            rows = try commissioningFeatures(record, through: through).complete
            if m.lifecycle.phase == .commissioning { record.commissioningRows = rows }
        }
        var actions = m.lifecycle.handle(.tick(completeRows: rows, fleetReference: settings.type(of: machine) != nil))
        while !actions.isEmpty {
            if let event = try carryOut(actions.removeFirst(), &m, &record, through: through, now: now, &report) {
                actions += m.lifecycle.handle(event)
            }
        }
        m.checkedThrough = through
        return (m, report)
    }

    /// Saves a machine's states as they are in memory when minutes were scored since they were
    /// last saved (the service is stopping: the next start continues from them, nothing is
    /// scored again).
    public func checkpoint(machine: String, _ m: MachineHealth) throws {
        guard m.scoring != nil, var record = try storage.machineHealth(machine) else { return }
        if let r = m.rescoring { record.scoredThrough = r.at }
        guard record.stateThrough < record.scoredThrough else { return }
        try save(&record, m, state: true)
    }

    /// A machine as stored: its lifecycle and, when it has an active version, its scorers — as of
    /// its saved states, the minutes scored since to be scored again (`MachineHealth.rescoring`).
    public func load(_ stored: MachineHealthRecord) throws -> MachineHealth {
        var record = stored
        let rescoring = record.stateThrough < record.scoredThrough && record.scorerState != nil
            ? MachineHealth.Rescoring(at: record.stateThrough, until: record.scoredThrough) : nil
        if let rescoring { record.scoredThrough = rescoring.at }
        let active = try record.activeVersion.flatMap { try storage.model(machine: record.machine, version: $0)?.info }
        let scoring = try active.flatMap { try loadScoring(version: $0.version, record) }
        let lifecycle = MachineLifecycle(phase: .init(active: active), commissionFrom: record.commissionFrom,
                                         newestModelFrom: try storage.latestModelTrainFrom(machine: record.machine),
                                         driftPending: scoring?.state.driftPending ?? false, rules: settings.rules)
        return MachineHealth(lifecycle: lifecycle, scoring: scoring, rescoring: rescoring)
    }

    /// How many scored minutes (ms) may pass between two saves of a machine's states: at most
    /// this much is scored again after a crash.
    public static var stateEvery: Int64 { 30 * 60_000 }

    /// Saves the machine's record with `history`, `events` and `sensors`, and — with `state` — its
    /// scorer and sensor-judge states as they are in memory (`scoring`, `detector`), as of its
    /// scored minute. While minutes are scored again, the record keeps the newest scored minute.
    private func save(_ record: inout MachineHealthRecord, _ m: MachineHealth, scoring: MachineScorers? = nil,
                      history: [HealthHistoryRow] = [], events: [Event] = [], sensors: [SensorCondition]? = nil, state: Bool) throws {
        if state {
            if let t = scoring ?? m.scoring { record.scorerState = CanonicalJSON.encode(t.state) }
            if let d = m.detector { record.sensorDetector = CanonicalJSON.encode(d) }
            record.stateThrough = record.scoredThrough
        }
        var stored = record
        if let r = m.rescoring { stored.scoredThrough = max(stored.scoredThrough, r.until) }
        try storage.saveHealth(stored, history: history, events: events, sensors: sensors, state: state)
    }

    /// Carries out what the lifecycle asked for during a round; returns what came of it.
    private func carryOut(_ action: MachineLifecycle.Action, _ m: inout MachineHealth, _ record: inout MachineHealthRecord,
                          through: Int64, now: Int64, _ report: inout Report) throws -> MachineLifecycle.Event? {
        switch action {
        case .saveProgress:
            try save(&record, m, state: true)
            return nil
        case .train(let trigger):
            let trained: (scorers: MachineScorers, lineage: ModelLineage)?
            switch trigger {
            case .commissioning, .maintenance: trained = try commission(&record, trigger: trigger, through: through, now: now, &report)
            case .fleetReference: trained = try fleetReference(&record, through: through, now: now, &report)
            case .drift, .schedule:
                guard var scoring = m.scoring else { return .trainingFailed(trigger) }
                defer { m.scoring = scoring }
                return try retrain(&scoring, &record, m, trigger: trigger, now: now, &report)
            }
            guard let trained else { return .trainingFailed(trigger) }
            m.scoring = trained.scorers
            return .registered(version: trained.scorers.version, trigger: trigger, decision: .promoted, trainFrom: trained.lineage.trainFrom)
        case .score(let version):
            if m.scoring?.version != version { m.scoring = try loadScoring(version: version, record) }
            guard var scoring = m.scoring else { return nil }
            // The sensors are judged first; only minutes whose readings were all judged are scored
            // (a backlog is judged in steps).
            var through = through
            m.behind = false
            if let judged = try judgeSensors(&m, &record, scorable: through, now: now, &report) {
                let judgedMinute = (judged + 1).floorDiv(60_000) * 60_000 - 60_000  // the last minute wholly judged
                m.behind = judgedMinute < through
                through = min(through, judgedMinute)
            }
            let drift = try score(&scoring, &record, &m, through: through, now: now, &report)
            m.scoring = scoring
            guard let drift else { return nil }
            let newest = try storage.latestModelTrainTo(machine: record.machine) ?? record.scoredThrough
            return .scored(minutesSinceNewestModel: Int((record.scoredThrough - newest) / 60_000), drift: drift)
        case .activate, .recordMaintenance, .refuse:
            return nil  // answers to commands, carried out in `apply`
        }
    }

    // MARK: scoring

    /// Scores the final minutes not yet scored; nil when there were none, else whether the drift
    /// detector fired on the way. Saves what came of them — its states only with a change or
    /// every `stateEvery` — and reports it for publishing.
    private func score(_ t: inout MachineScorers, _ record: inout MachineHealthRecord, _ m: inout MachineHealth,
                       through: Int64, now: Int64, _ report: inout Report) throws -> Bool? {
        let features = try storage.minuteFeatures(machine: record.machine, sensors: t.model.reference.sensors, after: record.scoredThrough, through: through)
        guard let last = features.times.last else {
            if record.activeVersion != t.version {
                record.activeVersion = t.version
                try save(&record, m, scoring: t, state: true)
            }
            return nil
        }
        let peers = try peerMedians(m.detector, machine: record.machine, after: record.scoredThrough, through: last)
        let scored = t.score(times: features.times, rows: features.rows, completeness: features.completeness,
                             previous: record.status ?? .ok, peers: peers, detector: &m.detector, bands: settings.bands)
        // Scored again after a crash: what was saved before stays as it was said.
        let saved = m.rescoring?.until ?? .min
        let history = scored.minutes.filter { $0.ts > saved }.map {
            HealthHistoryRow(ts: $0.ts, health: $0.score.health, status: $0.score.status, confidence: $0.score.confidence,
                             modelVersion: t.version, anomaly: $0.anomaly)
        }
        var events = scored.statusChanges.filter { $0.ts > saved }.map {
            HealthEvents.statusChange(record.machine, at: $0.ts, from: $0.from, to: $0.to, version: t.version)
        }
        var conditions: [SensorCondition]?
        if let d = m.detector {
            events += scored.sensorChanges.map { HealthEvents.sensor(record.machine, $0) }
            if !scored.sensorChanges.isEmpty { conditions = d.conditions }
        }
        let newVersion = record.activeVersion != t.version
        record.activeVersion = t.version
        record.scoredThrough = last
        if let r = m.rescoring, last < r.until {
            // Still behind what was said: only a sensor's change is new (saved with the states).
            m.rescoring?.at = last
            if !events.isEmpty { try save(&record, m, scoring: t, events: events, sensors: conditions, state: true) }
            if let conditions, let d = m.detector { report.publications.append(Self.sensors(record.machine, conditions, d)) }
            return scored.drift
        }
        m.rescoring = nil
        if let s = scored.minutes.last?.score {
            record.health = s.health
            record.status = s.status
            record.confidence = s.confidence
            record.contributors = s.contributors
        }
        record.updatedAt = now
        // Every minute's row is saved; the states (most of the bytes) with what a restart must not
        // say again — an event, a sensor's state — or when the last save is `stateEvery` behind.
        let state = !events.isEmpty || newVersion || last - record.stateThrough >= Self.stateEvery
        try save(&record, m, scoring: t, history: history, events: events, sensors: conditions, state: state)
        if let conditions, let d = m.detector { report.publications.append(Self.sensors(record.machine, conditions, d)) }
        report.publications.append(.health(record, trainedAt: t.trainedAt))
        return scored.drift
    }

    /// Loads `version` and its scorers: the saved state when that version saved it, else warmed
    /// on the half hour before the next minute to score (after a promote or rollback).
    private func loadScoring(version: Int, _ record: MachineHealthRecord) throws -> MachineScorers? {
        guard let stored = try storage.model(machine: record.machine, version: version),
              let model = CanonicalJSON.decode(MachineModel.self, stored.body) else { return nil }
        if let text = record.scorerState, let state = CanonicalJSON.decode(MachineScorers.State.self, text),
           state.fits(model, version: version, activeVersion: record.activeVersion) {
            return MachineScorers(version: version, model: model, trainedAt: stored.info.createdAt, state: state)
        }
        let warm = try storage.minuteFeatures(machine: record.machine, sensors: model.reference.sensors,
                                              after: record.scoredThrough - 30 * 60_000, through: record.scoredThrough)
        return scorers(model, version: version, trainedAt: stored.info.createdAt, warmedOn: warm.rows)
    }

    private func scorers(_ model: MachineModel, version: Int, trainedAt: Int64, warmedOn rows: [[Double?]]) -> MachineScorers {
        MachineScorers(version: version, model: model, trainedAt: trainedAt, warmedOn: rows, bands: settings.bands, drift: settings.drift)
    }

    // MARK: models

    /// The minutes from the commissioning start, cut after the first `commissionMinutes` complete
    /// rows (as `vigil replay --commission-rows` does: a backlog that arrives at once must not
    /// teach the model its own later faults), and how many complete rows there are. A sensor's
    /// minute holding a reading beyond what its instrument can read is left out (the row is not
    /// complete): the reference must not learn an impossible value as normal.
    private func commissioningFeatures(_ record: MachineHealthRecord, through: Int64) throws -> (features: MinuteFeatures, complete: Int) {
        var features = try storage.minuteFeatures(machine: record.machine, sensors: nil, after: record.commissionFrom - 1, through: through)
        let impossible = try storage.impossibleMinutes(machine: record.machine, after: record.commissionFrom - 1, through: through)
        for (sensor, minutes) in impossible {
            guard let j = features.sensors.firstIndex(of: sensor) else { continue }
            for (i, t) in features.times.enumerated() where minutes.contains(t) { features.rows[i][j] = nil }
        }
        let (end, complete) = MachineLifecycle.commissioningCut(features.rows, minutes: settings.commissionMinutes)
        features.rows.removeSubrange(end...)
        features.times.removeSubrange(end...)
        return (features, complete)
    }

    /// Trains, registers and activates a health reference on the commissioning rows (a first
    /// model, one replacing a fleet reference, or one after maintenance); nil when training fails.
    private func commission(_ record: inout MachineHealthRecord, trigger: ModelTrigger, through: Int64, now: Int64, _ report: inout Report) throws
        -> (scorers: MachineScorers, lineage: ModelLineage)? {
        let (features, complete) = try commissioningFeatures(record, through: through)
        let parent = record.activeVersion
        guard let (version, trained) = try register(record.machine, &report, { () throws(ModelTraining.Failure) in
            try ModelTraining.commission(sensors: features.sensors, times: features.times, rows: features.rows, completeRows: complete,
                                         trigger: trigger, parent: parent, parameters: settings.parameters,
                                         minimumRows: settings.commissionMinutes, at: now)
        }) else { return nil }
        record.activeVersion = version
        record.commissioningRows = complete
        // A first model scores from the minute after its data; a re-commissioned one continues.
        if parent == nil { record.scoredThrough = max(record.scoredThrough, features.times.last!) }
        return (scorers(trained.model, version: version, trainedAt: now, warmedOn: features.rows), trained.lineage)
    }

    /// A model from the commissioning data of the other machines of this machine's type, so it
    /// is scored from its first minute; nil without a type or without enough such data.
    private func fleetReference(_ record: inout MachineHealthRecord, through: Int64, now: Int64, _ report: inout Report) throws
        -> (scorers: MachineScorers, lineage: ModelLineage)? {
        guard let type = settings.type(of: record.machine) else { return nil }
        let own = try storage.minuteFeatures(machine: record.machine, sensors: nil, after: record.commissionFrom - 1, through: through)
        guard let firstMinute = own.times.first, !own.sensors.isEmpty else { return nil }
        var times: [Int64] = [], rows: [[Double?]] = [], sources: [String] = []
        for other in storage.machines where other != record.machine && settings.type(of: other) == type {
            guard let version = try storage.machineHealth(other)?.activeVersion, let active = try storage.model(machine: other, version: version),
                  active.info.trigger != .fleetReference else { continue }
            let f = try storage.minuteFeatures(machine: other, sensors: own.sensors, after: active.info.trainFrom - 1, through: active.info.trainTo)
            times += f.times
            rows += f.rows
            sources.append(other)
        }
        guard let (version, trained) = try register(record.machine, &report, { () throws(ModelTraining.Failure) in
            try ModelTraining.fleetReference(type: type, sensors: own.sensors, times: times, rows: rows, sources: sources,
                                             parameters: settings.parameters, minimumRows: settings.commissionMinutes, at: now)
        }) else { return nil }
        record.activeVersion = version
        record.scoredThrough = firstMinute - 1  // from its very first minute
        return (scorers(trained.model, version: version, trainedAt: now, warmedOn: []), trained.lineage)
    }

    /// Trains a candidate anomaly model on the recent window's normal rows (never rows in alarm,
    /// nor a faulty sensor's) and registers it with the gate's decision (activated when promoted).
    private func retrain(_ t: inout MachineScorers, _ record: inout MachineHealthRecord, _ m: MachineHealth, trigger: ModelTrigger, now: Int64,
                         _ report: inout Report) throws -> MachineLifecycle.Event {
        t.state.driftPending = false
        let from = record.scoredThrough - Int64(settings.retrainWindowMinutes) * 60_000
        let features = try storage.minuteFeatures(machine: record.machine, sensors: t.model.anomaly.sensors, after: from, through: record.scoredThrough)
        let excluded = try storage.alarmMinutes(machine: record.machine, after: from, through: record.scoredThrough)
            .union(storage.sensorFaultMinutes(machine: record.machine, after: from, through: record.scoredThrough))
        let active = t
        guard let (version, candidate) = try register(record.machine, &report, { () throws(ModelTraining.Failure) in
            try ModelTraining.retrain(active: active.model, activeVersion: active.version, trigger: trigger, times: features.times,
                                      rows: features.rows, excluding: excluded, parameters: settings.parameters,
                                      minimumRows: max(30, settings.commissionMinutes / 2), at: now)
        }) else {
            try save(&record, m, scoring: t, state: true)
            return .trainingFailed(trigger)
        }
        if candidate.activate {
            t.promote(anomaly: candidate.model.anomaly, version: version, trainedAt: now, warmedOn: Array(features.rows.suffix(30)), bands: settings.bands)
            record.activeVersion = version
        }
        try save(&record, m, scoring: t, state: true)
        return .registered(version: version, trigger: trigger, decision: candidate.lineage.gateDecision, trainFrom: candidate.lineage.trainFrom)
    }

    /// Trains a version and registers it (activated when it is to be) with its event; nil (noted)
    /// when training fails.
    private func register(_ machine: String, _ report: inout Report, _ train: () throws(ModelTraining.Failure) -> ModelTraining.Version) throws
        -> (Int, ModelTraining.Version)? {
        let trained: ModelTraining.Version
        do { trained = try train() } catch {
            report.notices.append(.noModel(machine: machine, reason: "\(error)", routine: error.tooFewRows))
            return nil
        }
        let l = trained.lineage
        let version = try storage.registerModel(machine: machine, info: l, body: CanonicalJSON.encode(trained.model), activate: trained.activate,
                                                events: [HealthEvents.model(l, machine: machine)])
        report.notices.append(.modelRegistered(machine: machine, version: version, lineage: l))
        return (version, trained)
    }

    // MARK: sensors

    /// Feeds the machine's sensor judge its next step of readings (`SensorFaultDetector.nextStep`:
    /// at most `judgeStepMillis`, never past what is stored), profiling the sensors first if they
    /// are not yet; saves what changed. Returns how far the judge has seen, nil when the machine's
    /// sensors cannot be judged yet.
    private func judgeSensors(_ m: inout MachineHealth, _ record: inout MachineHealthRecord, scorable: Int64, now: Int64,
                              _ report: inout Report) throws -> Int64? {
        // Nil right after loading or profiling: the sensors' state is written once then.
        let before = m.detector?.conditions
        if m.detector == nil {
            m.detector = try record.sensorDetector.flatMap { CanonicalJSON.decode(SensorFaultDetector.self, $0) } ?? profileSensors(record, &report)
        }
        guard var d = m.detector else { return nil }
        // The instruments' declared ranges (config, device, operator), as they are now.
        // (`relearned`: the judge changed without a reading, so it is saved.)
        var relearned = d.declare(storage.sensorMetadata(machine: record.machine, sensors: d.sensors))
        // Peers whose minutes were not all in when it was profiled: again, until a day past.
        if let window = d.peerWindow {
            let had = d.peers
            try learnPeers(&d, machine: record.machine, window: window)
            if record.scoredThrough > window.to + 86_400_000 { d.peerWindow = nil }
            relearned = relearned || d.peers != had || d.peerWindow == nil
        }
        let upTo = d.nextStep(stored: scorable, now: now, stepMillis: settings.judgeStepMillis)
        let changes = d.judge(try storage.rawReadings(machine: record.machine, after: d.through, through: upTo), through: upTo)
        m.detector = d
        let after = d.conditions
        let changed = after.filter { before?.contains($0) != true }
        // Saved now only when something changed; otherwise with the scorer's states (every
        // `stateEvery`, at a stop): after a crash the stretch since is judged again from the readings.
        if !changes.isEmpty || !changed.isEmpty || relearned {
            try save(&record, m, events: changes.map { HealthEvents.sensor(record.machine, $0) }, sensors: changed.isEmpty ? nil : after, state: true)
            if !changed.isEmpty { report.publications.append(Self.sensors(record.machine, changed, d)) }
        }
        return max(d.through, upTo)
    }

    /// Learns the sensors' profiles from the machine's own commissioning readings
    /// (`MachineLifecycle.sensorProfileWindow`); nil while it has none (a fleet reference).
    private func profileSensors(_ record: MachineHealthRecord, _ report: inout Report) throws -> SensorFaultDetector? {
        guard let version = record.activeVersion, let active = try storage.model(machine: record.machine, version: version)?.info,
              let window = MachineLifecycle.sensorProfileWindow(active: active, scoredThrough: record.scoredThrough) else { return nil }
        let readings = try storage.rawReadings(machine: record.machine, after: window.from - 1, through: window.to - 1)
        guard !readings.isEmpty else { return nil }
        // Judged from the end of what it learned from.
        var d = SensorFaultDetector(commissioning: readings, judgedFrom: window.to - 1)
        try learnPeers(&d, machine: record.machine, window: .init(from: window.from, to: window.to))
        report.notices.append(.sensorsProfiled(machine: record.machine, sensors: d.sensors.count, judged: d.profiles.compactMap { $0 }.count,
                                               withPeers: d.peers?.compactMap { $0 }.count ?? 0, readings: readings.count))
        return d
    }

    /// Learns the sensors' relations to their peers — the same sensor on the site's other
    /// machines — from the commissioning `window`; while the peers' minutes of it are not all in
    /// (a backlog), the window is kept to learn from again.
    private func learnPeers(_ d: inout SensorFaultDetector, machine: String, window: SensorFaultDetector.PeerWindow) throws {
        let own = try storage.minuteFeatures(machine: machine, sensors: d.sensors, after: window.from - 1, through: window.to - 1)
        var minutes: [String: (own: [Double?], peers: [Double?])] = [:]
        for (j, name) in d.sensors.enumerated() {
            let others = try storage.peerMinutes(sensor: name, besides: machine, after: window.from - 1, through: window.to - 1)
            guard !others.isEmpty else { continue }
            minutes[name] = (own.rows.map { $0[j] }, own.times.map { others[$0].flatMap(PeerProfile.peersMedian) })
        }
        let covered = d.learnPeers(minutes) || storage.machines.count <= PeerProfile.minimumPeers
        d.peerWindow = covered ? nil : window
    }

    /// Per minute in `(after, through]`, the peers' median of each of the machine's sensors that
    /// has peers (`PeerProfile`), by name; empty when none has.
    private func peerMedians(_ detector: SensorFaultDetector?, machine: String, after: Int64, through: Int64) throws -> [Int64: [String: Double]] {
        guard let d = detector, let peers = d.peers else { return [:] }
        var out: [Int64: [String: Double]] = [:]
        for (name, profile) in zip(d.sensors, peers) where profile != nil {
            for (t, values) in try storage.peerMinutes(sensor: name, besides: machine, after: after, through: through) {
                if let median = PeerProfile.peersMedian(values) { out[t, default: [:]][name] = median }
            }
        }
        return out
    }

    /// Sensors' conditions with their newest reading as the judge saw it.
    static func sensors(_ machine: String, _ conditions: [SensorCondition], _ d: SensorFaultDetector) -> Publication {
        .sensors(machine: machine, conditions.map { c in
            var c = c
            c.lastSeen = d.index(of: c.sensor).flatMap { d.tracks[$0].lastSeen }
            return c
        })
    }

    // MARK: operators' commands

    public enum Command: Sendable, Equatable {
        case promote(version: Int)
        /// Back to the active version's parent.
        case rollback
        case maintenance(at: Int64, note: String)
    }

    public enum Applied: Sendable, Equatable {
        case active(version: Int)
        case maintenance(at: Int64, note: String)
    }

    /// Applies an operator's command to a machine (`kept`: its kept state, nil to load it) through
    /// its lifecycle; returns its new state (to be brought up to date at once) and what was done.
    /// Throws the lifecycle's refusal.
    public func apply(_ command: Command, machine: String, kept: MachineHealth?, now: Int64) throws -> (MachineHealth, Applied?) {
        let record = try storage.machineHealth(machine) ?? MachineHealthRecord(machine: machine)
        var m = try kept ?? load(record)
        let event: MachineLifecycle.Event
        switch command {
        case .promote(let version):
            event = .promote(version: version, trigger: try storage.model(machine: machine, version: version).map(\.info.trigger))
        case .rollback:
            let parent = try record.activeVersion.flatMap { try storage.model(machine: machine, version: $0) }?.info.parentVersion
            event = .rollback(parent: try parent.flatMap { p in
                try storage.model(machine: machine, version: p).map { .init(version: p, trigger: $0.info.trigger) }
            })
        case .maintenance(let at, _):
            event = .maintenance(at: at)
        }
        var applied: Applied?
        for action in m.lifecycle.handle(event) {
            switch action {
            case .activate(let version):
                _ = try storage.activateModel(machine: machine, version: version,
                                              events: [HealthEvents.activated(machine, version: version, rolledBack: command == .rollback, at: now)])
                // Loaded afresh (and its smoothing warmed) by the next update.
                m.scoring = nil
                applied = .active(version: version)
            case .recordMaintenance(let at):
                guard case .maintenance(_, let note) = command else { continue }
                try storage.recordMaintenance(machine: machine, at: at, note: note)
                applied = .maintenance(at: at, note: note)
            case .refuse(let refusal):
                throw refusal
            case .saveProgress, .train, .score:
                preconditionFailure("the lifecycle answers a command only with activate, recordMaintenance or refuse")
            }
        }
        m.checkedThrough = .min
        return (m, applied)
    }
}

extension HealthDecisions: Sendable where Storage: Sendable {}
