import VigilRollup

/// When a trickle of journaled readings is committed to SQLite (`ingest.apply_interval`).
///
/// Every commit rewrites a page of every series it touches (its rows, its rollup to-do), so at a
/// plant's pace fewer commits write far fewer bytes (`Benchmarks/live_writes.py`). Commits fall
/// on the wall clock's multiples of `every`, `offset` past each: at 60 s that is hh:mm:02, once
/// a minute, just after the minute's readings have arrived, so a live minute is committed whole
/// and rolled up once, and health and the minute rollups see it about as soon as they would
/// with a commit every second. A late reading — its minute had ended before it arrived (a
/// replay, a device catching up) — waits only `lateWait`: its minute's rollup waits for it. A
/// backlog does not wait (`IngestBuffer`), and neither do readings when the wall clock steps
/// back: `every` of waiting on the monotonic clock also commits.
public struct CommitSchedule: Sendable, Equatable {
    /// Milliseconds between commits; 0: commit at once (every flush of the applier).
    public var every: Int64
    /// Milliseconds past each multiple of `every` (taken modulo `every`).
    public var offset: Int64

    /// Two seconds for a minute's last readings to arrive (device clocks and networks lag a little).
    public static let lateArrivalMillis: Int64 = 2_000

    public init(every: Int64, offset: Int64 = Self.lateArrivalMillis) {
        precondition(every >= 0 && offset >= 0)
        self.every = every
        self.offset = every > 0 ? offset % every : 0
    }

    /// Whether readings waiting since `since` (wall ms), `waited` seconds ago on the monotonic
    /// clock, are due for their commit at wall time `now`: a commit time lies in `(since, now]`,
    /// or the first late reading among them has waited `lateWait` (`lateWaited` seconds).
    public func isDue(since: Int64, now: Int64, waited: Double, lateWaited: Double? = nil) -> Bool {
        guard every > 0 else { return true }
        return slot(of: now) > slot(of: since) || waited * 1000 >= Double(every) || (lateWaited.map { $0 >= lateWait } ?? false)
    }

    /// Whether a reading at `ts` arriving at wall time `arrival` is late: its minute ended more
    /// than `lateArrivalMillis` before.
    public func isLate(ts: Int64, arrival: Int64) -> Bool {
        BucketWidth.minute.start(of: ts) + BucketWidth.minute.rawValue + Self.lateArrivalMillis < arrival
    }

    /// Seconds a late reading waits for others to share its commit (a trickle of late readings
    /// commits about once a second).
    public var lateWait: Double { min(1, Double(every) / 1000) }

    /// At most how long (ms) after a minute ends every reading of it that arrived in time is
    /// committed: `offset` when commits fall on every minute's start (`every` divides a minute),
    /// else `every`.
    public var minuteCommittedWithin: Int64 {
        guard every > 0 else { return 0 }
        return 60_000 % every == 0 ? offset : every
    }

    /// Commit slots are numbered from the epoch: slot k starts at `k * every + offset`.
    private func slot(of t: Int64) -> Int64 {
        let x = t - offset
        let q = x / every
        return x % every < 0 ? q - 1 : q
    }
}
