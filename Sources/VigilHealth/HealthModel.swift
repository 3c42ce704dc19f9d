/// How a model is trained and how its statistic maps to health. Versioned with the model, so a
/// rolled-back model scores exactly as it did.
public struct HealthParameters: Codable, Sendable, Equatable {
    /// Weight of the newest row in the per-sensor exponential smoothing of scaled inputs.
    /// Smoothing the inputs (not the statistic) averages sensor noise out before the quadratic
    /// form, so drift stands out of a much lower noise floor.
    public var smoothing: Double = 0.3
    /// Extra shrinkage of the (already Ledoit–Wolf shrunk) covariance toward its scaled identity:
    /// a few hundred commissioning rows cannot pin down every correlation.
    public var extraShrinkage: Double = 0.5
    /// Health reaches the alarm edge (50) when the statistic is this many times the largest
    /// value seen on the (smoothed) commissioning rows.
    public var thresholdFactor: Double = 2.0

    public init() {}

    public init(smoothing: Double, extraShrinkage: Double, thresholdFactor: Double) {
        self.smoothing = smoothing
        self.extraShrinkage = extraShrinkage
        self.thresholdFactor = thresholdFactor
    }
}

/// A machine's statistical reference: robust per-sensor scaling, the mean and the precision
/// (inverse shrinkage covariance) of the scaled rows, and the calibration of the Mahalanobis
/// statistic T². Pure data: it scores identically wherever it is loaded.
public struct HealthModel: Codable, Sendable, Equatable {
    public static let codeVersion = "vigil-health-1"

    public var sensors: [String]
    public var center: [Double]
    public var scale: [Double]
    public var mean: [Double]
    /// Row-major `sensors.count²`.
    public var precision: [Double]
    /// T² at which health is 50 (the alarm edge).
    public var threshold: Double
    public var parameters: HealthParameters
    public var trainingRows: Int
    /// The Ledoit–Wolf shrinkage intensity the data chose.
    public var shrinkage: Double

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
        // Robust scaling with floors: a sensor that sat still while commissioning (a valve, a
        // setpoint) must not turn its first movement into an infinite score.
        var center = [Double](repeating: 0, count: p), scale = [Double](repeating: 1, count: p)
        for j in 0..<p {
            let col = complete.map { $0[j] }
            let med = median(col)
            let mad = 1.4826 * median(col.map { abs($0 - med) })
            let avg = col.reduce(0, +) / Double(n)
            let sd = (col.reduce(0) { $0 + ($1 - avg) * ($1 - avg) } / Double(n)).squareRoot()
            center[j] = med
            scale[j] = max(mad, sd, 0.01 * max(abs(med), 1e-3))
        }
        let z = complete.map { r in (0..<p).map { (r[$0] - center[$0]) / scale[$0] } }
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
                                threshold: 1, parameters: parameters, trainingRows: n, shrinkage: shrinkage)
        // Calibrate on the commissioning rows, smoothed exactly as scoring will smooth them.
        // The first rows only start the smoothing (its memory is ≈ 1/smoothing rows): skip three
        // memories of them when there are enough rows.
        var state = HealthScorer(model: model)
        let usable = rows.filter { $0.count == p }
        let warmUp = usable.count > 60 ? min(usable.count / 4, Int((3 / max(parameters.smoothing, 0.01)).rounded(.up))) : 0
        var peak = 0.0
        for (i, r) in usable.enumerated() {
            let t2 = state.statistic(r)
            if i >= warmUp { peak = max(peak, t2) }
        }
        model.threshold = max(peak, Double(p) * 1e-3) * parameters.thresholdFactor
        return model
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
