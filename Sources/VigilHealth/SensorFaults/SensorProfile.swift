/// What one sensor did while its machine was commissioned: how often it reported, its resolution,
/// how far a reading strays from its neighbours, how long it ever stayed still, how rough its
/// steps were and the values it read. Every threshold of the sensor-fault detectors is derived
/// from these, in the sensor's own units — so no sensor is tuned by hand, and changing a sensor's
/// units (an affine map) changes its profile the same way and leaves every decision unchanged.
public struct SensorProfile: Codable, Sendable, Equatable {
    /// Readings it was learned from.
    public var readings: Int
    /// Median interval between readings (ms).
    public var cadence: Int64
    /// The 99.9th percentile of the intervals (ms): how long the sensor may legitimately pause.
    public var longestGap: Int64
    /// The smallest step it ever made (its resolution), 0 when it never moved.
    public var quantum: Double
    /// The lowest and highest values it read.
    public var low: Double
    public var high: Double
    /// Robust scale (1.4826 × median) of the distance of a reading from the median of the seven
    /// readings around it, and that distance's 99.9th percentile.
    public var localScale: Double
    public var localP999: Double
    /// The longest time (ms) and the most readings for which its value stayed within `stillTolerance`.
    public var longestStill: Int64
    public var longestStillReadings: Int
    /// Over windows of `stepWindow` steps, the median absolute step: its median and largest value.
    public var roughness: Double
    public var roughnessMax: Double
    /// Its usual step when it moves (the median of its steps that are not zero): a quantised
    /// sensor's code width. Nil in profiles saved before it existed (they use `quantum`).
    var learnedMove: Double?
    /// The largest step it made from one reading to the next. Nil in profiles saved before it
    /// existed (they hold no jump, see `jumpLimit`).
    var learnedLargestStep: Double?
    /// `tailGrowth`, worked out once when learned (the spike limit is read for every reading); nil
    /// in profiles saved before it existed, which work it out when asked.
    var learnedTailGrowth: Double?

    public static let neighbours = 3
    public static let stepWindow = 30

    /// A sensor needs this many commissioning readings to be judged.
    public static let minimumReadings = 60

    /// Learns a profile from readings in time order; nil with too few.
    public static func learn(times: [Int64], values: [Double]) -> SensorProfile? {
        let n = min(times.count, values.count)
        guard n >= minimumReadings else { return nil }
        var gaps: [Int64] = []
        gaps.reserveCapacity(n)
        var steps: [Double] = []
        steps.reserveCapacity(n)
        var low = values[0], high = values[0]
        for i in 1..<n {
            if times[i] > times[i - 1] { gaps.append(times[i] - times[i - 1]) }
            steps.append(abs(values[i] - values[i - 1]))
            low = min(low, values[i])
            high = max(high, values[i])
        }
        gaps.sort()
        let cadence = gaps.isEmpty ? 1_000 : max(1, gaps[gaps.count / 2])
        let longestGap = gaps.isEmpty ? cadence : gaps[min(gaps.count - 1, Int(Double(gaps.count) * 0.999))]
        let magnitude = max(abs(low), abs(high), 1e-300)
        let moves = steps.filter { $0 > magnitude * 1e-12 }.sorted()
        let quantum = moves.first ?? 0

        var local: [Double] = []
        local.reserveCapacity(n)
        let k = neighbours
        if n > 2 * k {
            var window = [Double](repeating: 0, count: 2 * k + 1)
            for c in k..<(n - k) {
                for i in 0...(2 * k) { window[i] = values[c - k + i] }
                local.append(abs(values[c] - Self.median(&window)))
            }
        }
        local.sort()
        let localScale = local.isEmpty ? 0 : 1.4826 * local[local.count / 2]
        let localP999 = local.isEmpty ? 0 : local[min(local.count - 1, Int(Double(local.count) * 0.999))]

        var profile = SensorProfile(readings: n, cadence: cadence, longestGap: longestGap, quantum: quantum, low: low, high: high,
                                    localScale: localScale, localP999: localP999, longestStill: 0, longestStillReadings: 0,
                                    roughness: 0, roughnessMax: 0)
        profile.learnedTailGrowth = tailGrowth(cadence: cadence, readings: n)
        profile.learnedMove = moves.isEmpty ? 0 : moves[moves.count / 2]
        profile.learnedLargestStep = moves.last ?? 0
        // Stillness with the tolerance the detector will use.
        var run = StillRun()
        for i in 0..<n {
            run.add(ts: times[i], value: values[i], tolerance: profile.stillTolerance)
            profile.longestStill = max(profile.longestStill, times[i] - run.from)
            profile.longestStillReadings = max(profile.longestStillReadings, run.readings)
        }
        // Roughness per window of steps.
        var medians: [Double] = []
        var w = 0
        while w + stepWindow <= steps.count {
            var chunk = Array(steps[w..<(w + stepWindow)])
            medians.append(Self.median(&chunk))
            w += stepWindow
        }
        if !medians.isEmpty {
            medians.sort()
            profile.roughness = medians[medians.count / 2]
            profile.roughnessMax = medians.last!
        }
        return profile
    }

    // MARK: thresholds, all in the sensor's own units or its own time scale

    /// Two resolution steps: a value wobbling by one step is still frozen.
    public var stillTolerance: Double { max(2 * quantum, max(abs(low), abs(high)) * 1e-9) }
    public var span: Double { high - low }

