public import Logging
public import ServiceLifecycle
public import VigilStore
public import VigilHealth
public import VigilMQTT
import Dispatch
import Foundation
import Synchronization
import VigilCore
import VigilRollup

/// Scores every machine from its minute rollups, on its own thread, and retrains.
///
/// Each tick (every `interval`), per machine:
/// - **Commissioning.** A machine without a model (or with a maintenance event newer than every
///   model's data) collects complete minute rows; at `commissionMinutes` a model is trained on
///   exactly those rows, registered with its lineage and activated. It is both the health
///   reference and the first anomaly model.
/// - **Scoring.** Every minute whose rollups are final and not yet scored is scored in time order
///   (causal): health, status and contributors from the reference, the anomaly score from the
///   anomaly model. History, current health and the scorers' state are saved in one
///   transaction, so a restart continues exactly where it stopped; each update is published
///   retained on `vigil-out/health/<machine>`.
/// - **Retraining.** A Page–Hinkley detector watches the anomaly statistic of rows not in
///   alarm. When it fires, or `retrainMinutes` of data after the newest model, a candidate
///   anomaly model is trained on the recent window's non-alarm rows and must pass the gate
///   (`RetrainGate`) on held-out recent rows against the active one. Every candidate is
///   registered with its decision; a promoted one becomes a new active version that keeps the
///   parent's reference unchanged, so retraining never erases wear from health.
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
        public init() {}

        func type(of machine: String) -> String? {
            machineTypes.first { $0.pattern.hasSuffix("*") ? machine.hasPrefix($0.pattern.dropLast()) : machine == $0.pattern }?.type
        }
    }

    let writer: StoreWriter
    let publisher: MQTTClient?
    let settings: Settings
    let logger: Logger
    private let cache = Mutex<[String: Tracker]>([:])
    /// Held while one machine is updated, and by `remove`, so a removal never interleaves with
    /// an update that would write the machine's health back.
    private let updating = Mutex<Void>(())
    private let stopping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    /// A machine's active version, its scorers and drift detector.
    struct Tracker: Sendable {
        var version: Int
        var model: MachineModel
        var trainedAt: Int64
        var state: TrackerState
        /// The last `through` this machine was brought up to: until the next minute becomes
        /// final there is nothing to do, and no query is made.
        var checkedThrough: Int64 = .min
        /// Scoring with its type's fleet reference until it has data enough of its own.
        var fromFleet = false
    }

    /// What carries over between minutes (persisted as the machine's scorer state).
    struct TrackerState: Codable, Sendable {
        var reference: HealthScorer.State
        var anomaly: HealthScorer.State
        var drift: PageHinkley
        var driftPending = false
    }

    public init(writer: StoreWriter, publisher: MQTTClient?, settings: Settings, logger: Logger) {
        self.writer = writer
        self.publisher = publisher
        self.settings = settings
        self.logger = logger
    }

    public func run() async throws {
        DispatchQueue(label: "vigil.health").async {
            while !self.stopping.load(ordering: .relaxed) {
                do { try self.tick(now: SystemClock.wallMillis()) } catch {
                    self.logger.error("health scoring failed; will retry", metadata: ["error": "\(error)"])
                }
                _ = self.wake.wait(timeout: .now() + .milliseconds(Int(self.settings.interval * 1000)))
            }
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

    /// Forget a machine's loaded model (after promote/rollback/maintenance) so the next tick
    /// loads the active one.
    public func reload(machine: String) {
        _ = cache.withLock { $0.removeValue(forKey: machine) }
        wake.signal()
    }

    /// Decommissions a machine: deletes what is stored under it (`StoreWriter.removeMachine`),
    /// forgets its scorer and clears its retained health topic (an empty retained message).
    func remove(machine: String) throws -> API.RemovedMachine? {
        try updating.withLock { _ in
            guard let removed = try writer.removeMachine(machine) else { return nil }
            _ = cache.withLock { $0.removeValue(forKey: machine) }
            _ = try? publisher?.publish(topic: Self.healthTopic(machine), payload: [], qos: 1, retain: true)
            return removed
        }
    }

    static func healthTopic(_ machine: String) -> String { "vigil-out/health/" + machine }

    /// One round over every machine. Public for tests, which drive time.
    public func tick(now: Int64) throws {
        let final = BucketWidth.minute.start(of: now - 60_000 - settings.finalAfterMillis)
        let pending = try writer.earliestPendingMinutes()
        for machine in writer.fleet.snapshot().map(\.id) {
            // A minute is scored once, so only when every sensor's rollup of it is in: never past
            // a minute still waiting for its rollup (a backlog or backfill reduces series by series).
            let through = pending[machine].map { min(final, $0 - 60_000) } ?? final
            do {
                try updating.withLock { _ in
                    guard writer.fleet.contains(machine) else { return }  // removed meanwhile
                    try update(machine: machine, through: through, now: now)
                }
            } catch {
                logger.error("health update failed", metadata: ["machine.id": "\(machine)", "error": "\(error)"])
            }
        }
    }

    private func update(machine: String, through: Int64, now: Int64) throws {
        if let cached = cache.withLock({ $0[machine] }), cached.checkedThrough == through { return }
        var record = try writer.machineHealth(machine) ?? MachineHealthRecord(machine: machine)
        var tracker = try cache.withLock { $0[machine] } ?? load(&record)
        // Commission when there is no model, or when a maintenance event is newer than every
        // model's data (an operator's rollback to an older version is not undone).
        let newestData = try writer.latestModelTrainFrom(machine: machine)
        if tracker == nil || tracker!.fromFleet || (record.commissionFrom > 0 && (newestData ?? .min) < record.commissionFrom) {
            if let fresh = try commission(&record, previous: tracker, through: through, now: now) {
                tracker = fresh
            } else if tracker == nil, let fleet = try fleetReference(&record, through: through, now: now) {
                tracker = fleet
            } else if tracker == nil {
                try writer.saveHealth(record, history: [])
                return
            }
        }
        guard var t = tracker else { return }
        try score(&t, &record, through: through, now: now)
        try retrainIfDue(&t, &record, now: now)
        t.checkedThrough = through
        cache.withLock { $0[machine] = t }
    }

    private func score(_ t: inout Tracker, _ record: inout MachineHealthRecord, through: Int64, now: Int64) throws {
        let features = try writer.minuteFeatures(machine: record.machine, sensors: t.model.reference.sensors, after: record.scoredThrough, through: through)
        guard !features.times.isEmpty else {
            if record.activeVersion != t.version {
                record.activeVersion = t.version
                try writer.saveHealth(record, history: [])
            }
            return
        }
        var reference = HealthScorer(model: t.model.reference, bands: settings.bands)
        reference.state = t.state.reference
        var anomaly = HealthScorer(model: t.model.anomaly, bands: settings.bands)
        anomaly.state = t.state.anomaly
        var history: [HealthHistoryRow] = []
        var last: HealthScore?
        for (i, (ts, row)) in zip(features.times, features.rows).enumerated() {
            var s = reference.score(row)
            let a = anomaly.score(row)
            // A minute whose numbered readings partly never arrived is scored on less than it seems.
            if i < features.completeness.count { s.confidence *= features.completeness[i] }
            history.append(HealthHistoryRow(ts: ts, health: s.health, status: s.status.rawValue, confidence: s.confidence,
                                            modelVersion: t.version, anomaly: a.anomalyScore))
            // Drift of recent normal behaviour: only rows that were not in alarm count.
            if s.status != .alarm, t.state.drift.add(a.severity) { t.state.driftPending = true }
            last = s
        }
        t.state.reference = reference.state
        t.state.anomaly = anomaly.state
        if let last {
            record.health = last.health
            record.status = last.status.rawValue
            record.confidence = last.confidence
            record.contributors = last.contributors.map { API.Health.Contributor(sensor: $0.sensor, share: $0.share) }
        }
        record.activeVersion = t.version
        record.scoredThrough = features.times.last!
        record.updatedAt = now
        record.scorerState = CanonicalJSON.encode(t.state)
        try writer.saveHealth(record, history: history)
        publish(record, trainedAt: t.trainedAt)
    }

    /// Loads the active version of a machine and its scorers' state.
    private func load(_ record: inout MachineHealthRecord) throws -> Tracker? {
        guard let version = record.activeVersion,
              let stored = try writer.model(machine: record.machine, version: version),
              let model = CanonicalJSON.decode(MachineModel.self, stored.body) else { return nil }
        if let text = record.scorerState, let state = CanonicalJSON.decode(TrackerState.self, text),
           state.reference.smoothed.count == model.reference.sensors.count, state.anomaly.smoothed.count == model.anomaly.sensors.count {
            return Tracker(version: version, model: model, trainedAt: stored.info.createdAt, state: state,
                           fromFleet: stored.info.trigger == "fleet-reference")
        }
        // Another version than the one that scored last (promote/rollback): warm its smoothing on
        // the half hour before the next minute to score.
        let warm = try writer.minuteFeatures(machine: record.machine, sensors: model.reference.sensors,
                                             after: record.scoredThrough - 30 * 60_000, through: record.scoredThrough)
        return Tracker(version: version, model: model, trainedAt: stored.info.createdAt, state: warmState(model, warm.rows),
                       fromFleet: stored.info.trigger == "fleet-reference")
    }

    private func warmState(_ model: MachineModel, _ rows: [[Double?]]) -> TrackerState {
        var reference = HealthScorer(model: model.reference, bands: settings.bands)
        var anomaly = HealthScorer(model: model.anomaly, bands: settings.bands)
        for r in rows {
            _ = reference.severity(r)
            _ = anomaly.severity(r)
        }
        return TrackerState(reference: reference.state, anomaly: anomaly.state, drift: settings.drift)
    }

    /// Trains and activates a model once enough complete minute rows exist after the
    /// commissioning start; otherwise records progress and returns nil.
    private func commission(_ record: inout MachineHealthRecord, previous: Tracker?, through: Int64, now: Int64) throws -> Tracker? {
        var features = try writer.minuteFeatures(machine: record.machine, sensors: nil, after: record.commissionFrom - 1, through: through)
        var complete = 0
        var end = 0
        // The first `commissionMinutes` complete rows, as `vigil replay --commission-rows` does:
        // a backlog that arrives at once must not teach the model its own later faults.
        while end < features.rows.count && complete < settings.commissionMinutes {
            if features.rows[end].allSatisfy({ $0 != nil }) { complete += 1 }
            end += 1
        }
        record.commissioningRows = complete
        guard complete >= settings.commissionMinutes, !features.sensors.isEmpty else { return nil }
        features.rows.removeSubrange(end...)
        features.times.removeSubrange(end...)
        let model: HealthModel
        do {
            model = try HealthModel.train(sensors: features.sensors, rows: features.rows, parameters: settings.parameters,
                                          minimumRows: settings.commissionMinutes)
        } catch {
            logger.warning("commissioning failed", metadata: ["machine.id": "\(record.machine)", "error": "\(error)"])
            return nil
        }
        let pair = MachineModel(reference: model, anomaly: model)
        let own = previous == nil || previous!.fromFleet
        let info = lineage(model, times: features.times, rows: features.rows, now: now,
                           trigger: own ? "commissioning" : "maintenance", parent: record.activeVersion,
                           metrics: ["completeRows": Double(complete)], decision: "promoted",
                           reason: previous == nil ? "first model of the machine (commissioning)"
                               : own ? "commissioned on its own data, replacing the fleet reference" : "health reference re-commissioned after maintenance")
        let version = try writer.registerModel(machine: record.machine, info: info, body: CanonicalJSON.encode(pair), activate: true)
        logger.notice("machine commissioned", metadata: ["machine.id": "\(record.machine)", "model.version": "\(version)", "model.rows": "\(model.trainingRows)"])
        record.activeVersion = version
        // A first model scores from the minute after its data; a re-commissioned one continues.
        if previous == nil { record.scoredThrough = max(record.scoredThrough, features.times.last!) }
        return Tracker(version: version, model: pair, trainedAt: now, state: warmState(pair, features.rows))
    }

    /// A model from the commissioning data of the other machines of this machine's type, so it
    /// is scored from its first minute; nil without a type or without enough such data.
    private func fleetReference(_ record: inout MachineHealthRecord, through: Int64, now: Int64) throws -> Tracker? {
        guard let type = settings.type(of: record.machine) else { return nil }
        let own = try writer.minuteFeatures(machine: record.machine, sensors: nil, after: record.commissionFrom - 1, through: through)
        guard let firstMinute = own.times.first, !own.sensors.isEmpty else { return nil }
        var times: [Int64] = [], rows: [[Double?]] = [], sources: [String] = []
        for other in writer.fleet.snapshot().map(\.id) where other != record.machine && settings.type(of: other) == type {
            guard let version = try writer.machineHealth(other)?.activeVersion, let active = try writer.model(machine: other, version: version),
                  active.info.trigger != "fleet-reference" else { continue }
            let f = try writer.minuteFeatures(machine: other, sensors: own.sensors, after: active.info.trainFrom - 1, through: active.info.trainTo)
            times += f.times
            rows += f.rows
            sources.append(other)
        }
        guard rows.filter({ $0.allSatisfy { $0 != nil } }).count >= settings.commissionMinutes else { return nil }
        let model: HealthModel
        do {
            model = try HealthModel.train(sensors: own.sensors, rows: rows, parameters: settings.parameters, minimumRows: settings.commissionMinutes)
        } catch {
            return nil
        }
        let pair = MachineModel(reference: model, anomaly: model)
        let info = lineage(model, times: times, rows: rows, now: now, trigger: "fleet-reference", parent: nil,
                           metrics: ["sourceMachines": Double(sources.count)], decision: "promoted",
                           reason: "fleet reference of type \(type) from the commissioning data of \(sources.joined(separator: ", "))")
        let version = try writer.registerModel(machine: record.machine, info: info, body: CanonicalJSON.encode(pair), activate: true)
        logger.notice("machine scored with its fleet reference", metadata: ["machine.id": "\(record.machine)", "machine.type": "\(type)", "model.version": "\(version)"])
        record.activeVersion = version
        record.scoredThrough = firstMinute - 1  // from its very first minute
        return Tracker(version: version, model: pair, trainedAt: now, state: warmState(pair, []), fromFleet: true)
    }

    /// Tries a retraining of the anomaly model when drift was detected or the schedule is due.
    private func retrainIfDue(_ t: inout Tracker, _ record: inout MachineHealthRecord, now: Int64) throws {
        let newest = try writer.latestModelTrainTo(machine: record.machine) ?? record.scoredThrough
        let scheduled = settings.retrainMinutes > 0 && record.scoredThrough - newest >= Int64(settings.retrainMinutes) * 60_000
        guard t.state.driftPending || scheduled else { return }
        let trigger = t.state.driftPending ? "drift" : "schedule"
        t.state.driftPending = false
        let from = record.scoredThrough - Int64(settings.retrainWindowMinutes) * 60_000
        let features = try writer.minuteFeatures(machine: record.machine, sensors: t.model.anomaly.sensors, after: from, through: record.scoredThrough)
        // Never learn from rows that were in alarm.
        let alarms = try writer.alarmMinutes(machine: record.machine, after: from, through: record.scoredThrough)
        let usable = zip(features.times, features.rows).filter { !alarms.contains($0.0) && $0.1.allSatisfy { $0 != nil } }
        let split = usable.count * 4 / 5
        let minimumRows = max(30, settings.commissionMinutes / 2)
        guard split >= minimumRows, usable.count - split >= 10 else {
            logger.info("retraining skipped: too few normal rows", metadata: ["machine.id": "\(record.machine)", "rows": "\(usable.count)"])
            record.scorerState = CanonicalJSON.encode(t.state)
            try writer.saveHealth(record, history: [])
            return
        }
        let train = Array(usable[..<split]), heldOut = usable[split...].map(\.1)
        let candidate: HealthModel
        do {
            candidate = try HealthModel.train(sensors: t.model.anomaly.sensors, rows: train.map(\.1), parameters: settings.parameters,
                                              minimumRows: minimumRows)
        } catch {
            logger.warning("retraining failed", metadata: ["machine.id": "\(record.machine)", "error": "\(error)"])
            return
        }
        let gate = RetrainGate.evaluate(active: t.model.anomaly, candidate: candidate, heldOut: heldOut)
        let pair = MachineModel(reference: t.model.reference, anomaly: candidate)
        let info = lineage(candidate, times: train.map(\.0), rows: train.map(\.1), now: now, trigger: trigger, parent: t.version,
                           metrics: gate.metrics, decision: gate.promote ? "promoted" : "rejected", reason: gate.reason)
        let version = try writer.registerModel(machine: record.machine, info: info, body: CanonicalJSON.encode(pair), activate: gate.promote)
        logger.notice("anomaly model retrained", metadata: ["machine.id": "\(record.machine)", "model.version": "\(version)",
                                                             "model.trigger": "\(trigger)", "gate": "\(info.gateDecision): \(gate.reason)"])
        if gate.promote {
            var anomaly = HealthScorer(model: candidate, bands: settings.bands)
            for r in features.rows.suffix(30) { _ = anomaly.severity(r) }
            t.version = version
            t.model = pair
            t.trainedAt = now
            t.state.anomaly = anomaly.state
            record.activeVersion = version
        }
        record.scorerState = CanonicalJSON.encode(t.state)
        try writer.saveHealth(record, history: [])
    }

    private func lineage(_ model: HealthModel, times: [Int64], rows: [[Double?]], now: Int64, trigger: String, parent: Int?,
                         metrics: [String: Double], decision: String, reason: String) -> API.ModelVersion {
        API.ModelVersion(
            version: 0, active: decision == "promoted", createdAt: now, trigger: trigger, parentVersion: parent,
            trainFrom: times.first ?? 0, trainTo: times.last ?? 0, rowCount: model.trainingRows,
            contentSha256: HealthModel.contentHash(sensors: model.sensors, times: times, rows: rows), sensors: model.sensors,
            parameters: model.parameters.dictionary,
            codeVersion: HealthModel.codeVersion,
            metrics: metrics.merging(["threshold": model.threshold, "fastThreshold": model.fastThreshold ?? model.threshold,
                                      "ledoitWolfShrinkage": model.shrinkage]) { a, _ in a },
            gateDecision: decision, gateReason: reason)
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
