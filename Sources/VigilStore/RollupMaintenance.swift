import VigilCodec
import VigilCore
import VigilRollup

/// Keeps the minute and day rollup tables equal to a recomputation from the raw rows. Minutes are
/// UTC minutes; days are the plant's local days (`PlantCalendar`: 23, 24 or 25 hours).
///
/// Writes mark the `(series, minute)` buckets they touch in `rollup_dirty`, inside their own
/// transaction. A pass re-reduces each due minute from its raw rows with the SIMD kernel (only the
/// buckets a change touched: late, replaced or backfilled readings cost one minute and one day
/// each), then re-merges the days those minutes belong to. A minute is due once nothing has
/// changed in it for the flush delay and it has ended, or at the latest `maxWait` after its first
/// change. Rollups are derived data: `rebuild` recomputes any time range from raw with the same
/// kernels, and retention moves what it prunes into `rollup_base` first, so pruning never changes
/// a rollup.
struct RollupMaintenance {
    let db: SQLiteConnection
    let flushDelay: Int64
    let maxWait: Int64 = 60_000
    /// The rollup streams an upstream sink sends: their changed keys go to the change log.
    let upstream: Set<UpstreamStream>
    /// The plant's days.
    let calendar: PlantCalendar
    private var raw = SeriesColumns()
    /// Each series' newest day as its last pass left it, to merge the next minutes into.
    private var folds: [Int64: DayFold] = [:]
    /// What this pass changed in `folds`, kept once its transaction commits (nil: forgotten).
    private var foldChanges: [Int64: DayFold?] = [:]

    /// A day's merge up to a minute: the state `recomputeDay` reached after merging the day's base
    /// and its minutes through `lastMinute`, in order. Merging later minutes into it is the same
    /// sequence of operations as merging the whole day again, so it gives the same bits — without
    /// reading up to 1,440 minutes back at every pass (a backfill's passes did: a third of
    /// vigild's CPU). Valid while every change to the day's minutes goes through `pass`: the
    /// other writers (rebuild, recut, retention, a machine's removal) forget them all.
    struct DayFold {
        var day: Int64
        var lastMinute: Int64
        var stats: BucketStats
    }

    static let minute = BucketWidth.minute.rawValue

    init(db: SQLiteConnection, flushDelay: Int64, upstream: Set<UpstreamStream> = [], calendar: PlantCalendar = .utc) {
        self.db = db
        self.flushDelay = flushDelay
        self.upstream = upstream.intersection([.rollupMinute, .rollupDay])
        self.calendar = calendar
    }

    // MARK: marking (inside the writer's transaction)

    /// Marks a minute of `series` for the next pass. A mark before the minute's end is not written
    /// over an existing one: the minute is not due before its end anyway (`pass`), so only marks
    /// after it (late readings) postpone it — and a live minute's row is written once, not at
    /// every commit of the minute (a page of `rollup_dirty` per commit at a plant's pace).
    func markDirty(series: Int64, minute: Int64, now: Int64) throws {
        try db.run("INSERT INTO rollup_dirty(series_id, minute, first_mark, last_mark) VALUES(?1, ?2, ?3, ?3) "
                   + "ON CONFLICT(series_id, minute) DO UPDATE SET last_mark = excluded.last_mark "
                   + "WHERE excluded.last_mark > rollup_dirty.minute + \(Self.minute)",
                   [.int(series), .int(minute), .int(now)])
    }

    /// Whether a minute of `series` (of any series when nil) in `[from, to)` still waits for a pass
    /// (the sealer leaves such spans and days alone until their rollups are done).
    static func hasPendingMinutes(_ db: SQLiteConnection, series: Int64?, from: Int64, to: Int64) throws -> Bool {
        let pending = if let series {
            try db.query("SELECT 1 FROM rollup_dirty WHERE series_id = ? AND minute >= ? AND minute < ? LIMIT 1",
                         [.int(series), .int(from), .int(to)]) { _ in true }
        } else {
            try db.query("SELECT 1 FROM rollup_dirty WHERE minute >= ? AND minute < ? LIMIT 1", [.int(from), .int(to)]) { _ in true }
        }
        return !pending.isEmpty
    }

