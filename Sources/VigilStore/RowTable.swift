import VigilCodec
import VigilRollup

/// The row tables: readings not sealed yet (the recent hours, and late readings for sealed spans
/// until the sealer folds them in). One table per 6-hour span (`ChunkSpan`), `reading_<n>` for
/// the span starting at `n · 6 h`, one row per series and 10-second slot (beginning 2 s past the
/// 10 s, like the commits): `(key, count, data)`, `key` the slot and the series in one integer,
/// `data` the slot's readings of the series in the chunk format (`ChunkCodec`, times from the
/// slot's start) — docs/storage.md "Rows":
///
/// - **A slot's readings in one row.** A live commit (every series, the last 10 s at the default
///   `ingest.apply_interval`) writes a row a series with its ten readings, ≈ 3–4 bytes a reading
///   and ≈ 1.6 of row overhead, where a row a reading took ≈ 28 (an 8-byte double, a 9-byte key,
///   the seq, the cell's header and pointer) — and that again at the checkpoint. A reading that
///   comes later to a slot already written (late or replaced data, a slot split across commits)
///   rewrites that one small row: the slot's readings merged, the later reading winning on a
///   timestamp.
/// - **Time first.** The commit's rows land in the slot at its table's end — a few pages for
///   thousands of series — instead of one page inside each series' range, rewritten and split
///   every few commits. Slots of 10 s, not minutes: a commit rewrites the pages of the slots it
///   adds to, and a minute's would be rewritten by each of its six commits. Slots begin where
///   commits fall, so a commit fills one slot whole.
/// - **One integer key (a rowid).** SQLite packs a rowid table's pages full when rows are
///   appended in key order, and a commit's rows are (a batch is written in key order).
/// - **A table per span.** Sealing writes a span's chunks and drops its table: the pages go to the
///   free list unwritten. Deleting the same rows from one big table writes every page again.
///
/// A series' rows are read one slot at a time: a seek per slot that holds any row, slots without
/// rows skipped by the key (6 hours of rows: 2,160 seeks). The view
/// `reading_slot(series_id, start, count, data)` is every table together, for people reading the
/// file with `sqlite3` (`sum(count)` counts the readings).
enum RowTable {
    static let bucketMillis: Int64 = 10_000
    /// Slots begin this long past each multiple of 10 s, where commits fall
    /// (`CommitSchedule.lateArrivalMillis` past each multiple of `ingest.apply_interval`): a live
    /// commit holds one whole slot, so its rows, in key order, are appended after the table's
    /// last row and fill its pages once.
    static let bucketOffset: Int64 = CommitSchedule.lateArrivalMillis

    /// The bucket holding `ts` (floor division, correct for any sign).
    static func bucket(of ts: Int64) -> Int64 {
        let x = ts - bucketOffset
        let q = x / bucketMillis
        return x % bucketMillis < 0 ? q - 1 : q
    }

    static func start(ofBucket b: Int64) -> Int64 { b * bucketMillis + bucketOffset }

    // MARK: the key

    /// `key = (slot << 32) | series`, where `slot` counts the span's buckets from its first (at
    /// most 2,161 of them: 12 bits) and `series` is the series id (32 bits): 44 bits, ordered like
    /// `(bucket, series)`.
    static let seriesBits: Int64 = 32
    static let seriesMask: Int64 = (1 << seriesBits) - 1

    static func firstBucket(_ span: Int64) -> Int64 { bucket(of: span * ChunkSpan.millis) }

    /// The key of `series`' row in bucket `b` of `span`; `series` one past the last
    /// (`seriesMask + 1`) gives the key just past the slot's. A series id needs 32 bits (4 billion
    /// series: ids are never reused, but nothing makes that many).
    static func key(span: Int64, bucket b: Int64, series: Int64) -> Int64 {
        precondition(series >= 0 && series <= seriesMask + 1, "series id \(series) beyond the row key's 32 bits")
        return ((b - firstBucket(span)) << seriesBits) + series
    }

    static func decode(span: Int64, key: Int64) -> (bucket: Int64, series: Int64) {
        (firstBucket(span) + (key >> seriesBits), key & seriesMask)
    }

    /// The span (its index: start / span length) holding `ts`.
    static func span(of ts: Int64) -> Int64 { ChunkSpan.start(of: ts) / ChunkSpan.millis }

