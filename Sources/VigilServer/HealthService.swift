public import Logging
public import ServiceLifecycle
public import VigilStore
public import VigilHealth
import Dispatch
import Foundation
import Synchronization
import VigilCore
import VigilRollup
public import VigilMQTT

/// Scores every machine from its minute rollups, on its own thread.
///
/// Each tick (every `interval`), per machine: a machine without a model (or with a maintenance
/// event newer than its model's data) collects complete minute rows until it has
/// `commissionMinutes`, then a model is trained, registered with its lineage and activated. With
/// a model, every minute whose rollups are final and not yet scored is scored in time order
/// (causal), appended to the health history, and the machine's current health, the scorer's
/// smoothing state and hysteresis status are saved in one transaction, so a restart continues
/// exactly where it stopped. Each update is published retained on `vigil-out/health/<machine>`.
public final class HealthService: Service, Sendable {
    public struct Settings: Sendable {
        public var commissionMinutes = 60
        public var bands = HealthBands()
        public var parameters = HealthParameters()
        /// A minute is final this long after it ended (the rollup flush delay plus a pass).
        public var finalAfterMillis: Int64 = 6_000
        public var interval: Double = 5
        public init() {}
    }

    let writer: StoreWriter
    let publisher: MQTTClient?
    let settings: Settings
    let logger: Logger
    private let cache = Mutex<[String: Tracker]>([:])
    private let stopping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    /// A machine's loaded model and scorer.
    struct Tracker: Sendable {
        var version: Int
        var scorer: HealthScorer
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

    /// Forget a machine's loaded model (after promote/rollback) so the next tick loads the
    /// active one.
    public func reload(machine: String) {
        _ = cache.withLock { $0.removeValue(forKey: machine) }
        wake.signal()
    }

    /// One round over every machine. Public for tests, which drive time.
    public func tick(now: Int64) throws {
        let through = BucketWidth.minute.start(of: now - 60_000 - settings.finalAfterMillis)
        for machine in try writer.healthMachines() {
            do {
                try update(machine: machine, through: through, now: now)
            } catch {
                logger.error("health update failed", metadata: ["machine.id": "\(machine)", "error": "\(error)"])
            }
        }
    }

    private func update(machine: String, through: Int64, now: Int64) throws {
        var record = try writer.machineHealth(machine) ?? MachineHealthRecord(machine: machine)
        var tracker = try cache.withLock { $0[machine] } ?? load(&record)
        // Commission when there is no model, or when a maintenance event is newer than every
        // model's data (an operator's rollback to an older version is not undone).
        let newestData = try writer.latestModelTrainFrom(machine: machine)
        if tracker == nil || (record.commissionFrom > 0 && (newestData ?? .min) < record.commissionFrom) {
            if let fresh = try commission(&record, previous: tracker, through: through, now: now) {
                tracker = fresh
            } else if tracker == nil {
                try writer.saveHealth(record, history: [])
                return
            }
        }
        guard var t = tracker else { return }
        let features = try writer.minuteFeatures(machine: machine, sensors: t.scorer.model.sensors, after: record.scoredThrough, through: through)
        guard !features.times.isEmpty else {
            cache.withLock { $0[machine] = t }
            if record.activeVersion != t.version { record.activeVersion = t.version; try writer.saveHealth(record, history: []) }
            return
        }
        var history: [HealthHistoryRow] = []
        var last: HealthScore?
        for (ts, row) in zip(features.times, features.rows) {
            let s = t.scorer.score(row)
            history.append(HealthHistoryRow(ts: ts, health: s.health, status: s.status.rawValue, confidence: s.confidence,
                                            modelVersion: t.version, anomaly: s.anomalyScore))
            last = s
        }
        if let last {
            record.health = last.health
            record.status = last.status.rawValue
            record.confidence = last.confidence
            record.contributors = last.contributors.map { API.Health.Contributor(sensor: $0.sensor, share: $0.share) }
        }
        record.activeVersion = t.version
        record.scoredThrough = features.times.last!
        record.updatedAt = now
        record.scorerState = HealthJSON.encode(t.scorer.state)
        try writer.saveHealth(record, history: history)
        cache.withLock { $0[machine] = t }
        publish(record, trainedAt: nil)
    }

    /// Loads the active model of a machine and its scorer state.
    private func load(_ record: inout MachineHealthRecord) throws -> Tracker? {
        guard let version = record.activeVersion,
              let stored = try writer.models(machine: record.machine).first(where: { $0.info.version == version }),
              let model = HealthJSON.decode(HealthModel.self, stored.body) else { return nil }
        var scorer = HealthScorer(model: model, bands: settings.bands)
        if let text = record.scorerState, let state = HealthJSON.decode(HealthScorer.State.self, text), state.smoothed.count == model.sensors.count {
            scorer.state = state
        } else {
            // A different model than the one that scored last (promote/rollback): warm its
            // smoothing on the last half hour before the next minute to score.
            let warm = try writer.minuteFeatures(machine: record.machine, sensors: model.sensors,
                                                 after: record.scoredThrough - 30 * 60_000, through: record.scoredThrough)
            for r in warm.rows { _ = scorer.statistic(r) }
        }
        return Tracker(version: version, scorer: scorer)
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
        let info = API.ModelVersion(
            version: 0, active: true, createdAt: now, trigger: previous == nil ? "commissioning" : "maintenance",
            parentVersion: record.activeVersion, trainFrom: features.times.first!, trainTo: features.times.last!,
            rowCount: model.trainingRows, contentSha256: HealthModel.contentHash(sensors: features.sensors, times: features.times, rows: features.rows),
            sensors: model.sensors,
            parameters: ["smoothing": model.parameters.smoothing, "extraShrinkage": model.parameters.extraShrinkage,
                         "thresholdFactor": model.parameters.thresholdFactor],
            codeVersion: HealthModel.codeVersion,
            metrics: ["threshold": model.threshold, "ledoitWolfShrinkage": model.shrinkage, "completeRows": Double(complete)],
            gateDecision: "promoted",
            gateReason: previous == nil ? "first model of the machine (commissioning)" : "health reference re-commissioned after maintenance")
        let version = try writer.registerModel(machine: record.machine, info: info, body: HealthJSON.encode(model), activate: true)
        logger.notice("machine commissioned", metadata: ["machine.id": "\(record.machine)", "model.version": "\(version)", "model.rows": "\(model.trainingRows)"])
        var scorer = HealthScorer(model: model, bands: settings.bands)
        for r in features.rows { _ = scorer.statistic(r) }
        record.activeVersion = version
        // A first model scores from the minute after its data; a re-commissioned one continues.
        record.scoredThrough = max(record.scoredThrough, previous == nil ? features.times.last! : record.scoredThrough)
        record.scorerState = nil
        return Tracker(version: version, scorer: scorer)
    }

    private func publish(_ record: MachineHealthRecord, trainedAt: Int64?) {
        guard let publisher else { return }
        let body = API.Health(machine: record.machine, health: record.health, status: record.status, confidence: record.confidence,
                              updatedAt: record.updatedAt, model: record.activeVersion.map { API.Health.ModelRef(version: $0, trainedAt: trainedAt ?? 0) },
                              contributors: record.contributors)
        guard let data = try? JSONEncoder().encode(body) else { return }
        _ = try? publisher.publish(topic: "vigil-out/health/" + record.machine, payload: Array(data), qos: 1, retain: true)
    }
}

/// Canonical JSON for stored models and scorer states (sorted keys: the same value gives the
/// same bytes).
enum HealthJSON {
    static func encode<T: Encodable>(_ value: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return String(decoding: (try? e.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) -> T? {
        try? JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}
