import VigilCodec
import VigilRollup

/// Where sealed chunks live: one chunk per series and aligned 6-hour span (UTC), keyed by
/// `series_id << 32 | start hour`, so a series' chunks are one contiguous rowid range in time
/// order. Six hours keep a chunk of 1 Hz data around 30 KB: large enough that SQLite's page slack
/// (≈ 0.9 KB a chunk, measured) stays at 3 % of it, small enough that a late reading costs one
/// small re-encode (docs/storage.md).
enum ChunkSpan {
    static let hour: Int64 = 3_600_000
    static let millis: Int64 = 6 * hour

    /// The start of the span holding `ts` (floor, also below zero).
    static func start(of ts: Int64) -> Int64 {
        let r = ts % millis
        return r < 0 ? ts - r - millis : ts - r
    }

    /// Chunks cover spans from the epoch on (the gateway accepts nothing before 2000).
    static func id(series: Int64, start: Int64) -> Int64 {
        series << 32 | min(max(start, 0) / hour, 0xFFFF_FFFF)
    }

    static func start(ofID id: Int64) -> Int64 { (id & 0xFFFF_FFFF) * hour }

    static func ids(series: Int64) -> ClosedRange<Int64> { (series << 32)...(series << 32 | 0xFFFF_FFFF) }

    /// A series' ids below `id` (another id of the same series), nil when there are none.
    static func ids(series: Int64, below id: Int64) -> ClosedRange<Int64>? {
        let first = ids(series: series).lowerBound
        return id > first ? first...(id - 1) : nil
    }
}

/// The one reader of raw readings: a series' sealed chunks merged with its recent rows. Rows win
/// over a chunk on the same timestamp: a late or replacing reading for a sealed span is written as
/// a row like any other (the ingest path never touches chunks) and shadows the chunk's reading
/// until the sealer folds it in. Everything that reads raw goes through here: the series API, the
/// rollup passes and rebuilds, retention.
enum RawHistory {
    /// Appends the readings of `series` in `[from, to)`, oldest first, at most `limit` of them.
    /// `rows`: its rows in that range when the caller has read them already (`RowTable.readAll`,
    /// without `seq`).
    static func read(_ db: SQLiteConnection, series: Int64, from: Int64, to: Int64, limit: Int? = nil,
                     withSeq: Bool, rows known: SeriesColumns? = nil, into out: inout SeriesColumns) throws {
        guard from < to, limit.map({ $0 > 0 }) ?? true else { return }
        var sealed = SeriesColumns()
        if to > 0 {
            let s = try db.statement(
                "SELECT d.data FROM chunk c JOIN chunk_data d ON d.id = c.id WHERE c.id BETWEEN ?1 AND ?2 AND c.last_ts >= ?3 AND c.first_ts < ?4 ORDER BY c.id")
            // A statement left mid-result keeps its read transaction, and the connection's view, open.
            defer { s.reset() }
            try s.bind([.int(ChunkSpan.id(series: series, start: ChunkSpan.start(of: max(from, 0)))),
                        .int(ChunkSpan.id(series: series, start: ChunkSpan.start(of: to - 1))), .int(from), .int(to)])
            var inRange = 0
            while try s.step() {
                let before = sealed.count
                try s.withBlob(0) { try ChunkCodec.decode($0, into: &sealed, withSeq: withSeq) }
                inRange += count(sealed.ts[before...], from: from, to: to)
                if let limit, inRange >= limit { break }
            }
            trim(&sealed, from: from, to: to, withSeq: withSeq)
        }
        if sealed.count == 0, known == nil {
            try RowTable.read(db, series: series, from: from, to: to, limit: limit ?? .max, withSeq: withSeq, into: &out)
            return
        }
        var rows = SeriesColumns()
        if let known { rows = known } else {
            try RowTable.read(db, series: series, from: from, to: to, limit: limit ?? .max, withSeq: withSeq, into: &rows)
        }
        merge(sealed: sealed, rows: rows, limit: limit ?? .max, withSeq: withSeq, into: &out)
    }

    private static func count(_ ts: ArraySlice<Int64>, from: Int64, to: Int64) -> Int {
        var n = 0
        for t in ts where t >= from && t < to { n += 1 }
        return n
    }

