/// What a site sends to the central cluster (`[upstream]`, docs/scale-out.md): the streams, their
/// rows, the ClickHouse tables that receive them and the `RowBinary` bytes of an insert. Pure:
/// the outbox that reads the store and POSTs lives in `VigilServer.UpstreamService`.
///
/// Delivery is at least once; each row carries `rev`, which grows with every change of its key
/// (the site's change-log sequence), and the tables are `ReplacingMergeTree(rev)` ordered by the
/// key, so a resent or corrected row replaces the older one and `SELECT … FINAL` gives one row
/// per key: exactly once in effect.
public enum UpstreamStream: String, Sendable, CaseIterable, Codable {
    /// Minute rollups of every series, sent when final and again whenever late data corrects them.
    case rollupMinute = "rollup_minute"
    /// Day rollups, likewise (a day is corrected by every minute of it that changes).
    case rollupDay = "rollup_day"
    /// One point per scored minute: health, status, confidence, model version, anomaly.
    case health
    /// Model versions with lineage and the gate's decision; resent when the active one changes.
    case model
    /// Maintenance records (the health reference was re-commissioned).
    case maintenance
    /// The event log (`Event`): status changes, silence, model changes, degradation.
    case event
    /// Rejected inputs with their reason (the quarantine), for counts across sites.
    case quarantine
    /// What is known of each sensor beside its readings — unit, description, physical range — as
    /// the site resolves it (config, device, operator): the dimension the rollups join.
    case sensor

    /// The table's name without prefix (the contract's `vigil_<name>` with the default prefix).
    public var table: String { rawValue }

    /// The stream's code in the store's change log (stable: it is on disk).
    public var code: Int64 {
        switch self {
        case .rollupMinute: 1
        case .rollupDay: 2
        case .health: 3
        case .model: 4
        case .maintenance: 5
        case .event: 6
        case .quarantine: 7
        case .sensor: 8
        }
    }

    /// Whether the stream is read from the change log (the event log and the quarantine are
    /// append-only with growing ids: their cursor is the id).
    public var usesChangeLog: Bool { self != .event && self != .quarantine }

    /// What a sink sends unless its `streams` say otherwise.
    public static let defaults: [UpstreamStream] = [.rollupMinute, .rollupDay, .health, .model, .maintenance, .event, .quarantine, .sensor]
}

/// One row of an upstream stream, as sent. Times are epoch milliseconds.
public enum UpstreamRow: Sendable, Equatable {
    case rollup(Rollup)
    case health(Health)
    case model(Model)
    case maintenance(Maintenance)
    case event(Event)
    case quarantine(Quarantine)
    case sensor(Sensor)

    /// A sensor and what the site knows of it.
    public struct Sensor: Sendable, Equatable {
        public var machine: String, sensor: String, metadata: SensorMetadata, rev: Int64
        public init(machine: String, sensor: String, metadata: SensorMetadata, rev: Int64) {
            self.machine = machine; self.sensor = sensor; self.metadata = metadata; self.rev = rev
        }
    }

    public struct Rollup: Sendable, Equatable {
        public var machine: String, sensor: String, ts: Int64
        public var count: Int, mean: Double, min: Double, max: Double, sum: Double, stddev: Double
        public var rev: Int64
        /// Day rows: the plant's local date and the zone the day was cut in (`site.timezone`).
        public var day: Day?
        public init(machine: String, sensor: String, ts: Int64, count: Int, mean: Double, min: Double, max: Double, sum: Double, stddev: Double, rev: Int64,
                    day: Day? = nil) {
            self.machine = machine; self.sensor = sensor; self.ts = ts
            self.count = count; self.mean = mean; self.min = min; self.max = max; self.sum = sum; self.stddev = stddev
            self.rev = rev; self.day = day
        }

        public struct Day: Sendable, Equatable {
            public var date: LocalDate, timeZone: String
            public init(date: LocalDate, timeZone: String) { self.date = date; self.timeZone = timeZone }
        }
    }

