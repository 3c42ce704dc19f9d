import Testing
import VigilCore
@testable import VigilRollup

/// The oracle: group by bucket start with a dictionary, then two passes per bucket (mean, then
/// squared deviations). Nothing shared with the kernels but `BucketStats`' field names.
func recompute(_ ts: [Int64], _ values: [Double], width: Int64) -> [Int64: BucketStats] {
    var groups: [Int64: [Double]] = [:]
    for (t, v) in zip(ts, values) {
        let q = t / width
        groups[(t % width < 0 ? q - 1 : q) * width, default: []].append(v)
    }
    return groups.mapValues { xs in
        let n = Double(xs.count)
        let sum = xs.reduce(0, +)
        let mean = sum / n
        let m2 = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return BucketStats(count: xs.count, sum: sum, mean: mean, m2: m2, min: xs.min()!, max: xs.max()!)
    }
}

/// Equal up to rounding: count, min and max exactly; sums and means relative to the bucket's
/// magnitude; the standard deviation relative to itself plus the magnitude's rounding.
func expectClose(_ a: BucketStats, _ b: BucketStats, scale: Double, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    #expect(a.min == b.min, sourceLocation: sourceLocation)
    #expect(a.max == b.max, sourceLocation: sourceLocation)
    let tol = 1e-12 * scale * Double(max(a.count, 1))
    #expect(abs(a.sum - b.sum) <= tol, "sum \(a.sum) vs \(b.sum)", sourceLocation: sourceLocation)
    #expect(abs(a.mean - b.mean) <= 1e-12 * scale, "mean \(a.mean) vs \(b.mean)", sourceLocation: sourceLocation)
    #expect(abs(a.stddev - b.stddev) <= 1e-9 * b.stddev + 1e-7 * scale.squareRoot() * 1e-4 + 1e-12 * scale,
            "stddev \(a.stddev) vs \(b.stddev)", sourceLocation: sourceLocation)
}

/// Sorted, duplicate-free columns as the store hands them to the kernels.
func stream(seed: UInt64, start: Int64, count: Int, meanStep: Int64, jitter: Int64, values: (inout SplitMix64) -> Double) -> ([Int64], [Double]) {
    var rng = SplitMix64(seed: seed)
    var ts: [Int64] = [], vs: [Double] = []
    var t = start
    for _ in 0..<count {
        t += max(1, meanStep + Int64.random(in: -jitter...jitter, using: &rng))
        ts.append(t)
        vs.append(values(&rng))
    }
    return (ts, vs)
}

func check(_ ts: [Int64], _ vs: [Double], sourceLocation: SourceLocation = #_sourceLocation) {
    let scale = vs.map(abs).max() ?? 1
    for width in BucketWidth.allCases {
        let oracle = recompute(ts, vs, width: width.rawValue)
        var simd: [Bucket] = [], scalar: [Bucket] = []
        ts.withUnsafeBufferPointer { t in
            vs.withUnsafeBufferPointer { v in
                RollupKernel.rollup(ts: t, values: v, width: width, into: &simd)
                RollupKernel.rollupScalar(ts: t, values: v, width: width, into: &scalar)
            }
        }
        #expect(simd.map(\.start) == oracle.keys.sorted(), sourceLocation: sourceLocation)
        #expect(scalar.map(\.start) == simd.map(\.start), sourceLocation: sourceLocation)
        for (a, b) in zip(simd, scalar) {
            expectClose(a.stats, oracle[a.start]!, scale: scale, sourceLocation: sourceLocation)
            expectClose(b.stats, oracle[b.start]!, scale: scale, sourceLocation: sourceLocation)
        }
        if width == .minute {
            // Days merged from minutes equal days reduced directly.
            var days: [Bucket] = []
            RollupKernel.coarsen(simd, to: .day, into: &days)
            let dayOracle = recompute(ts, vs, width: BucketWidth.day.rawValue)
            #expect(days.map(\.start) == dayOracle.keys.sorted(), sourceLocation: sourceLocation)
            for d in days { expectClose(d.stats, dayOracle[d.start]!, scale: scale, sourceLocation: sourceLocation) }
        }
    }
}

@Suite struct RollupKernelTests {
    static let leapDay2024: Int64 = 1_709_164_800_000 // 2024-02-29T00:00:00Z
    static let yearEnd2023: Int64 = 1_704_067_200_000 // 2024-01-01T00:00:00Z

