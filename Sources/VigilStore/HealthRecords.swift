public import VigilCore
import CSQLite
import VigilCodec
import VigilRollup
import Synchronization

/// One save of a machine's health: its record (with its states when `state`), scored minutes,
/// events and, when given, its sensors' conditions (`HealthRegistry.saveHealth`).
public struct HealthSave: Sendable {
    public var record: MachineHealthRecord
    public var history: [HealthHistoryRow]
    public var events: [Event]
    public var sensors: [SensorCondition]?
    public var state: Bool

    public init(record: MachineHealthRecord, history: [HealthHistoryRow], events: [Event], sensors: [SensorCondition]?, state: Bool) {
        self.record = record
        self.history = history
        self.events = events
        self.sensors = sensors
        self.state = state
    }

    /// The machine's record once this is saved over `stored`.
    public func applied(to stored: MachineHealthRecord?) -> MachineHealthRecord {
        guard !state else { return record }
        var r = record
        r.scorerState = stored?.scorerState
        r.sensorDetector = stored?.sensorDetector
        r.stateThrough = stored?.stateThrough ?? 0
        return r
    }
}

enum HealthSQL {
    static let modelColumns = "machine, version, created_at, trigger, parent_version, train_from, train_to, row_count, content_sha256, sensors, parameters, code_version, metrics, gate_decision, gate_reason, body"

    static func model(_ s: Statement, active: Int?) -> ModelRecord {
        let version = Int(s.int(1))
        return ModelRecord(machine: s.text(0), info: ModelLineage(
            version: version, active: version == active, createdAt: s.int(2), trigger: ModelTrigger(stored: s.text(3)),
            parentVersion: s.isNull(4) ? nil : Int(s.int(4)), trainFrom: s.int(5), trainTo: s.int(6), rowCount: Int(s.int(7)),
            contentSha256: s.text(8), sensors: CanonicalJSON.decode([String].self, s.text(9)) ?? [], parameters: CanonicalJSON.decode([String: Double].self, s.text(10)) ?? [:],
            codeVersion: s.text(11), metrics: CanonicalJSON.decode([String: Double].self, s.text(12)) ?? [:], gateDecision: GateDecision(stored: s.text(13)), gateReason: s.text(14)),
            body: s.text(15))
    }

    static func machineHealth(_ db: SQLiteConnection, _ machine: String) throws -> MachineHealthRecord? {
        try db.query("""
            SELECT active_version, commission_from, scored_through, health, status, confidence, updated_at, contributors, s.scorer_state,
                   commissioning_rows, s.sensor_detector, s.through
            FROM machine_health h LEFT JOIN health_state s USING (machine) WHERE machine = ?
            """, [.text(machine)]) { s in
            var r = MachineHealthRecord(machine: machine)
            r.activeVersion = s.isNull(0) ? nil : Int(s.int(0))
            r.commissionFrom = s.int(1)
            r.scoredThrough = s.int(2)
            r.health = s.isNull(3) ? nil : s.double(3)
            r.status = s.isNull(4) ? nil : HealthStatus(stored: s.text(4))
            r.confidence = s.double(5)
            r.updatedAt = s.isNull(6) ? nil : s.int(6)
            r.contributors = CanonicalJSON.decode([Contributor].self, s.text(7)) ?? []
            r.scorerState = try state(s, 8)
            r.commissioningRows = Int(s.int(9))
            r.sensorDetector = try state(s, 10)
            r.stateThrough = s.isNull(11) ? 0 : s.int(11)
            return r
        }.first
    }

    /// A machine's scorer and sensor-judge states (≈ 16 KB of JSON a machine) are kept as zlib
    /// streams (≈ 4× smaller); databases from before hold them as text, read as such.
    static func packed(_ state: String?) -> SQLiteValue {
        guard let state else { return .null }
        return Deflate.compress(Array(state.utf8)).map { .blob($0) } ?? .text(state)
    }

