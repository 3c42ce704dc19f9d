/// How a model is trained and how its statistic maps to health. Versioned with the model, so a
/// rolled-back model scores exactly as it did.
public struct HealthParameters: Codable, Sendable, Equatable {
    /// Weight of the newest row in the slow per-sensor exponential smoothing of scaled inputs.
    /// Smoothing the inputs (not the statistic) averages sensor noise out before the quadratic
    /// form, so drift stands out of a much lower noise floor.
    public var smoothing: Double = 0.07
    /// Weight of the newest row in the fast smoothing: a sudden fault shows within a few rows
    /// instead of waiting for the slow average.
    public var fastSmoothing: Double = 0.5
    /// Extra shrinkage of the (already Ledoit–Wolf shrunk) covariance toward its scaled identity:
    /// a few hundred commissioning rows cannot pin down every correlation.
    public var extraShrinkage: Double = 0.6
    /// Health reaches the alarm edge (50) when the slow statistic is this many times the largest
    /// value seen on the (smoothed) commissioning rows.
    public var thresholdFactor: Double = 3.5
    /// The same for the fast statistic: its peaks are noisier, so its edge is nearer its peak.
    public var fastThresholdFactor: Double = 1.5
    /// The window, as a share of the commissioning rows, over which a sensor's long-run spread is
    /// measured (Bartlett-weighted autocovariances up to this lag). A sensor that wanders slowly
    /// (a temperature) is judged against how far it wanders, not against its row-to-row noise.
    public var spreadWindow: Double = 0.25
    /// The extra shrinkage of the sensor judge's relation (`HealthModel.Siblings`) toward
    /// independent sensors. Less than health's: sensors that follow one load are nearly
    /// collinear, and shrinking their correlations by health's 0.6 leaves each sensor's spread
    /// given its siblings at 83–95 % of its plain spread (on the simulator's machines: the
    /// siblings predict little, and a drift hides in the sensor's own swing); 0.45 leaves 72–90 %.
    /// Not much less: from 0.35 down, a failure that shows on one sensor first (a temperature
    /// rising over days, `aSensorDriftingFromItsSiblingsIsADriftAndSlowWearIsNot`) is taken for that
    /// sensor's drift (and at 0.15 the false drifts on the simulated fleet's wearing machines double).
    public var judgeShrinkage: Double = 0.45

    public init() {}

    public init(smoothing: Double, fastSmoothing: Double = 0.5, extraShrinkage: Double, thresholdFactor: Double,
                fastThresholdFactor: Double = 1.5, spreadWindow: Double = 0.25, judgeShrinkage: Double = 0.45) {
        self.smoothing = smoothing
        self.fastSmoothing = fastSmoothing
        self.extraShrinkage = extraShrinkage
        self.thresholdFactor = thresholdFactor
        self.fastThresholdFactor = fastThresholdFactor
        self.spreadWindow = spreadWindow
        self.judgeShrinkage = judgeShrinkage
    }

    /// Every parameter: its name (as lineage and `--parameters` spell it), where it lives and the
    /// values an assignment may give it.
    static var fields: [(name: String, path: WritableKeyPath<HealthParameters, Double>, range: ClosedRange<Double>)] {
        let unit: ClosedRange<Double> = 1e-6...1, positive: ClosedRange<Double> = 1e-6...1e6
        return [("smoothing", \.smoothing, unit), ("fastSmoothing", \.fastSmoothing, unit), ("extraShrinkage", \.extraShrinkage, 0...1),
                ("thresholdFactor", \.thresholdFactor, positive), ("fastThresholdFactor", \.fastThresholdFactor, positive),
                ("spreadWindow", \.spreadWindow, 0...0.99), ("judgeShrinkage", \.judgeShrinkage, 0...1)]
    }

    /// The parameters by name, as a model version's lineage lists them.
    public var dictionary: [String: Double] {
        Dictionary(uniqueKeysWithValues: Self.fields.map { ($0.name, self[keyPath: $0.path]) })
    }

