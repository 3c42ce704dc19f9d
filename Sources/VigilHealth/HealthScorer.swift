public import VigilCore

/// Status bands on the health number (SPEC §5), with hysteresis: a worse band is entered as soon
/// as health falls into it; a better one only once health is `hysteresis` above its edge, so the
/// status does not flicker on a noisy edge. The alarm status agrees with the number: health at
/// or below `warning` is always `alarm`, and `alarm` always means health ≤ `warning + hysteresis`.
public struct HealthBands: Codable, Sendable, Equatable {
    public var ok: Double = 70
    public var watch: Double = 60
    public var warning: Double = 50
    public var hysteresis: Double = 5

    public init() {}

    public init(ok: Double, watch: Double, warning: Double, hysteresis: Double) {
        self.ok = ok
        self.watch = watch
        self.warning = warning
        self.hysteresis = hysteresis
    }

    public var isValid: Bool { ok > watch && watch > warning && warning > 0 && ok <= 100 && hysteresis >= 0 }

    func band(_ health: Double) -> HealthStatus {
        health >= ok ? .ok : health >= watch ? .watch : health > warning ? .warning : .alarm
    }

    /// The next status given the current one.
    public func status(health: Double, current: HealthStatus) -> HealthStatus {
        let b = band(health)
        if b >= current { return b }
        return min(current, band(health - hysteresis))
    }
}

public struct HealthScore: Sendable, Equatable {
    /// 100 = as healthy as the reference; 50 = the alarm edge.
    public var health: Double
    /// `1 − health/100`, in [0, 1].
    public var anomalyScore: Double
    public var status: HealthStatus
    /// 0…1: the share of sensors that reported recently, times how much commissioning data the
    /// model had.
    public var confidence: Double
    /// Sensors pushing the statistic up, largest share first (shares of its positive parts).
    public var contributors: [Contributor]
    /// The Mahalanobis statistic over its alarm edge, on the horizon where it is larger
    /// (`health = 100 · 2^−severity`; 1 = the alarm edge).
    public var severity: Double
}

/// Scores a machine's rows causally. Each row updates two exponential smoothings of the scaled
/// values — a slow one (drift and wear stand out of the averaged noise) and a fast one (a sudden
/// fault shows within a few rows) — and health follows whichever Mahalanobis statistic is further
/// past its own alarm edge. A silent sensor keeps its last smoothed values (silence never reads as
/// a return to normal) and lowers confidence.
public struct HealthScorer: Sendable {
    public let model: HealthModel
    public var bands: HealthBands
    /// Rows without a value after which a sensor counts as silent.
    public var staleRows: Int
    /// Commissioning rows at which confidence reaches 1 (a day of minute rows by default).
    public var fullConfidenceRows: Int
    private(set) public var status: HealthStatus = .ok
    private var smoothed: [Double]
    private var fast: [Double]
    private var silentFor: [Int]
    /// Scratch for the quadratic form.
    private var deviation: [Double]
    /// Each sensor's part of the last row's statistic on each horizon (they sum to its T²), and
    /// whether the fast horizon set the severity: the contributors come from that one.
    private var slowParts: [Double]
    private var fastParts: [Double]
    private var fastBinds = false
    /// Sensors left out of the statistic (faulty): their deviation is replaced by what the others
    /// predict for them (their conditional mean), so the statistic is the others' own Mahalanobis
    /// distance and the alarm edges stay valid.
    private(set) public var excluded: [Int] = []
    /// The sensor the last `score(_:alone:)` left out as a lone witness, if any (in `State`: the
    /// next round, which starts a scorer from the state, and a restart go on holding it).
    private(set) public var heldAlone: Int?
    /// Rows in a row the held witness was kept out with the rest below `ok` (within `watch`).
    private var heldBelowOk = 0
    /// A held witness is counted again once the rest has stayed below `ok` this many rows (an hour
    /// of minutes): a dip of the rest is noise, an hour of it is the machine (wear shows on one
    /// sensor first, the others follow).
    static let holdBelowOkRows = 60

    public init(model: HealthModel, bands: HealthBands = .init(), staleRows: Int = 5, fullConfidenceRows: Int = 1440,
                status: HealthStatus = .ok) {
        self.model = model
        self.bands = bands
        self.staleRows = staleRows
        self.fullConfidenceRows = fullConfidenceRows
        self.status = status
        let p = model.sensors.count
        smoothed = model.mean
        fast = model.mean
        silentFor = [Int](repeating: Int.max / 2, count: p)
        deviation = [Double](repeating: 0, count: p)
        slowParts = [Double](repeating: 0, count: p)
        fastParts = [Double](repeating: 0, count: p)
    }

