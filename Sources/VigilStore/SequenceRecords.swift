public import VigilCore

/// The `series_quality` table: each series' `SequenceTracker`, saved in the transaction of the
/// readings it has seen, so loss accounting survives restarts exactly as the readings do.
enum SequenceSQL {
    static let upsert = "INSERT INTO series_quality(series_id, highest, highest_ts, missing, duplicates, late, restarts, gaps) "
        + "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(series_id) DO UPDATE SET highest = ?2, highest_ts = ?3, "
        + "missing = ?4, duplicates = ?5, late = ?6, restarts = ?7, gaps = ?8"

    static let columns = "highest, highest_ts, missing, duplicates, late, restarts, gaps"

    static func load(_ db: SQLiteConnection) throws -> [Int64: SequenceTracker] {
        Dictionary(uniqueKeysWithValues: try db.query("SELECT series_id, \(columns) FROM series_quality") { ($0.int(0), tracker($0, from: 1)) })
    }

    static func tracker(_ s: Statement, from i: Int32) -> SequenceTracker {
        SequenceTracker(highest: s.isNull(i) ? nil : s.int(i), highestTs: s.int(i + 1), missing: s.int(i + 2), duplicates: s.int(i + 3),
                        late: s.int(i + 4), restarts: s.int(i + 5), gaps: SequenceTracker.gaps(fromText: s.text(i + 6)))
    }

    static func save(_ statement: Statement, series: Int64, _ t: SequenceTracker) throws {
        statement.reset()
        try statement.bind([.int(series), t.highest.map { .int($0) } ?? .null, .int(t.highestTs), .int(t.missing), .int(t.duplicates),
                            .int(t.late), .int(t.restarts), .text(t.gapsText)])
        _ = try statement.step()
    }

    static func counts(_ t: SequenceTracker) -> LossCounts {
        LossCounts(missing: t.missing, duplicates: t.duplicates, late: t.late, restarts: t.restarts)
    }

    /// Missing readings of `series` per minute with a start in `[from, to)`, where any.
    static func lossMinutes(_ db: SQLiteConnection, series: Int64, from: Int64, to: Int64) throws -> [(minute: Int64, missing: Int64)] {
        try db.query("SELECT minute, missing FROM loss_minute WHERE series_id = ? AND minute >= ? AND minute < ? AND missing > 0",
                     [.int(series), .int(from), .int(to)]) { (minute: $0.int(0), missing: $0.int(1)) }
    }
}

/// A machine's loss accounting as stored: per sensor that sent a `seq`, and the minutes with
/// missing readings.
public struct QualityReport: Sendable, Equatable {
    public struct Sensor: Sendable, Equatable {
        public var sensor: String
        public var highestSeq: Int64?
        public var counts: LossCounts
    }

    public var machine: String
    public var total = LossCounts()
    public var sensors: [Sensor] = []
    /// Minutes with missing readings (all the machine's sensors together), oldest first.
    public var minutes: [(ts: Int64, missing: Int64)] = []

    public static func == (a: QualityReport, b: QualityReport) -> Bool {
        a.machine == b.machine && a.total == b.total && a.sensors == b.sensors
            && a.minutes.map(\.ts) == b.minutes.map(\.ts) && a.minutes.map(\.missing) == b.minutes.map(\.missing)
    }
}

extension StoreReader {
    /// A machine's loss accounting per sensor (sensors that never sent a `seq` have none), and
    /// the minutes in `[from, to)` with missing readings (at most `limit`, oldest first); nil for
    /// an unknown machine.
    public func quality(machine: String, from: Int64 = .min, to: Int64 = .max, limit: Int = 10_000) async throws -> QualityReport? {
        try await read { db in
            let series = try db.query("SELECT id, sensor FROM series WHERE machine = ? ORDER BY sensor", [.text(machine)]) { ($0.int(0), $0.text(1)) }
            guard !series.isEmpty else { return nil }
            var out = QualityReport(machine: machine)
            var minutes: [Int64: Int64] = [:]
            for (id, sensor) in series {
                guard let t = try db.query("SELECT \(SequenceSQL.columns) FROM series_quality WHERE series_id = ?", [.int(id)], row: { SequenceSQL.tracker($0, from: 0) }).first else {
                    continue  // never sent a seq: no loss accounting, no lost minutes
                }
                let c = SequenceSQL.counts(t)
                out.sensors.append(.init(sensor: sensor, highestSeq: t.highest, counts: c))
                out.total += c
                for (minute, n) in try SequenceSQL.lossMinutes(db, series: id, from: from, to: to) { minutes[minute, default: 0] += n }
            }
            out.minutes = minutes.keys.sorted().prefix(limit).map { (ts: $0, missing: minutes[$0]!) }
            return out
        }
    }

    /// Every machine's summed loss accounting, for /metrics.
    public func qualityByMachine() async throws -> [(machine: String, counts: LossCounts)] {
        try await read { db in
            try db.query("SELECT s.machine, sum(q.missing), sum(q.duplicates), sum(q.late), sum(q.restarts) FROM series_quality q "
                         + "JOIN series s ON s.id = q.series_id GROUP BY s.machine ORDER BY s.machine") {
                (machine: $0.text(0), counts: LossCounts(missing: $0.int(1), duplicates: $0.int(2), late: $0.int(3), restarts: $0.int(4)))
            }
        }
    }
}
