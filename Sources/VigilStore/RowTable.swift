import VigilCodec
import VigilRollup

/// The row tables: readings not sealed yet (the recent hours, and late readings for sealed spans
/// until the sealer folds them in). One table per 6-hour span (`ChunkSpan`), `reading_<n>` for
/// the span starting at `n · 6 h`, `(key, value, seq)` with one integer `key` for the reading's
/// 10-second slot (beginning 2 s past the 10 s, like the commits), series and time in the slot —
/// in that order (docs/storage.md "Rows"):
///
/// - **Time first.** A live plant's commit (every series, the last 10 s at the default
///   `ingest.apply_interval`) lands in the slot at its table's end — a few pages for thousands of
///   readings — instead of one page inside each series' range, rewritten and split every few
///   commits. Slots of 10 s, not minutes: a commit rewrites the pages of the slots it adds to,
///   and a minute's would be rewritten by each of its six commits (measured: 134 B a reading of
///   WAL instead of 47). Slots begin where commits fall, so a commit fills one slot whole.
/// - **One integer key (a rowid).** SQLite packs a rowid table's pages full when rows are
///   appended in key order, and a commit's rows are (a batch is upserted in key order); a table
///   keyed by three columns (`WITHOUT ROWID`, until schema v15) is an index B-tree, rebalanced
///   across neighbouring pages at every split, and its rows carried the slot and the whole
///   time. Measured at a live plant's pace: 44.8 → 29.5 B of WAL a reading; six hours of rows
///   25.7 B a reading in the file instead of 33.5.
/// - **A table per span.** Sealing writes a span's chunks and drops its table: the pages go to the
///   free list unwritten. Deleting the same rows from one big table writes every page again
///   (SQLite rebalances as it deletes) — as many bytes as the rows took to write.
///
/// A series' rows are read one slot at a time: a seek per slot that holds any row, slots without
/// rows skipped by the key (6 hours of rows: 2,160 seeks). The view
/// `reading(series_id, ts, value, seq)` is every table together, for people reading the file with
/// `sqlite3`.
enum RowTable {
    static let bucketMillis: Int64 = 10_000
    /// Slots begin this long past each multiple of 10 s, where commits fall
    /// (`CommitSchedule.lateArrivalMillis` past each multiple of `ingest.apply_interval`): a live
    /// commit holds one whole slot, so its rows, in key order, are appended after the table's
    /// last row and fill its pages once. Slots on the 10 s were split by every commit (their first
    /// 2 s in one, the rest in the next: between the first part's rows of each series), which
    /// wrote their pages twice and left them part full.
    static let bucketOffset: Int64 = CommitSchedule.lateArrivalMillis

    /// The bucket holding `ts` (floor division, correct for any sign).
    static func bucket(of ts: Int64) -> Int64 {
        let x = ts - bucketOffset
        let q = x / bucketMillis
        return x % bucketMillis < 0 ? q - 1 : q
    }

    static func start(ofBucket b: Int64) -> Int64 { b * bucketMillis + bucketOffset }

    // MARK: the key

    /// `key = (slot << 46) | (series << 14) | (ts − the slot's start)`, where `slot` counts the
    /// span's buckets from its first (at most 2,161 of them: 12 bits), `series` is the series id
    /// (32 bits) and the time in the slot is below 10,000 ms (14 bits): 58 bits, ordered like
    /// `(bucket, series, ts)`.
    static let timeBits: Int64 = 14, seriesBits: Int64 = 32
    static let timeMask: Int64 = (1 << timeBits) - 1, seriesMask: Int64 = (1 << seriesBits) - 1

    static func firstBucket(_ span: Int64) -> Int64 { bucket(of: span * ChunkSpan.millis) }

