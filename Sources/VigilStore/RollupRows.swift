import VigilCore
import VigilRollup

/// A rollup table (minutes or days) kept as two, so that a pass's writes share pages (schema
/// v18). Every pass writes the newest bucket of every series it rolled up: keyed series first,
/// once a series' buckets fill a page that is a page a series a pass, however small the bucket.
/// So buckets starting at or after the table's horizon live in `<name>_recent`, keyed
/// `(start, series_id)` — a pass's buckets of the whole fleet on a few pages — and the older ones
/// in `<name>_kept`, keyed `(series_id, start)` for reading a series' range. `keepRecent` moves the
/// oldest buckets across once the recent ones span twice `keep` (a page a series a move) and
/// advances the horizon (`engine_state`, in the same transaction; it never goes back).
///
/// A bucket lives in exactly one of the two, chosen by its start against the horizon, so a reader
/// takes the kept ones before the horizon and the recent ones from it — the recent ones of one
/// series found start by start (a seek per distinct start), never by scanning the fleet's. The
/// view `<name>` (UNION ALL) serves reads of a few buckets and of whole tables. Every write goes
/// through here.
struct RollupRows: Sendable {
    let name: String
    /// How much stays recent after a move (they move once the recent buckets span twice this).
    let keep: Int64
    /// The upstream stream whose change log notes its buckets' changes.
    let stream: UpstreamStream

    static let minute = RollupRows(name: "rollup_minute", keep: 3_600_000, stream: .rollupMinute)
    static let day = RollupRows(name: "rollup_day", keep: 2 * BucketWidth.day.rawValue, stream: .rollupDay)

    var kept: String { name + "_kept" }
    var recent: String { name + "_recent" }
    var tables: [String] { [kept, recent] }
    private var horizonKey: String { name + "_recent_from" }

    /// Buckets starting before this are kept, the others recent.
    func horizon(_ db: SQLiteConnection) throws -> Int64 {
        try db.query("SELECT value FROM engine_state WHERE key = ?", [.text(horizonKey)]) { $0.int(0) }.first ?? .min
    }

    // MARK: writing

    /// Writes `series`' bucket at `start`; an empty one removes it.
    func store(_ db: SQLiteConnection, series: Int64, start: Int64, stats: BucketStats) throws {
        let table = start < (try horizon(db)) ? kept : recent
        if stats.count == 0 {
            try db.run("DELETE FROM \(table) WHERE series_id = ? AND start = ?", [.int(series), .int(start)])
        } else {
            try db.run("INSERT OR REPLACE INTO \(table)(series_id, start, count, sum, mean, m2, min, max) VALUES(?,?,?,?,?,?,?,?)",
                       [.int(series), .int(start)] + RollupMaintenance.bindings(stats))
        }
    }

    /// Removes `series`' buckets starting in `[from, to)`; returns how many went.
    @discardableResult
    func delete(_ db: SQLiteConnection, series: Int64, from: Int64 = .min, to: Int64 = .max) throws -> Int {
        try db.run("DELETE FROM \(kept) WHERE series_id = ? AND start >= ? AND start < ?", [.int(series), .int(from), .int(to)])
        var removed = db.changes
        for b in try readRecent(db, series: series, from: from, to: to, limit: nil) {
            try db.run("DELETE FROM \(recent) WHERE start = ? AND series_id = ?", [.int(b.start), .int(series)])
            removed += 1
        }
        return removed
    }

    /// Moves the oldest recent buckets to the kept table once the recent ones span twice `keep`.
    func keepRecent(_ db: SQLiteConnection) throws {
        let span = try db.query("SELECT (SELECT min(start) FROM \(recent)), (SELECT max(start) FROM \(recent))") {
            $0.isNull(0) ? nil : ($0.int(0), $0.int(1))
        }.first ?? nil
        guard let (oldest, newest) = span, newest - oldest >= 2 * keep else { return }
        try move(db, before: newest - keep)
    }