    static func state(_ s: Statement, _ i: Int32) throws -> String? {
        if s.isNull(i) { return nil }
        guard s.isBlob(i) else { return s.text(i) }
        guard let bytes = Deflate.decompress(s.blob(i)) else { throw SQLiteError(code: SQLITE_CORRUPT, message: "machine_health: a state that does not inflate") }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// How much of the newest scored minutes stay in `health_history_recent` (schema v17): once
    /// it holds twice this, what is older moves to `health_history_kept`.
    static let recentHistoryMillis: Int64 = 600_000

    /// Moves the scored minutes more than `recentHistoryMillis` older than the newest to the
    /// table keyed machine first, once there are `recentHistoryMillis` of them: a machine's ten
    /// minutes or more at once.
    static func keepHistory(_ db: SQLiteConnection) throws {
        guard let (oldest, newest) = try db.query("SELECT min(ts), max(ts) FROM health_history_recent", row: {
            $0.isNull(0) ? nil : ($0.int(0), $0.int(1))
        }).first ?? nil, newest - oldest >= 2 * recentHistoryMillis else { return }
        let before = newest - recentHistoryMillis
        try db.run("""
            INSERT OR REPLACE INTO health_history_kept(machine, ts, health, status, confidence, model_version, anomaly)
            SELECT machine, ts, health, status, confidence, model_version, anomaly FROM health_history_recent WHERE ts < ?1 ORDER BY machine, ts
            """, [.int(before)])
        try db.run("DELETE FROM health_history_recent WHERE ts < ?1", [.int(before)])
    }

    /// One save of `HealthRegistry.saveHealth`, within its transaction.
    static func save(_ db: SQLiteConnection, _ save: HealthSave, upstream: Set<UpstreamStream>) throws {
        let (record, history, events, sensors) = (save.record, save.history, save.events, save.sensors)
        try EventSQL.append(db, events)
        for c in sensors ?? [] {
            // Written only when it changed: most minutes nothing did, and an unchanged row
            // leaves its page clean (nothing for the WAL).
            try db.run("""
                INSERT INTO sensor_condition(machine, sensor, state, fault, cadence_ms) VALUES(?1,?2,?3,?4,?5)
                ON CONFLICT(machine, sensor) DO UPDATE SET state = ?3, fault = ?4, cadence_ms = ?5
                WHERE state IS NOT ?3 OR fault IS NOT ?4 OR cadence_ms IS NOT ?5
                """,
                       [.text(record.machine), .text(c.sensor), .text(c.state.rawValue), c.fault.map { .text(CanonicalJSON.encode($0)) } ?? .null,
                        c.cadenceMs.map { .int($0) } ?? .null])
        }
        for h in history {
            try db.run("INSERT OR REPLACE INTO health_history_recent(machine, ts, health, status, confidence, model_version, anomaly) VALUES(?,?,?,?,?,?,?)",
                       [.text(record.machine), .int(h.ts), .double(h.health), .text(h.status.rawValue), .double(h.confidence), .int(Int64(h.modelVersion)), .double(h.anomaly)])
            if upstream.contains(.health) { try UpstreamLog.note(db, .health, machine: record.machine, t: h.ts) }
        }
        try db.run("""
            INSERT INTO machine_health(machine, active_version, commission_from, scored_through, health, status, confidence, updated_at, contributors, commissioning_rows)
            VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10) ON CONFLICT(machine) DO UPDATE SET active_version=?2, commission_from=?3, scored_through=?4,
            health=?5, status=?6, confidence=?7, updated_at=?8, contributors=?9, commissioning_rows=?10
            """, [
            .text(record.machine), record.activeVersion.map { .int(Int64($0)) } ?? .null, .int(record.commissionFrom), .int(record.scoredThrough),
            record.health.map { .double($0) } ?? .null, record.status.map { .text($0.rawValue) } ?? .null, .double(record.confidence),
            record.updatedAt.map { .int($0) } ?? .null, .text(CanonicalJSON.encode(record.contributors)), .int(Int64(record.commissioningRows)),
        ])
        guard save.state else { return }
        try db.run("""
            INSERT INTO health_state(machine, through, scorer_state, sensor_detector) VALUES(?1,?2,?3,?4)
            ON CONFLICT(machine) DO UPDATE SET through=?2, scorer_state=?3, sensor_detector=?4
            """, [.text(record.machine), .int(record.stateThrough), HealthSQL.packed(record.scorerState), HealthSQL.packed(record.sensorDetector)])
    }

    static func models(_ db: SQLiteConnection, _ machine: String) throws -> [ModelRecord] {
        let active = try machineHealth(db, machine)?.activeVersion
        return try db.query("SELECT \(modelColumns) FROM model WHERE machine = ? ORDER BY version", [.text(machine)]) { model($0, active: active) }
    }
}

// MARK: what health reads of the rest of the store (the writer connection)

extension StoreWriter {
    /// The health registry, the first time it is asked for; nil after (one writer of health).
    public func healthRegistry() -> HealthRegistry? {
        healthRegistryTaken.exchange(true, ordering: .relaxed) ? nil : HealthRegistry(writer: self)
    }

