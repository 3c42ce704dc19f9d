public import VigilCore
public import VigilRollup
public import VigilCodec
import Dispatch
import Synchronization

/// Read-only queries for the API. Each connection lives on its own serial queue so a query never
/// blocks Swift's cooperative pool; WAL lets them run while the writer commits.
public final class StoreReader: Sendable {
    private let lanes: [Lane]
    private let next = Counter()

    /// A connection confined to one serial queue.
    private final class Lane: @unchecked Sendable {
        // Safe: `db` is only touched inside `queue.async` blocks, and the queue is serial.
        let queue: DispatchQueue
        let db: SQLiteConnection

        init(path: String, n: Int) throws {
            queue = DispatchQueue(label: "vigil.store.reader.\(n)")
            db = try SQLiteConnection(path: path, readOnly: true)
        }
    }

    /// Opens `connections` read-only connections; the writer must have created the schema first.
    public init(path: String, connections: Int = 2) throws {
        lanes = try (0..<max(1, connections)).map { try Lane(path: path, n: $0) }
    }

    /// Runs `body` on the next lane, in one read snapshot: rows and chunks are never seen halfway
    /// through a sealing transaction (which would hide what it moves).
    func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        let lane = lanes[next.increment() % lanes.count]
        return try await withCheckedThrowingContinuation { cont in
            lane.queue.async { cont.resume(with: Result { try lane.db.snapshot { try body(lane.db) } }) }
        }
    }

    /// Raw readings of one series in `[from, to)`, oldest first, at most `limit`.
    public func rawSeries(machine: String, sensor: String, from: Int64, to: Int64, limit: Int) async throws -> [Reading]? {
        guard let c = try await rawColumns(machine: machine, sensor: sensor, from: from, to: to, limit: limit, withSeq: true) else { return nil }
        return (0..<c.count).map { Reading(machine: machine, sensor: sensor, ts: c.ts[$0], value: c.values[$0], seq: c.seq[$0]) }
    }

    /// The same readings as columns (what the series route writes out; no names per reading),
    /// sequence numbers only when `withSeq`.
    public func rawColumns(machine: String, sensor: String, from: Int64, to: Int64, limit: Int, withSeq: Bool) async throws -> SeriesColumns? {
        try await read { db in
            guard let id = try db.query("SELECT id FROM series WHERE machine=? AND sensor=?", [.text(machine), .text(sensor)], row: { $0.int(0) }).first else {
                return nil
            }
            var c = SeriesColumns()
            try RawHistory.read(db, series: id, from: from, to: to, limit: limit, withSeq: withSeq, into: &c)
            return c
        }
    }

    /// Minute or day rollups of one series with starts in `[from, to)`, oldest first, at most
    /// `limit`. Read from the rollup tables, never from raw.
    public func rollupSeries(machine: String, sensor: String, width: BucketWidth, from: Int64, to: Int64, limit: Int) async throws -> [Bucket]? {
        try await read { db in
            guard let id = try db.query("SELECT id FROM series WHERE machine=? AND sensor=?", [.text(machine), .text(sensor)], row: { $0.int(0) }).first else {
                return nil
            }
            return try Self.buckets(db, seriesID: id, width: width, from: from, to: to, limit: limit)
        }
    }

    /// A series' id, its minute-rollup generation (`series.rollup_gen`, read before anything
    /// else so what is read after it is at least that fresh) and its first and last minute
    /// bucket; nil for an unknown series.
    public func minuteSeriesExtent(machine: String, sensor: String) async throws -> SeriesExtent? {
        try await read { db in
            guard let (id, generation) = try db.query("SELECT id, rollup_gen FROM series WHERE machine=? AND sensor=?",
                                                      [.text(machine), .text(sensor)], row: { ($0.int(0), $0.int(1)) }).first else {
                return nil
            }
            let range = try MinuteChunks.extent(db, series: id)
            return SeriesExtent(id: id, generation: generation, first: range?.first, last: range?.last)
        }
    }

    /// Minute buckets of a series by id in `[from, to)`, oldest first.
    public func minuteBuckets(seriesID: Int64, from: Int64, to: Int64) async throws -> [Bucket] {
        try await read { db in try Self.buckets(db, seriesID: seriesID, width: .minute, from: from, to: to, limit: nil) }
    }

    static func buckets(_ db: SQLiteConnection, seriesID: Int64, width: BucketWidth, from: Int64, to: Int64, limit: Int?) throws -> [Bucket] {
        if width == .minute { return try MinuteChunks.read(db, series: seriesID, from: from, to: to, limit: limit) }
        return try RollupRows.day.read(db, series: seriesID, from: from, to: to, limit: limit)
    }

    /// Every sensor of `machine` with its judged state (sensors not judged yet are `ok` with no
    /// cadence) and its latest reading time; nil if the machine has no series.
    public func sensorConditions(machine: String) async throws -> [SensorCondition]? {
        try await read { db in
            let series = try db.query("SELECT sensor, last_ts FROM series WHERE machine = ? ORDER BY sensor", [.text(machine)]) { ($0.text(0), $0.int(1)) }
            guard !series.isEmpty else { return nil }
            var judged: [String: SensorCondition] = [:]
            for c in try db.query("SELECT sensor, state, fault, cadence_ms FROM sensor_condition WHERE machine = ?", [.text(machine)], row: { s in
                SensorCondition(sensor: s.text(0), state: SensorState(rawValue: s.text(1)) ?? .fault,
                                      fault: s.isNull(2) ? nil : CanonicalJSON.decode(SensorFault.self, s.text(2)),
                                      lastSeen: nil, cadenceMs: s.isNull(3) ? nil : s.int(3))
            }) { judged[c.sensor] = c }
            return series.map { sensor, last in
                var c = judged[sensor] ?? SensorCondition(sensor: sensor, state: .ok, fault: nil, lastSeen: nil, cadenceMs: nil)
                c.lastSeen = last
                return c
            }
        }
    }

    /// Open sensor faults of the whole fleet (for /metrics).
    public func openSensorFaults() async throws -> [(machine: String, sensor: String, kind: SensorFaultKind)] {
        try await read { db in
            try db.query("SELECT machine, sensor, fault FROM sensor_condition WHERE state = 'fault' ORDER BY machine, sensor") { s in
                (s.text(0), s.text(1), CanonicalJSON.decode(SensorFault.self, s.text(2))?.kind ?? .stuck)
            }
        }
    }

    /// Sensor faults opened so far, by kind (for /metrics; from the event log).
    public func sensorFaultCounts() async throws -> [SensorFaultKind: Int64] {
        try await read { db in
            // Counted by SQLite (one pass, no event decoded): a /metrics scrape reads this.
            var out: [SensorFaultKind: Int64] = [:]
            for (kind, n) in try db.query("SELECT json_extract(body, '$.fault.kind'), count(*) FROM event WHERE kind = 'sensor_fault' GROUP BY 1",
                                          row: { ($0.isNull(0) ? "" : $0.text(0), $0.int(1)) }) {
                if let kind = SensorFaultKind(rawValue: kind) { out[kind] = n }
            }
            return out
        }
    }

    /// A machine's current health state; nil if the machine has no series.
    public func health(machine: String) async throws -> (record: MachineHealthRecord, trainedAt: Int64?)? {
        try await read { db in
            guard try db.query("SELECT 1 FROM series WHERE machine = ? LIMIT 1", [.text(machine)], row: { $0.int(0) }).first != nil else { return nil }
            let record = try HealthSQL.machineHealth(db, machine) ?? MachineHealthRecord(machine: machine)
            let trainedAt = try record.activeVersion.flatMap { v in
                try db.query("SELECT created_at FROM model WHERE machine = ? AND version = ?", [.text(machine), .int(Int64(v))]) { $0.int(0) }.first
            }
            return (record, trainedAt)
        }
    }

    public func healthHistory(machine: String, from: Int64, to: Int64, limit: Int) async throws -> [HealthHistoryRow] {
        try await read { db in
            try db.query("SELECT ts, health, status, confidence, model_version, anomaly FROM health_history WHERE machine = ? AND ts >= ? AND ts < ? ORDER BY ts LIMIT ?",
                         [.text(machine), .int(from), .int(to), .int(Int64(limit))]) {
                HealthHistoryRow(ts: $0.int(0), health: $0.double(1), status: HealthStatus(stored: $0.text(2)), confidence: $0.double(3),
                                 modelVersion: Int($0.int(4)), anomaly: $0.double(5))
            }
        }
    }

    public func models(machine: String) async throws -> [ModelRecord] {
        try await read { db in try HealthSQL.models(db, machine) }
    }

    public struct QuarantineEntry: Sendable, Equatable {
        public var id: Int64
        public var receivedAt: Int64
        public var topic: String
        public var payload: [UInt8]
        public var reason: String
        public var detail: String
    }

    public func quarantine(limit: Int) async throws -> [QuarantineEntry] {
        try await read { db in
            try db.query("SELECT id, received_at, topic, payload, reason, detail FROM quarantine ORDER BY id DESC LIMIT ?", [.int(Int64(limit))]) {
                QuarantineEntry(id: $0.int(0), receivedAt: $0.int(1), topic: $0.text(2), payload: $0.blob(3), reason: $0.text(4), detail: $0.text(5))
            }
        }
    }

    /// For /metrics: each machine's active model version, and how many candidate versions were
    /// registered per trigger and gate decision.
    public func modelSummary() async throws -> (active: [(machine: String, version: Int)], registered: [(trigger: String, decision: String, count: Int64)]) {
        try await read { db in
            (try db.query("SELECT machine, active_version FROM machine_health WHERE active_version IS NOT NULL ORDER BY machine") {
                (machine: $0.text(0), version: Int($0.int(1)))
            },
             try db.query("SELECT trigger, gate_decision, count(*) FROM model GROUP BY 1, 2 ORDER BY 1, 2") {
                (trigger: $0.text(0), decision: $0.text(1), count: $0.int(2))
            })
        }
    }

    /// Rejected readings by reason since the database was created.
    public func rejectCounts() async throws -> [String: Int64] {
        try await read { db in
            Dictionary(uniqueKeysWithValues: try db.query("SELECT reason, n FROM reject_count") { ($0.text(0), $0.int(1)) })
        }
    }
}

/// A lock-free round-robin counter.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() -> Int { value.add(1, ordering: .relaxed).oldValue & Int.max }
}

public struct SeriesExtent: Sendable {
    public var id: Int64
    public var generation: Int64
    public var first: Int64?
    public var last: Int64?
}
