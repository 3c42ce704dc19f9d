/// Reduction kernels: readings of one series, as contiguous columns sorted by timestamp, into
/// bucket statistics. The SIMD kernels are what the engine runs (streaming and
/// `--rebuild-rollups`); the scalar ones are the reference the tests and the benchmark compare
/// them with.
///
/// Each bucket is reduced in one pass with its first value `k` as shift: `s1 = Σ(x−k)`,
/// `s2 = Σ(x−k)²`, so `mean = k + s1/n` and `m2 = s2 − s1²/n`. Because `k` is one of the bucket's
/// own readings the deviations stay at the scale of the bucket's spread, which keeps `m2` sound
/// for values like 1e6 + small noise. Lanes past the bucket's end are replaced by `k`, which
/// changes none of `s1`, `s2`, min or max, so one fused loop handles boundaries without a scalar
/// tail (except at the very end of a column).
public enum RollupKernel {
    public typealias Lanes = SIMD8<Double>
    typealias TimeLanes = SIMD8<Int64>

    /// Reduces `ts`/`values` (equal counts, `ts` ascending) into buckets of `width`, appended to
    /// `buckets` in time order. SIMD.
    public static func rollup(ts: UnsafeBufferPointer<Int64>, values: UnsafeBufferPointer<Double>,
                              width: BucketWidth, into buckets: inout [Bucket]) {
        precondition(ts.count == values.count, "ts and values differ in length")
        let n = ts.count
        guard n > 0, let tp = ts.baseAddress, let vp = values.baseAddress else { return }
        let lanes = Lanes.scalarCount
        var i = 0
        var end = Int64.min
        while i < n {
            // Dense data starts the next bucket where the last one ended: no division.
            let start = tp[i] >= end && UInt64(bitPattern: tp[i] &- end) < UInt64(width.rawValue) ? end : width.start(of: tp[i])
            end = start &+ width.rawValue
            let k = vp[i]
            let kv = Lanes(repeating: k)
            let endv = TimeLanes(repeating: end)
            var s1 = Lanes(), s2 = Lanes(), mn = kv, mx = kv
            var p = i
            var j = n
            while p + lanes <= n {
                let t = UnsafeRawPointer(tp + p).loadUnaligned(as: TimeLanes.self)
                var x = UnsafeRawPointer(vp + p).loadUnaligned(as: Lanes.self)
                let inside = t .< endv
                let full = all(inside)
                if !full { x.replace(with: kv, where: .!inside) }
                let d = x - kv
                s1 += d
                s2.addProduct(d, d)
                mn.replace(with: x, where: x .< mn)
                mx.replace(with: x, where: x .> mx)
                if !full {
                    // `ts` is sorted, so the lanes inside are a prefix: count them.
                    let ones = TimeLanes(repeating: 0).replacing(with: 1, where: inside)
                    let a = ones.lowHalf &+ ones.highHalf, b = a.lowHalf &+ a.highHalf
                    j = p + Int(b[0] &+ b[1])
                    break
                }
                p += lanes
            }
            var t1 = horizontalSum(s1), t2 = horizontalSum(s2), lo = horizontalMin(mn), hi = horizontalMax(mx)
            if j == n {
                // The column ends inside this bucket: fewer than `lanes` readings remain.
                var q = p
                while q < n && tp[q] < end {
                    let x = vp[q], d = x - k
                    t1 += d
                    t2 += d * d
                    lo = Swift.min(lo, x)
                    hi = Swift.max(hi, x)
                    q += 1
                }
                j = q
            }
            buckets.append(Bucket(start: start, stats: stats(count: j - i, shift: k, s1: t1, s2: t2, min: lo, max: hi)))
            i = j
        }
    }