    /// A reading is late when its minute had already been closable on arrival.
    func isLate(ts: Int64, receivedAt: Int64) -> Bool {
        receivedAt - (BucketWidth.minute.start(of: ts) + Self.minute) >= flushDelay
    }

    // MARK: passes

    /// Re-reduces up to `limit` due minutes (all dirty minutes before `forceBefore`, if given),
    /// oldest first and every series' minute together (their rows share the row tables' pages),
    /// and the days they belong to — in a full pass (a backlog), not a day whose series' next
    /// minute is waiting too (a later pass merges it). Runs inside the caller's transaction.
    mutating func pass(now: Int64, limit: Int, forceBefore: Int64? = nil) throws -> RollupPass {
        let due: [(Int64, Int64)]
        if let forceBefore {
            due = try db.query("SELECT series_id, minute FROM rollup_dirty WHERE minute < ?1 ORDER BY minute, series_id LIMIT ?2",
                               [.int(forceBefore), .int(Int64(limit))]) { ($0.int(0), $0.int(1)) }
        } else {
            let quiet = now - flushDelay
            due = try db.query(
                "SELECT series_id, minute FROM rollup_dirty WHERE (minute + 60000 <= ?1 AND last_mark <= ?1) OR first_mark <= ?2 "
                    + "ORDER BY minute, series_id LIMIT ?3",
                [.int(quiet), .int(now - maxWait), .int(Int64(limit))]) { ($0.int(0), $0.int(1)) }
        }
        // The minutes recomputed, by day, oldest first (the query's order).
        var dayMinutes: [SeriesBucket: [Bucket]] = [:]
        var window = RowWindow()
        for (i, (series, minute)) in due.enumerated() {
            if !window.covers(minute) { window = try RowWindow.load(db, due: due[i...]) }
            let stats = try recomputeMinute(series: series, start: minute, rows: window.rows(of: series, from: minute, to: minute + Self.minute))
            try db.run("DELETE FROM rollup_dirty WHERE series_id = ? AND minute = ?", [.int(series), .int(minute)])
            dayMinutes[SeriesBucket(series: series, start: calendar.dayStart(of: minute)), default: []].append(Bucket(start: minute, stats: stats))
        }
        var days = Set(dayMinutes.keys)
        let changed = Set(days.map(\.series))
        if forceBefore == nil, due.count == limit, let last = due.last?.1 {
            // A backlog, worked through pass after pass: a day whose series has its next minutes
            // waiting is merged by the pass that reaches them (a day is a merge of up to 1,440
            // minutes; oldest minute first, every pass would merge every series' day again).
            let next = Dictionary(uniqueKeysWithValues: try db.query(
                "SELECT series_id, min(minute) FROM rollup_dirty WHERE minute > ?1 AND minute <= ?2 GROUP BY series_id",
                [.int(last), .int(last + RowWindow.span)]) { ($0.int(0), $0.int(1)) })
            days = days.filter { d in next[d.series].map { $0 >= calendar.dayAfter(d.start) } ?? true }
        }
        // A day left for a later pass: its fold takes its minutes now (or is forgotten).
        for (d, minutes) in dayMinutes where !days.contains(d) {
            foldChanges[d.series] = .some(folded(series: d.series, day: d.start, minutes: minutes))
        }
        for d in days {
            let fold = try folded(series: d.series, day: d.start, minutes: dayMinutes[d] ?? []) ?? mergeDay(series: d.series, start: d.start)
            try store(fold.stats, in: .day, series: d.series, start: d.start)
            foldChanges[d.series] = .some(fold)
        }
        for series in changed { try minuteRollupsChanged(series: series) }
        try keepRecent()
        return RollupPass(minutes: due.count, days: days.count)
    }

