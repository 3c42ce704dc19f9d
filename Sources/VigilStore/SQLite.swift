internal import CSQLite

/// An SQLite error with the C result code and the message SQLite gave.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var description: String { "SQLite error \(code): \(message)" }
}

/// SQLITE_TRANSIENT tells SQLite to copy bound text/blobs (the C macro does not import).
nonisolated(unsafe) private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection. Not thread-safe by itself: every connection is owned by exactly one
/// `Mutex` or serial queue (see `StoreWriter`, `StoreReader`).
public final class SQLiteConnection {
    let handle: OpaquePointer
    private var statements: [String: Statement] = [:]
    /// The row tables' spans as of a schema version (`RowTable.spans`): asked for every read of
    /// rows, listed again only when the schema changed (forgotten on a rollback, which takes the
    /// version back).
    var rowSpans: (schema: Int64, spans: [Int64])?

    public init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: "\(path): \(message)")
        }
        handle = db
        sqlite3_busy_timeout(db, 5000)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// The one checked path for every C call that returns a result code.
    @discardableResult
    func check(_ rc: Int32, _ context: @autoclosure () -> String = "") throws(SQLiteError) -> Int32 {
        switch rc {
        case SQLITE_OK, SQLITE_ROW, SQLITE_DONE:
            return rc
        default:
            let ctx = context()
            let msg = String(cString: sqlite3_errmsg(handle))
            throw SQLiteError(code: rc, message: ctx.isEmpty ? msg : "\(msg) (\(ctx))")
        }
    }

    /// Runs one or more statements without results.
    public func execute(_ sql: String) throws(SQLiteError) {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "error"
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: msg)
        }
    }

    /// A prepared statement, cached per SQL text. Statements naming a span's row table come and
    /// go with the table (`RowTable`), so past 512 the cache starts again (a statement in use stays
    /// valid: the caller holds it).
    public func statement(_ sql: String) throws(SQLiteError) -> Statement {
        if let s = statements[sql] {
            s.reset()
            return s
        }
        if statements.count >= 512 { statements.removeAll() }
        var stmt: OpaquePointer?
        try check(sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil), sql)
        let s = Statement(connection: self, handle: stmt!)
        statements[sql] = s
        return s
    }

    /// Finalizes the cached statements whose SQL contains `text` (those on a table about to be dropped).
    public func forgetStatements(containing text: String) {
        statements = statements.filter { !$0.key.contains(text) }
    }

    /// A read of several statements from one snapshot (WAL): a commit in between — the sealer
    /// moving rows into a chunk — is either wholly seen or not at all.
    public func snapshot<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        defer { try? execute("COMMIT") }
        return try body()
    }

    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let v = try body()
            try execute("COMMIT")
            return v
        } catch {
            try? execute("ROLLBACK")
            rowSpans = nil  // the schema version goes back: a later change could reach it again
            throw error
        }
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Runs a query and maps every row.
    public func query<T>(_ sql: String, _ bindings: [SQLiteValue] = [], row: (Statement) throws -> T) throws -> [T] {
        let s = try statement(sql)
        try s.bind(bindings)
        var out: [T] = []
        while try s.step() { out.append(try row(s)) }
        return out
    }

    public func run(_ sql: String, _ bindings: [SQLiteValue] = []) throws(SQLiteError) {
        let s = try statement(sql)
        try s.bind(bindings)
        while try s.step() {}
    }
}

public enum SQLiteValue: Sendable {
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
    case null
}

public final class Statement {
    unowned let connection: SQLiteConnection
    let handle: OpaquePointer

    init(connection: SQLiteConnection, handle: OpaquePointer) {
        self.connection = connection
        self.handle = handle
    }

    deinit { sqlite3_finalize(handle) }

    public func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        for (n, v) in values.enumerated() { try bind(v, at: Int32(n + 1)) }
    }

    public func bind(_ v: SQLiteValue, at i: Int32) throws(SQLiteError) {
        let rc: Int32
        switch v {
        case .int(let x): rc = sqlite3_bind_int64(handle, i, x)
        case .double(let x): rc = sqlite3_bind_double(handle, i, x)
        case .text(let s): rc = sqlite3_bind_text(handle, i, s, -1, SQLITE_TRANSIENT)
        case .blob(let b): rc = b.withUnsafeBytes { sqlite3_bind_blob(handle, i, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT) }
        case .null: rc = sqlite3_bind_null(handle, i)
        }
        try connection.check(rc, "bind \(i)")
    }

    /// Steps once: true while a row is available.
    public func step() throws(SQLiteError) -> Bool {
        try connection.check(sqlite3_step(handle)) == SQLITE_ROW
    }

    public func int(_ i: Int32) -> Int64 { sqlite3_column_int64(handle, i) }
    public func double(_ i: Int32) -> Double { sqlite3_column_double(handle, i) }
    public func isNull(_ i: Int32) -> Bool { sqlite3_column_type(handle, i) == SQLITE_NULL }
    public func isBlob(_ i: Int32) -> Bool { sqlite3_column_type(handle, i) == SQLITE_BLOB }
    public func text(_ i: Int32) -> String {
        guard let p = sqlite3_column_text(handle, i) else { return "" }
        return String(cString: p)
    }
    /// The column's bytes without a copy, valid only inside `body` (until the next step).
    public func withBlob<T>(_ i: Int32, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        let n = Int(sqlite3_column_bytes(handle, i))
        return try body(UnsafeRawBufferPointer(start: n > 0 ? sqlite3_column_blob(handle, i) : nil, count: n))
    }

    public func blob(_ i: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(handle, i))
        guard n > 0, let p = sqlite3_column_blob(handle, i) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
}

extension SQLiteConnection {
    /// Bytes SQLite has allocated process-wide now (page caches of every connection, statements,
    /// schema); `/metrics` reports it so a growing process can be told from growing caches.
    public static var memoryUsed: Int64 { sqlite3_memory_used() }
}