    public struct Health: Sendable, Equatable {
        public var machine: String, ts: Int64, health: Double, status: HealthStatus, confidence: Double, modelVersion: Int, anomaly: Double
        public var rev: Int64
        public init(machine: String, ts: Int64, health: Double, status: HealthStatus, confidence: Double, modelVersion: Int, anomaly: Double, rev: Int64) {
            self.machine = machine; self.ts = ts; self.health = health; self.status = status
            self.confidence = confidence; self.modelVersion = modelVersion; self.anomaly = anomaly; self.rev = rev
        }
    }

    /// A model version's lineage (the ClickHouse table leaves out its sensors, parameters and metrics).
    public struct Model: Sendable, Equatable {
        public var machine: String, lineage: ModelLineage, rev: Int64
        public init(machine: String, lineage: ModelLineage, rev: Int64) {
            self.machine = machine; self.lineage = lineage; self.rev = rev
        }
    }

    public struct Quarantine: Sendable, Equatable {
        public var id: Int64, receivedAt: Int64, topic: String, reason: String, detail: String
        public init(id: Int64, receivedAt: Int64, topic: String, reason: String, detail: String) {
            self.id = id; self.receivedAt = receivedAt; self.topic = topic; self.reason = reason; self.detail = detail
        }
    }

    public struct Maintenance: Sendable, Equatable {
        public var machine: String, id: Int64, at: Int64, note: String
        public init(machine: String, id: Int64, at: Int64, note: String) {
            self.machine = machine; self.id = id; self.at = at; self.note = note
        }
    }
}

/// The ClickHouse side: DDL and `INSERT … FORMAT JSONEachRow` bodies. ClickHouse's HTTP protocol
/// and these engines are the same from 18.16 to current releases.
public enum ClickHouse {
    /// The columns of each stream's table, in order, with ClickHouse types; the key (`ORDER BY`)
    /// and the partition.
    struct Table {
        var columns: [(String, String)]
        var orderBy: String
        var partitionBy: String?
        var replacing: String?
    }

    static let rollupColumns: [(String, String)] = [
        ("site", "String"), ("machine", "String"), ("sensor", "String"), ("ts", "UInt64"),
        ("count", "UInt64"), ("mean", "Float64"), ("min", "Float64"), ("max", "Float64"), ("sum", "Float64"), ("stddev", "Float64"),
        ("rev", "UInt64"),
    ]