    /// Minutes waiting for a pass, and the rollup lag: how long the longest-waiting change has
    /// been waiting since its minute could first be rolled up — since the minute ended, or since
    /// the change if it came later (a late reading). About the flush delay when keeping up; a
    /// live minute's changes from its first seconds do not count as waiting while it is open.
    func backlog(now: Int64) throws -> (pending: Int, lagMillis: Int64) {
        let row = try db.query("""
            SELECT count(*), min(CASE WHEN minute + 60000 <= ?1 THEN max(first_mark, minute + 60000) END) FROM rollup_dirty
            """, [.int(now)]) {
            (Int($0.int(0)), $0.isNull(1) ? nil : $0.int(1))
        }[0]
        return (row.0, row.1.map { max(0, now - $0) } ?? 0)
    }

    /// `rows`: the minute's rows, when a `RowWindow` holds them. Returns what it stored.
    private mutating func recomputeMinute(series: Int64, start: Int64, rows: SeriesColumns? = nil) throws -> BucketStats {
        raw.removeAll()
        try RawHistory.read(db, series: series, from: start, to: start + Self.minute, withSeq: false, rows: rows, into: &raw)
        var stats = try base(level: 0, series: series, start: start)
        stats.merge(raw.values.withUnsafeBufferPointer { RollupKernel.reduce($0) })
        try MinuteChunks.unseal(db, series: series, from: start, to: start + Self.minute)
        try store(stats, in: .minute, series: series, start: start)
        return stats
    }

    /// The series' fold of `day` with `minutes` (the ones this pass recomputed) merged into it —
    /// the same operations in the same order as merging the day from scratch — when they all
    /// follow the minutes it has merged; nil otherwise (a late minute, another day, no fold),
    /// where the day must be merged again from every minute (`mergeDay`).
    private func folded(series: Int64, day: Int64, minutes: [Bucket]) -> DayFold? {
        let current: DayFold? = if let change = foldChanges[series] { change } else { folds[series] }
        guard var fold = current, fold.day == day, let first = minutes.first, first.start > fold.lastMinute else { return nil }
        for m in minutes { fold.stats.merge(m.stats) }
        fold.lastMinute = minutes.last!.start
        return fold
    }

    /// A local day merged from its base and every one of its minutes, in order.
    private func mergeDay(series: Int64, start: Int64) throws -> DayFold {
        var fold = DayFold(day: start, lastMinute: .min, stats: try base(level: 1, series: series, start: start))
        for m in try MinuteChunks.read(db, series: series, from: start, to: calendar.dayAfter(start), limit: nil) {
            fold.stats.merge(m.stats)
            fold.lastMinute = m.start
        }
        return fold
    }

    /// The pass's transaction committed: its folds hold.
    mutating func keepFolds() {
        for (series, fold) in foldChanges { folds[series] = fold }
        foldChanges = [:]
    }

    /// Rolled back, or the rollups were changed outside `pass`: no fold can be trusted.
    mutating func forgetFolds() {
        folds = [:]
        foldChanges = [:]
    }

    private func base(level: Int, series: Int64, start: Int64) throws -> BucketStats {
        try db.query("SELECT count, sum, mean, m2, min, max FROM rollup_base WHERE level = ? AND series_id = ? AND start = ?",
                     [.int(Int64(level)), .int(series), .int(start)], row: Self.stats).first ?? .empty
    }

    private func store(_ stats: BucketStats, in rows: RollupRows, series: Int64, start: Int64) throws {
        try rows.store(db, series: series, start: start, stats: stats)
        if upstream.contains(rows.stream) { try UpstreamLog.note(db, rows.stream, series: series, t: start) }
    }

    /// Moves the minutes and days that are no longer recent to their series-first tables.
    private func keepRecent() throws {
        try RollupRows.minute.keepRecent(db)
        try RollupRows.day.keepRecent(db)
    }