    /// What carries over between rows: persisted so a restart continues exactly where it stopped.
    public struct State: Codable, Sendable, Equatable {
        public var smoothed: [Double]
        /// Absent in states saved before the fast horizon existed: it restarts from `smoothed`.
        public var fast: [Double]?
        public var silentFor: [Int]
        public var status: HealthStatus
        /// Absent in states saved before they were kept: nobody held.
        public var heldAlone: Int?
        public var heldBelowOk: Int?
    }

    public var state: State {
        get { State(smoothed: smoothed, fast: fast, silentFor: silentFor, status: status, heldAlone: heldAlone, heldBelowOk: heldBelowOk) }
        set {
            guard newValue.smoothed.count == smoothed.count, newValue.silentFor.count == silentFor.count else { return }
            smoothed = newValue.smoothed
            fast = newValue.fast.flatMap { $0.count == smoothed.count ? $0 : nil } ?? newValue.smoothed
            silentFor = newValue.silentFor
            status = newValue.status
            heldAlone = newValue.heldAlone.flatMap { smoothed.indices.contains($0) ? $0 : nil }
            heldBelowOk = heldAlone == nil ? 0 : newValue.heldBelowOk ?? 0
        }
    }

    /// Updates both smoothings with `row` (one cell per model sensor, nil = missing) and returns
    /// the statistic of each horizon, noting which one is further past its alarm edge.
    mutating func statistics(_ row: [Double?]) -> (slow: Double, fast: Double) {
        smooth(row)
        return forms()
    }

    private mutating func smooth(_ row: [Double?]) {
        let p = model.sensors.count
        let a = model.parameters.smoothing, b = model.parameters.fastSmoothing
        for j in 0..<p {
            if let x = row[j], x.isFinite {
                let z = model.standardized(x, sensor: j)
                // A sensor's first value starts its smoothing.
                let first = silentFor[j] >= Int.max / 2
                smoothed[j] = first ? z : a * z + (1 - a) * smoothed[j]
                fast[j] = first ? z : b * z + (1 - b) * fast[j]
                silentFor[j] = 0
            } else if silentFor[j] < Int.max / 2 {
                silentFor[j] += 1
            }
        }
    }

    /// Both horizons' statistics of the smoothed state, noting which one binds.
    private mutating func forms() -> (slow: Double, fast: Double) {
        let slowT2 = Self.quadraticForm(smoothed, model, excluded: excluded, deviation: &deviation, parts: &slowParts)
        guard let edge = model.fastThreshold else {
            fastBinds = false
            return (slowT2, 0)
        }
        let fastT2 = Self.quadraticForm(fast, model, excluded: excluded, deviation: &deviation, parts: &fastParts)
        fastBinds = fastT2 / edge > slowT2 / model.threshold
        return (slowT2, fastT2)
    }

    /// `(x − mean)ᵀ · precision · (x − mean)`, with each sensor's part of it in `parts`; the
    /// `excluded` sensors' deviations first set to their conditional mean given the others, which
    /// makes their parts 0 and the statistic the marginal one of the others.
    private static func quadraticForm(_ x: [Double], _ model: HealthModel, excluded: [Int], deviation: inout [Double],
                                      parts: inout [Double]) -> Double {
        let p = model.sensors.count
        for j in 0..<p { deviation[j] = x[j] - model.mean[j] }
        if !excluded.isEmpty { impute(excluded, model, deviation: &deviation) }
        var t2 = 0.0
        model.precision.withUnsafeBufferPointer { prec in
            for i in 0..<p {
                var s = 0.0
                for j in 0..<p { s += prec[i * p + j] * deviation[j] }
                parts[i] = deviation[i] * s
                t2 += parts[i]
            }
        }
        return max(0, t2)
    }

