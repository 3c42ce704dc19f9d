public import VigilCore
import VigilRollup

/// The upstream outbox's store side (docs/scale-out.md): the change log of keys whose rows
/// changed, each sink's cursor per stream, and the rows a batch of changes stands for, read as
/// they are now. The log holds keys, not copies: the backlog is what is on disk anyway.
enum UpstreamLog {
    /// Notes that the row of `stream` under (`series` | `machine`, `t`) changed. Called inside
    /// the transaction of the change.
    static func note(_ db: SQLiteConnection, _ stream: UpstreamStream, series: Int64 = 0, machine: String? = nil, t: Int64) throws {
        try db.run("INSERT INTO upstream_change(stream, series_id, machine, t, at) VALUES(?,?,?,?,?)",
                   [.int(stream.code), .int(series), machine.map { .text($0) } ?? .null, .int(t), .int(SystemClock.wallMillis())])
    }

    /// Notes model versions of `machine` (all of them when `versions` is nil: the active one
    /// changed, so every version's `active` flag may have).
    static func noteModels(_ db: SQLiteConnection, machine: String, versions: [Int]?) throws {
        let all = try versions ?? db.query("SELECT version FROM model WHERE machine = ? ORDER BY version", [.text(machine)]) { Int($0.int(0)) }
        for v in all { try note(db, .model, machine: machine, t: Int64(v)) }
    }
}

/// Where a sink stands on one stream: the last change (or event id) the cluster acknowledged.
public struct UpstreamCursor: Sendable, Equatable {
    public var lastSeq: Int64
    public var failures: Int
    public var lastError: String?

    public init(lastSeq: Int64, failures: Int = 0, lastError: String? = nil) {
        self.lastSeq = lastSeq
        self.failures = failures
        self.lastError = lastError
    }
}

/// A batch to send: the rows (newest state of each changed key) and the cursor it ends at.
public struct UpstreamBatch: Sendable {
    public var rows: [UpstreamRow]
    /// The last change (or event id) the batch covers: the cursor after the cluster's 2xx.
    public var through: Int64
    /// Changes read (several changes of one key give one row).
    public var changes: Int
}

/// What is still to send on a stream.
public struct UpstreamBacklog: Sendable, Equatable {
    public var rows: Int64
    /// When the oldest unsent change happened (nil: nothing pending).
    public var oldestAt: Int64?

    public init(rows: Int64, oldestAt: Int64?) {
        self.rows = rows
        self.oldestAt = oldestAt
    }
}

extension StoreWriter {
    public func upstreamCursor(sink: String, stream: UpstreamStream) throws -> UpstreamCursor? {
        try withConnection { db in
            try db.query("SELECT last_seq, failures, last_error FROM upstream_cursor WHERE sink = ? AND stream = ?", [.text(sink), .text(stream.rawValue)]) {
                UpstreamCursor(lastSeq: $0.int(0), failures: Int($0.int(1)), lastError: $0.isNull(2) ? nil : $0.text(2))
            }.first
        }
    }

    public func setUpstreamCursor(sink: String, stream: UpstreamStream, _ cursor: UpstreamCursor) throws {
        try withConnection { db in
            try db.run("""
                INSERT INTO upstream_cursor(sink, stream, last_seq, failures, last_error) VALUES(?1, ?2, ?3, ?4, ?5)
                ON CONFLICT(sink, stream) DO UPDATE SET last_seq = ?3, failures = ?4, last_error = ?5
                """, [.text(sink), .text(stream.rawValue), .int(cursor.lastSeq), .int(Int64(cursor.failures)), cursor.lastError.map { .text($0) } ?? .null])
        }
    }