    /// Moves every recent bucket starting before `before` to the kept table, and the horizon to
    /// `before` (unless it is there already).
    /// Never past the newest recent bucket: a horizon ahead of the data sends every bucket written
    /// later below it into the series-first table, a page a series a pass (the sealer, run on a
    /// fresh store, set it to the seal horizon's day, and a backfill of the days before then wrote
    /// its minutes that way: most of what it wrote).
    func move(_ db: SQLiteConnection, before wanted: Int64) throws {
        guard let newest = try db.query("SELECT max(start) FROM \(recent)", row: { $0.isNull(0) ? nil : $0.int(0) }).first ?? nil else { return }
        let before = min(wanted, newest + 1)
        guard before > (try horizon(db)) else { return }
        try db.run("""
            INSERT OR REPLACE INTO \(kept)(series_id, start, count, sum, mean, m2, min, max)
            SELECT series_id, start, count, sum, mean, m2, min, max FROM \(recent) WHERE start < ?1 ORDER BY series_id, start
            """, [.int(before)])
        try db.run("DELETE FROM \(recent) WHERE start < ?", [.int(before)])
        try db.run("INSERT OR REPLACE INTO engine_state(key, value) VALUES(?, ?)", [.text(horizonKey), .int(before)])
    }

    // MARK: reading

    /// `series`' buckets starting in `[from, to)`, oldest first, at most `limit`.
    func read(_ db: SQLiteConnection, series: Int64, from: Int64, to: Int64, limit: Int?) throws -> [Bucket] {
        guard from < to else { return [] }
        let horizon = try horizon(db)
        var out: [Bucket] = []
        if from < horizon {
            out = try db.query("SELECT start, count, sum, mean, m2, min, max FROM \(kept) WHERE series_id = ? AND start >= ? AND start < ? ORDER BY start LIMIT ?",
                               [.int(series), .int(from), .int(min(to, horizon)), .int(Int64(limit ?? -1))]) { Self.bucket($0) }
        }
        if to > horizon, out.count < limit ?? .max {
            out += try readRecent(db, series: series, from: max(from, horizon), to: to, limit: limit.map { $0 - out.count })
        }
        return out
    }

    /// The first and last start of `series`' buckets.
    func extent(_ db: SQLiteConnection, series: Int64) throws -> (first: Int64, last: Int64)? {
        // Two subqueries: SQLite answers a lone min() or max() with one index seek.
        let kept = try db.query("SELECT (SELECT min(start) FROM \(kept) WHERE series_id = ?1), (SELECT max(start) FROM \(kept) WHERE series_id = ?1)",
                                [.int(series)]) { $0.isNull(0) ? nil : ($0.int(0), $0.int(1)) }.first ?? nil
        let recent = try readRecent(db, series: series, from: .min, to: .max, limit: nil)
        guard let first = kept?.0 ?? recent.first?.start, let last = recent.last?.start ?? kept?.1 else { return nil }
        return (first, last)
    }

    /// The first start of `series`' buckets at or after `from`.
    func first(_ db: SQLiteConnection, series: Int64, from: Int64) throws -> Int64? {
        let kept = try db.query("SELECT min(start) FROM \(kept) WHERE series_id = ? AND start >= ?", [.int(series), .int(from)]) {
            $0.isNull(0) ? nil : $0.int(0)
        }.first ?? nil
        return try kept ?? readRecent(db, series: series, from: from, to: .max, limit: 1).first?.start
    }

    /// `series`' recent buckets in `[from, to)`: the recursive part walks the table's distinct
    /// starts (one seek each, whatever the fleet's size), the join looks the series up at each.
    private func readRecent(_ db: SQLiteConnection, series: Int64, from: Int64, to: Int64, limit: Int?) throws -> [Bucket] {
        try db.query("""
            WITH RECURSIVE s(start) AS (
                SELECT (SELECT min(start) FROM \(recent) WHERE start >= ?1)
                UNION ALL
                SELECT (SELECT min(start) FROM \(recent) WHERE start > s.start) FROM s WHERE s.start < ?2
            )
            SELECT r.start, r.count, r.sum, r.mean, r.m2, r.min, r.max FROM s JOIN \(recent) r ON r.start = s.start AND r.series_id = ?3
            WHERE s.start < ?2 ORDER BY r.start LIMIT ?4
            """, [.int(from), .int(to), .int(series), .int(Int64(limit ?? -1))]) { Self.bucket($0) }
    }

    private static func bucket(_ s: Statement) -> Bucket {
        Bucket(start: s.int(0), stats: RollupMaintenance.stats(s, from: 1))
    }
}
