import VigilCodec
import VigilCore
import VigilRollup

/// Sealed minute rollups: a series' minute buckets of a whole UTC day, once the day is past
/// `storage.seal_after` and none of its minutes waits for a pass, in one `ColumnTable` blob
/// (`minute_chunk`, id = series_id << 32 | day number): about 27 bytes a minute instead of 70 as
/// rows. A day is always either rows or a chunk, never both: anything that is about to write a
/// sealed day's minutes (a late reading's re-reduction, a rebuild, retention folding them into
/// their base) first moves them back into rows (`unseal`), and the sealer seals the day again
/// once it is quiet. Readers take the union.
enum MinuteChunks {
    static let day = BucketWidth.day.rawValue

    static func id(series: Int64, day start: Int64) -> Int64 {
        series << 32 | min(max(start, 0) / day, 0xFFFF_FFFF)
    }

    static func dayStart(ofID id: Int64) -> Int64 { (id & 0xFFFF_FFFF) * day }

    static func encode(_ buckets: [Bucket]) -> [UInt8] {
        ColumnTable.encode(integers: [buckets.map(\.start), buckets.map { Int64($0.stats.count) }],
                           doubles: [buckets.map(\.stats.sum), buckets.map(\.stats.mean), buckets.map(\.stats.m2),
                                     buckets.map(\.stats.min), buckets.map(\.stats.max)])
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, into out: inout [Bucket]) throws {
        let t = try ColumnTable.decode(bytes)
        guard t.integers.count == 2, t.doubles.count == 5 else { throw ChunkCodecError.malformed("minute chunk columns") }
        for i in t.integers[0].indices {
            out.append(Bucket(start: t.integers[0][i], stats: BucketStats(count: Int(t.integers[1][i]), sum: t.doubles[0][i], mean: t.doubles[1][i],
                                                                          m2: t.doubles[2][i], min: t.doubles[3][i], max: t.doubles[4][i])))
        }
    }

    /// Minute buckets of `series` with starts in `[from, to)`, oldest first, at most `limit`.
    static func read(_ db: SQLiteConnection, series: Int64, from: Int64, to: Int64, limit: Int?) throws -> [Bucket] {
        guard from < to else { return [] }
        var sealed: [Bucket] = []
        if to > 0 {
            let s = try db.statement("SELECT data FROM minute_chunk WHERE id BETWEEN ? AND ? ORDER BY id")
            defer { s.reset() }  // left mid-result it would hold the connection's read snapshot open
            try s.bind([.int(id(series: series, day: BucketWidth.day.start(of: max(from, 0)))), .int(id(series: series, day: BucketWidth.day.start(of: to - 1)))])
            while try s.step() {
                try s.withBlob(0) { try decode($0, into: &sealed) }
                if let limit, sealed.lazy.filter({ $0.start >= from && $0.start < to }).count >= limit { break }
            }
            sealed.removeAll { $0.start < from || $0.start >= to }
        }
        let rows = try RollupRows.minute.read(db, series: series, from: from, to: to, limit: limit)
        guard !sealed.isEmpty else { return rows }
        // Days are either rows or a chunk: merging two sorted runs of distinct starts.
        var out: [Bucket] = []
        out.reserveCapacity(min(limit ?? .max, sealed.count + rows.count))
        var i = 0, j = 0
        while out.count < (limit ?? .max) && (i < sealed.count || j < rows.count) {
            if j < rows.count && (i == sealed.count || rows[j].start < sealed[i].start) {
                out.append(rows[j])
                j += 1
            } else {
                out.append(sealed[i])
                i += 1
            }
        }
        return out
    }

    /// The first and last minute of `series`, sealed or not.
    static func extent(_ db: SQLiteConnection, series: Int64) throws -> (first: Int64, last: Int64)? {
        let rows = try RollupRows.minute.extent(db, series: series)
        let ids = ChunkSpan.ids(series: series)
        var sealedFirst: Int64?, sealedLast: Int64?
        for (order, assign) in [("ASC", 0), ("DESC", 1)] {
            let s = try db.statement("SELECT data FROM minute_chunk WHERE id BETWEEN ? AND ? ORDER BY id \(order) LIMIT 1")
            defer { s.reset() }
            try s.bind([.int(ids.lowerBound), .int(ids.upperBound)])
            if try s.step() {
                var buckets: [Bucket] = []
                try s.withBlob(0) { try decode($0, into: &buckets) }
                if assign == 0 { sealedFirst = buckets.first?.start } else { sealedLast = buckets.last?.start }
            }
        }
        let firsts = [rows?.0, sealedFirst].compactMap { $0 }, lasts = [rows?.1, sealedLast].compactMap { $0 }
        guard let first = firsts.min(), let last = lasts.max() else { return nil }
        return (first, last)
    }

    /// Moves the sealed minutes of `series`' days overlapping `[from, to)` back into rows, before
    /// they are written. Returns the days unsealed.
    @discardableResult
    static func unseal(_ db: SQLiteConnection, series: Int64, from: Int64, to: Int64) throws -> Int {
        guard to > 0, from < to else { return 0 }
        let lo = id(series: series, day: BucketWidth.day.start(of: max(from, 0))), hi = id(series: series, day: BucketWidth.day.start(of: to - 1))
        var buckets: [Bucket] = []
        let s = try db.statement("SELECT data FROM minute_chunk WHERE id BETWEEN ? AND ?")
        try s.bind([.int(lo), .int(hi)])
        var days = 0
        while try s.step() {
            try s.withBlob(0) { try decode($0, into: &buckets) }
            days += 1
        }
        guard days > 0 else { return 0 }
        for b in buckets { try RollupRows.minute.store(db, series: series, start: b.start, stats: b.stats) }
        try db.run("DELETE FROM minute_chunk WHERE id BETWEEN ? AND ?", [.int(lo), .int(hi)])
        return days
    }

    /// Seals `series`' whole days of minute rows that ended by `horizon` and have no minute
    /// waiting for a pass; returns the minute rows moved (stops past `budget`). The caller has
    /// moved those days' minutes to the kept table (`RollupRows.move`).
    static func seal(_ db: SQLiteConnection, series: Int64, horizon: Int64, budget: Int) throws -> Int {
        let kept = RollupRows.minute.kept
        var moved = 0
        var from: Int64 = 0
        while moved < budget, let first = try db.query("SELECT min(start) FROM \(kept) WHERE series_id = ? AND start >= ?",
                                                       [.int(series), .int(from)], row: { $0.isNull(0) ? nil : $0.int(0) }).first ?? nil {
            let start = BucketWidth.day.start(of: first)
            guard start <= horizon - day else { break }
            from = start + day
            if try RollupMaintenance.hasPendingMinutes(db, series: series, from: start, to: from) { continue }
            let buckets = try RollupRows.minute.read(db, series: series, from: start, to: from, limit: nil)
            // A day sealed before and written since was unsealed first, so there is no chunk to merge.
            try db.run("INSERT INTO minute_chunk(id, buckets, data) VALUES(?, ?, ?)",
                       [.int(id(series: series, day: start)), .int(Int64(buckets.count)), .blob(encode(buckets))])
            try RollupRows.minute.delete(db, series: series, from: start, to: from)
            moved += buckets.count
        }
        return moved
    }
}
