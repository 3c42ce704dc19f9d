public import VigilCore

/// A machine's active model version and its scorers: the health reference and the anomaly
/// model, each with its smoothing state, and the drift test on the anomaly statistic. Scores a
/// machine's final minutes in order with its sensors judged first — the decisions the health
/// service carries out, free of storage so they are tested and replayed without a database.
public struct MachineScorers: Sendable {
    public var version: Int
    public var model: MachineModel
    /// When the version was trained (published with the health).
    public var trainedAt: Int64
    public var state: State

    /// What carries over between minutes (persisted as the machine's scorer state).
    public struct State: Codable, Sendable {
        public var reference: HealthScorer.State
        public var anomaly: HealthScorer.State
        public var drift: PageHinkley
        public var driftPending = false
        /// The version whose scorers these are (absent in states saved before it was recorded).
        public var version: Int?

        /// Whether this state belongs to `version` of `model` (a state saved before versions were
        /// recorded belongs to the version that was active).
        public func fits(_ model: MachineModel, version: Int, activeVersion: Int?) -> Bool {
            (self.version == version || (self.version == nil && activeVersion == version))
                && reference.smoothed.count == model.reference.sensors.count && anomaly.smoothed.count == model.anomaly.sensors.count
        }
    }

    public init(version: Int, model: MachineModel, trainedAt: Int64, state: State) {
        self.version = version
        self.model = model
        self.trainedAt = trainedAt
        self.state = state
    }

    /// Fresh scorers for `model`, their smoothing warmed on `rows` (the minutes before the first
    /// one to score).
    public init(version: Int, model: MachineModel, trainedAt: Int64, warmedOn rows: [[Double?]], bands: HealthBands, drift: PageHinkley) {
        var reference = HealthScorer(model: model.reference, bands: bands)
        var anomaly = HealthScorer(model: model.anomaly, bands: bands)
        for r in rows {
            _ = reference.severity(r)
            _ = anomaly.severity(r)
        }
        self.init(version: version, model: model, trainedAt: trainedAt,
                  state: State(reference: reference.state, anomaly: anomaly.state, drift: drift, version: version))
    }

    /// Makes `anomaly` the active anomaly model as version `version`, warmed on `rows`.
    public mutating func promote(anomaly candidate: HealthModel, version: Int, trainedAt: Int64, warmedOn rows: [[Double?]], bands: HealthBands) {
        var anomaly = HealthScorer(model: candidate, bands: bands)
        for r in rows { _ = anomaly.severity(r) }
        self.version = version
        model = MachineModel(reference: model.reference, anomaly: candidate)
        self.trainedAt = trainedAt
        state.anomaly = anomaly.state
        state.version = version
    }

    /// One scored minute.
    public struct Minute: Sendable {
        public var ts: Int64
        public var score: HealthScore
        /// The anomaly model's score in [0, 1].
        public var anomaly: Double
    }

    /// What scoring a run of minutes found.
    public struct Scored: Sendable {
        public var minutes: [Minute] = []
        /// Status changes: the minute, the status before, and the minute's score.
        public var statusChanges: [(ts: Int64, from: HealthStatus, to: HealthScore)] = []
        public var sensorChanges: [SensorFaultDetector.Change] = []
        /// Whether the drift test on the anomaly statistic fired (a retraining is due).
        public var drift = false
    }

    /// Scores `rows` (the machine's minute features at `times`, in the reference's sensor order)
    /// in order from status `previous`: faulty sensors (judged by `detector`, when the sensors
    /// are judged) are left out of both scorers; a minute whose numbered readings partly never
    /// arrived (`completeness` < 1) is scored with less confidence; drift counts only minutes
    /// that were not in alarm. `peers`: per minute, the median of each sensor on the site's other
    /// machines (by name), for the sensors with peers (`SensorFaultDetector.notePeers`).
    public mutating func score(times: [Int64], rows: [[Double?]], completeness: [Double], previous: HealthStatus,
                               peers: [Int64: [String: Double]] = [:], detector: inout SensorFaultDetector?, bands: HealthBands) -> Scored {
        var reference = HealthScorer(model: model.reference, bands: bands)
        reference.state = state.reference
        var anomaly = HealthScorer(model: model.anomaly, bands: bands)
        anomaly.state = state.anomaly
        var out = Scored()
        var previous = previous
        for (i, (ts, row)) in zip(times, rows).enumerated() {
            var s: HealthScore
            if var d = detector {
                // The judge hears which sensor, if any, alone explains the minute (a drift candidate).
                let judged = JudgedScoring.score(&reference, row: row, from: ts, to: ts + 60_000, peers: peers[ts] ?? [:], detector: &d)
                s = judged.score
                out.sensorChanges += judged.changes
                detector = d
                anomaly.exclude(reference.excluded.compactMap { anomaly.model.sensors.firstIndex(of: reference.model.sensors[$0]) })
            } else {
                s = reference.score(row)
            }
            let a = anomaly.score(row)
            if i < completeness.count { s.confidence *= completeness[i] }
            out.minutes.append(Minute(ts: ts, score: s, anomaly: a.anomalyScore))
            if s.status != .alarm, state.drift.add(a.severity) { out.drift = true }
            if s.status != previous {
                out.statusChanges.append((ts, previous, s))
                previous = s.status
            }
        }
        state.reference = reference.state
        state.anomaly = anomaly.state
        if out.drift { state.driftPending = true }
        return out
    }
}