    /// A reading this far from the median of its neighbours is a spike. The largest stray seen is
    /// extrapolated from the commissioning readings to a day of them (`tailGrowth`).
    public var spikeLimit: Double {
        max(8 * localScale, 2 * localP999 * tailGrowth, 4 * quantum, 0.02 * span, max(abs(low), abs(high)) * 1e-9)
    }

    /// How much further than the farthest of its commissioning readings a healthy sensor strays in a
    /// day of readings at its cadence: the largest of n light-tailed values grows like √(2 ln n),
    /// so √(ln(readings a day) / ln(readings seen)) — 1 for a sensor commissioned on a day or more
    /// (the daemon's default), 1.4 for SKAB's 400 one-second rows, whose 99.9th percentile is the
    /// second-largest stray of 6.7 minutes and made single genuine strays of a day read as spikes.
    var tailGrowth: Double { learnedTailGrowth ?? Self.tailGrowth(cadence: cadence, readings: readings) }

    static func tailGrowth(cadence: Int64, readings: Int) -> Double {
        let perDay = Double(86_400_000 / max(cadence, 1)), seen = Double(max(readings, 2))
        return perDay > seen ? (ln(perDay) / ln(seen)).squareRoot() : 1
    }

    /// The natural logarithm of a positive finite `x` (to ~1e-15; the module does without Foundation):
    /// ln 2 × its binary exponent plus ln of its significand m ∈ [1, 2) by 2·atanh((m−1)/(m+1)).
    static func ln(_ x: Double) -> Double {
        let m = x.significand, z = (m - 1) / (m + 1), z2 = z * z
        var term = z, sum = 0.0
        for k in stride(from: 1, through: 41, by: 2) {
            sum += term / Double(k)
            term *= z2
        }
        return Double(x.exponent) * 0.693_147_180_559_945_3 + 2 * sum
    }

    /// A step to a new level this large is a jump the sensor never made: half as large again as the
    /// largest step it made while commissioned (extrapolated to a day of readings, `tailGrowth`),
    /// and beyond a spike. Nil for profiles saved before the largest step was kept.
    public var jumpLimit: Double? { learnedLargestStep.map { max(1.5 * $0 * tailGrowth, spikeLimit) } }

    /// Frozen this long (and for this many readings) is stuck.
    public var stuckAfter: Int64 { max(3 * longestStill, 20 * cadence) }
    public var stuckAfterReadings: Int { max(3 * longestStillReadings, 10) }

    /// Silent this long while its machine reports is a dropout: beyond any pause it made while
    /// commissioned, within ten intervals or five minutes.
    public var dropoutAfter: Int64 { min(max(3 * cadence, 2 * longestGap), max(10 * cadence, 300_000)) }

    /// Values this far outside what it read while commissioned are impossible for it: a whole
    /// commissioned span (at least ten local scales) beyond either end.
    public var validRange: ClosedRange<Double> {
        let margin = max(span, 10 * localScale, 10 * quantum, max(abs(low), abs(high)) * 1e-6)
        return (low - margin)...(high + margin)
    }

    /// Its usual values: what it read while commissioned, widened by a quarter of that span.
    public var usual: ClosedRange<Double> { (low - 0.25 * span)...(high + 0.25 * span) }

    /// A window whose median step exceeds this is noisy: three times its usual roughness, half as
    /// much again as its roughest window, and more than two of its usual moves — a quantised
    /// sensor flickering between two codes more often than while commissioned (a flow sitting on a
    /// code boundary, which a valve's closing moved it to on SKAB) is not noisy, whatever its
    /// smallest step was.
    public var roughnessLimit: Double { max(3 * roughness, 1.5 * roughnessMax, 2 * (learnedMove ?? quantum), 0.01 * span) }

    /// A fault closes after the sensor behaved this long.
    public var clearAfter: Int64 { max(30 * cadence, 600_000) }

    /// A run of readings whose values stay within a tolerance of each other: how long a sensor
    /// stays still (learned while commissioned, watched for `stuck`).
    struct StillRun: Codable, Sendable, Equatable {
        var from: Int64 = 0
        var readings = 0
        var low = 0.0, high = 0.0

        /// Extends the run with a reading, or starts a new one at it.
        mutating func add(ts: Int64, value: Double, tolerance: Double) {
            if readings == 0 || max(high, value) - min(low, value) > tolerance {
                self = StillRun(from: ts, readings: 1, low: value, high: value)
            } else {
                low = min(low, value)
                high = max(high, value)
                readings += 1
            }
        }
    }

    /// The median of a few values, sorted in a scratch buffer on the stack.
    static func median(of values: [Double]) -> Double {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: values.count) { scratch in
            var buffer = scratch
            _ = buffer.initialize(fromContentsOf: values)
            return middle(&buffer)
        }
    }

    /// The median of `values` (reordered in place).
    static func median(_ values: inout [Double]) -> Double {
        values.withUnsafeMutableBufferPointer { middle(&$0) }
    }

    /// Sorts a short buffer by insertion (the windows here hold 7 or 30 values, where the
    /// standard library's sort costs more than the comparisons) and returns its middle.
    private static func middle(_ b: inout UnsafeMutableBufferPointer<Double>) -> Double {
        let n = b.count
        if n > 64 {
            b.sort()
        } else {
            for i in 1..<max(n, 1) {
                let x = b[i]
                var k = i
                while k > 0 && b[k - 1] > x {
                    b[k] = b[k - 1]
                    k -= 1
                }
                b[k] = x
            }
        }
        return n % 2 == 1 ? b[n / 2] : (b[n / 2 - 1] + b[n / 2]) / 2
    }
}