    /// A new sink's starting point on `stream`: the change log is filled with the keys of what
    /// is kept from `since` on (day rollups, models and maintenance: all), one series per
    /// transaction so ingestion goes on meanwhile, and the cursor set just before them. Events
    /// start at the first one at or after `since`.
    public func startUpstream(sink: String, stream: UpstreamStream, since: Int64) throws -> UpstreamCursor {
        if let cursor = try upstreamCursor(sink: sink, stream: stream) { return cursor }
        let start: Int64
        if let (table, time) = Self.idStreams[stream] {
            start = try withConnection { db in
                try db.query("SELECT coalesce((SELECT min(id) FROM \(table) WHERE \(time) >= ?), (SELECT coalesce(max(id), 0) + 1 FROM \(table))) - 1",
                             [.int(since)]) { $0.int(0) }.first ?? 0
            }
        } else {
            start = try withConnection { db in try db.query("SELECT seq FROM sqlite_sequence WHERE name = 'upstream_change'") { $0.int(0) }.first ?? 0 }
            try backfill(stream, since: since)
        }
        let cursor = UpstreamCursor(lastSeq: start)
        try setUpstreamCursor(sink: sink, stream: stream, cursor)
        return cursor
    }

    /// The streams whose cursor is a table's growing id, with the table and its time column.
    static let idStreams: [UpstreamStream: (table: String, time: String)] = [.event: ("event", "at"), .quarantine: ("quarantine", "received_at")]

    private func backfill(_ stream: UpstreamStream, since: Int64) throws {
        switch stream {
        case .rollupMinute:
            let series = try withConnection { db in try db.query("SELECT id FROM series ORDER BY id") { $0.int(0) } }
            for id in series {
                try withConnection { db in
                    try db.transaction {
                        for b in try MinuteChunks.read(db, series: id, from: since, to: .max / 2, limit: nil) {
                            try UpstreamLog.note(db, .rollupMinute, series: id, t: b.start)
                        }
                    }
                }
            }
        case .rollupDay:
            try copyKeys("SELECT series_id, NULL, start FROM rollup_day ORDER BY series_id, start", stream)
        case .health:
            try copyKeys("SELECT 0, machine, ts FROM health_history WHERE ts >= ?1 ORDER BY machine, ts", stream, since)
        case .model:
            try copyKeys("SELECT 0, machine, version FROM model ORDER BY machine, version", stream)
        case .maintenance:
            try copyKeys("SELECT 0, machine, id FROM maintenance ORDER BY id", stream)
        case .sensor:
            try copyKeys("SELECT id, NULL, 0 FROM series ORDER BY id", stream)
        case .event, .quarantine:
            break
        }
    }

    private func copyKeys(_ select: String, _ stream: UpstreamStream, _ since: Int64 = 0) throws {
        try withConnection { db in
            try db.transaction {
                try db.run("INSERT INTO upstream_change(stream, series_id, machine, t, at) SELECT \(stream.code), * , ?2 FROM (\(select))",
                           [.int(since), .int(SystemClock.wallMillis())])
            }
        }
    }

    /// Forgets changes every sink has acknowledged (`through`: the least cursor on `stream`).
    public func pruneUpstreamChanges(stream: UpstreamStream, through: Int64) throws {
        try withConnection { db in
            try db.run("DELETE FROM upstream_change WHERE stream = ? AND seq <= ?", [.int(stream.code), .int(through)])
        }
    }
}