    /// Keeps the readings in `[from, to)` (chunks are sorted, so that is one contiguous run).
    private static func trim(_ c: inout SeriesColumns, from: Int64, to: Int64, withSeq: Bool) {
        let lo = c.ts.firstIndex { $0 >= from } ?? c.count
        let hi = c.ts.lastIndex { $0 < to }.map { $0 + 1 } ?? lo
        guard lo > 0 || hi < c.count else { return }
        let keep = lo..<max(lo, hi)
        c.ts = Array(c.ts[keep])
        c.values = Array(c.values[keep])
        if withSeq { c.seq = Array(c.seq[keep]) }
    }

    /// Two sorted runs into one; on equal timestamps the row wins and the chunk's reading is dropped.
    static func merge(sealed: SeriesColumns, rows: SeriesColumns, limit: Int, withSeq: Bool, into out: inout SeriesColumns) {
        var i = 0, j = 0, n = 0
        while n < limit && (i < sealed.count || j < rows.count) {
            if j < rows.count && (i == sealed.count || rows.ts[j] <= sealed.ts[i]) {
                if i < sealed.count && sealed.ts[i] == rows.ts[j] { i += 1 }
                out.ts.append(rows.ts[j])
                out.values.append(rows.values[j])
                if withSeq { out.seq.append(rows.seq[j]) }
                j += 1
            } else {
                out.ts.append(sealed.ts[i])
                out.values.append(sealed.values[i])
                if withSeq { out.seq.append(sealed.seq[i]) }
                i += 1
            }
            n += 1
        }
    }

    /// The earliest timestamp of `series` at or after `from`, sealed or not.
    static func first(_ db: SQLiteConnection, series: Int64, from: Int64) throws -> Int64? {
        let row = try RowTable.first(db, series: series, from: from)
        let chunk = try db.query("SELECT max(first_ts, ?3) FROM chunk WHERE id BETWEEN ?1 AND ?2 AND last_ts >= ?3 ORDER BY id LIMIT 1",
                                 [.int(ChunkSpan.id(series: series, start: ChunkSpan.start(of: max(from, 0)))),
                                  .int(ChunkSpan.ids(series: series).upperBound), .int(from)]) { $0.int(0) }.first
        return [row, chunk].compactMap { $0 }.min()
    }
}

extension RawHistory {
    /// Deletes every sealed chunk and sealed minute day of `series` (in the caller's transaction);
    /// returns what went.
    static func deleteSealed(_ db: SQLiteConnection, series: Int64) throws -> (chunks: ChunkTotals, minuteBuckets: Int) {
        let ids = ChunkSpan.ids(series: series)
        let range: [SQLiteValue] = [.int(ids.lowerBound), .int(ids.upperBound)]
        let chunks = try ChunkTotals.load(db, ids: ids)
        let minuteBuckets = try db.query("SELECT coalesce(sum(buckets), 0) FROM minute_chunk WHERE id BETWEEN ? AND ?", range) { Int($0.int(0)) }[0]
        for table in ["chunk_data", "chunk", "minute_chunk"] { try db.run("DELETE FROM \(table) WHERE id BETWEEN ? AND ?", range) }
        return (chunks, minuteBuckets)
    }
}

/// How much history is sealed (kept by the writer, for /metrics).
public struct ChunkTotals: Sendable, Equatable {
    public var chunks = 0
    public var readings = 0
    public var bytes = 0

    static func += (a: inout ChunkTotals, b: ChunkTotals) {
        a.chunks += b.chunks
        a.readings += b.readings
        a.bytes += b.bytes
    }

    static func -= (a: inout ChunkTotals, b: ChunkTotals) {
        a.chunks -= b.chunks
        a.readings -= b.readings
        a.bytes -= b.bytes
    }

    /// The totals of the chunks with ids in `ids` (all of them by default).
    static func load(_ db: SQLiteConnection, ids: ClosedRange<Int64> = .min ... .max) throws -> ChunkTotals {
        try db.query("SELECT count(*), coalesce(sum(count), 0), coalesce(sum(bytes), 0) FROM chunk WHERE id BETWEEN ? AND ?",
                     [.int(ids.lowerBound), .int(ids.upperBound)]) {
            ChunkTotals(chunks: Int($0.int(0)), readings: Int($0.int(1)), bytes: Int($0.int(2)))
        }.first ?? ChunkTotals()
    }
}

/// What one sealing pass did.
public struct SealPass: Sendable, Equatable {
    /// Chunks written (new, or rewritten with late readings folded in).
    public var chunks = 0
    /// Of those, chunks that existed and were rewritten.
    public var merges = 0
    /// Rows moved from the row table into chunks.
    public var readings = 0
    /// Minute-rollup rows moved into sealed days (`MinuteChunks`).
    public var minuteBuckets = 0
    /// Change in sealed totals.
    public var delta = ChunkTotals()
    /// The pass stopped at its bound with more to seal.
    public var more = false

