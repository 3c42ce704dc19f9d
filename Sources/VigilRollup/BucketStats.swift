/// Statistics of one time bucket of one series: count, sum, mean, min, max and the sum of
/// squared deviations from the mean (`m2`), from which the standard deviation follows.
///
/// Mergeable: two buckets' statistics combine exactly as if their readings had been reduced
/// together (Chan, Golub & LeVeque's pairwise update), so a day is the merge of its minutes and a
/// pruned bucket's stored statistics merge with readings that arrive later. Keeping `mean` and
/// `m2` instead of a raw sum of squares avoids catastrophic cancellation (1e6 + small noise keeps
/// its noise).
public struct BucketStats: Sendable, Equatable {
    public var count: Int
    public var sum: Double
    public var mean: Double
    public var m2: Double
    public var min: Double
    public var max: Double

    public init(count: Int, sum: Double, mean: Double, m2: Double, min: Double, max: Double) {
        self.count = count
        self.sum = sum
        self.mean = mean
        self.m2 = m2
        self.min = min
        self.max = max
    }

    /// No readings: the identity of `merge`.
    public static let empty = BucketStats(count: 0, sum: 0, mean: 0, m2: 0, min: .infinity, max: -.infinity)

    /// One reading.
    public init(_ value: Double) {
        self.init(count: 1, sum: value, mean: value, m2: 0, min: value, max: value)
    }

    /// Population standard deviation of the bucket's readings (0 for a single reading).
    public var stddev: Double { count > 0 ? (Swift.max(m2, 0) / Double(count)).squareRoot() : 0 }

    /// Adds `other`'s readings to this bucket.
    public mutating func merge(_ other: BucketStats) {
        guard other.count > 0 else { return }
        guard count > 0 else { self = other; return }
        let na = Double(count), nb = Double(other.count), n = na + nb
        let delta = other.mean - mean
        mean += delta * (nb / n)
        m2 += other.m2 + delta * delta * (na * nb / n)
        sum += other.sum
        count += other.count
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    public func merging(_ other: BucketStats) -> BucketStats {
        var s = self
        s.merge(other)
        return s
    }
}

/// A bucket's start (epoch ms, UTC) and its statistics.
public struct Bucket: Sendable, Equatable {
    public var start: Int64
    public var stats: BucketStats

    public init(start: Int64, stats: BucketStats) {
        self.start = start
        self.stats = stats
    }
}

/// The rollup widths of SPEC §4. Buckets are `[start, start + width)` in UTC; epoch time has no
/// leap seconds, so every UTC minute and day has the same width.
public enum BucketWidth: Int64, Sendable, CaseIterable {
    case minute = 60_000
    case day = 86_400_000

    /// The start of the bucket holding `ts` (floor division, correct for any sign).
    @inlinable
    public func start(of ts: Int64) -> Int64 {
        let w = rawValue
        let q = ts / w
        return (ts % w < 0 ? q - 1 : q) * w
    }
}