    @Test(arguments: 0..<40)
    func randomStreamsEqualRecomputation(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed) &* 7919)
        let step = [1, 10, 997, 1000, 7_000, 59_999, 3_600_000][Int.random(in: 0..<7, using: &rng)]
        let count = Int.random(in: 1...4000, using: &rng)
        let base: Int64 = [Self.leapDay2024, Self.yearEnd2023, 946_684_800_000][seed % 3] - Int64(count) * Int64(step) / 2
        let kind = seed % 5
        let (ts, vs) = stream(seed: UInt64(seed), start: base, count: count, meanStep: Int64(step), jitter: Int64(step) / 3) { r in
            switch kind {
            case 0: 1e6 + Double.random(in: -0.01...0.01, using: &r) // large offset, small noise
            case 1: Double.random(in: -1e150...1e150, using: &r) // extreme magnitudes
            case 2: Double.random(in: -1e-300...1e-300, using: &r) // tiny values
            case 3: Double(Int.random(in: -3...3, using: &r)) // many ties, exact zeros
            default: 20 + 5 * Double.random(in: -1...1, using: &r)
            }
        }
        check(ts, vs)
    }

    @Test func bucketEdgesAreHalfOpen() {
        let m = Self.leapDay2024
        // Last ms of the previous minute and day, the first ms of the next, one exactly at the edge.
        let ts: [Int64] = [m - 86_400_000, m - 1, m, m + 59_999, m + 60_000, m + 86_399_999, m + 86_400_000]
        let vs: [Double] = [1, 2, 3, 4, 5, 6, 7]
        check(ts, vs)
        var minutes: [Bucket] = []
        ts.withUnsafeBufferPointer { t in vs.withUnsafeBufferPointer { v in RollupKernel.rollup(ts: t, values: v, width: .minute, into: &minutes) } }
        #expect(minutes.map(\.start) == [m - 86_400_000, m - 60_000, m, m + 60_000, m + 86_340_000, m + 86_400_000])
        #expect(minutes[2].stats.count == 2 && minutes[2].stats.sum == 7)
    }

    @Test func largeOffsetKeepsItsNoise() {
        // Naive Σx² − (Σx)²/n loses every digit here; the shifted reduction keeps them.
        let vs = (0..<600).map { 1e9 + Double($0 % 2) * 0.001 }
        let ts = (0..<600).map { Self.leapDay2024 + Int64($0) * 100 }
        var minutes: [Bucket] = []
        ts.withUnsafeBufferPointer { t in vs.withUnsafeBufferPointer { v in RollupKernel.rollup(ts: t, values: v, width: .minute, into: &minutes) } }
        #expect(minutes.count == 1)
        let step = (1e9 + 0.001) - 1e9 // the representable difference, ≈ 0.001
        #expect(abs(minutes[0].stats.stddev - step / 2) < 1e-15)
    }

    @Test func reduceMatchesRollupOfOneBucket() {
        for n in [1, 7, 8, 9, 60, 61, 1000] {
            let (ts, vs) = stream(seed: UInt64(n), start: Self.yearEnd2023, count: n, meanStep: 1, jitter: 0) { r in Double.random(in: -5...5, using: &r) }
            let one = vs.withUnsafeBufferPointer { RollupKernel.reduce($0) }
            expectClose(one, recompute(ts, vs, width: BucketWidth.day.rawValue).values.first!, scale: 5)
        }
        #expect([Double]().withUnsafeBufferPointer { RollupKernel.reduce($0) } == .empty)
    }

    @Test func mergeIsTheSameAsReducingTogether() {
        var rng = SplitMix64(seed: 42)
        let xs = (0..<1000).map { _ in 1e6 + Double.random(in: -1...1, using: &rng) }
        var merged = BucketStats.empty
        var i = 0
        while i < xs.count {
            let j = min(xs.count, i + Int.random(in: 1...90, using: &rng))
            merged.merge(xs[i..<j].withUnsafeBufferPointer { RollupKernel.reduce($0) })
            i = j
        }
        let whole = recompute(Array(repeating: 0, count: xs.count), xs, width: 60_000)[0]!
        expectClose(merged, whole, scale: 1e6)
        #expect(BucketStats.empty.merging(merged) == merged)
    }

    @Test func bucketStartFloorsNegativeTimes() {
        #expect(BucketWidth.minute.start(of: -1) == -60_000)
        #expect(BucketWidth.minute.start(of: 0) == 0)
        #expect(BucketWidth.day.start(of: Self.leapDay2024 + 5) == Self.leapDay2024)
    }
}