    /// Adds up passes (`more` is the last one's).
    public static func += (a: inout SealPass, b: SealPass) {
        a.chunks += b.chunks
        a.merges += b.merges
        a.readings += b.readings
        a.minuteBuckets += b.minuteBuckets
        a.delta += b.delta
        a.more = b.more
    }
}

/// Moves readings whose span is past `sealAfter` and whose rollups are done from the row tables
/// into chunks (and whole quiet days of minute rollups into `MinuteChunks`), in the caller's
/// transaction: for each series, read the span's rows, fold them into the span's chunk if it has
/// one (rows win), encode, write; then drop the span's row table (`RowTable`: its pages go to the
/// free list unwritten). One transaction, so a crash at any point leaves either the rows or the
/// chunks, never neither or both counted.
struct ChunkSealer {
    let db: SQLiteConnection
    let sealAfter: Int64
    private var columns = SeriesColumns()
    private var rows = SeriesColumns()

    init(db: SQLiteConnection, sealAfter: Int64) {
        self.db = db
        self.sealAfter = sealAfter
    }

    /// Seals the oldest span that ended at least `sealAfter` before `now`, has rows and none of
    /// whose minutes waits for a rollup pass, else whole quiet days of minute rollups (about
    /// `maxMinuteBuckets` at most); `more` says whether to call again.
    mutating func seal(now: Int64, maxMinuteBuckets: Int) throws -> SealPass {
        var pass = SealPass()
        let horizon = now - sealAfter
        let seriesIDs = try db.query("SELECT id FROM series ORDER BY id") { $0.int(0) }
        for span in try RowTable.spans(db) {
            let start = span * ChunkSpan.millis, end = start + ChunkSpan.millis
            guard end <= horizon else { break }
            // Quiet: its changes are in the rollups (a pass re-reads them through RawHistory either way).
            if try RollupMaintenance.hasPendingMinutes(db, series: nil, from: start, to: end) { continue }
            for series in seriesIDs { try sealSpan(series: series, start: start, into: &pass) }
            try RowTable.drop(db, span: span)
            pass.more = true
            return pass
        }
        // Whole days of minute rollups, under the same rules (from the series-first table).
        try RollupRows.minute.move(db, before: BucketWidth.day.start(of: horizon))
        for series in seriesIDs {
            pass.minuteBuckets += try MinuteChunks.seal(db, series: series, horizon: horizon, budget: maxMinuteBuckets)
            if pass.minuteBuckets >= maxMinuteBuckets {
                pass.more = true
                return pass
            }
        }
        return pass
    }

    /// Writes the chunk of `series`' span with its rows folded in. The caller drops the rows.
    private mutating func sealSpan(series: Int64, start: Int64, into pass: inout SealPass) throws {
        let end = start + ChunkSpan.millis
        let id = ChunkSpan.id(series: series, start: start)
        rows.removeAll()
        try RowTable.read(db, series: series, from: start, to: end, withSeq: true, into: &rows)
        let moved = rows.count
        guard moved > 0 else { return }
        columns.removeAll()
        let old = try db.query("SELECT c.count, c.bytes, d.data FROM chunk c JOIN chunk_data d ON d.id = c.id WHERE c.id = ?", [.int(id)]) { s in
            var sealed = SeriesColumns()
            try s.withBlob(2) { try ChunkCodec.decode($0, into: &sealed) }
            return (count: Int(s.int(0)), bytes: Int(s.int(1)), sealed: sealed)
        }.first
        if let old {
            RawHistory.merge(sealed: old.sealed, rows: rows, limit: .max, withSeq: true, into: &columns)
            pass.merges += 1
            pass.delta.chunks -= 1
            pass.delta.readings -= old.count
            pass.delta.bytes -= old.bytes
        } else {
            swap(&columns, &rows)
        }
        let data = ChunkCodec.encode(columns)
        try db.run("INSERT OR REPLACE INTO chunk(id, first_ts, last_ts, count, bytes) VALUES(?, ?, ?, ?, ?)",
                   [.int(id), .int(columns.ts.first!), .int(columns.ts.last!), .int(Int64(columns.count)), .int(Int64(data.count))])
        try db.run("INSERT OR REPLACE INTO chunk_data(id, data) VALUES(?, ?)", [.int(id), .blob(data)])
        pass.readings += moved
        pass.chunks += 1
        pass.delta.chunks += 1
        pass.delta.readings += columns.count
        pass.delta.bytes += data.count
    }
}