    static func table(_ span: Int64) -> String { "\"reading_\(span)\"" }

    // MARK: a slot's readings

    /// A slot's readings as a row's `data`: the chunk format, times from the slot's start.
    static func encode(_ slot: SeriesColumns) -> [UInt8] { ChunkCodec.encode(slot) }

    /// Appends the readings of a row's `data` (of the slot starting at `begin`) in `[from, to)` to
    /// `out`, at most `limit` of them; returns how many.
    @discardableResult
    static func decode(_ data: UnsafeRawBufferPointer, begin: Int64, from: Int64 = .min, to: Int64 = .max, limit: Int = .max,
                       withSeq: Bool, scratch: inout SeriesColumns, into out: inout SeriesColumns) throws -> Int {
        scratch.removeAll()
        try ChunkCodec.decode(data, into: &scratch, withSeq: withSeq)
        var n = 0
        for i in 0..<scratch.count where n < limit {
            let ts = begin + scratch.ts[i]
            guard ts >= from, ts < to else { continue }
            out.ts.append(ts)
            out.values.append(scratch.values[i])
            if withSeq { out.seq.append(scratch.seq[i]) }
            n += 1
        }
        return n
    }

    /// A reading on its way into a row table.
    struct Pending {
        var span: Int64
        var key: Int64
        var ts: Int64
        var value: Double
        var seq: Int64?

        /// `span`: `RowTable.span(of: ts)`, which the writer has at hand.
        init(span: Int64, series: Int64, ts: Int64, value: Double, seq: Int64?) {
            self.span = span
            key = RowTable.key(span: span, bucket: RowTable.bucket(of: ts), series: series)
            self.ts = ts
            self.value = value
            self.seq = seq
        }
    }