    /// The key of the reading of `series` at `ts` in its span's table. A series id needs 32 bits
    /// (4 billion series: ids are never reused, but nothing makes that many).
    static func key(span: Int64, series: Int64, ts: Int64) -> Int64 {
        precondition(series >= 0 && series <= seriesMask, "series id \(series) beyond the row key's 32 bits")
        let b = bucket(of: ts)
        return key(span: span, bucket: b, series: series, time: ts - start(ofBucket: b))
    }

    /// The key of `time` ms into bucket `b` (of `span`) for `series`; `series` one past the last
    /// (`seriesMask + 1`) or `time` 10,000 give the key just past a series' or a slot's keys.
    static func key(span: Int64, bucket b: Int64, series: Int64, time: Int64) -> Int64 {
        ((b - firstBucket(span)) << (seriesBits + timeBits)) + (series << timeBits) + time
    }

    static func decode(span: Int64, key: Int64) -> (bucket: Int64, series: Int64, ts: Int64) {
        let b = firstBucket(span) + (key >> (seriesBits + timeBits))
        return (b, (key >> timeBits) & seriesMask, start(ofBucket: b) + (key & timeMask))
    }

    /// The keys of `series` in bucket `b` with times in `[from, to)`.
    static func keys(span: Int64, bucket b: Int64, series: Int64, from: Int64, to: Int64) -> Range<Int64> {
        let begin = start(ofBucket: b)
        let lo = from <= begin ? 0 : from >= begin + bucketMillis ? bucketMillis : from - begin
        let hi = to <= begin ? 0 : to - bucketMillis >= begin ? bucketMillis : to - begin  // no overflow at `.max`
        return key(span: span, bucket: b, series: series, time: lo)..<key(span: span, bucket: b, series: series, time: max(lo, hi))
    }

    /// `key` in SQL, of the columns `series_id` and `ts` (for converting tables of other layouts).
    static func keySQL(span: Int64) -> String {
        let b = "(((ts - \(bucketOffset)) - (((ts - \(bucketOffset)) % \(bucketMillis)) + \(bucketMillis)) % \(bucketMillis)) / \(bucketMillis))"
        return "(((\(b) - \(firstBucket(span))) << \(seriesBits + timeBits)) + (series_id << \(timeBits)) + (ts - (\(b) * \(bucketMillis) + \(bucketOffset))))"
    }

    /// The span (its index: start / span length) holding `ts`.
    static func span(of ts: Int64) -> Int64 { ChunkSpan.start(of: ts) / ChunkSpan.millis }

    static func table(_ span: Int64) -> String { "\"reading_\(span)\"" }

    /// The upsert of `rows` readings into their span's table, `(key, value, seq)` each; a later
    /// row wins over an earlier one with its key, in the statement or the table.
    static func upsert(span: Int64, rows: Int = 1) -> String {
        "INSERT INTO \(table(span))(key, value, seq) VALUES"
            + Array(repeating: "(?,?,?)", count: rows).joined(separator: ",")
            + " ON CONFLICT(key) DO UPDATE SET value=excluded.value, seq=excluded.seq"
    }

    /// Rows are upserted this many at a time (one statement), in key order.
    static let rowsPerStatement = 64

    /// A reading on its way into a row table.
    struct Pending {
        var span: Int64
        var key: Int64
        var value: Double
        var seq: Int64?

        /// `span`: `RowTable.span(of: ts)`, which the writer has at hand.
        init(span: Int64, series: Int64, ts: Int64, value: Double, seq: Int64?) {
            self.span = span
            key = RowTable.key(span: span, series: series, ts: ts)
            self.value = value
            self.seq = seq
        }
    }