    static func table(_ stream: UpstreamStream) -> Table {
        let month = "toYYYYMM(toDateTime(intDiv(ts, 1000)))"
        switch stream {
        case .rollupMinute:
            return Table(columns: rollupColumns, orderBy: "site, machine, sensor, ts", partitionBy: month, replacing: "rev")
        case .rollupDay:
            // `ts` is the instant of the plant's local midnight; `date` that local day, in `timezone`.
            return Table(columns: rollupColumns + [("date", "Date"), ("timezone", "String")], orderBy: "site, machine, sensor, ts",
                         partitionBy: "toYear(toDateTime(intDiv(ts, 1000)))", replacing: "rev")
        case .health:
            return Table(columns: [("site", "String"), ("machine", "String"), ("ts", "UInt64"), ("health", "Float64"), ("status", "String"),
                                   ("confidence", "Float64"), ("model_version", "UInt64"), ("anomaly", "Float64"), ("rev", "UInt64")],
                         orderBy: "site, machine, ts", partitionBy: month, replacing: "rev")
        case .model:
            return Table(columns: [("site", "String"), ("machine", "String"), ("model_version", "UInt64"), ("ts", "UInt64"), ("active", "UInt8"),
                                   ("trigger", "String"), ("parent_version", "Nullable(UInt64)"), ("train_from", "UInt64"), ("train_to", "UInt64"),
                                   ("row_count", "UInt64"), ("content_sha256", "String"), ("code_version", "String"),
                                   ("gate_decision", "String"), ("gate_reason", "String"), ("rev", "UInt64")],
                         orderBy: "site, machine, model_version", partitionBy: nil, replacing: "rev")
        case .maintenance:
            return Table(columns: [("site", "String"), ("machine", "String"), ("id", "UInt64"), ("ts", "UInt64"), ("note", "String")],
                         orderBy: "site, machine, id", partitionBy: nil, replacing: nil)
        case .event:
            return Table(columns: [("site", "String"), ("machine", "String"), ("id", "UInt64"), ("ts", "UInt64"), ("kind", "String"),
                                   ("status", "String"), ("health", "Nullable(Float64)"), ("model_version", "Nullable(UInt64)"),
                                   ("detail", "String")],
                         orderBy: "site, machine, id", partitionBy: nil, replacing: nil)
        case .sensor:
            return Table(columns: [("site", "String"), ("machine", "String"), ("sensor", "String"), ("unit", "String"), ("description", "String"),
                                   ("min", "Nullable(Float64)"), ("max", "Nullable(Float64)"), ("step", "Nullable(Float64)"), ("rev", "UInt64")],
                         orderBy: "site, machine, sensor", partitionBy: nil, replacing: "rev")
        case .quarantine:
            // `machine` is '' (a rejected input has no trustworthy machine); it is the sharding key.
            return Table(columns: [("site", "String"), ("machine", "String"), ("id", "UInt64"), ("ts", "UInt64"), ("reason", "String"),
                                   ("topic", "String"), ("detail", "String")],
                         orderBy: "site, machine, id", partitionBy: month, replacing: nil)
        }
    }

    /// `;`-separated DDL that runs as is on every node. With `cluster`, each stream is a local
    /// `ReplacingMergeTree` table `<prefix><stream>_local` plus a `Distributed` table
    /// `<prefix><stream>` over it, sharded by `cityHash64(machine)` so every row of a key lands on
    /// the same shard (which `FINAL` needs to deduplicate); without, one plain table per stream.
    public static func schema(database: String, prefix: String = "vigil_", cluster: String? = nil,
                              streams: [UpstreamStream] = UpstreamStream.allCases) -> String {
        var out = ["CREATE DATABASE IF NOT EXISTS \(database)"]
        for stream in streams {
            let t = table(stream)
            let name = "\(database).\(prefix)\(stream.table)"
            let local = cluster == nil ? name : name + "_local"
            // Rows identical on their whole key are the same row: replacing with `rev` keeps the
            // newest; append-only streams (no `rev`) keep one of equal copies.
            let engine = t.replacing.map { "ReplacingMergeTree(\($0))" } ?? "ReplacingMergeTree"
            var ddl = "CREATE TABLE IF NOT EXISTS \(local) (\n"
            ddl += t.columns.map { "    \($0.0) \($0.1)" }.joined(separator: ",\n")
            ddl += "\n) ENGINE = \(engine)"
            if let p = t.partitionBy { ddl += " PARTITION BY \(p)" }
            ddl += " ORDER BY (\(t.orderBy))"
            out.append(ddl)
            if let cluster {
                out.append("CREATE TABLE IF NOT EXISTS \(name) AS \(local) ENGINE = Distributed(\(cluster), \(database), \(prefix)\(stream.table)_local, cityHash64(machine))")
            }
        }
        return out.joined(separator: ";\n") + ";\n"
    }

    /// The insert statement for a stream: its columns, in order, then `RowBinary` rows in the body.
    /// Binary on purpose: a double arrives with its exact bits (ClickHouse's text parser may
    /// round the last digit, and the cluster must equal the site exactly), and it is the
    /// cheapest format for both sides.
    public static func insert(database: String, prefix: String, stream: UpstreamStream) -> String {
        "INSERT INTO \(database).\(prefix)\(stream.table) (\(table(stream).columns.map(\.0).joined(separator: ", "))) FORMAT RowBinary"
    }