    // MARK: batch rebuild

    /// Recomputes every minute and day bucket of the local days overlapping `[from, to)` from raw
    /// (and retention bases), a day of one series at a time through the SIMD kernel, one
    /// transaction per series-day (a running daemon keeps ingesting in between).
    mutating func rebuild(from: Int64, to: Int64) throws -> RollupRebuild {
        forgetFolds()
        var result = RollupRebuild()
        let first = calendar.dayStart(of: max(from, Int64.min / 2))
        let seriesIDs = try db.query("SELECT id FROM series ORDER BY id") { $0.int(0) }
        for series in seriesIDs {
            var cursor = first
            while cursor < to, let day = try nextDay(series: series, from: cursor), day < to {
                result.readings += try db.transaction { try rebuildDay(series: series, start: day) }
                result.days += 1
                cursor = calendar.dayAfter(day)
            }
        }
        return result
    }

    /// Cuts the day rollups again on `calendar`'s days, from the minute rollups (the plant's time
    /// zone changed): one transaction per series. Days whose minutes retention has already folded
    /// away (those with a day base) keep the days they were cut on. Returns the series-days written.
    mutating func recutDays() throws -> Int {
        forgetFolds()
        var written = 0
        for series in try db.query("SELECT id FROM series ORDER BY id", row: { $0.int(0) }) {
            written += try db.transaction {
                let kept = Set(try db.query("SELECT start FROM rollup_base WHERE level = 1 AND series_id = ?", [.int(series)]) { $0.int(0) })
                let rows = try RollupRows.minute.extent(db, series: series)
                let ids = ChunkSpan.ids(series: series)
                let sealed = try db.query("SELECT min(id), max(id) FROM minute_chunk WHERE id BETWEEN ? AND ?", [.int(ids.lowerBound), .int(ids.upperBound)]) {
                    $0.isNull(0) ? nil : (MinuteChunks.dayStart(ofID: $0.int(0)), MinuteChunks.dayStart(ofID: $0.int(1)) + BucketWidth.day.rawValue - Self.minute)
                }.first ?? nil
                let extents = [rows, sealed].compactMap { $0 }
                for table in RollupRows.day.tables {
                    try db.run("DELETE FROM \(table) WHERE series_id = ?1 AND start NOT IN (SELECT start FROM rollup_base WHERE level = 1 AND series_id = ?1)",
                               [.int(series)])
                }
                guard let first = extents.map(\.0).min(), let last = extents.map(\.1).max() else { return 0 }
                var days = 0
                var day = calendar.dayStart(of: first)
                while day <= last {
                    if !kept.contains(day) {
                        let merged = try mergeDay(series: series, start: day)
                        try store(merged.stats, in: .day, series: series, start: day)
                        if merged.stats.count > 0 { days += 1 }
                    }
                    day = calendar.dayAfter(day)
                }
                return days
            }
        }
        return written
    }

    /// The first day at or after `from` where `series` has raw rows, minute rollups or bases.
    private func nextDay(series: Int64, from: Int64) throws -> Int64? {
        let first = [try RawHistory.first(db, series: series, from: from),
                     try db.query("SELECT min(id) FROM minute_chunk WHERE id BETWEEN ? AND ?",
                                  [.int(MinuteChunks.id(series: series, day: BucketWidth.day.start(of: max(from, 0)))), .int(ChunkSpan.ids(series: series).upperBound)]) {
                         $0.isNull(0) ? nil : MinuteChunks.dayStart(ofID: $0.int(0))
                     }.first ?? nil]
        let minutes = try RollupRows.minute.first(db, series: series, from: from)
        let candidates = try [
            "SELECT min(start) FROM rollup_base WHERE level = 0 AND series_id = ?1 AND start >= ?2",
            "SELECT min(start) FROM rollup_base WHERE level = 1 AND series_id = ?1 AND start >= ?2",
        ].compactMap { sql in
            try db.query(sql, [.int(series), .int(from)]) { $0.isNull(0) ? nil : $0.int(0) }.first ?? nil
        }
        return (candidates + ([minutes] + first).compactMap { $0 }).min().map { calendar.dayStart(of: $0) }
    }

