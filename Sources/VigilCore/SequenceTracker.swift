/// Loss accounting for one series from its device's sequence numbers (SPEC §3 `seq`), fed every
/// stored reading that carries one, in the order they are stored.
///
/// Every reading of a series is expected to carry the next number (vigil-sim numbers its samples;
/// each sensor of a sample carries the sample's number, so per series the numbers run 1, 2, 3 …).
/// A jump opens a gap whose size is counted as **missing**; a reading that later fills a gap is
/// **late** and no longer missing; a number at or below the highest seen that fills no gap is a
/// **duplicate** when it is not newer in time than the highest, and a device **restart** (its
/// counter began again) when it is newer — a restart is never loss. Numbers below the first one
/// ever seen that arrive later count as duplicates. Pure state, no I/O: the store
/// keeps one per series and persists it with the readings.
public struct SequenceTracker: Sendable, Equatable, Codable {
    /// The highest sequence number seen since the last restart, and its reading's timestamp.
    public private(set) var highest: Int64?
    public private(set) var highestTs: Int64 = .min
    public private(set) var missing: Int64 = 0
    public private(set) var duplicates: Int64 = 0
    public private(set) var late: Int64 = 0
    public private(set) var restarts: Int64 = 0
    /// Open gaps, oldest first. Beyond `maxGaps` the oldest is given up: its readings stay counted
    /// as missing and a late arrival into it is counted as a duplicate.
    public private(set) var gaps: [ClosedRange<Int64>] = []

    public static let maxGaps = 256
    /// A forward jump larger than this is a renumbered device, not a loss.
    public static let maxGap: Int64 = 10_000_000

    public init() {}

    public init(highest: Int64?, highestTs: Int64, missing: Int64, duplicates: Int64, late: Int64, restarts: Int64, gaps: [ClosedRange<Int64>]) {
        self.highest = highest
        self.highestTs = highestTs
        self.missing = missing
        self.duplicates = duplicates
        self.late = late
        self.restarts = restarts
        self.gaps = gaps
    }

    public enum Arrival: Sendable, Equatable {
        case next, gap(Int64), late, duplicate, restart
    }

    @discardableResult
    public mutating func observe(seq: Int64, ts: Int64) -> Arrival {
        guard let h = highest else {
            highest = seq
            highestTs = ts
            return .next
        }
        if seq > h {
            let skipped = seq &- h &- 1
            guard skipped >= 0, skipped <= Self.maxGap else { return restart(seq: seq, ts: ts) }
            highest = seq
            highestTs = ts
            guard skipped > 0 else { return .next }
            missing += skipped
            gaps.append((h + 1)...(seq - 1))
            if gaps.count > Self.maxGaps { gaps.removeFirst(gaps.count - Self.maxGaps) }
            return .gap(skipped)
        }
        if let i = gaps.firstIndex(where: { $0.contains(seq) }) {
            let g = gaps[i]
            var pieces: [ClosedRange<Int64>] = []
            if g.lowerBound < seq { pieces.append(g.lowerBound...(seq - 1)) }
            if seq < g.upperBound { pieces.append((seq + 1)...g.upperBound) }
            gaps.replaceSubrange(i...i, with: pieces)
            missing -= 1
            late += 1
            return .late
        }
        if ts > highestTs { return restart(seq: seq, ts: ts) }
        duplicates += 1
        return .duplicate
    }

    private mutating func restart(seq: Int64, ts: Int64) -> Arrival {
        restarts += 1
        highest = seq
        highestTs = ts
        gaps.removeAll()
        return .restart
    }

    /// Spreads `count` readings missing between two arrivals at `from` and `to` (both exclusive)
    /// over the minutes they would have fallen in, assuming they were evenly spaced (exact for a
    /// regular series): minute start → readings. Gaps over more than `maxMinutes` minutes go to the
    /// minute of `to`.
    public static func minutesOfGap(count: Int64, from: Int64, to: Int64, maxMinutes: Int64 = 100_000) -> [(minute: Int64, missing: Int64)] {
        func minute(_ t: Int64) -> Int64 { let r = t % 60_000; return r < 0 ? t - r - 60_000 : t - r }
        let span = to - from
        guard count > 0 else { return [] }
        guard span > 1, span / 60_000 <= maxMinutes else { return [(minute(to), count)] }
        // The k-th missing reading (1…count) is at from + span·k/(count+1); count those before each
        // minute's end, so the parts add up to exactly `count`.
        func before(_ t: Int64) -> Int64 {  // how many k have from + span·k/(count+1) < t
            guard t > from else { return 0 }
            let num = (t - from).multipliedFullWidth(by: count + 1)
            let (q, r) = span.dividingFullWidth(num)
            return min(count, r == 0 ? q - 1 : q)
        }
        var out: [(minute: Int64, missing: Int64)] = []
        var m = minute(from)
        var counted: Int64 = 0
        while m <= minute(to) && counted < count {
            let upTo = before(min(m + 60_000, to))
            if upTo > counted { out.append((m, upTo - counted)) }
            counted = upTo
            m += 60_000
        }
        if counted < count { out.append((minute(to), count - counted)) }
        return out
    }

    /// The open gaps as text (`"5-7,12-12"`), for storage.
    public var gapsText: String { gaps.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",") }

    public static func gaps(fromText text: String) -> [ClosedRange<Int64>] {
        text.split(separator: ",").compactMap { part in
            // Split at the first '-' after the first character (bounds may be negative).
            guard let dash = part.dropFirst().firstIndex(of: "-"),
                  let lo = Int64(part[..<dash]), let hi = Int64(part[part.index(after: dash)...]), lo <= hi else { return nil }
            return lo...hi
        }
    }
}