    /// Upserts `rows` (readings of one batch, in arrival order; their tables exist) in key order,
    /// `rowsPerStatement` to a statement: a commit's rows are appended at the end of its slot's
    /// table one after the other, which SQLite packs into full pages (rows in arrival order land
    /// all over the slot), and a statement's fixed cost is paid once for many rows. The sort is
    /// stable, so of two readings with one key the later still wins.
    static func upsert(_ db: SQLiteConnection, _ rows: inout [Pending]) throws {
        rows = rows.indices.sorted { i, j in
            let x = rows[i], y = rows[j]
            if x.span != y.span { return x.span < y.span }
            if x.key != y.key { return x.key < y.key }
            return i < j
        }.map { rows[$0] }
        var i = 0
        while i < rows.count {
            let span = rows[i].span
            var end = i
            while end < rows.count, rows[end].span == span { end += 1 }
            while i < end {
                let n = end - i >= rowsPerStatement ? rowsPerStatement : 1
                let statement = try db.statement(upsert(span: span, rows: n))
                statement.reset()
                for (k, r) in rows[i..<(i + n)].enumerated() {
                    let at = Int32(3 * k)
                    try statement.bind(.int(r.key), at: at + 1)
                    try statement.bind(.double(r.value), at: at + 2)
                    try statement.bind(r.seq.map { .int($0) } ?? .null, at: at + 3)
                }
                _ = try statement.step()
                i += n
            }
        }
    }

