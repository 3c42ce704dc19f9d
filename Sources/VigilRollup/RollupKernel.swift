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
            var acc = LaneSums(shift: vp[i])
            let endv = TimeLanes(repeating: end)
            var p = i
            var j = n
            while p + lanes <= n {
                let t = UnsafeRawPointer(tp + p).loadUnaligned(as: TimeLanes.self)
                var x = UnsafeRawPointer(vp + p).loadUnaligned(as: Lanes.self)
                let inside = t .< endv
                let full = all(inside)
                if !full { x.replace(with: acc.k, where: .!inside) }
                acc.add(x)
                if !full {
                    // `ts` is sorted, so the lanes inside are a prefix: count them.
                    let ones = TimeLanes(repeating: 0).replacing(with: 1, where: inside)
                    let a = ones.lowHalf &+ ones.highHalf, b = a.lowHalf &+ a.highHalf
                    j = p + Int(b[0] &+ b[1])
                    break
                }
                p += lanes
            }
            var sums = acc.folded()
            if j == n {
                // The column ends inside this bucket: fewer than `lanes` readings remain.
                var q = p
                while q < n && tp[q] < end {
                    sums.add(vp[q])
                    q += 1
                }
                j = q
            }
            buckets.append(Bucket(start: start, stats: sums.stats(count: j - i)))
            i = j
        }
    }

    /// Reduces one run of values (one bucket). SIMD.
    public static func reduce(_ values: UnsafeBufferPointer<Double>) -> BucketStats {
        let n = values.count
        guard n > 0, let vp = values.baseAddress else { return .empty }
        var acc = LaneSums(shift: vp[0])
        var p = 0
        while p + Lanes.scalarCount <= n {
            acc.add(UnsafeRawPointer(vp + p).loadUnaligned(as: Lanes.self))
            p += Lanes.scalarCount
        }
        var sums = acc.folded()
        while p < n {
            sums.add(vp[p])
            p += 1
        }
        return sums.stats(count: n)
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
            var sums = ScalarSums(shift: values[i])
            var j = i
            while j < n && ts[j] < end {
                sums.add(values[j])
                j += 1
            }
            buckets.append(Bucket(start: start, stats: sums.stats(count: j - i)))
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
}

/// One bucket's shifted sums, minimum and maximum, eight lanes at a time (see `RollupKernel`).
struct LaneSums {
    let k: RollupKernel.Lanes
    var s1 = RollupKernel.Lanes(), s2 = RollupKernel.Lanes(), mn: RollupKernel.Lanes, mx: RollupKernel.Lanes

    @inline(__always)
    init(shift: Double) {
        k = RollupKernel.Lanes(repeating: shift)
        mn = k
        mx = k
    }

    @inline(__always)
    mutating func add(_ x: RollupKernel.Lanes) {
        let d = x - k
        s1 += d
        s2.addProduct(d, d)
        mn.replace(with: x, where: x .< mn)
        mx.replace(with: x, where: x .> mx)
    }

    /// The lanes folded into scalar sums, to which the readings past the last full vector add.
    @inline(__always)
    func folded() -> ScalarSums {
        ScalarSums(k: k[0], s1: RollupKernel.horizontalSum(s1), s2: RollupKernel.horizontalSum(s2),
                   lo: RollupKernel.horizontalMin(mn), hi: RollupKernel.horizontalMax(mx))
    }
}

/// One bucket's shifted sums `s1 = Σ(x−k)`, `s2 = Σ(x−k)²`, minimum and maximum, one reading at
/// a time; `stats` turns them into `BucketStats`.
struct ScalarSums {
    let k: Double
    var s1: Double, s2: Double, lo: Double, hi: Double

    @inline(__always)
    init(k: Double, s1: Double, s2: Double, lo: Double, hi: Double) {
        self.k = k
        self.s1 = s1
        self.s2 = s2
        self.lo = lo
        self.hi = hi
    }

    @inline(__always)
    init(shift k: Double) { self.init(k: k, s1: 0, s2: 0, lo: k, hi: k) }

    @inline(__always)
    mutating func add(_ x: Double) {
        let d = x - k
        s1 += d
        s2 += d * d
        lo = Swift.min(lo, x)
        hi = Swift.max(hi, x)
    }

    @inline(__always)
    func stats(count: Int) -> BucketStats {
        let n = Double(count)
        return BucketStats(count: count, sum: k * n + s1, mean: k + s1 / n, m2: Swift.max(0, s2 - s1 * s1 / n), min: lo, max: hi)
    }
}