    /// Sets the deviations of `b` to `−P_BB⁻¹ P_BA d_A`, their conditional mean given the others.
    static func impute(_ b: [Int], _ model: HealthModel, deviation d: inout [Double]) {
        let p = model.sensors.count, m = b.count
        guard m < p else {
            for j in b { d[j] = 0 }
            return
        }
        let inB = Set(b)
        var pbb = [Double](repeating: 0, count: m * m)
        var rhs = [Double](repeating: 0, count: m)
        for (r, i) in b.enumerated() {
            for (c, j) in b.enumerated() { pbb[r * m + c] = model.precision[i * p + j] }
            var s = 0.0
            for k in 0..<p where !inB.contains(k) { s += model.precision[i * p + k] * d[k] }
            rhs[r] = -s
        }
        guard let inv = LinearAlgebra.inverseSPD(pbb, n: m) else {
            for j in b { d[j] = 0 }
            return
        }
        for (r, i) in b.enumerated() {
            var s = 0.0
            for c in 0..<m { s += inv[r * m + c] * rhs[c] }
            d[i] = s
        }
    }

    /// The slow horizon's deviation from the reference, per sensor (standardised units), with the
    /// sensors left out (but not `drifting` ones) replaced by what the others predict for them.
    public func slowDeviation(drifting: Set<Int> = []) -> [Double] {
        let p = model.sensors.count
        var d = [Double](repeating: 0, count: p)
        for j in 0..<p { d[j] = smoothed[j] - model.mean[j] }
        let out = excluded.filter { !drifting.contains($0) }
        if !out.isEmpty { Self.impute(out, model, deviation: &d) }
        return d
    }

    /// Leaves `sensors` (indices into the model's sensors) out of the statistic from the next row on.
    public mutating func exclude(_ sensors: [Int]) {
        excluded = sensors.filter { $0 >= 0 && $0 < model.sensors.count }.sorted()
    }

    /// The sensor that explains most of the machine's slow deviation from its reference, and
    /// whether it does so alone.
    public struct Isolation: Sendable, Equatable {
        public var sensor: Int
        /// True: replacing it by what its siblings predict leaves the machine as normal as
        /// commissioning (a drift candidate). False: its siblings moved with it — the machine
        /// changed (wear, a process fault), and the sensor is not to blame.
        public var alone: Bool
        public var evidence: String
    }

    /// On the slow horizon (drift is slow), of `deviation` (`slowDeviation(drifting:)`) or, given a
    /// `baseline` (a slow deviation from before), of its change since, by the judge's statistic
    /// (`HealthModel.Siblings`; the health statistic for a model without): the sensor whose
    /// reconstruction from its siblings removes most of the statistic — `((P d)_j)² / P_jj`, the
    /// part of T² that replacing sensor j by what the others predict for it takes away — when that
    /// part is at least `minimumPart` of the alarm edge, and alone: what remains is as normal as
    /// commissioning was (and its part `share` of the whole), or no other sensor's part reaches
    /// `minimumPart` once it is replaced. When neither (several sensors left their relations
    /// together: a process fault, wear) that sensor is returned with `alone` false; nil when
    /// no sensor stands out. Measured from a baseline, a machine already off its reference (worn)
    /// can still tell a sensor that starts drifting on its own from one that moves with it.
    /// Sensors left out are not candidates, except `drifting` ones (left out for a drift, whose
    /// smoothing still follows them): they are judged again.
    public func isolation(of deviation: [Double], drifting: Set<Int> = [], since baseline: [Double]? = nil,
                          part minimumPart: Double = 0.5, share: Double = 0.75) -> Isolation? {
        let p = model.sensors.count
        guard p >= 3, deviation.count == p else { return nil }
        var d = deviation
        if let baseline, baseline.count == p { for j in 0..<p { d[j] -= baseline[j] } }
        let inB = Set(excluded.filter { !drifting.contains($0) })
        let judge = model.judge, precision = judge.precision
        let (pd, t2) = Self.project(precision, d)
        var best = -1, bestPart = 0.0
        for j in 0..<p where !inB.contains(j) && silentFor[j] <= staleRows {
            let pjj = precision[j * p + j]
            guard pjj > 0 else { continue }
            let part = pd[j] * pd[j] / pjj
            if part > bestPart { best = j; bestPart = part }
        }
        let edge = judge.threshold
        let rest = t2 - bestPart
        guard best >= 0, bestPart >= minimumPart * edge else { return nil }
        // Alone when what remains is as normal as commissioning (and the sensor carries `share` of
        // the whole), or when, with it replaced by what its siblings predict, no other sensor stands
        // off what its own siblings predict by the bar for being named at all. The second is what a
        // change since a baseline needs: between the baseline and now the machine's operating point
        // moves (a load cycle), which the whole statistic counts — it kept a drifting flow from
        // being named for hours — but along the relations, which single sensors' parts hardly do.
        let calm = rest <= edge / max(model.parameters.thresholdFactor, 1)
        let lone = !calm && Self.largestPart(precision, pd, without: best, among: inB) <= minimumPart * edge
        guard calm || lone else {
            return Isolation(sensor: best, alone: false, evidence: "its siblings moved with it")
        }
        guard lone || bestPart >= share * t2 else { return nil }
        // In the sensor's units: what it reads (smoothed) and what its siblings predict for it.
        let pjj = precision[best * p + best]
        let predicted = smoothed[best] - pd[best] / pjj
        let scale = model.scale[best]
        let reads = model.center[best] + scale * smoothed[best]
        let expected = model.center[best] + scale * predicted
        let sigma = scale / pjj.squareRoot()
        let evidence = "reads \(SensorFaultDetector.number(reads)) where its siblings predict \(SensorFaultDetector.number(expected)) "
            + "(\(Replay.fixed(abs(reads - expected) / max(sigma, 1e-300), 1)) of its commissioned spreads); "
            + (!calm ? "the other sensors keep to what their siblings predict"
                : baseline == nil ? "the other sensors agree with commissioning" : "the other sensors did not change")
        return Isolation(sensor: best, alone: true, evidence: evidence)
    }