    /// Reduces one run of values (one bucket). SIMD.
    public static func reduce(_ values: UnsafeBufferPointer<Double>) -> BucketStats {
        let n = values.count
        guard n > 0, let vp = values.baseAddress else { return .empty }
        let k = vp[0]
        let kv = Lanes(repeating: k)
        var s1 = Lanes(), s2 = Lanes(), mn = kv, mx = kv
        var p = 0
        while p + Lanes.scalarCount <= n {
            let x = UnsafeRawPointer(vp + p).loadUnaligned(as: Lanes.self)
            let d = x - kv
            s1 += d
            s2.addProduct(d, d)
            mn.replace(with: x, where: x .< mn)
            mx.replace(with: x, where: x .> mx)
            p += Lanes.scalarCount
        }
        var t1 = horizontalSum(s1), t2 = horizontalSum(s2), lo = horizontalMin(mn), hi = horizontalMax(mx)
        while p < n {
            let x = vp[p], d = x - k
            t1 += d
            t2 += d * d
            lo = Swift.min(lo, x)
            hi = Swift.max(hi, x)
            p += 1
        }
        return stats(count: n, shift: k, s1: t1, s2: t2, min: lo, max: hi)
    }

    /// The same reduction as `rollup`, one reading at a time: the scalar reference.
    public static func rollupScalar(ts: UnsafeBufferPointer<Int64>, values: UnsafeBufferPointer<Double>,
                                    width: BucketWidth, into buckets: inout [Bucket]) {
        precondition(ts.count == values.count, "ts and values differ in length")
        let n = ts.count
        var i = 0
        while i < n {
            let start = width.start(of: ts[i])
            let end = start &+ width.rawValue
            let k = values[i]
            var t1 = 0.0, t2 = 0.0, lo = k, hi = k
            var j = i
            while j < n && ts[j] < end {
                let x = values[j], d = x - k
                t1 += d
                t2 += d * d
                lo = Swift.min(lo, x)
                hi = Swift.max(hi, x)
                j += 1
            }
            buckets.append(Bucket(start: start, stats: stats(count: j - i, shift: k, s1: t1, s2: t2, min: lo, max: hi)))
            i = j
        }
    }

    /// Merges time-ordered buckets of a narrower width (minutes) into buckets of `width` (days).
    public static func coarsen(_ fine: [Bucket], to width: BucketWidth, into coarse: inout [Bucket]) {
        for b in fine {
            let start = width.start(of: b.start)
            if let last = coarse.last, last.start == start {
                coarse[coarse.count - 1].stats.merge(b.stats)
            } else {
                coarse.append(Bucket(start: start, stats: b.stats))
            }
        }
    }

    // Lane folds as halving trees: the standard library's `min()`/`max()` on SIMD vectors are
    // out-of-line scalar loops, which cost as much as the reduction of a whole minute.
    @inline(__always)
    static func horizontalSum(_ v: Lanes) -> Double {
        let a = v.lowHalf + v.highHalf, b = a.lowHalf + a.highHalf
        return b[0] + b[1]
    }

    @inline(__always)
    static func horizontalMin(_ v: Lanes) -> Double {
        var a = v.lowHalf
        a.replace(with: v.highHalf, where: v.highHalf .< a)
        var b = a.lowHalf
        b.replace(with: a.highHalf, where: a.highHalf .< b)
        return Swift.min(b[0], b[1])
    }

    @inline(__always)
    static func horizontalMax(_ v: Lanes) -> Double {
        var a = v.lowHalf
        a.replace(with: v.highHalf, where: v.highHalf .> a)
        var b = a.lowHalf
        b.replace(with: a.highHalf, where: a.highHalf .> b)
        return Swift.max(b[0], b[1])
    }

    @inline(__always)
    static func stats(count: Int, shift k: Double, s1: Double, s2: Double, min: Double, max: Double) -> BucketStats {
        let n = Double(count)
        return BucketStats(count: count, sum: k * n + s1, mean: k + s1 / n,
                           m2: Swift.max(0, s2 - s1 * s1 / n), min: min, max: max)
    }
}