    private mutating func rebuildDay(series: Int64, start: Int64) throws -> Int {
        let end = calendar.dayAfter(start)
        raw.removeAll()
        try RawHistory.read(db, series: series, from: start, to: end, withSeq: false, into: &raw)
        var minutes: [Bucket] = []
        raw.ts.withUnsafeBufferPointer { t in
            raw.values.withUnsafeBufferPointer { v in RollupKernel.rollup(ts: t, values: v, width: .minute, into: &minutes) }
        }
        // Merge what retention pruned under these minutes.
        let bases = try db.query("SELECT start, count, sum, mean, m2, min, max FROM rollup_base WHERE level = 0 AND series_id = ? AND start >= ? AND start < ?",
                                 [.int(series), .int(start), .int(end)]) { Bucket(start: $0.int(0), stats: Self.stats($0, from: 1)) }
        if !bases.isEmpty {
            var byStart = Dictionary(uniqueKeysWithValues: minutes.map { ($0.start, $0.stats) })
            for b in bases { byStart[b.start] = b.stats.merging(byStart[b.start] ?? .empty) }
            minutes = byStart.keys.sorted().map { Bucket(start: $0, stats: byStart[$0]!) }
        }
        try MinuteChunks.unseal(db, series: series, from: start, to: end)
        try RollupRows.minute.delete(db, series: series, from: start, to: end)
        for m in minutes { try store(m.stats, in: .minute, series: series, start: m.start) }
        var dayStats = try base(level: 1, series: series, start: start)
        for m in minutes { dayStats.merge(m.stats) }
        try store(dayStats, in: .day, series: series, start: start)
        try db.run("DELETE FROM rollup_dirty WHERE series_id = ? AND minute >= ? AND minute < ?", [.int(series), .int(start), .int(end)])
        try minuteRollupsChanged(series: series)
        try keepRecent()
        return raw.count
    }

    // MARK: retention

