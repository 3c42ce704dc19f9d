public import VigilCore

/// The event log (`Event`): appended in the transaction of what it reports, read newest first
/// by the API and in order by the notifier, whose per-sink cursor lives beside it.
enum EventSQL {
    /// Appends `events` (their `id` is assigned here, in order).
    static func append(_ db: SQLiteConnection, _ events: [Event]) throws {
        for e in events {
            try db.run("INSERT INTO event(at, kind, machine, body) VALUES(?,?,?,?)",
                       [.int(e.at), .text(e.kind.rawValue), e.machine.map { .text($0) } ?? .null, .text(CanonicalJSON.encode(e))])
        }
    }

    static func event(_ s: Statement) -> Event? {
        guard var e = CanonicalJSON.decode(Event.self, s.text(1)) else { return nil }
        e.id = s.int(0)
        return e
    }
}

/// Where a notification sink stands: the last event it acknowledged and its failures since.
public struct NotifyCursor: Sendable, Equatable {
    public var lastEvent: Int64
    public var failures: Int
    public var lastError: String?

    public init(lastEvent: Int64, failures: Int, lastError: String?) {
        self.lastEvent = lastEvent
        self.failures = failures
        self.lastError = lastError
    }
}

extension StoreWriter {
    /// Appends events that belong to no other write (the daemon's own condition, presence).
    public func appendEvents(_ events: [Event]) throws {
        guard !events.isEmpty else { return }
        try withConnection { db in try db.transaction { try EventSQL.append(db, events) } }
    }

    /// Deletes events that happened before `before` and that every sink has acknowledged (ids up
    /// to `acknowledged`); returns how many went.
    public func pruneEvents(before: Int64, acknowledged: Int64) throws -> Int {
        try withConnection { db in
            try db.run("DELETE FROM event WHERE at < ? AND id <= ?", [.int(before), .int(acknowledged)])
            return db.changes
        }
    }

    /// Up to `limit` events after `id`, oldest first (what a sink has still to deliver).
    public func events(after id: Int64, limit: Int) throws -> [Event] {
        try withConnection { db in
            try db.query("SELECT id, body FROM event WHERE id > ? ORDER BY id LIMIT ?", [.int(id), .int(Int64(limit))]) { EventSQL.event($0) }
        }.compactMap { $0 }
    }

    /// The newest event id (0 without events).
    public func lastEventID() throws -> Int64 {
        try withConnection { db in try db.query("SELECT coalesce(max(id), 0) FROM event") { $0.int(0) }.first ?? 0 }
    }

    /// Per machine, whether its newest presence event says it is silent.
    public func silentMachines() throws -> [String: Bool] {
        let rows = try withConnection { db in
            try db.query("""
                SELECT machine, kind FROM event WHERE id IN (
                    SELECT max(id) FROM event WHERE kind IN ('machine_silent', 'machine_back') GROUP BY machine)
                """) { ($0.text(0), $0.text(1)) }
        }
        return Dictionary(rows.map { ($0.0, $0.1 == EventKind.machineSilent.rawValue) }) { a, _ in a }
    }

    public func notifyCursor(sink: String) throws -> NotifyCursor? {
        try withConnection { db in
            try db.query("SELECT last_event, failures, last_error FROM notify_cursor WHERE sink = ?", [.text(sink)]) {
                NotifyCursor(lastEvent: $0.int(0), failures: Int($0.int(1)), lastError: $0.isNull(2) ? nil : $0.text(2))
            }.first
        }
    }

    public func setNotifyCursor(sink: String, _ cursor: NotifyCursor) throws {
        try withConnection { db in
            try db.run("""
                INSERT INTO notify_cursor(sink, last_event, failures, last_error) VALUES(?1, ?2, ?3, ?4)
                ON CONFLICT(sink) DO UPDATE SET last_event = ?2, failures = ?3, last_error = ?4
                """, [.text(sink), .int(cursor.lastEvent), .int(Int64(cursor.failures)), cursor.lastError.map { .text($0) } ?? .null])
        }
    }
}

extension StoreReader {
    /// Events newest first: those with an id below `before` (all when nil), of one machine and
    /// of one kind when given, at most `limit`.
    public func events(before: Int64?, machine: String?, kind: EventKind? = nil, limit: Int) async throws -> [Event] {
        try await read { db in
            var sql = "SELECT id, body FROM event WHERE id < ?"
            var args: [SQLiteValue] = [.int(before ?? .max)]
            if let machine {
                sql += " AND machine = ?"
                args.append(.text(machine))
            }
            if let kind {
                sql += " AND kind = ?"
                args.append(.text(kind.rawValue))
            }
            return try db.query(sql + " ORDER BY id DESC LIMIT ?", args + [.int(Int64(limit))]) { EventSQL.event($0) }.compactMap { $0 }
        }
    }
}