    /// Parameters changed by `name=value` assignments separated by commas (`vigil replay
    /// --parameters smoothing=0.05,thresholdFactor=4`), the names as `dictionary` lists them.
    public init(assignments: String) throws(ParameterError) {
        self.init()
        for assignment in assignments.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = assignment.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
            guard parts.count == 2, let value = Double(parts[1]), value.isFinite else {
                throw ParameterError(description: "'\(assignment)': expected name=number")
            }
            guard let field = Self.fields.first(where: { $0.name == parts[0] }) else {
                throw ParameterError(description: "unknown parameter '\(parts[0])' (known: \(Self.fields.map(\.name).sorted().joined(separator: ", ")))")
            }
            guard field.range.contains(value) else {
                throw ParameterError(description: "\(parts[0]) must be in \(field.range.lowerBound)...\(field.range.upperBound), not \(parts[1])")
            }
            self[keyPath: field.path] = value
        }
    }

    public struct ParameterError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Models stored by `vigil-health-1` lack the fast horizon and the spread window; they decode
    /// as what they were (one horizon, no long-run spread) and score exactly as before; models
    /// stored before the judge's own shrinkage decode with health's, which their relation was made with.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        smoothing = try c.decode(Double.self, forKey: .smoothing)
        fastSmoothing = try c.decodeIfPresent(Double.self, forKey: .fastSmoothing) ?? smoothing
        extraShrinkage = try c.decode(Double.self, forKey: .extraShrinkage)
        thresholdFactor = try c.decode(Double.self, forKey: .thresholdFactor)
        fastThresholdFactor = try c.decodeIfPresent(Double.self, forKey: .fastThresholdFactor) ?? thresholdFactor
        spreadWindow = try c.decodeIfPresent(Double.self, forKey: .spreadWindow) ?? 0
        // Stored before the judge had its own: its relation was made with health's.
        judgeShrinkage = try c.decodeIfPresent(Double.self, forKey: .judgeShrinkage) ?? extraShrinkage
    }
}

/// A machine's statistical reference: robust per-sensor scaling, the mean and the precision
/// (inverse shrinkage covariance) of the scaled rows, and the calibration of the Mahalanobis
/// statistic T². Pure data: it scores identically wherever it is loaded.
public struct HealthModel: Codable, Sendable, Equatable {
    public static let codeVersion = "vigil-health-2"

    public var sensors: [String]
    public var center: [Double]
    /// Per-sensor spread in the sensor's own units; 0 for a sensor that was constant while
    /// commissioning (see `HealthScorer.flatDeviation`).
    public var scale: [Double]
    public var mean: [Double]
    /// Row-major `sensors.count²`.
    public var precision: [Double]
    /// Slow T² at which health is 50 (the alarm edge).
    public var threshold: Double
    /// Fast T² at which health is 50; nil for models stored before the fast horizon existed.
    public var fastThreshold: Double?
    public var parameters: HealthParameters
    public var trainingRows: Int
    /// The Ledoit–Wolf shrinkage intensity the data chose.
    public var shrinkage: Double
    /// The statistic a sensor is judged against its siblings with (drift); nil in models stored
    /// before it existed (the health statistic stands in).
    public var siblings: Siblings?

    /// The health statistic, made in each sensor's plain spread instead of its long-run one.
    /// Health widens a slowly wandering sensor's scale by its long-run spread, and with the
    /// extra shrinkage toward the identity in those units such a sensor counts for little — right
    /// for health (a temperature following its day is no anomaly), wrong for judging the sensor:
    /// an ambient probe drifting by its whole daily swing hardly moved the statistic. Same
    /// recipe otherwise (Ledoit–Wolf, calibrated on the same rows), with the judge's own, smaller
    /// extra shrinkage (`HealthParameters.judgeShrinkage`: what the siblings predict for a sensor
    /// is what a drift is measured against); `precision` is in the model's scaled units,
    /// `threshold` is its alarm edge.
    public struct Siblings: Codable, Sendable, Equatable {
        public var precision: [Double]
        public var threshold: Double
    }

    /// The model a sensor is judged against its siblings with: this one with the `Siblings`
    /// precision and alarm edge (itself for a model stored before they existed).
    var judge: HealthModel {
        guard let siblings else { return self }
        var m = self
        m.precision = siblings.precision
        m.threshold = siblings.threshold
        return m
    }