    /// `P d` and `dᵀ P d` (`P` a p × p precision, row-major).
    static func project(_ precision: [Double], _ d: [Double]) -> (pd: [Double], t2: Double) {
        let p = d.count
        var pd = [Double](repeating: 0, count: p)
        var t2 = 0.0
        for i in 0..<p {
            var s = 0.0
            for k in 0..<p { s += precision[i * p + k] * d[k] }
            pd[i] = s
            t2 += d[i] * s
        }
        return (pd, t2)
    }

    /// The largest part (`((P d)_k)² / P_kk`) of any sensor but `j` and those `among` left out once
    /// sensor `j` is replaced by what the others predict for it: how far the next sensor stands
    /// off its own siblings when `j` is not there to pull it. `pd` is `P d`: the replacement moves
    /// `d_j` by `−(P d)_j / P_jj` (what `impute` would fill), so each `(P d)_k` moves by `P_kj`
    /// times that — no second pass over the matrix.
    static func largestPart(_ precision: [Double], _ pd: [Double], without j: Int, among out: Set<Int>) -> Double {
        let p = pd.count
        let shift = -pd[j] / precision[j * p + j]
        var largest = 0.0
        for k in 0..<p where k != j && !out.contains(k) {
            let pkk = precision[k * p + k]
            guard pkk > 0 else { continue }
            let s = pd[k] + precision[k * p + j] * shift
            largest = max(largest, s * s / pkk)
        }
        return largest
    }

    /// What the judge's relation (`HealthModel.Siblings`, else the reference's) predicts for sensor
    /// `j`'s change given the others' (`change`, scaled; its own cell ignored): its conditional
    /// mean shift, as `impute` fills a left-out sensor.
    public func predictedChange(of j: Int, given change: [Double]) -> Double {
        guard j >= 0, j < model.sensors.count, change.count == model.sensors.count else { return 0 }
        var d = change
        Self.impute([j], model.judge, deviation: &d)
        return d[j]
    }

    /// Updates the smoothings with `row` and returns its severity: the statistic over its alarm
    /// edge on the horizon where that is larger (≥ 1 is an alarm).
    public mutating func severity(_ row: [Double?]) -> Double {
        let t = statistics(row)
        return model.severity(slow: t.slow, fast: t.fast)
    }