    /// The rows in `RowBinary`, the columns in the order of `insert`: little-endian integers and
    /// IEEE doubles, strings as a LEB128 length and their UTF-8 bytes, `Nullable` as a 1 (null)
    /// or a 0 followed by the value.
    public static func rowBinary(_ rows: [UpstreamRow], site: String) -> [UInt8] {
        var w = RowBinaryWriter()
        w.out.reserveCapacity(rows.count * 120)
        for row in rows {
            w.string(site)
            switch row {
            case .rollup(let r):
                w.string(r.machine); w.string(r.sensor); w.uint64(r.ts)
                w.uint64(Int64(r.count)); w.double(r.mean); w.double(r.min); w.double(r.max); w.double(r.sum); w.double(r.stddev)
                w.uint64(r.rev)
                if let day = r.day {
                    withUnsafeBytes(of: UInt16(clamping: day.date.daysSinceEpoch).littleEndian) { w.out.append(contentsOf: $0) }
                    w.string(day.timeZone)
                }
            case .health(let h):
                w.string(h.machine); w.uint64(h.ts); w.double(h.health); w.string(h.status.rawValue)
                w.double(h.confidence); w.uint64(Int64(h.modelVersion)); w.double(h.anomaly); w.uint64(h.rev)
            case .model(let row):
                let m = row.lineage
                w.string(row.machine); w.uint64(Int64(m.version)); w.uint64(m.createdAt); w.out.append(m.active ? 1 : 0)
                w.string(m.trigger.rawValue); w.nullableUInt64(m.parentVersion.map(Int64.init))
                w.uint64(m.trainFrom); w.uint64(m.trainTo); w.uint64(Int64(m.rowCount))
                w.string(m.contentSha256); w.string(m.codeVersion); w.string(m.gateDecision.rawValue); w.string(m.gateReason)
                w.uint64(row.rev)
            case .maintenance(let m):
                w.string(m.machine); w.uint64(m.id); w.uint64(m.at); w.string(m.note)
            case .event(let e):
                w.string(e.machine ?? ""); w.uint64(e.id); w.uint64(e.at); w.string(e.kind.rawValue); w.string(e.status?.rawValue ?? "")
                if let h = e.health, h.isFinite { w.out.append(0); w.double(h) } else { w.out.append(1) }
                w.nullableUInt64(e.modelVersion.map(Int64.init))
                w.string(e.detail)
            case .quarantine(let q):
                w.string(""); w.uint64(q.id); w.uint64(q.receivedAt); w.string(q.reason); w.string(q.topic); w.string(q.detail)
            case .sensor(let s):
                let m = s.metadata
                w.string(s.machine); w.string(s.sensor); w.string(m.unit ?? ""); w.string(m.description ?? "")
                w.nullableDouble(m.min); w.nullableDouble(m.max); w.nullableDouble(m.step); w.uint64(s.rev)
            }
        }
        return w.out
    }

    struct RowBinaryWriter {
        var out: [UInt8] = []

        mutating func uint64(_ v: Int64) {
            withUnsafeBytes(of: UInt64(bitPattern: v).littleEndian) { out.append(contentsOf: $0) }
        }
        mutating func double(_ v: Double) {
            withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        }
        mutating func string(_ s: String) {
            var n = s.utf8.count
            repeat {
                let byte = UInt8(n & 0x7F)
                n >>= 7
                out.append(n == 0 ? byte : byte | 0x80)
            } while n != 0
            out.append(contentsOf: s.utf8)
        }
        mutating func nullableDouble(_ v: Double?) {
            if let v, v.isFinite { out.append(0); double(v) } else { out.append(1) }
        }
        mutating func nullableUInt64(_ v: Int64?) {
            if let v { out.append(0); uint64(v) } else { out.append(1) }
        }
    }
}