    /// Minute means of `machine`'s sensors (all of them, sorted, when `sensors` is nil) for
    /// minutes in `(after, through]`, oldest first.
    public func minuteFeatures(machine: String, sensors: [String]?, after: Int64, through: Int64) throws -> MinuteFeatures {
        try withConnection { db in
            let all = try db.query("SELECT sensor FROM series WHERE machine = ? ORDER BY sensor", [.text(machine)]) { $0.text(0) }
            let names = sensors ?? all
            let column = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
            var out = MinuteFeatures(sensors: names, times: [], rows: [])
            guard after < through else { return out }
            // Each sensor's minutes (rows or sealed days), then one row per minute.
            var byMinute: [Int64: [Double?]] = [:]
            var arrived: [Int64: Int] = [:], missing: [Int64: Int] = [:]
            for (sensor, id) in try db.query("SELECT sensor, id FROM series WHERE machine = ?", [.text(machine)], row: { ($0.text(0), $0.int(1)) }) {
                guard let c = column[sensor] else { continue }
                for b in try MinuteChunks.read(db, series: id, from: after + 1, to: through + 1, limit: nil) {
                    byMinute[b.start, default: [Double?](repeating: nil, count: names.count)][c] = b.stats.mean
                    arrived[b.start, default: 0] += b.stats.count
                }
                for (minute, n) in try SequenceSQL.lossMinutes(db, series: id, from: after + 1, to: through + 1) { missing[minute, default: 0] += Int(n) }
            }
            out.times = byMinute.keys.sorted()
            out.rows = out.times.map { byMinute[$0]! }
            out.completeness = out.times.map { t in
                let lost = missing[t] ?? 0
                return lost == 0 ? 1 : Double(arrived[t] ?? 0) / Double((arrived[t] ?? 0) + lost)
            }
            return out
        }
    }

    /// Minute means of `sensor` on every machine that has it, for minutes in `(after, through]`:
    /// by minute, per machine.
    public func minuteMeans(sensor: String, after: Int64, through: Int64) throws -> [Int64: [String: Double]] {
        guard after < through else { return [:] }
        return try withConnection { db in
            var out: [Int64: [String: Double]] = [:]
            for (machine, id) in try db.query("SELECT machine, id FROM series WHERE sensor = ?", [.text(sensor)], row: { ($0.text(0), $0.int(1)) }) {
                for b in try MinuteChunks.read(db, series: id, from: after + 1, to: through + 1, limit: nil) {
                    out[b.start, default: [:]][machine] = b.stats.mean
                }
            }
            return out
        }
    }

    /// Per machine, the earliest minute of any of its series whose rollup is still to be
    /// (re)computed; machines whose rollups are all current are absent. One query over the
    /// (small) to-do list serves a whole health round.
    public func earliestPendingMinutes() throws -> [String: Int64] {
        try withConnection { db in
            Dictionary(uniqueKeysWithValues: try db.query(
                "SELECT s.machine, min(d.minute) FROM rollup_dirty d JOIN series s ON s.id = d.series_id GROUP BY s.machine") {
                ($0.text(0), $0.int(1))
            })
        }
    }

    /// Per sensor of `machine` with a declared physical range (`[[sensors]]`, a device's birth, an
    /// operator), the minutes in `(after, through]` holding a reading beyond it (from each minute's
    /// rollup min and max): what health commissioning leaves out.
    public func impossibleMinutes(machine: String, after: Int64, through: Int64) throws -> [String: Set<Int64>] {
        guard after < through else { return [:] }
        let series = try withConnection { db in
            try db.query("SELECT sensor, id FROM series WHERE machine = ? ORDER BY sensor", [.text(machine)], row: { ($0.text(0), $0.int(1)) })
        }
        let limits = sensorMetadata(machine: machine, sensors: series.map(\.0)).filter { $0.value.min != nil || $0.value.max != nil }
        guard !limits.isEmpty else { return [:] }
        return try withConnection { db in
            var out: [String: Set<Int64>] = [:]
            for (sensor, id) in series {
                guard let l = limits[sensor] else { continue }
                let bad = try MinuteChunks.read(db, series: id, from: after + 1, to: through + 1, limit: nil)
                    .filter { l.isImpossible($0.stats.min) || l.isImpossible($0.stats.max) }.map(\.start)
                if !bad.isEmpty { out[sensor] = Set(bad) }
            }
            return out
        }
    }