    /// Writes `rows` (readings of one batch, in arrival order; their tables exist) in key order, a
    /// row per series and slot: a commit's rows are appended at the end of its slot's table one
    /// after the other, which SQLite packs into full pages. Of two readings with one timestamp the
    /// later wins (the sort is stable), in the batch and against what the row held.
    static func upsert(_ db: SQLiteConnection, _ rows: inout [Pending]) throws {
        // By slot, then time; stable, so of two readings at one time the later stays later (and wins).
        rows.sort { x, y in x.span != y.span ? x.span < y.span : x.key != y.key ? x.key < y.key : x.ts < y.ts }
        var slot = SeriesColumns(), scratch = SeriesColumns(), merged = SeriesColumns()
        var insert: (span: Int64, statement: Statement)?  // the statement of the span at hand
        var i = 0
        while i < rows.count {
            let span = rows[i].span, key = rows[i].key
            let begin = start(ofBucket: decode(span: span, key: key).bucket)
            slot.removeAll()
            while i < rows.count, rows[i].span == span, rows[i].key == key {
                let r = rows[i]
                if slot.ts.last == r.ts - begin {
                    slot.values[slot.count - 1] = r.value
                    slot.seq[slot.count - 1] = r.seq
                } else {
                    slot.append(ts: r.ts - begin, value: r.value, seq: r.seq)
                }
                i += 1
            }
            if insert?.span != span {
                insert = (span, try db.statement("INSERT INTO \(table(span))(key, count, data) VALUES(?1, ?2, ?3) ON CONFLICT(key) DO NOTHING"))
            }
            let statement = insert!.statement
            try statement.bind([.int(key), .int(Int64(slot.count)), .blob(encode(slot))])
            _ = try statement.step()
            statement.reset()
            guard db.changes == 0 else { continue }
            // The slot has a row already: merge, the batch's reading winning on a timestamp.
            var held = SeriesColumns()
            let read = try db.statement("SELECT data FROM \(table(span)) WHERE key = ?")
            try read.bind([.int(key)])
            if try read.step() { try read.withBlob(0) { _ = try decode($0, begin: 0, withSeq: true, scratch: &scratch, into: &held) } }
            read.reset()
            merged.removeAll()
            RawHistory.merge(sealed: held, rows: slot, limit: .max, withSeq: true, into: &merged)
            try db.run("UPDATE \(table(span)) SET count = ?2, data = ?3 WHERE key = ?1",
                       [.int(key), .int(Int64(merged.count)), .blob(encode(merged))])
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
        guard try !exists(db, span: span) else { return false }
        try db.execute("CREATE TABLE \(table(span))(key INTEGER PRIMARY KEY, count INTEGER NOT NULL, data BLOB NOT NULL)")
        return true
    }

    private static func exists(_ db: SQLiteConnection, span: Int64) throws -> Bool {
        try !db.query("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", [.text("reading_\(span)")]) { _ in true }.isEmpty
    }

    /// Drops the table of `span` (in the caller's transaction).
    static func drop(_ db: SQLiteConnection, span: Int64) throws {
        db.forgetStatements(containing: table(span))
        try db.execute("DROP TABLE IF EXISTS \(table(span))")
        try recreateView(db)
    }

    /// `reading_slot`: every row table as one, oldest span first. A compound SELECT has at most 500
    /// terms (a backfill of a year makes 1,460 tables): groups of 400 in subqueries.
    static func recreateView(_ db: SQLiteConnection) throws {
        let terms = try spans(db).map { span in
            "SELECT key & \(seriesMask) AS series_id, \(start(ofBucket: firstBucket(span))) + (key >> \(seriesBits)) * \(bucketMillis) AS start, "
                + "count, data FROM \(table(span))"
        }
        let union = terms.isEmpty
            ? "SELECT 0 AS series_id, 0 AS start, 0 AS count, x'' AS data WHERE 0"
            : stride(from: 0, to: terms.count, by: 400).map { i in
                "SELECT * FROM (\(terms[i..<min(i + 400, terms.count)].joined(separator: " UNION ALL ")))"
            }.joined(separator: " UNION ALL ")
        try db.execute("DROP VIEW IF EXISTS reading_slot; CREATE VIEW reading_slot AS \(union)")
    }

    /// The spans with a row table that overlap `[from, to)`.
    private static func spans(_ db: SQLiteConnection, from: Int64, to: Int64) throws -> [Int64] {
        guard from < to else { return [] }
        return try spans(db).filter { $0 * ChunkSpan.millis < to && ($0 + 1) * ChunkSpan.millis > from }
    }

    /// Calls `body` with each bucket of `span`'s table holding any row (of any series) among the
    /// buckets of `[from, to)`, oldest first, until it returns false. `body` may change rows.
    static func forEachBucket(_ db: SQLiteConnection, span: Int64, from: Int64, to: Int64, _ body: (Int64) throws -> Bool) throws {
        let from = max(from, span * ChunkSpan.millis), to = min(to, (span + 1) * ChunkSpan.millis)
        guard from < to else { return }
        var next = bucket(of: from)
        let last = bucket(of: to - 1)
        let s = try db.statement("SELECT key FROM \(table(span)) WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT 1")
        let end = key(span: span, bucket: last + 1, series: 0)
        while next <= last {
            try s.bind([.int(key(span: span, bucket: next, series: 0)), .int(end)])
            guard try s.step() else { break }
            let b = decode(span: span, key: s.int(0)).bucket
            s.reset()
            guard try body(b) else { break }
            next = b + 1
        }
        s.reset()
    }

    /// Calls `body` with the start and `data` of each row of `series` among the slots of
    /// `[from, to)`, oldest first, until it returns false.
    private static func forEachRow(_ db: SQLiteConnection, series: Int64, from: Int64, to: Int64,
                                   _ body: (_ span: Int64, _ key: Int64, _ begin: Int64, _ data: UnsafeRawBufferPointer) throws -> Bool) throws {
        for span in try spans(db, from: from, to: to) {
            let r = try db.statement("SELECT data FROM \(table(span)) WHERE key = ?")
            var more = true
            try forEachBucket(db, span: span, from: from, to: to) { b in
                let key = key(span: span, bucket: b, series: series)
                try r.bind([.int(key)])
                if try r.step() { more = try r.withBlob(0) { try body(span, key, start(ofBucket: b), $0) } }
                r.reset()
                return more
            }
            guard more else { return }
        }
    }

    /// Appends the readings of `series` in `[from, to)`, oldest first, at most `limit` of them.
    static func read(_ db: SQLiteConnection, series: Int64, from: Int64, to: Int64, limit: Int = .max,
                     withSeq: Bool, into out: inout SeriesColumns) throws {
        var n = 0, scratch = SeriesColumns()
        guard limit > 0 else { return }
        try forEachRow(db, series: series, from: from, to: to) { _, _, begin, data in
            n += try decode(data, begin: begin, from: from, to: to, limit: limit - n, withSeq: withSeq, scratch: &scratch, into: &out)
            return n < limit
        }
    }

    /// The readings of every series in `[from, to)` (times and values, no `seq`), by series, each
    /// oldest first: one ordered scan of the slots (time first: every series' rows of a slot are
    /// together), for work on many series' same minutes at once (a rollup pass).
    static func readAll(_ db: SQLiteConnection, from: Int64, to: Int64) throws -> [Int64: SeriesColumns] {
        var out: [Int64: SeriesColumns] = [:], scratch = SeriesColumns()
        guard from < to else { return out }
        for span in try spans(db, from: from, to: to) {
            let r = try db.statement("SELECT key, data FROM \(table(span)) WHERE key >= ?1 AND key < ?2")
            defer { r.reset() }
            let first = max(bucket(of: from), firstBucket(span)), last = min(bucket(of: to - 1), bucket(of: (span + 1) * ChunkSpan.millis - 1))
            try r.bind([.int(key(span: span, bucket: first, series: 0)), .int(key(span: span, bucket: last + 1, series: 0))])
            // In key order, (slot, series): each series' slots come oldest first.
            while try r.step() {
                let (b, series) = decode(span: span, key: r.int(0))
                try r.withBlob(1) {
                    _ = try decode($0, begin: start(ofBucket: b), from: from, to: to, withSeq: false, scratch: &scratch, into: &out[series, default: SeriesColumns()])
                }
            }
        }
        for series in out.keys { out[series]!.seq = Array(repeating: nil, count: out[series]!.count) }
        return out
    }

    /// The earliest row timestamp of `series` at or after `from`.
    static func first(_ db: SQLiteConnection, series: Int64, from: Int64) throws -> Int64? {
        var found = SeriesColumns(), scratch = SeriesColumns()
        try forEachRow(db, series: series, from: from, to: .max) { _, _, begin, data in
            try decode(data, begin: begin, from: from, limit: 1, withSeq: false, scratch: &scratch, into: &found)
            return found.count == 0
        }
        return found.ts.first
    }

    /// Deletes the readings of `series` in `[from, to)`; returns how many went. Slot by slot (a
    /// slot partly in the range keeps the rest): for retention and removals, not for sealing.
    @discardableResult
    static func delete(_ db: SQLiteConnection, series: Int64, from: Int64 = .min, to: Int64 = .max) throws -> Int {
        var changes: [(span: Int64, key: Int64, kept: SeriesColumns?, gone: Int)] = []
        var scratch = SeriesColumns(), slot = SeriesColumns()
        try forEachRow(db, series: series, from: from, to: to) { span, key, begin, data in
            slot.removeAll()
            try decode(data, begin: begin, withSeq: true, scratch: &scratch, into: &slot)
            var kept = SeriesColumns()
            for i in 0..<slot.count where slot.ts[i] < from || slot.ts[i] >= to {
                kept.append(ts: slot.ts[i] - begin, value: slot.values[i], seq: slot.seq[i])
            }
            changes.append((span, key, kept.count == 0 ? nil : kept, slot.count - kept.count))
            return true
        }
        for c in changes where c.gone > 0 {
            if let kept = c.kept {
                try db.run("UPDATE \(table(c.span)) SET count = ?2, data = ?3 WHERE key = ?1", [.int(c.key), .int(Int64(kept.count)), .blob(encode(kept))])
            } else {
                try db.run("DELETE FROM \(table(c.span)) WHERE key = ?", [.int(c.key)])
            }
        }
        return changes.reduce(0) { $0 + $1.gone }
    }

    /// The minutes (starts) in which `series` has readings before `before`, oldest first.
    static func minutes(_ db: SQLiteConnection, series: Int64, before: Int64) throws -> [Int64] {
        var minutes: [Int64] = [], slot = SeriesColumns(), scratch = SeriesColumns()
        try forEachRow(db, series: series, from: .min, to: before) { _, _, begin, data in
            slot.removeAll()
            try decode(data, begin: begin, to: before, withSeq: false, scratch: &scratch, into: &slot)
            for ts in slot.ts {
                let minute = BucketWidth.minute.start(of: ts)
                if minutes.last != minute { minutes.append(minute) }
            }
            return true
        }
        return minutes
    }

    // MARK: earlier layouts (migrations)

    /// SQL for `ts` floored to a multiple of `width` (SQLite's `%` keeps the dividend's sign).
    private static func floored(_ width: Int64) -> String { "(ts - ((ts % \(width)) + \(width)) % \(width))" }

    /// Schema v15–v18's table of `span`: a row a reading, `key = (slot << 46) | (series << 14) |
    /// (ms in the slot)`.
    private static func createV15(_ db: SQLiteConnection, span: Int64) throws {
        try db.execute("CREATE TABLE \(table(span))(key INTEGER PRIMARY KEY, value REAL NOT NULL, seq INTEGER)")
    }

    /// v15's `key` in SQL, of the columns `series_id` and `ts`.
    private static func keySQLV15(span: Int64) -> String {
        let b = "(((ts - \(bucketOffset)) - (((ts - \(bucketOffset)) % \(bucketMillis)) + \(bucketMillis)) % \(bucketMillis)) / \(bucketMillis))"
        return "(((\(b) - \(firstBucket(span))) << 46) + (series_id << 14) + (ts - (\(b) * \(bucketMillis) + \(bucketOffset))))"
    }

    /// Schema v13: the v1 row table `reading` (keyed by series first) split into span tables (of
    /// v15's layout; `pack` makes them today's).
    static func splitLegacyTable(_ db: SQLiteConnection) throws {
        let spans = try db.query("SELECT DISTINCT \(floored(ChunkSpan.millis)) / \(ChunkSpan.millis) FROM reading") { $0.int(0) }
        try db.execute("ALTER TABLE reading RENAME TO reading_v1")
        for span in spans {
            try createV15(db, span: span)
            try db.run("INSERT INTO \(table(span))(key, value, seq) "
                       + "SELECT \(keySQLV15(span: span)), value, seq FROM reading_v1 WHERE ts >= ? AND ts < ?",
                       [.int(span * ChunkSpan.millis), .int((span + 1) * ChunkSpan.millis)])
        }
        try db.execute("DROP TABLE reading_v1")
    }

    /// Schema v15: span tables keyed `(bucket, series_id, ts)` (`WITHOUT ROWID`, slots on the
    /// 10 s) become tables of one integer key, slots 2 s past the 10 s.
    static func rekey(_ db: SQLiteConnection) throws {
        try convertTables(db, having: "bucket") { span in
            try createV15(db, span: span)
            try db.execute("INSERT INTO \(table(span))(key, value, seq) SELECT \(keySQLV15(span: span)), value, seq FROM reading_old ORDER BY 1")
        }
    }

    /// Schema v19: the span tables of a row a reading (v15) become tables of a row a series and
    /// slot, and the view `reading` (a row a reading) `reading_slot`.
    static func pack(_ db: SQLiteConnection) throws {
        try convertTables(db, having: "value") { span in
            try create(db, span: span)
            var rows: [Pending] = []
            let old = try db.statement("SELECT key, value, seq FROM reading_old ORDER BY key")
            defer { old.reset() }
            while try old.step() {
                let k = old.int(0)
                let b = firstBucket(span) + (k >> 46)
                rows.append(Pending(span: span, series: (k >> 14) & seriesMask, ts: start(ofBucket: b) + (k & ((1 << 14) - 1)),
                                    value: old.double(1), seq: old.isNull(2) ? nil : old.int(2)))
                // A slot cut here is merged whole by the next batch.
                if rows.count >= 1 << 17 {
                    try upsert(db, &rows)
                    rows.removeAll(keepingCapacity: true)
                }
            }
            try upsert(db, &rows)
        }
        try recreateView(db)
    }

    /// Each span table with the column `column` (an earlier layout), renamed `reading_old`, made
    /// again in today's by `convert` from it, then dropped; the old view `reading` goes first.
    private static func convertTables(_ db: SQLiteConnection, having column: String, _ convert: (Int64) throws -> Void) throws {
        try db.execute("DROP VIEW IF EXISTS reading")
        for span in try spans(db) {
            let columns = try db.query("SELECT name FROM pragma_table_info(?)", [.text("reading_\(span)")]) { $0.text(0) }
            guard columns.contains(column) else { continue }
            try db.execute("ALTER TABLE \(table(span)) RENAME TO reading_old")
            try convert(span)
            db.forgetStatements(containing: "reading_old")
            try db.execute("DROP TABLE reading_old")
        }
    }
}
