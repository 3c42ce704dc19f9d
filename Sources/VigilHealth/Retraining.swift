/// What a machine is scored with: the **health reference** (the machine as commissioned; it
/// moves only on maintenance, so wear stays visible in health) and the **anomaly model** (recent
/// normal behaviour; retrained on drift or schedule, never on rows that were in alarm). A model
/// version in the registry is one of these pairs.
public struct MachineModel: Codable, Sendable, Equatable {
    public var reference: HealthModel
    public var anomaly: HealthModel

    public init(reference: HealthModel, anomaly: HealthModel) {
        self.reference = reference
        self.anomaly = anomaly
    }
}

/// Page–Hinkley test for an upward shift in the mean of a stream (here: the anomaly model's
/// statistic relative to its threshold, on rows that were not in alarm). Fires when the
/// cumulative excess over the running mean (less `delta`) rises `lambda` above its minimum.
public struct PageHinkley: Codable, Sendable, Equatable {
    public var delta: Double
    public var lambda: Double
    public private(set) var count = 0
    private var mean = 0.0
    private var cumulative = 0.0
    private var minimum = 0.0

    public init(delta: Double = 0.05, lambda: Double = 10) {
        self.delta = delta
        self.lambda = lambda
    }

    /// Adds a value; true when drift is detected (the detector then starts over).
    public mutating func add(_ x: Double) -> Bool {
        count += 1
        mean += (x - mean) / Double(count)
        cumulative += x - mean - delta
        minimum = min(minimum, cumulative)
        if cumulative - minimum > lambda {
            self = PageHinkley(delta: delta, lambda: lambda)
            return true
        }
        return false
    }
}

/// The evaluation gate for a retrained anomaly model: both the active and the candidate model
/// score the same held-out recent rows (normal rows the candidate did not train on), as they
/// are and with a shift injected into one sensor at a time (the same shift for both: the size
/// that would put the *active* model's statistic at `shiftEdges` times its alarm edge). The
/// candidate is promoted only if it raises no more false alarms on the normal rows and detects
/// the injected shifts at least as often (within `tolerance`).
public enum RetrainGate {
    /// The rows a candidate learns from and is judged on: complete minutes not in `excluding`
    /// (minutes in alarm, minutes with a faulty sensor), in time order, the first four fifths to
    /// train and the last fifth held out; nil with fewer than `minimumRows` to train or 10 to
    /// hold out.
    public static func window(times: [Int64], rows: [[Double?]], excluding: Set<Int64>, minimumRows: Int)
        -> (train: [(ts: Int64, row: [Double?])], heldOut: [[Double?]])? {
        let usable = zip(times, rows).filter { !excluding.contains($0.0) && $0.1.allSatisfy { $0 != nil } }
        let split = usable.count * 4 / 5
        guard split >= minimumRows, usable.count - split >= 10 else { return nil }
        return (usable[..<split].map { (ts: $0.0, row: $0.1) }, usable[split...].map(\.1))
    }

    public struct Decision: Sendable, Equatable {
        public var promote: Bool
        public var reason: String
        public var metrics: [String: Double]
    }

    /// How far past the active model's alarm edge an injected shift alone would take it.
    public static let shiftEdges = 2.0

    /// Per sensor, the shift (in the sensor's units) whose statistic alone is `shiftEdges` times
    /// the active model's alarm edge; 0 for a flat sensor (it has no spread to shift by).
    static func shifts(for model: HealthModel) -> [Double] {
        let p = model.sensors.count
        return (0..<p).map { j in
            let weight = model.precision[j * p + j]
            guard model.scale[j] > 0, weight > 0 else { return 0 }
            return model.scale[j] * (shiftEdges * model.threshold / weight).squareRoot()
        }
    }

    public static func evaluate(active: HealthModel, candidate: HealthModel, heldOut: [[Double?]], tolerance: Double = 0.02) -> Decision {
        let shifts = shifts(for: active)
        let a = rates(active, heldOut, shifts: shifts), c = rates(candidate, heldOut, shifts: shifts)
        let metrics = ["heldOutRows": Double(heldOut.count),
                       "activeFalseAlarmRate": a.falseAlarm, "candidateFalseAlarmRate": c.falseAlarm,
                       "activeDetectionRate": a.detection, "candidateDetectionRate": c.detection]
        if heldOut.count < 10 {
            return Decision(promote: false, reason: "only \(heldOut.count) held-out rows", metrics: metrics)
        }
        let fmt = { (x: Double) in Replay.fixed(x * 100, 1) + " %" }
        if c.falseAlarm > a.falseAlarm {
            return Decision(promote: false, reason: "more false alarms on held-out normal rows (\(fmt(c.falseAlarm)) vs \(fmt(a.falseAlarm)))", metrics: metrics)
        }
        if c.detection < a.detection - tolerance {
            return Decision(promote: false, reason: "detects fewer injected shifts (\(fmt(c.detection)) vs \(fmt(a.detection)))", metrics: metrics)
        }
        return Decision(promote: true, reason: "false alarms \(fmt(c.falseAlarm)) vs \(fmt(a.falseAlarm)), injected shifts detected \(fmt(c.detection)) vs \(fmt(a.detection))",
                        metrics: metrics)
    }

    /// False-alarm rate on the rows as they are; detection rate on the rows with each sensor in
    /// turn shifted up by `shifts[j]`, counted only where the unshifted row raised no alarm (a
    /// model that alarms on everything detects nothing).
    static func rates(_ model: HealthModel, _ rows: [[Double?]], shifts: [Double]) -> (falseAlarm: Double, detection: Double) {
        guard !rows.isEmpty else { return (0, 0) }
        let p = model.sensors.count
        func alarms(_ rows: [[Double?]]) -> [Bool] {
            var scorer = HealthScorer(model: model)
            return rows.map { scorer.severity($0) >= 1 }
        }
        let base = alarms(rows)
        let falseAlarm = Double(base.filter { $0 }.count) / Double(rows.count)
        var detected = 0, eligible = 0
        // A sensor that was flat for the active model has no spread to shift by: not counted.
        for j in 0..<p where shifts[j] > 0 {
            let shifted = alarms(rows.map { r -> [Double?] in
                var s = r
                s[j] = r[j].map { $0 + shifts[j] }
                return s
            })
            for (b, s) in zip(base, shifted) where !b {
                eligible += 1
                if s { detected += 1 }
            }
        }
        return (falseAlarm, eligible > 0 ? Double(detected) / Double(eligible) : 0)
    }
}