    /// Every reading of `machine`'s sensors with a time in `(after, through]`, in time order
    /// (readings of one time in sensor order): what the sensor-fault detector is fed.
    public func rawReadings(machine: String, after: Int64, through: Int64) throws -> [(sensor: String, ts: Int64, value: Double)] {
        guard after < through else { return [] }
        return try withConnection { db in
            var out: [(sensor: String, ts: Int64, value: Double)] = []
            for (sensor, id) in try db.query("SELECT sensor, id FROM series WHERE machine = ? ORDER BY sensor", [.text(machine)], row: { ($0.text(0), $0.int(1)) }) {
                var c = SeriesColumns()
                try RawHistory.read(db, series: id, from: after + 1, to: through + 1, withSeq: false, into: &c)
                for i in 0..<c.count { out.append((sensor, c.ts[i], c.values[i])) }
            }
            // Stable: one time's readings stay in sensor order.
            return out.enumerated().sorted { ($0.element.ts, $0.offset) < ($1.element.ts, $1.offset) }.map(\.element)
        }
    }
}

// MARK: the health registry (health tables, one writer)

/// The health tables — each machine's health, its scored history, its model versions, its
/// maintenance and its sensors' conditions — through the store's writer connection. The store
/// hands out one (`StoreWriter.healthRegistry()`), which the health service holds: so one writer
/// of a machine's health holds by construction, not by convention.
public struct HealthRegistry: Sendable {
    let writer: StoreWriter

    func withConnection<T>(_ body: @Sendable (SQLiteConnection) throws -> T) throws -> T { try writer.withConnection(body) }
    var upstream: Set<UpstreamStream> { writer.upstream }
    var fleet: FleetIndex { writer.fleet }
}

extension HealthRegistry {

    /// The newest start of any model's training data (nil: no model yet).
    public func latestModelTrainFrom(machine: String) throws -> Int64? {
        try withConnection { db in
            try db.query("SELECT max(train_from) FROM model WHERE machine = ?", [.text(machine)]) { $0.isNull(0) ? nil : $0.int(0) }.first ?? nil
        }
    }

    /// The newest end of any model's training data, whatever its gate decision (retraining
    /// schedules count from it).
    public func latestModelTrainTo(machine: String) throws -> Int64? {
        try withConnection { db in
            try db.query("SELECT max(train_to) FROM model WHERE machine = ?", [.text(machine)]) { $0.isNull(0) ? nil : $0.int(0) }.first ?? nil
        }
    }

    /// Minutes in `(after, through]` whose scored status was `alarm`.
    public func alarmMinutes(machine: String, after: Int64, through: Int64) throws -> Set<Int64> {
        try withConnection { db in
            Set(try db.query("SELECT ts FROM health_history WHERE machine = ? AND ts > ? AND ts <= ? AND status = 'alarm'",
                             [.text(machine), .int(after), .int(through)]) { $0.int(0) })
        }
    }

    public func machineHealth(_ machine: String) throws -> MachineHealthRecord? {
        try withConnection { db in try HealthSQL.machineHealth(db, machine) }
    }

    public func models(machine: String) throws -> [ModelRecord] {
        try withConnection { db in try HealthSQL.models(db, machine) }
    }

    /// One version of a machine's models, or nil.
    public func model(machine: String, version: Int) throws -> ModelRecord? {
        try withConnection { db in
            let active = try HealthSQL.machineHealth(db, machine)?.activeVersion
            return try db.query("SELECT \(HealthSQL.modelColumns) FROM model WHERE machine = ? AND version = ?",
                                [.text(machine), .int(Int64(version))]) { HealthSQL.model($0, active: active) }.first
        }
    }

    /// Stores a new version (its number is the next free one) and, if `activate`, makes it the
    /// active one. Returns the version.
    /// `events` are appended in the same transaction; their `modelVersion` is set to the new version.
    public func registerModel(machine: String, info: ModelLineage, body: String, activate: Bool, events: [Event] = []) throws -> Int {
        try withConnection { db in
            try db.transaction {
                let next = (try db.query("SELECT coalesce(max(version), 0) + 1 FROM model WHERE machine = ?", [.text(machine)]) { Int($0.int(0)) }.first) ?? 1
                try db.run("INSERT INTO model(\(HealthSQL.modelColumns)) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [
                    .text(machine), .int(Int64(next)), .int(info.createdAt), .text(info.trigger.rawValue), info.parentVersion.map { .int(Int64($0)) } ?? .null,
                    .int(info.trainFrom), .int(info.trainTo), .int(Int64(info.rowCount)), .text(info.contentSha256),
                    .text(CanonicalJSON.encode(info.sensors)), .text(CanonicalJSON.encode(info.parameters)), .text(info.codeVersion),
                    .text(CanonicalJSON.encode(info.metrics)), .text(info.gateDecision.rawValue), .text(info.gateReason), .text(body),
                ])
                if activate {
                    try db.run("INSERT INTO machine_health(machine, active_version) VALUES(?1, ?2) ON CONFLICT(machine) DO UPDATE SET active_version = ?2",
                               [.text(machine), .int(Int64(next))])
                }
                if upstream.contains(.model) { try UpstreamLog.noteModels(db, machine: machine, versions: activate ? nil : [next]) }
                try EventSQL.append(db, events.map { var e = $0; e.modelVersion = next; return e })
                return next
            }
        }
    }