    public struct TrainingError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Trains on complete rows (cells may be nil; a row needs every sensor to count).
    public static func train(sensors: [String], rows: [[Double?]], parameters: HealthParameters = .init(),
                             minimumRows: Int = 30) throws(TrainingError) -> HealthModel {
        let p = sensors.count
        guard p > 0 else { throw TrainingError(description: "no sensors") }
        let complete: [[Double]] = rows.compactMap { r in
            guard r.count == p else { return nil }
            let v = r.compactMap { $0 }
            return v.count == p && v.allSatisfy(\.isFinite) ? v : nil
        }
        guard complete.count >= max(minimumRows, 2) else {
            throw TrainingError(description: "\(complete.count) complete rows; at least \(max(minimumRows, 2)) needed")
        }
        let n = complete.count
        // Robust scaling in each sensor's own units, so that health does not depend on them: the
        // largest of the robust spread, the plain spread and the resolution (a sensor that reads in
        // steps and sat on one step most of the time), widened by the sensor's long-run spread when
        // it wanders slowly. No floor relative to the level (that would depend on the zero point).
        let window = min(n - 1, Int((Double(n) * parameters.spreadWindow).rounded(.down)))
        var center = [Double](repeating: 0, count: p), scale = [Double](repeating: 0, count: p)
        for j in 0..<p {
            let col = complete.map { $0[j] }
            let med = median(col)
            let mad = 1.4826 * median(col.map { abs($0 - med) })
            center[j] = med
            // Flat: constant up to rounding (a minute mean of a constant reading can differ from
            // it in its last bits, which must not become a spread of 1e-14).
            let lo = col.min()!, hi = col.max()!
            guard hi - lo > 1e-9 * max(abs(lo), abs(hi)) else { continue }
            let (variance, longRun) = longRunVariance(col, window: window)
            let spread = max(mad, variance.squareRoot(), resolution(col))
            scale[j] = spread * max(1, longRun / max(variance, .leastNonzeroMagnitude)).squareRoot()
        }
        let z = complete.map { r in (0..<p).map { scale[$0] > 0 ? (r[$0] - center[$0]) / scale[$0] : 0 } } // flat: 0
        var mean = [Double](repeating: 0, count: p)
        for r in z { for j in 0..<p { mean[j] += r[j] } }
        for j in 0..<p { mean[j] /= Double(n) }
        let (cov, shrinkage) = ledoitWolf(z, mean: mean)
        let mu = (0..<p).reduce(0.0) { $0 + cov[$1 * p + $1] } / Double(p)
        var target = cov
        for i in 0..<p {
            for j in 0..<p {
                target[i * p + j] = (1 - parameters.extraShrinkage) * cov[i * p + j] + (i == j ? parameters.extraShrinkage * mu : 0)
            }
        }
        guard let precision = LinearAlgebra.inverseSPD(target, n: p) else {
            throw TrainingError(description: "the covariance is singular (all sensors constant?)")
        }
        var model = HealthModel(sensors: sensors, center: center, scale: scale, mean: mean, precision: precision,
                                threshold: 1, fastThreshold: 1, parameters: parameters, trainingRows: n, shrinkage: shrinkage)
        let peak = model.peakStatistics(on: rows)
        model.threshold = max(peak.slow, Double(p) * 1e-3) * parameters.thresholdFactor
        model.fastThreshold = max(peak.fast, Double(p) * 1e-3) * parameters.fastThresholdFactor
        if let precision = siblingPrecision(z, mean: mean, shrinkage: parameters.judgeShrinkage) {
            model.siblings = Siblings(precision: precision, threshold: 1)
            let peak = model.judge.peakStatistics(on: rows)
            model.siblings?.threshold = max(peak.slow, Double(p) * 1e-3) * parameters.thresholdFactor
        }
        return model
    }

    /// The largest slow and fast statistics over `rows` smoothed exactly as scoring will smooth
    /// them. The first rows only start the smoothing (its memory is ≈ 1/smoothing rows): three
    /// memories of them are skipped when there are enough rows.
    private func peakStatistics(on rows: [[Double?]]) -> (slow: Double, fast: Double) {
        var state = HealthScorer(model: self)
        let usable = rows.filter { $0.count == sensors.count }
        let warmUp = usable.count > 60 ? min(usable.count / 4, Int((3 / max(parameters.smoothing, 0.01)).rounded(.up))) : 0
        var peak = (slow: 0.0, fast: 0.0)
        for (i, r) in usable.enumerated() {
            let t = state.statistics(r)
            if i >= warmUp { peak = (max(peak.slow, t.slow), max(peak.fast, t.fast)) }
        }
        return peak
    }

    /// `Siblings.precision` from the scaled rows `z`: the Ledoit–Wolf correlation (each sensor
    /// in its plain spread; a flat one unrelated), shrunk by `shrinkage` (`judgeShrinkage`) toward
    /// the identity, inverted and brought back to the scaled units (Σ = D R D, so Σ⁻¹ = D⁻¹ R⁻¹ D⁻¹).
    private static func siblingPrecision(_ z: [[Double]], mean: [Double], shrinkage: Double) -> [Double]? {
        let p = mean.count, n = Double(z.count)
        let sd = (0..<p).map { j in (z.reduce(0.0) { $0 + ($1[j] - mean[j]) * ($1[j] - mean[j]) } / n).squareRoot() }
        let unit = z.map { r in (0..<p).map { sd[$0] > 0 ? (r[$0] - mean[$0]) / sd[$0] : 0 } }
        var (r, _) = ledoitWolf(unit, mean: [Double](repeating: 0, count: p))
        for i in 0..<p {
            for k in 0..<p {
                r[i * p + k] = sd[i] == 0 || sd[k] == 0 ? (i == k ? 1 : 0) : (i == k ? r[i * p + k] : (1 - shrinkage) * r[i * p + k])
            }
        }
        guard var inverse = LinearAlgebra.inverseSPD(r, n: p) else { return nil }
        for i in 0..<p { for k in 0..<p { inverse[i * p + k] /= (sd[i] > 0 ? sd[i] : 1) * (sd[k] > 0 ? sd[k] : 1) } }
        return inverse
    }