extension StoreReader {
    /// Up to `limit` changes (or events) of `stream` after `cursor`, as the rows they stand for
    /// now, read in one snapshot. A key changed several times is sent once, with its newest
    /// change as `rev`; a key whose row is gone (its machine was removed) is skipped.
    /// Day rows carry their local date in `calendar` (the plant's); sensor rows what the stored
    /// metadata and the configuration's `sensorRules` say.
    public func upstreamBatch(stream: UpstreamStream, after cursor: Int64, limit: Int, calendar: PlantCalendar = .utc,
                              sensorRules: [SensorRule] = []) async throws -> UpstreamBatch {
        try await read { db in
            if stream == .event {
                let events = try db.query("SELECT id, body FROM event WHERE id > ? ORDER BY id LIMIT ?", [.int(cursor), .int(Int64(limit))]) {
                    ($0.int(0), EventSQL.event($0))
                }
                return UpstreamBatch(rows: events.compactMap { $0.1.map(UpstreamRow.event) }, through: events.last?.0 ?? cursor, changes: events.count)
            }
            if stream == .quarantine {
                let rows = try db.query("SELECT id, received_at, topic, reason, detail FROM quarantine WHERE id > ? ORDER BY id LIMIT ?",
                                        [.int(cursor), .int(Int64(limit))]) {
                    UpstreamRow.Quarantine(id: $0.int(0), receivedAt: $0.int(1), topic: $0.text(2), reason: $0.text(3), detail: $0.text(4))
                }
                return UpstreamBatch(rows: rows.map(UpstreamRow.quarantine), through: rows.last?.id ?? cursor, changes: rows.count)
            }
            struct Key: Hashable { var series: Int64; var machine: String?; var t: Int64 }
            var newest: [Key: Int64] = [:]
            var order: [Key] = []
            let log = try db.query("SELECT seq, series_id, machine, t FROM upstream_change WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?",
                                   [.int(stream.code), .int(cursor), .int(Int64(limit))]) {
                (seq: $0.int(0), key: Key(series: $0.int(1), machine: $0.isNull(2) ? nil : $0.text(2), t: $0.int(3)))
            }
            for change in log where newest.updateValue(change.seq, forKey: change.key) == nil { order.append(change.key) }
            let through = log.last?.seq ?? cursor
            let changes = log.count
            var names: [Int64: (String, String)] = [:]
            func name(_ id: Int64) throws -> (String, String)? {
                if let n = names[id] { return n }
                let n = try db.query("SELECT machine, sensor FROM series WHERE id = ?", [.int(id)]) { ($0.text(0), $0.text(1)) }.first
                names[id] = n
                return n
            }
            // Rows are read a range at a time: a series' minutes of one UTC day (a sealed day is one
            // chunk to decode, not one per row), a machine's health points between its first and
            // last changed minute.
            var minutes: [SeriesBucket: [Int64: BucketStats]] = [:]
            if stream == .rollupMinute {
                var spans: [SeriesBucket: (Int64, Int64)] = [:]
                for key in order {
                    let day = SeriesBucket(series: key.series, start: BucketWidth.day.start(of: key.t))
                    let span = spans[day] ?? (key.t, key.t)
                    spans[day] = (Swift.min(span.0, key.t), Swift.max(span.1, key.t))
                }
                for (day, span) in spans {
                    let buckets = try MinuteChunks.read(db, series: day.series, from: span.0, to: span.1 + 60_000, limit: nil)
                    minutes[day] = Dictionary(buckets.map { ($0.start, $0.stats) }) { a, _ in a }
                }
            }
            // What each source stored of the sensors (a small table), read once per batch.
            let sensorMetadata = stream == .sensor ? try SensorMetadataSQL.load(db) : nil
            var health: [String: [Int64: UpstreamRow.Health]] = [:]
            if stream == .health {
                var spans: [String: (Int64, Int64)] = [:]
                for key in order {
                    guard let m = key.machine else { continue }
                    let span = spans[m] ?? (key.t, key.t)
                    spans[m] = (Swift.min(span.0, key.t), Swift.max(span.1, key.t))
                }
                for (machine, span) in spans {
                    let points = try db.query(
                        "SELECT ts, health, status, confidence, model_version, anomaly FROM health_history WHERE machine = ? AND ts BETWEEN ? AND ?",
                        [.text(machine), .int(span.0), .int(span.1)]) {
                            UpstreamRow.Health(machine: machine, ts: $0.int(0), health: $0.double(1), status: HealthStatus(stored: $0.text(2)),
                                               confidence: $0.double(3), modelVersion: Int($0.int(4)), anomaly: $0.double(5), rev: 0)
                        }
                    health[machine] = Dictionary(points.map { ($0.ts, $0) }) { a, _ in a }
                }
            }
            var active: [String: Int?] = [:]
            var rows: [UpstreamRow] = []
            rows.reserveCapacity(order.count)
            for key in order {
                let rev = newest[key]!
                switch stream {
                case .rollupMinute, .rollupDay:
                    guard let (machine, sensor) = try name(key.series) else { continue }
                    let stats: BucketStats?
                    if stream == .rollupMinute {
                        stats = minutes[SeriesBucket(series: key.series, start: BucketWidth.day.start(of: key.t))]?[key.t]
                    } else {
                        stats = try db.query("SELECT count, sum, mean, m2, min, max FROM rollup_day WHERE series_id = ? AND start = ?",
                                             [.int(key.series), .int(key.t)]) { RollupMaintenance.stats($0) }.first
                    }
                    guard let stats else { continue }
                    let day = stream == .rollupDay ? UpstreamRow.Rollup.Day(date: calendar.date(of: key.t), timeZone: calendar.timeZone) : nil
                    rows.append(.rollup(.init(machine: machine, sensor: sensor, ts: key.t, count: stats.count, mean: stats.mean, min: stats.min,
                                              max: stats.max, sum: stats.sum, stddev: stats.stddev, rev: rev, day: day)))
                case .health:
                    guard let machine = key.machine, var h = health[machine]?[key.t] else { continue }
                    h.rev = rev
                    rows.append(.health(h))
                case .model:
                    guard let machine = key.machine else { continue }
                    if active[machine] == nil {
                        active[machine] = try db.query("SELECT active_version FROM machine_health WHERE machine = ?", [.text(machine)]) {
                            $0.isNull(0) ? nil : Int($0.int(0))
                        }.first ?? nil
                    }
                    guard let m = try db.query("SELECT \(HealthSQL.modelColumns) FROM model WHERE machine = ? AND version = ?", [.text(machine), .int(key.t)], row: {
                        HealthSQL.model($0, active: active[machine] ?? nil)
                    }).first else { continue }
                    rows.append(.model(.init(machine: machine, lineage: m.info, rev: rev)))
                case .maintenance:
                    guard let m = try db.query("SELECT machine, at, note FROM maintenance WHERE id = ?", [.int(key.t)], row: {
                        UpstreamRow.Maintenance(machine: $0.text(0), id: key.t, at: $0.int(1), note: $0.text(2))
                    }).first else { continue }
                    rows.append(.maintenance(m))
                case .sensor:
                    guard let (machine, sensor) = try name(key.series) else { continue }
                    let stored = sensorMetadata?[StoreWriter.SeriesName(machine: machine, sensor: sensor)] ?? [:]
                    rows.append(.sensor(.init(machine: machine, sensor: sensor,
                                              metadata: SensorMetadata.resolve(machine: machine, sensor: sensor, rules: sensorRules, stored: stored), rev: rev)))
                case .event, .quarantine:
                    break
                }
            }
            return UpstreamBatch(rows: rows, through: through, changes: changes)
        }
    }

    /// How much of `stream` is still to send after `cursor`, and since when.
    public func upstreamBacklog(stream: UpstreamStream, after cursor: Int64) async throws -> UpstreamBacklog {
        try await read { db in
            if let (table, time) = StoreWriter.idStreams[stream] {
                return try db.query("SELECT count(*), min(\(time)) FROM \(table) WHERE id > ?", [.int(cursor)]) {
                    UpstreamBacklog(rows: $0.int(0), oldestAt: $0.isNull(1) ? nil : $0.int(1))
                }.first ?? UpstreamBacklog(rows: 0, oldestAt: nil)
            }
            return try db.query("SELECT count(*), (SELECT at FROM upstream_change WHERE stream = ?1 AND seq > ?2 ORDER BY seq LIMIT 1) FROM upstream_change WHERE stream = ?1 AND seq > ?2",
                                [.int(stream.code), .int(cursor)]) {
                UpstreamBacklog(rows: $0.int(0), oldestAt: $0.isNull(1) ? nil : $0.int(1))
            }.first ?? UpstreamBacklog(rows: 0, oldestAt: nil)
        }
    }
}