    /// Prunes raw rows before `rawBefore` (a 6-hour span start) and minute rollups before
    /// `minutesBefore` (a local day start; nil keeps them). What goes is folded into `rollup_base` first so every rollup keeps its
    /// value; callers keep `rawBefore <= minutesBefore`.
    mutating func prune(rawBefore: Int64?, minutesBefore: Int64?, now: Int64) throws -> RetentionPrune {
        var result = RetentionPrune()
        let horizon = max(rawBefore ?? .min, minutesBefore ?? .min)
        guard horizon > .min else { return result }
        // Every change below the horizon must be in the rollups before its rows go.
        while try pass(now: now, limit: 10_000, forceBefore: horizon).minutes > 0 {}
        forgetFolds()  // what follows changes minutes and bases outside a pass
        let seriesIDs = try db.query("SELECT id FROM series ORDER BY id") { $0.int(0) }
        for series in seriesIDs {
            if let rawBefore {
                let minutes = try RowTable.minutes(db, series: series, before: rawBefore)
                // Their minutes are folded from rows: sealed days go back to rows first.
                for day in Set(minutes.map { BucketWidth.day.start(of: $0) }) {
                    try MinuteChunks.unseal(db, series: series, from: day, to: day + BucketWidth.day.rawValue)
                }
                for m in minutes { try foldIntoBase(level: 0, from: "rollup_minute", series: series, start: m) }
                result.rawRows += try RowTable.delete(db, series: series, to: rawBefore)
                // Sealed spans end at or before the horizon (a day start): whole chunks go.
                let chunks = ChunkSpan.ids(series: series, below: ChunkSpan.id(series: series, start: rawBefore))
                let gone = try chunks.map { ids in
                    try db.query("SELECT id, count, bytes FROM chunk WHERE id BETWEEN ? AND ?", [.int(ids.lowerBound), .int(ids.upperBound)]) {
                        (start: ChunkSpan.start(ofID: $0.int(0)), count: Int($0.int(1)), bytes: Int($0.int(2)))
                    }
                } ?? []
                for c in gone {
                    try MinuteChunks.unseal(db, series: series, from: c.start, to: c.start + ChunkSpan.millis)
                    try foldIntoBase(level: 0, from: "rollup_minute", series: series, start: c.start, end: c.start + ChunkSpan.millis)
                    result.rawRows += c.count
                    result.chunks.chunks += 1
                    result.chunks.readings += c.count
                    result.chunks.bytes += c.bytes
                }
                if let chunks, !gone.isEmpty {
                    try db.run("DELETE FROM chunk_data WHERE id BETWEEN ? AND ?", [.int(chunks.lowerBound), .int(chunks.upperBound)])
                    try db.run("DELETE FROM chunk WHERE id BETWEEN ? AND ?", [.int(chunks.lowerBound), .int(chunks.upperBound)])
                }
            }
            if let minutesBefore {
                // Sealed minutes are kept by UTC day: the one the horizon falls in goes back to rows.
                let utcDay = BucketWidth.day.start(of: minutesBefore)
                if utcDay < minutesBefore { try MinuteChunks.unseal(db, series: series, from: utcDay, to: minutesBefore) }
                // The local days of what goes (quarter hours: every offset in use is a multiple).
                var days = Set(try db.query("SELECT DISTINCT start - start % 900000 FROM rollup_minute WHERE series_id = ? AND start < ?",
                                            [.int(series), .int(minutesBefore)]) { calendar.dayStart(of: $0.int(0)) })
                let sealed = ChunkSpan.ids(series: series, below: MinuteChunks.id(series: series, day: utcDay))
                let sealedDays = try sealed.map { ids in
                    try db.query("SELECT id, buckets FROM minute_chunk WHERE id BETWEEN ? AND ?", [.int(ids.lowerBound), .int(ids.upperBound)]) {
                        (day: MinuteChunks.dayStart(ofID: $0.int(0)), buckets: Int($0.int(1)))
                    }
                } ?? []
                for d in sealedDays {
                    days.insert(calendar.dayStart(of: d.day))
                    days.insert(calendar.dayStart(of: d.day + BucketWidth.day.rawValue - 1))
                }
                for d in days { try foldIntoBase(level: 1, from: "rollup_day", series: series, start: d) }
                var removed = try RollupRows.minute.delete(db, series: series, to: minutesBefore)
                if let sealed, !sealedDays.isEmpty {
                    try db.run("DELETE FROM minute_chunk WHERE id BETWEEN ? AND ?", [.int(sealed.lowerBound), .int(sealed.upperBound)])
                    removed += sealedDays.reduce(0) { $0 + $1.buckets }
                }
                result.minuteRows += removed
                if removed > 0 { try minuteRollupsChanged(series: series) }
                // The day bases now hold these minutes, including their own bases.
                try db.run("DELETE FROM rollup_base WHERE level = 0 AND series_id = ? AND start < ?", [.int(series), .int(minutesBefore)])
            }
        }
        return result
    }

    /// Bumps `series.rollup_gen` (in the caller's transaction): what was rendered from this
    /// series' minute rollups before is stale.
    private func minuteRollupsChanged(series: Int64) throws {
        try db.run("UPDATE series SET rollup_gen = rollup_gen + 1 WHERE id = ?", [.int(series)])
    }

