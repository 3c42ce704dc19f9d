public import VigilCore
import Synchronization

/// The single writer of raw readings and quarantine. `write` applies a batch of messages in one
/// transaction that has committed when the call returns (`IngestBuffer` calls it with the
/// messages it holds in its journal).
public final class StoreWriter: Sendable {
    private let state: Mutex<State>
    public let quarantineLimit: Int

    struct State {
        let db: SQLiteConnection
        let insertReading: Statement
        let insertQuarantine: Statement
        let countReject: Statement
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

    public init(path: String, quarantineLimit: Int = 10_000) throws {
        let db = try SQLiteConnection(path: path)
        try Schema.configure(db)
        try Schema.migrate(db)
        let rows = try db.query("SELECT count(*) FROM quarantine") { Int($0.int(0)) }.first ?? 0
        self.quarantineLimit = quarantineLimit
        state = Mutex(State(
            db: db,
            insertReading: try db.statement(
                "INSERT INTO reading(series_id, ts, value, seq) VALUES(?,?,?,?) "
                    + "ON CONFLICT(series_id, ts) DO UPDATE SET value=excluded.value, seq=excluded.seq"),
            insertQuarantine: try db.statement(
                "INSERT INTO quarantine(received_at, topic, payload, reason, detail) VALUES(?,?,?,?,?)"),
            countReject: try db.statement(
                "INSERT INTO reject_count(reason, n) VALUES(?1, ?2) ON CONFLICT(reason) DO UPDATE SET n = n + ?2"),
            quarantineRows: rows))
    }

    /// Stores the readings and rejections of `messages` atomically. A reading whose key exists
    /// replaces it (idempotent on `(machine, sensor, ts)`; the later message wins).
    public func write(_ messages: [IngestMessage]) throws -> Outcome {
        try state.withLock { s in
            var outcome = Outcome()
            try s.db.transaction {
                for m in messages {
                    for r in m.readings {
                        let id = try Self.seriesID(&s, r)
                        let ins = s.insertReading
                        ins.reset()
                        try ins.bind(.int(id), at: 1)
                        try ins.bind(.int(r.ts), at: 2)
                        try ins.bind(.double(r.value), at: 3)
                        try ins.bind(r.seq.map { .int($0) } ?? .null, at: 4)
                        _ = try ins.step()
                    }
                    outcome.stored += m.readings.count
                    for j in m.rejections {
                        let q = s.insertQuarantine
                        q.reset()
                        try q.bind([.int(m.receivedAt), .text(m.topic), .blob(m.payloadHead), .text(j.reason.rawValue), .text(j.detail)])
                        _ = try q.step()
                        try Self.count(&s, j.reason.rawValue, 1)
                    }
                    outcome.quarantined += m.rejections.count
                }
                s.quarantineRows += outcome.quarantined
                let excess = s.quarantineRows - quarantineLimit
                if excess > 0 {
                    // Oldest first; the eviction itself is counted so nothing leaves silently.
                    try s.db.run("DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine ORDER BY id LIMIT ?)", [.int(Int64(excess))])
                    try Self.count(&s, "quarantine_evicted", excess)
                    s.quarantineRows -= excess
                    outcome.quarantineEvicted = excess
                }
            }
            return outcome
        }
    }

    private static func count(_ s: inout State, _ reason: String, _ n: Int) throws {
        let c = s.countReject
        c.reset()
        try c.bind([.text(reason), .int(Int64(n))])
        _ = try c.step()
    }

    private static func seriesID(_ s: inout State, _ r: Reading) throws -> Int64 {
        let name = SeriesName(machine: r.machine, sensor: r.sensor)
        if let id = s.seriesIDs[name] { return id }
        try s.db.run("INSERT INTO series(machine, sensor) VALUES(?,?) ON CONFLICT(machine, sensor) DO NOTHING",
                     [.text(r.machine), .text(r.sensor)])
        let id = try s.db.query("SELECT id FROM series WHERE machine=? AND sensor=?", [.text(r.machine), .text(r.sensor)]) { $0.int(0) }[0]
        s.seriesIDs[name] = id
        return id
    }
}