    /// How far a sensor that was constant while commissioning counts as soon as it moves, in
    /// spreads: it has no spread of its own to measure the move in, and a sensor that never moved
    /// moving is news.
    public static let flatDeviation = 6.0

    /// `x` in spreads from the sensor's center (`flatDeviation` away for a flat sensor that moved;
    /// a move within rounding of its value — a minute mean of a constant — is no move).
    @inline(__always)
    func standardized(_ x: Double, sensor j: Int) -> Double {
        let d = x - center[j]
        if scale[j] > 0 { return d / scale[j] }
        return abs(d) <= 1e-9 * max(abs(x), abs(center[j])) ? 0 : (d > 0 ? Self.flatDeviation : -Self.flatDeviation)
    }

    /// The statistics over their alarm edges, the larger of the two (≥ 1 is an alarm).
    public func severity(slow: Double, fast: Double) -> Double {
        guard let fastThreshold else { return slow / threshold }
        return max(slow / threshold, fast / fastThreshold)
    }

    /// The smallest step between two distinct values of `xs` (0 when there are fewer than two):
    /// the resolution a stepped sensor reads in, in its own units.
    static func resolution(_ xs: [Double]) -> Double {
        let s = Set(xs).sorted()
        guard s.count > 1 else { return 0 }
        var step = Double.infinity
        for i in 1..<s.count { step = min(step, s[i] - s[i - 1]) }
        return step
    }

    /// The variance of `xs` and its long-run variance: Bartlett-weighted autocovariances up to lag
    /// `window` (Newey–West). For white noise both agree; for a slowly wandering sensor the
    /// long-run variance is much larger.
    static func longRunVariance(_ xs: [Double], window: Int) -> (variance: Double, longRun: Double) {
        let n = xs.count
        guard n > 1 else { return (0, 0) }
        let mean = xs.reduce(0, +) / Double(n)
        let d = xs.map { $0 - mean }
        func autocovariance(_ lag: Int) -> Double {
            var s = 0.0
            for i in lag..<n { s += d[i] * d[i - lag] }
            return s / Double(n)
        }
        let variance = autocovariance(0)
        var longRun = variance
        if window > 0 {
            for lag in 1...window { longRun += 2 * (1 - Double(lag) / Double(window + 1)) * autocovariance(lag) }
        }
        return (variance, longRun)
    }

    /// The Ledoit–Wolf (2004) shrinkage covariance toward `mu·I` and its intensity.
    static func ledoitWolf(_ z: [[Double]], mean: [Double]) -> ([Double], Double) {
        let n = z.count, p = mean.count
        var s = [Double](repeating: 0, count: p * p)
        for r in z {
            for i in 0..<p {
                let di = r[i] - mean[i]
                for j in 0...i { s[i * p + j] += di * (r[j] - mean[j]) }
            }
        }
        for i in 0..<p {
            for j in 0...i {
                s[i * p + j] /= Double(n)
                s[j * p + i] = s[i * p + j]
            }
        }
        let mu = (0..<p).reduce(0.0) { $0 + s[$1 * p + $1] } / Double(p)
        var d2 = 0.0
        for i in 0..<p { for j in 0..<p { let t = s[i * p + j] - (i == j ? mu : 0); d2 += t * t } }
        var b2 = 0.0
        for r in z {
            for i in 0..<p {
                let di = r[i] - mean[i]
                for j in 0..<p {
                    let t = di * (r[j] - mean[j]) - s[i * p + j]
                    b2 += t * t
                }
            }
        }
        b2 = min(b2 / Double(n * n), d2)
        let shrink = d2 > 0 ? b2 / d2 : 1
        var out = s
        for i in 0..<p { for j in 0..<p { out[i * p + j] = (1 - shrink) * s[i * p + j] + (i == j ? shrink * mu : 0) } }
        return (out, shrink)
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