    /// Scores `row`. `alone` is told of a sensor that alone takes the machine out of `ok` — with
    /// it, health is below the `ok` edge; without it (replaced by what the others predict, on
    /// both horizons) the rest is `ok`, or above `watch` for the sensor left out the row before —
    /// and answers whether to leave it out of this row like a faulty one (`heldAlone` then names
    /// it). A wearing machine or a process fault moves several sensors: the rest is not `ok`, and
    /// nobody is asked about; once the rest leaves `watch` too, or has stayed below `ok` for
    /// `holdBelowOkRows`, the sensor counts again.
    public mutating func score(_ row: [Double?], alone mayHold: (Int) -> Bool = { _ in false }) -> HealthScore {
        smooth(row)
        var t = forms()
        let before = heldAlone
        heldAlone = nil
        let kept = excluded
        defer { excluded = kept }
        let patient = heldBelowOk < Self.holdBelowOkRows
        if 100 * pow2(-model.severity(slow: t.slow, fast: t.fast)) < bands.ok,
           let (j, rest) = loneWitness(restAtLeast: { $0 == before && patient ? bands.watch : bands.ok }), mayHold(j) {
            excluded = (excluded + [j]).sorted()
            heldAlone = j
            heldBelowOk = rest < bands.ok ? heldBelowOk + 1 : 0
            t = forms()
        }
        if heldAlone == nil { heldBelowOk = 0 }
        let r = model.severity(slow: t.slow, fast: t.fast)
        let health = min(100, max(0, 100 * pow2(-r)))
        status = bands.status(health: health, current: status)
        let p = model.sensors.count
        var parts: [(Int, Double)] = []
        var total = 0.0
        let horizon = fastBinds ? fastParts : slowParts
        for j in 0..<p {
            let c = horizon[j]
            if c > 0 {
                parts.append((j, c))
                total += c
            }
        }
        parts.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        let contributors = total > 0 ? parts.prefix(3).map { Contributor(sensor: model.sensors[$0.0], share: $0.1 / total) } : []
        let fresh = silentFor.reduce(0) { $0 + ($1 <= staleRows ? 1 : 0) }
        var confidence = Double(fresh) / Double(max(p, 1)) * min(1, Double(model.trainingRows) / Double(max(fullConfidenceRows, 1)))
        if !excluded.isEmpty {
            // The share of the model's information (the precision's trace) that is missing.
            var total = 0.0, missing = 0.0
            for j in 0..<p { total += model.precision[j * p + j] }
            for j in excluded { missing += model.precision[j * p + j] }
            confidence *= max(0, 1 - missing / max(total, 1e-300))
        }
        return HealthScore(health: health, anomalyScore: 1 - health / 100, status: status, confidence: confidence,
                           contributors: contributors, severity: r)
    }

    /// The sensor whose replacement by what the others predict for it (`impute`) removes most of
    /// the binding horizon's statistic, and the health of the rest, if that is at least
    /// `health(j)` on both horizons: `T² − ((P d)_j)² / P_jj` is the others' own statistic.
    private func loneWitness(restAtLeast health: (Int) -> Double) -> (sensor: Int, rest: Double)? {
        let p = model.sensors.count
        guard p >= 3 else { return nil }
        let out = Set(excluded)
        func parts(_ x: [Double]) -> (t2: Double, removed: [Double]) {
            var d = (0..<p).map { x[$0] - model.mean[$0] }
            if !excluded.isEmpty { Self.impute(excluded, model, deviation: &d) }
            let (pd, t2) = Self.project(model.precision, d)
            let removed = (0..<p).map { j in
                let pjj = model.precision[j * p + j]
                return out.contains(j) || pjj <= 0 || silentFor[j] > staleRows ? 0 : pd[j] * pd[j] / pjj
            }
            return (t2, removed)
        }
        let slow = parts(smoothed)
        let quick = model.fastThreshold == nil ? nil : parts(fast)
        let binding = fastBinds ? (quick ?? slow) : slow
        guard let j = binding.removed.indices.max(by: { binding.removed[$0] < binding.removed[$1] }), binding.removed[j] > 0 else { return nil }
        let rest = model.severity(slow: slow.t2 - slow.removed[j], fast: quick.map { $0.t2 - $0.removed[j] } ?? 0)
        let restHealth = 100 * pow2(-rest)
        return restHealth >= health(j) ? (j, restHealth) : nil
    }

    /// 2^x without Foundation, exact enough for a display value (|error| < 1e-12 relative).
    func pow2(_ x: Double) -> Double {
        guard x > -1100 else { return 0 }
        let k = x.rounded(.down)
        let f = (x - k) * 0.6931471805599453 // ln 2
        // e^f for f in [0, ln 2) by its series: 20 terms are far below double rounding.
        var term = 1.0, sum = 1.0
        for n in 1...20 {
            term *= f / Double(n)
            sum += term
        }
        return Double(sign: .plus, exponent: Int(k), significand: sum)
    }
}