    /// The bucket's full statistics (which include its old base) become its base; with `end`,
    /// every bucket starting in `[start, end)`.
    private func foldIntoBase(level: Int, from table: String, series: Int64, start: Int64, end: Int64? = nil) throws {
        try db.run("INSERT INTO rollup_base(level, series_id, start, count, sum, mean, m2, min, max) "
                   + "SELECT ?1, series_id, start, count, sum, mean, m2, min, max FROM \(table) WHERE series_id = ?2 AND start >= ?3 AND start < ?4 "
                   + "ON CONFLICT(level, series_id, start) DO UPDATE SET count = excluded.count, sum = excluded.sum, "
                   + "mean = excluded.mean, m2 = excluded.m2, min = excluded.min, max = excluded.max",
                   [.int(Int64(level)), .int(series), .int(start), .int(end ?? start + 1)])
    }

    // MARK: rows

    static func stats(_ s: Statement) -> BucketStats { stats(s, from: 0) }

    static func stats(_ s: Statement, from i: Int32) -> BucketStats {
        BucketStats(count: Int(s.int(i)), sum: s.double(i + 1), mean: s.double(i + 2), m2: s.double(i + 3),
                    min: s.double(i + 4), max: s.double(i + 5))
    }

    static func bindings(_ b: BucketStats) -> [SQLiteValue] {
        [.int(Int64(b.count)), .double(b.sum), .double(b.mean), .double(b.m2), .double(b.min), .double(b.max)]
    }
}

struct SeriesBucket: Hashable {
    var series: Int64
    var start: Int64
}

/// What one rollup pass did.
public struct RollupPass: Sendable, Equatable {
    public var minutes = 0
    public var days = 0
}

/// What a rebuild did.
public struct RollupRebuild: Sendable, Equatable {
    public var days = 0
    public var readings = 0
}

/// What a retention run removed.
public struct RetentionPrune: Sendable, Equatable {
    /// Raw readings removed, rows and sealed ones.
    public var rawRows = 0
    public var minuteRows = 0
    /// What went of the sealed history (counted in `rawRows` too).
    public var chunks = ChunkTotals()
}

/// Every series' rows of a few minutes, read in one scan for a pass that re-reduces many series'
/// same minutes (a live minute's close, a backlog): a seek per slot and series otherwise.
struct RowWindow {
    private var range: Range<Int64> = 0..<0
    private var bySeries: [Int64: SeriesColumns] = [:]

    /// A pass's minutes are this close together, and this many of them, to be read at once.
    static let span: Int64 = 10 * RollupMaintenance.minute
    static let least = 8

    func covers(_ minute: Int64) -> Bool { range.contains(minute) }

    /// The window from the first of `due` (ordered by minute) over the minutes within `span` of it;
    /// an empty one (every minute read by itself) when fewer than `least` are.
    static func load(_ db: SQLiteConnection, due: ArraySlice<(Int64, Int64)>) throws -> RowWindow {
        guard let first = due.first?.1 else { return RowWindow() }
        let near = due.prefix { $0.1 < first + span }
        guard near.count >= least, let last = near.last?.1 else { return RowWindow() }
        let to = last + RollupMaintenance.minute
        return RowWindow(range: first..<to, bySeries: try RowTable.readAll(db, from: first, to: to))
    }

    /// The rows of `series` in `[from, to)`, nil when outside the window.
    func rows(of series: Int64, from: Int64, to: Int64) -> SeriesColumns? {
        guard covers(from) else { return nil }
        guard let all = bySeries[series] else { return SeriesColumns() }
        let lo = Self.firstIndex(in: all.ts, atLeast: from), hi = Self.firstIndex(in: all.ts, atLeast: to)
        return SeriesColumns(ts: Array(all.ts[lo..<hi]), values: Array(all.values[lo..<hi]), seq: Array(all.seq[lo..<hi]))
    }

    /// The first index of sorted `ts` holding `t` or more (binary search).
    private static func firstIndex(in ts: [Int64], atLeast t: Int64) -> Int {
        var lo = 0, hi = ts.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ts[mid] < t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
