import VigilCodec

/// The row table, `reading`: readings not sealed yet (the recent hours, and late readings for
/// sealed spans until the sealer folds them in), keyed `(bucket, series_id, ts)` where `bucket` is
/// the reading's minute. Time first: a live plant's commit (every series, the same few seconds)
/// lands in the minute or two at the table's end — a few pages for thousands of readings —
/// instead of one page inside each series' range, rewritten and split every few commits
/// (docs/storage.md "Rows"). A series' rows are read one minute at a time: a seek per minute
/// that holds any row, minutes without rows skipped by the index.
enum RowTable {
    static let bucketMillis: Int64 = 60_000

    /// The bucket holding `ts` (floor division, correct for any sign).
    static func bucket(of ts: Int64) -> Int64 {
        let q = ts / bucketMillis
        return ts % bucketMillis < 0 ? q - 1 : q
    }

    /// The upsert of one reading: `(bucket, series, ts, value, seq)`; the later write wins.
    static let upsert = "INSERT INTO reading(bucket, series_id, ts, value, seq) VALUES(?,?,?,?,?) "
        + "ON CONFLICT(bucket, series_id, ts) DO UPDATE SET value=excluded.value, seq=excluded.seq"

    /// Calls `body` with each bucket holding any row (of any series) among the buckets of
    /// `[from, to)`, oldest first, until it returns false. `body` may delete rows.
    static func forEachBucket(_ db: SQLiteConnection, from: Int64, to: Int64, _ body: (Int64) throws -> Bool) throws {
        var from = from
        while let b = try firstBucket(db, from: from, to: to), try body(b), b < bucket(of: .max) {
            from = (b + 1) * bucketMillis
        }
    }

    /// The first bucket holding any row among the buckets of `[from, to)`.
    static func firstBucket(_ db: SQLiteConnection, from: Int64, to: Int64) throws -> Int64? {
        guard from < to else { return nil }
        let s = try db.statement("SELECT bucket FROM reading WHERE bucket >= ?1 AND bucket <= ?2 ORDER BY bucket LIMIT 1")
        defer { s.reset() }
        try s.bind([.int(bucket(of: from)), .int(bucket(of: to - 1))])
        return try s.step() ? s.int(0) : nil
    }

    /// Appends the rows of `series` in `[from, to)`, oldest first, at most `limit` of them.
    static func read(_ db: SQLiteConnection, series: Int64, from: Int64, to: Int64, limit: Int = .max,
                     withSeq: Bool, into out: inout SeriesColumns) throws {
        guard limit > 0 else { return }
        var n = 0
        try forEachBucket(db, from: from, to: to) { b in
            let r = try db.statement("SELECT ts, value, seq FROM reading WHERE bucket = ?1 AND series_id = ?2 AND ts >= ?3 AND ts < ?4 ORDER BY ts")
            defer { r.reset() }
            try r.bind([.int(b), .int(series), .int(from), .int(to)])
            while n < limit, try r.step() {
                out.ts.append(r.int(0))
                out.values.append(r.double(1))
                if withSeq { out.seq.append(r.isNull(2) ? nil : r.int(2)) }
                n += 1
            }
            return n < limit
        }
    }

    /// The earliest row timestamp of `series` at or after `from`.
    static func first(_ db: SQLiteConnection, series: Int64, from: Int64) throws -> Int64? {
        var found: Int64?
        try forEachBucket(db, from: from, to: .max) { b in
            found = try db.query("SELECT ts FROM reading WHERE bucket = ?1 AND series_id = ?2 AND ts >= ?3 ORDER BY ts LIMIT 1",
                                 [.int(b), .int(series), .int(from)]) { $0.int(0) }.first
            return found == nil
        }
        return found
    }

    /// Deletes the rows of `series` in `[from, to)`; returns how many went.
    @discardableResult
    static func delete(_ db: SQLiteConnection, series: Int64, from: Int64 = .min, to: Int64 = .max) throws -> Int {
        var n = 0
        try forEachBucket(db, from: from, to: to) { b in
            try db.run("DELETE FROM reading WHERE bucket = ?1 AND series_id = ?2 AND ts >= ?3 AND ts < ?4",
                       [.int(b), .int(series), .int(from), .int(to)])
            n += db.changes
            return true
        }
        return n
    }

    /// The minutes (starts) in which `series` has rows before `before`, oldest first.
    static func minutes(_ db: SQLiteConnection, series: Int64, before: Int64) throws -> [Int64] {
        var minutes: [Int64] = []
        try forEachBucket(db, from: .min, to: before) { b in
            minutes += try db.query("SELECT DISTINCT ts - ((ts % 60000) + 60000) % 60000 FROM reading WHERE bucket = ?1 AND series_id = ?2 AND ts < ?3",
                                    [.int(b), .int(series), .int(before)]) { $0.int(0) }
            return true
        }
        return minutes
    }
}