    /// The spans that have a row table, oldest first (listed again only when the schema changed).
    static func spans(_ db: SQLiteConnection) throws -> [Int64] {
        let schema = try db.query("PRAGMA schema_version") { $0.int(0) }.first ?? 0
        if let known = db.rowSpans, known.schema == schema { return known.spans }
        let spans = try db.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'reading_*'") {
            Int64($0.text(0).dropFirst("reading_".count))
        }.compactMap { $0 }.sorted()
        db.rowSpans = (schema, spans)
        return spans
    }

    /// Creates the table of `span` unless it exists (in the caller's transaction); true when it
    /// did, and then the caller recreates the view before it commits.
    @discardableResult
    static func create(_ db: SQLiteConnection, span: Int64) throws -> Bool {
        let exists = try db.query("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", [.text("reading_\(span)")]) { _ in true }
        guard exists.isEmpty else { return false }
        try db.execute("CREATE TABLE \(table(span))(key INTEGER PRIMARY KEY, value REAL NOT NULL, seq INTEGER)")
        return true
    }

    /// Drops the table of `span` (in the caller's transaction).
    static func drop(_ db: SQLiteConnection, span: Int64) throws {
        db.forgetStatements(containing: table(span))
        try db.execute("DROP TABLE IF EXISTS \(table(span))")
        try recreateView(db)
    }

    /// `reading`: every row table as one, oldest span first. A compound SELECT has at most 500
    /// terms (a backfill of a year makes 1,460 tables): groups of 400 in subqueries.
    static func recreateView(_ db: SQLiteConnection) throws {
        let terms = try spans(db).map { span in
            "SELECT (key >> \(timeBits)) & \(seriesMask) AS series_id, "
                + "\(start(ofBucket: firstBucket(span))) + (key >> \(seriesBits + timeBits)) * \(bucketMillis) + (key & \(timeMask)) AS ts, "
                + "value, seq FROM \(table(span))"
        }
        let union = terms.isEmpty
            ? "SELECT 0 AS series_id, 0 AS ts, 0.0 AS value, NULL AS seq WHERE 0"
            : stride(from: 0, to: terms.count, by: 400).map { i in
                "SELECT * FROM (\(terms[i..<min(i + 400, terms.count)].joined(separator: " UNION ALL ")))"
            }.joined(separator: " UNION ALL ")
        try db.execute("DROP VIEW IF EXISTS reading; CREATE VIEW reading AS \(union)")
    }

    /// The spans with a row table that overlap `[from, to)`.
    private static func spans(_ db: SQLiteConnection, from: Int64, to: Int64) throws -> [Int64] {
        guard from < to else { return [] }
        return try spans(db).filter { $0 * ChunkSpan.millis < to && ($0 + 1) * ChunkSpan.millis > from }
    }

    /// Calls `body` with each bucket of `span`'s table holding any row (of any series) among the
    /// buckets of `[from, to)`, oldest first, until it returns false. `body` may delete rows.
    static func forEachBucket(_ db: SQLiteConnection, span: Int64, from: Int64, to: Int64, _ body: (Int64) throws -> Bool) throws {
        let from = max(from, span * ChunkSpan.millis), to = min(to, (span + 1) * ChunkSpan.millis)
        guard from < to else { return }
        var next = bucket(of: from)
        let last = bucket(of: to - 1)
        let s = try db.statement("SELECT key FROM \(table(span)) WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT 1")
        let end = key(span: span, bucket: last + 1, series: 0, time: 0)
        while next <= last {
            try s.bind([.int(key(span: span, bucket: next, series: 0, time: 0)), .int(end)])
            guard try s.step() else { break }
            let b = decode(span: span, key: s.int(0)).bucket
            s.reset()
            guard try body(b) else { break }
            next = b + 1
        }
        s.reset()
    }

    /// Appends the rows of `series` in `[from, to)`, oldest first, at most `limit` of them.
    static func read(_ db: SQLiteConnection, series: Int64, from: Int64, to: Int64, limit: Int = .max,
                     withSeq: Bool, into out: inout SeriesColumns) throws {
        var n = 0
        for span in try spans(db, from: from, to: to) where n < limit {
            let r = try db.statement("SELECT key, value, seq FROM \(table(span)) WHERE key >= ?1 AND key < ?2 ORDER BY key")
            try forEachBucket(db, span: span, from: from, to: to) { b in
                defer { r.reset() }
                let range = keys(span: span, bucket: b, series: series, from: from, to: to)
                try r.bind([.int(range.lowerBound), .int(range.upperBound)])
                let begin = start(ofBucket: b)
                while n < limit, try r.step() {
                    out.ts.append(begin + (r.int(0) & timeMask))
                    out.values.append(r.double(1))
                    if withSeq { out.seq.append(r.isNull(2) ? nil : r.int(2)) }
                    n += 1
                }
                return n < limit
            }
        }
    }

    /// The rows of every series in `[from, to)` (times and values, no `seq`), by series, each oldest
    /// first: one ordered scan of the slots (time first: every series' rows of a slot are together),
    /// for work on many series' same minutes at once (a rollup pass).
    static func readAll(_ db: SQLiteConnection, from: Int64, to: Int64) throws -> [Int64: SeriesColumns] {
        var out: [Int64: SeriesColumns] = [:]
        guard from < to else { return out }
        for span in try spans(db, from: from, to: to) {
            let r = try db.statement("SELECT key, value FROM \(table(span)) WHERE key >= ?1 AND key < ?2")
            defer { r.reset() }
            let first = max(bucket(of: from), firstBucket(span)), last = min(bucket(of: to - 1), bucket(of: (span + 1) * ChunkSpan.millis - 1))
            try r.bind([.int(key(span: span, bucket: first, series: 0, time: 0)), .int(key(span: span, bucket: last + 1, series: 0, time: 0))])
            // In key order, (slot, series, ts): each series' rows come oldest first.
            while try r.step() {
                let (_, series, ts) = decode(span: span, key: r.int(0))
                guard ts >= from, ts < to else { continue }
                out[series, default: SeriesColumns()].append(ts: ts, value: r.double(1), seq: nil)
            }
        }
        return out
    }

    /// The earliest row timestamp of `series` at or after `from`.
    static func first(_ db: SQLiteConnection, series: Int64, from: Int64) throws -> Int64? {
        var found: Int64?
        for span in try spans(db, from: from, to: .max) {
            try forEachBucket(db, span: span, from: from, to: .max) { b in
                let range = keys(span: span, bucket: b, series: series, from: from, to: .max)
                found = try db.query("SELECT min(key) FROM \(table(span)) WHERE key >= ?1 AND key < ?2",
                                     [.int(range.lowerBound), .int(range.upperBound)]) { $0.isNull(0) ? nil : start(ofBucket: b) + ($0.int(0) & timeMask) }.first ?? nil
                return found == nil
            }
            if found != nil { return found }
        }
        return nil
    }

    /// Deletes the rows of `series` in `[from, to)`; returns how many went. Row by row: for
    /// retention and removals, not for sealing.
    @discardableResult
    static func delete(_ db: SQLiteConnection, series: Int64, from: Int64 = .min, to: Int64 = .max) throws -> Int {
        var n = 0
        for span in try spans(db, from: from, to: to) {
            try forEachBucket(db, span: span, from: from, to: to) { b in
                let range = keys(span: span, bucket: b, series: series, from: from, to: to)
                try db.run("DELETE FROM \(table(span)) WHERE key >= ?1 AND key < ?2", [.int(range.lowerBound), .int(range.upperBound)])
                n += db.changes
                return true
            }
        }
        return n
    }

    /// The minutes (starts) in which `series` has rows before `before`, oldest first.
    static func minutes(_ db: SQLiteConnection, series: Int64, before: Int64) throws -> [Int64] {
        var minutes: [Int64] = []
        for span in try spans(db, from: .min, to: before) {
            try forEachBucket(db, span: span, from: .min, to: before) { b in
                let range = keys(span: span, bucket: b, series: series, from: .min, to: before)
                let begin = start(ofBucket: b)
                for key in try db.query("SELECT key FROM \(table(span)) WHERE key >= ?1 AND key < ?2 ORDER BY key",
                                        [.int(range.lowerBound), .int(range.upperBound)], row: { $0.int(0) }) {
                    let minute = BucketWidth.minute.start(of: begin + (key & timeMask))
                    if minutes.last != minute { minutes.append(minute) }
                }
                return true
            }
        }
        return minutes
    }

    /// SQL for `ts` floored to a multiple of `width` (SQLite's `%` keeps the dividend's sign).
    private static func floored(_ width: Int64) -> String { "(ts - ((ts % \(width)) + \(width)) % \(width))" }

    /// Schema v13: the v1 row table `reading` (keyed by series first) split into span tables.
    static func splitLegacyTable(_ db: SQLiteConnection) throws {
        let spans = try db.query("SELECT DISTINCT \(floored(ChunkSpan.millis)) / \(ChunkSpan.millis) FROM reading") { $0.int(0) }
        try db.execute("ALTER TABLE reading RENAME TO reading_v1")
        for span in spans {
            try create(db, span: span)
            try db.run("INSERT INTO \(table(span))(key, value, seq) "
                       + "SELECT \(keySQL(span: span)), value, seq FROM reading_v1 WHERE ts >= ? AND ts < ?",
                       [.int(span * ChunkSpan.millis), .int((span + 1) * ChunkSpan.millis)])
        }
        try db.execute("DROP TABLE reading_v1")
        try recreateView(db)
    }

    /// Schema v15: span tables keyed `(bucket, series_id, ts)` (`WITHOUT ROWID`, slots on the
    /// 10 s) become tables of one integer key, slots 2 s past the 10 s.
    static func rekey(_ db: SQLiteConnection) throws {
        try db.execute("DROP VIEW IF EXISTS reading")
        for span in try spans(db) {
            let columns = try db.query("SELECT name FROM pragma_table_info(?)", [.text("reading_\(span)")]) { $0.text(0) }
            guard columns.contains("bucket") else { continue }
            try db.execute("ALTER TABLE \(table(span)) RENAME TO reading_old")
            try create(db, span: span)
            try db.execute("INSERT INTO \(table(span))(key, value, seq) SELECT \(keySQL(span: span)), value, seq FROM reading_old ORDER BY 1")
            try db.execute("DROP TABLE reading_old")
        }
        try recreateView(db)
    }
}
