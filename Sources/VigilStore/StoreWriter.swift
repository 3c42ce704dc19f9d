public import VigilCore
import Synchronization

/// The single writer of raw readings and quarantine. Every `write` is one transaction that has
/// committed when the call returns: the MQTT gateway calls it before the message callback returns,
/// which is what makes an acknowledged reading durable (docs/durability.md).
public final class StoreWriter: Sendable {
    private let state: Mutex<State>
    public let quarantineLimit: Int

    struct State {
        let db: SQLiteConnection
        var seriesIDs: [SeriesName: Int64] = [:]
        var quarantineRows: Int
    }

    struct SeriesName: Hashable {
        var machine: String
        var sensor: String
    }

    /// What one write did, for metrics.
    public struct Outcome: Sendable, Equatable {
        public var stored = 0
        public var quarantined = 0
        public var quarantineEvicted = 0
    }

    public init(path: String, quarantineLimit: Int = 10_000, synchronousFull: Bool = false) throws {
        let db = try SQLiteConnection(path: path)
        try Schema.configure(db, synchronousFull: synchronousFull)
        try Schema.migrate(db)
        let rows = try db.query("SELECT count(*) FROM quarantine") { Int($0.int(0)) }.first ?? 0
        self.quarantineLimit = quarantineLimit
        state = Mutex(State(db: db, quarantineRows: rows))
    }

    /// Stores the readings of one message and its rejections, atomically.
    /// A reading whose key exists replaces it (idempotent on `(machine, sensor, ts)`).
    public func write(_ readings: [Reading], rejections: [Rejection], topic: String, payload: [UInt8],
                      receivedAt: Int64) throws -> Outcome {
        try state.withLock { s in
            var outcome = Outcome()
            try s.db.transaction {
                for r in readings {
                    let id = try Self.seriesID(&s, r)
                    try s.db.run(
                        "INSERT INTO reading(series_id, ts, value, seq) VALUES(?,?,?,?) "
                            + "ON CONFLICT(series_id, ts) DO UPDATE SET value=excluded.value, seq=excluded.seq",
                        [.int(id), .int(r.ts), .double(r.value), r.seq.map { .int($0) } ?? .null])
                    try s.db.run(
                        "UPDATE series SET first_ts=min(first_ts, ?1), "
                            + "last_value=CASE WHEN ?1 >= last_ts THEN ?2 ELSE last_value END, "
                            + "last_ts=max(last_ts, ?1) WHERE id=?3",
                        [.int(r.ts), .double(r.value), .int(id)])
                    outcome.stored += 1
                }
                if !rejections.isEmpty {
                    let head = Array(payload.prefix(1024))
                    for j in rejections {
                        try s.db.run(
                            "INSERT INTO quarantine(received_at, topic, payload, reason, detail) VALUES(?,?,?,?,?)",
                            [.int(receivedAt), .text(String(topic.prefix(1024))), .blob(head), .text(j.reason.rawValue), .text(j.detail)])
                        try s.db.run(
                            "INSERT INTO reject_count(reason, n) VALUES(?, 1) ON CONFLICT(reason) DO UPDATE SET n = n + 1",
                            [.text(j.reason.rawValue)])
                    }
                    s.quarantineRows += rejections.count
                    outcome.quarantined = rejections.count
                    let excess = s.quarantineRows - quarantineLimit
                    if excess > 0 {
                        // Oldest first; the eviction itself is counted so nothing leaves silently.
                        try s.db.run("DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine ORDER BY id LIMIT ?)", [.int(Int64(excess))])
                        try s.db.run(
                            "INSERT INTO reject_count(reason, n) VALUES('quarantine_evicted', ?1) "
                                + "ON CONFLICT(reason) DO UPDATE SET n = n + ?1",
                            [.int(Int64(excess))])
                        s.quarantineRows -= excess
                        outcome.quarantineEvicted = excess
                    }
                }
            }
            return outcome
        }
    }

    private static func seriesID(_ s: inout State, _ r: Reading) throws -> Int64 {
        let name = SeriesName(machine: r.machine, sensor: r.sensor)
        if let id = s.seriesIDs[name] { return id }
        let found = try s.db.query("SELECT id FROM series WHERE machine=? AND sensor=?", [.text(r.machine), .text(r.sensor)]) { $0.int(0) }
        let id: Int64
        if let existing = found.first {
            id = existing
        } else {
            try s.db.run(
                "INSERT INTO series(machine, sensor, first_ts, last_ts, last_value) VALUES(?,?,?,?,?)",
                [.text(r.machine), .text(r.sensor), .int(r.ts), .int(r.ts), .double(r.value)])
            id = s.db.lastInsertRowID
        }
        s.seriesIDs[name] = id
        return id
    }
}