    /// Makes `version` the active one; false if there is no such version.
    public func activateModel(machine: String, version: Int, events: [Event] = []) throws -> Bool {
        try withConnection { db in
            try db.transaction {
                guard try db.query("SELECT 1 FROM model WHERE machine = ? AND version = ?", [.text(machine), .int(Int64(version))], row: { $0.int(0) }).first != nil else {
                    return false
                }
                try db.run("INSERT INTO machine_health(machine, active_version) VALUES(?1, ?2) ON CONFLICT(machine) DO UPDATE SET active_version = ?2",
                           [.text(machine), .int(Int64(version))])
                if upstream.contains(.model) { try UpstreamLog.noteModels(db, machine: machine, versions: nil) }
                try EventSQL.append(db, events)
                return true
            }
        }
    }

    /// Saves scored minutes and the machine's current state in one transaction; its scorer and
    /// sensor-judge states only when `state` (`MachineHealthRecord.stateThrough`).
    public func saveHealth(_ record: MachineHealthRecord, history: [HealthHistoryRow], events: [Event] = [],
                           sensors: [SensorCondition]? = nil, state: Bool = true) throws {
        try saveHealth([HealthSave(record: record, history: history, events: events, sensors: sensors, state: state)])
    }

    /// Saves a round's saves, in order, in one transaction (a machine's current state shares its
    /// pages with the others': one commit writes them once, not once a machine).
    public func saveHealth(_ saves: [HealthSave]) throws {
        guard !saves.isEmpty else { return }
        try withConnection { db in
            try db.transaction {
                for save in saves { try HealthSQL.save(db, save, upstream: upstream) }
                try HealthSQL.keepHistory(db)
            }
        }
        for save in saves {
            let record = save.record
            fleet.noteHealth(machine: record.machine, health: record.health, status: record.status)
            if let sensors = save.sensors { fleet.noteSensorFaults(machine: record.machine, count: sensors.filter { $0.state == .fault }.count) }
        }
    }

    /// The minutes in `(after, through]` during which any of `machine`'s sensors was in fault,
    /// from the event log (a retraining window must not learn from faulty readings).
    public func sensorFaultMinutes(machine: String, after: Int64, through: Int64) throws -> Set<Int64> {
        try withConnection { db in
            let events = try db.query("SELECT id, body FROM event WHERE machine = ? AND kind IN ('sensor_fault', 'sensor_recovered') ORDER BY id",
                                      [.text(machine)]) { EventSQL.event($0) }.compactMap { $0 }
            var open: [String: Int64] = [:]
            var spans: [(Int64, Int64)] = []
            for e in events {
                guard let sensor = e.sensor, let fault = e.fault else { continue }
                if e.kind == .sensorFault { open[sensor] = fault.since } else if let from = open.removeValue(forKey: sensor) { spans.append((from, e.at)) }
            }
            spans += open.values.map { ($0, through) }
            var minutes = Set<Int64>()
            for (from, to) in spans where to > after && from <= through {
                var m = max(from, after + 1) / 60_000 * 60_000
                while m <= min(to, through) {
                    minutes.insert(m)
                    m += 60_000
                }
            }
            return minutes
        }
    }

    /// Records a maintenance event: the machine's health reference is re-commissioned from data
    /// after `at`.
    public func recordMaintenance(machine: String, at: Int64, note: String) throws {
        try withConnection { db in
            try db.transaction {
                try db.run("INSERT INTO maintenance(machine, at, note) VALUES(?,?,?)", [.text(machine), .int(at), .text(note)])
                if upstream.contains(.maintenance) { try UpstreamLog.note(db, .maintenance, machine: machine, t: db.lastInsertRowID) }
                try db.run("INSERT INTO machine_health(machine, commission_from) VALUES(?1, ?2) ON CONFLICT(machine) DO UPDATE SET commission_from = ?2, commissioning_rows = 0",
                           [.text(machine), .int(at)])
            }
        }
    }
}
