import VigilCodec
import VigilRollup

/// The row tables: readings not sealed yet (the recent hours, and late readings for sealed spans
/// until the sealer folds them in). One table per 6-hour span (`ChunkSpan`), `reading_<n>` for
/// the span starting at `n · 6 h`, keyed `(bucket, series_id, ts)` where `bucket` is the reading's
/// 10-second slot, beginning 2 s past the 10 s like the commits (docs/storage.md "Rows"):
///
/// - **Time first.** A live plant's commit (every series, the last 10 s at the default
///   `ingest.apply_interval`) lands in the slot or two at its table's end — a few pages for
///   thousands of readings — instead of one page inside each series' range, rewritten and split
///   every few commits. Slots of 10 s, not minutes: a commit rewrites the pages of the slots it
///   adds to, and a minute's would be rewritten by each of its six commits (measured: 134 B a
///   reading of WAL instead of 47).
/// - **A table per span.** Sealing writes a span's chunks and drops its table: the pages go to the
///   free list unwritten. Deleting the same rows from one big table writes every page again
///   (SQLite rebalances as it deletes) — as many bytes as the rows took to write.
///
/// A series' rows are read one slot at a time: a seek per slot that holds any row, slots without
/// rows skipped by the index (6 hours of rows: 2,160 seeks). The view
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

    /// `bucket(of: ts)` in SQL.
    static let bucketSQL = "((ts - \(bucketOffset)) - (((ts - \(bucketOffset)) % \(bucketMillis)) + \(bucketMillis)) % \(bucketMillis)) / \(bucketMillis)"

    /// The span (its index: start / span length) holding `ts`.
    static func span(of ts: Int64) -> Int64 { ChunkSpan.start(of: ts) / ChunkSpan.millis }

    static func table(_ span: Int64) -> String { "\"reading_\(span)\"" }

    /// The upsert of `rows` readings into their span's table, `(bucket, series, ts, value, seq)`
    /// each; a later row wins over an earlier one with its key, in the statement or the table.
    static func upsert(span: Int64, rows: Int = 1) -> String {
        "INSERT INTO \(table(span))(bucket, series_id, ts, value, seq) VALUES"
            + Array(repeating: "(?,?,?,?,?)", count: rows).joined(separator: ",")
            + " ON CONFLICT(bucket, series_id, ts) DO UPDATE SET value=excluded.value, seq=excluded.seq"
    }

    /// Rows are upserted this many at a time (one statement), in key order.
    static let rowsPerStatement = 64

    /// A reading on its way into a row table.
    struct Pending {
        var span: Int64
        var bucket: Int64
        var series: Int64
        var ts: Int64
        var value: Double
        var seq: Int64?
    }

    /// Upserts `rows` (readings of one batch, in arrival order; their tables exist) in key order,
    /// `rowsPerStatement` to a statement: a commit's rows fill the pages at its slots' end one
    /// after the other (SQLite packs pages appended in order; rows in arrival order land all over
    /// the slot and split its pages half full), and a statement's fixed cost is paid once for
    /// many rows. The sort is stable, so of two readings with one key the later still wins.
    static func upsert(_ db: SQLiteConnection, _ rows: inout [Pending]) throws {
        rows.withUnsafeMutableBufferPointer { b in
            // Stable: indices break ties.
            var order = Array(b.indices)
            order.sort { i, j in
                let x = b[i], y = b[j]
                if x.span != y.span { return x.span < y.span }
                if x.bucket != y.bucket { return x.bucket < y.bucket }
                if x.series != y.series { return x.series < y.series }
                if x.ts != y.ts { return x.ts < y.ts }
                return i < j
            }
            let sorted = order.map { b[$0] }
            for k in b.indices { b[k] = sorted[k] }
        }
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
                    let at = Int32(5 * k)
                    try statement.bind(.int(r.bucket), at: at + 1)
                    try statement.bind(.int(r.series), at: at + 2)
                    try statement.bind(.int(r.ts), at: at + 3)
                    try statement.bind(.double(r.value), at: at + 4)
                    try statement.bind(r.seq.map { .int($0) } ?? .null, at: at + 5)
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
        try db.execute("""
            CREATE TABLE \(table(span))(
                bucket INTEGER NOT NULL, series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, seq INTEGER,
                PRIMARY KEY(bucket, series_id, ts)
            ) WITHOUT ROWID
            """)
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
        let terms = try spans(db).map { "SELECT series_id, ts, value, seq FROM \(table($0))" }
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
        let s = try db.statement("SELECT bucket FROM \(table(span)) WHERE bucket >= ?1 AND bucket <= ?2 ORDER BY bucket LIMIT 1")
        while next <= last {
            try s.bind([.int(next), .int(last)])
            guard try s.step() else { break }
            let b = s.int(0)
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
            let r = try db.statement("SELECT ts, value, seq FROM \(table(span)) WHERE bucket = ?1 AND series_id = ?2 AND ts >= ?3 AND ts < ?4 ORDER BY ts")
            try forEachBucket(db, span: span, from: from, to: to) { b in
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
    }

    /// The rows of every series in `[from, to)` (times and values, no `seq`), by series, each oldest
    /// first: one ordered scan of the slots (time first: every series' rows of a slot are together),
    /// for work on many series' same minutes at once (a rollup pass).
    static func readAll(_ db: SQLiteConnection, from: Int64, to: Int64) throws -> [Int64: SeriesColumns] {
        var out: [Int64: SeriesColumns] = [:]
        for span in try spans(db, from: from, to: to) {
            let r = try db.statement("SELECT series_id, ts, value FROM \(table(span)) WHERE bucket >= ?1 AND bucket <= ?2 AND ts >= ?3 AND ts < ?4")
            defer { r.reset() }
            try r.bind([.int(bucket(of: from)), .int(bucket(of: to - 1)), .int(from), .int(to)])
            // In key order, (slot, series, ts): each series' rows come oldest first.
            while try r.step() {
                out[r.int(0), default: SeriesColumns()].append(ts: r.int(1), value: r.double(2), seq: nil)
            }
        }
        return out
    }

    /// The earliest row timestamp of `series` at or after `from`.
    static func first(_ db: SQLiteConnection, series: Int64, from: Int64) throws -> Int64? {
        var found: Int64?
        for span in try spans(db, from: from, to: .max) {
            try forEachBucket(db, span: span, from: from, to: .max) { b in
                found = try db.query("SELECT ts FROM \(table(span)) WHERE bucket = ?1 AND series_id = ?2 AND ts >= ?3 ORDER BY ts LIMIT 1",
                                     [.int(b), .int(series), .int(from)]) { $0.int(0) }.first
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
                try db.run("DELETE FROM \(table(span)) WHERE bucket = ?1 AND series_id = ?2 AND ts >= ?3 AND ts < ?4",
                           [.int(b), .int(series), .int(from), .int(to)])
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
                minutes += try db.query("SELECT DISTINCT \(floored(BucketWidth.minute.rawValue)) FROM \(table(span)) WHERE bucket = ?1 AND series_id = ?2 AND ts < ?3",
                                        [.int(b), .int(series), .int(before)]) { $0.int(0) }
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
            try db.run("INSERT INTO \(table(span))(bucket, series_id, ts, value, seq) "
                       + "SELECT \(bucketSQL), series_id, ts, value, seq FROM reading_v1 WHERE ts >= ? AND ts < ?",
                       [.int(span * ChunkSpan.millis), .int((span + 1) * ChunkSpan.millis)])
        }
        try db.execute("DROP TABLE reading_v1")
        try recreateView(db)
    }

    /// Schema v15: slots begin `bucketOffset` past the 10 s (they began on it). Each row's slot is
    /// recomputed from its `ts` (one key per `(series, ts)` before and after: no collision).
    static func moveSlots(_ db: SQLiteConnection) throws {
        for span in try spans(db) {
            try db.run("UPDATE \(table(span)) SET bucket = \(bucketSQL) WHERE bucket != \(bucketSQL)")
        }
    }
}
