// Storage layout benchmark (issue 4): bytes per stored reading and insert throughput of the raw
// layout Vigil uses (row table, PRIMARY KEY(series_id, ts) WITHOUT ROWID, upsert) against two
// alternatives in the same run: columnar chunks (one row per series-hour: delta-varint
// timestamps + 8-byte values in BLOBs) and a rowid table with a UNIQUE(series_id, ts) index.
// Same settings as the daemon: WAL, synchronous=NORMAL, prepared statements, 50,000-reading
// transactions, in-order jittered 1 Hz data. Also times reading back one minute per series
// (what a rollup pass does) for the row layout.
//
// Run: swift run -c release vigil-bench-store [--readings 2000000] [--series 20] [--dir /tmp]
import CSQLite
import Foundation
import VigilCore

var readings = 2_000_000, seriesCount = 20, dir = NSTemporaryDirectory()
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--readings": readings = Int(args.next() ?? "") ?? readings
    case "--series": seriesCount = Int(args.next() ?? "") ?? seriesCount
    case "--dir": dir = args.next() ?? dir
    case "--help", "-h":
        print("usage: vigil-bench-store [--readings N] [--series S] [--dir DIR]")
        exit(0)
    default:
        FileHandle.standardError.write("vigil-bench-store: unknown argument \(a)\n".data(using: .utf8)!)
        exit(2)
    }
}
let perSeries = readings / seriesCount
readings = perSeries * seriesCount
let batch = 50_000

// Interleaved in time across series, as a fleet publishes.
var rng = SplitMix64(seed: 3)
let start: Int64 = 1_764_000_000_000
var ts = [Int64](repeating: 0, count: readings), vs = [Double](repeating: 0, count: readings), sid = [Int64](repeating: 0, count: readings)
var clock = [Int64](repeating: start, count: seriesCount), level = [Double](repeating: 50, count: seriesCount)
for i in 0..<readings {
    let s = i % seriesCount
    clock[s] += 1000 + Int64(rng.next() % 401) - 200
    level[s] += Double(Int64(rng.next() % 2001) - 1000) * 1e-4
    ts[i] = clock[s]
    vs[i] = (level[s] * 1000).rounded() / 1000 // three decimals, like most sensors
    sid[i] = Int64(s + 1)
}

func check(_ rc: Int32, _ db: OpaquePointer?, _ what: String) {
    if rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW {
        fatalError("\(what): \(String(cString: sqlite3_errmsg(db)))")
    }
}

@MainActor func open(_ name: String, _ schema: String) -> (OpaquePointer?, String) {
    let path = dir + "/vigil-bench-store-\(getpid())-\(name).sqlite"
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
    var db: OpaquePointer?
    check(sqlite3_open(path, &db), db, "open")
    check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; " + schema, nil, nil, nil), db, "schema")
    return (db, path)
}

@MainActor func finish(_ db: OpaquePointer?, _ path: String) -> Double {
    check(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nil, nil, nil), db, "checkpoint")
    var st = stat()
    stat(path, &st)
    return Double(st.st_size) / Double(readings)
}

func timed(_ body: () -> Void) -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

@MainActor func report(_ name: String, seconds: Double, bytes: Double, _ note: String) {
    print(name.padding(toLength: 40, withPad: " ", startingAt: 0)
          + String(format: "%9.0f readings/s  %6.1f B/reading  ", Double(readings) / seconds, bytes) + note)
}

/// Upserts every reading with `sql` (three parameters: series, ts, value) in `batch`-reading
/// transactions; returns the seconds it took.
@MainActor func upsertRows(_ db: OpaquePointer?, _ sql: String) -> Double {
    var ins: OpaquePointer?
    check(sqlite3_prepare_v2(db, sql, -1, &ins, nil), db, "prepare")
    defer { sqlite3_finalize(ins) }
    return timed {
        for b in stride(from: 0, to: readings, by: batch) {
            sqlite3_exec(db, "BEGIN", nil, nil, nil)
            for i in b..<min(b + batch, readings) {
                sqlite3_bind_int64(ins, 1, sid[i]); sqlite3_bind_int64(ins, 2, ts[i]); sqlite3_bind_double(ins, 3, vs[i])
                check(sqlite3_step(ins), db, "insert"); sqlite3_reset(ins)
            }
            sqlite3_exec(db, "COMMIT", nil, nil, nil)
        }
    }
}

print("# storage layout benchmark: \(readings) readings, \(seriesCount) series, jittered 1 Hz, \(batch)-reading transactions, WAL + synchronous=NORMAL")

// A: the row table Vigil uses.
do {
    let (db, path) = open("rows", "CREATE TABLE reading(series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, seq INTEGER, PRIMARY KEY(series_id, ts)) WITHOUT ROWID")
    let seconds = upsertRows(db, "INSERT INTO reading(series_id, ts, value, seq) VALUES(?,?,?,NULL) ON CONFLICT(series_id, ts) DO UPDATE SET value=excluded.value")
    report("row table PK(series,ts) [Vigil until 2026-12-07]", seconds: seconds, bytes: finish(db, path), "idempotent upsert per reading; late data = one row")
    // Reading one minute back per series, as a rollup pass does.
    var sel: OpaquePointer?
    check(sqlite3_prepare_v2(db, "SELECT value FROM reading WHERE series_id=? AND ts>=? AND ts<?", -1, &sel, nil), db, "prepare")
    var rows = 0
    let minutes = perSeries / 60
    let readSeconds = timed {
        for s in 1...seriesCount {
            for m in 0..<minutes {
                let from = start / 60_000 * 60_000 + Int64(m) * 60_000
                sqlite3_bind_int64(sel, 1, Int64(s)); sqlite3_bind_int64(sel, 2, from); sqlite3_bind_int64(sel, 3, from + 60_000)
                while sqlite3_step(sel) == SQLITE_ROW { rows += 1 }
                sqlite3_reset(sel)
            }
        }
    }
    print(String(format: "  minute read-back for rollups: %.0f readings/s (%d minutes)", Double(rows) / readSeconds, minutes * seriesCount))
    sqlite3_finalize(sel)
    sqlite3_close(db)
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
}

// B: rowid table + UNIQUE index (the same idempotency, a second B-tree).
do {
    let (db, path) = open("rowid", "CREATE TABLE reading(series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, UNIQUE(series_id, ts))")
    let seconds = upsertRows(db, "INSERT INTO reading(series_id, ts, value) VALUES(?,?,?) ON CONFLICT(series_id, ts) DO UPDATE SET value=excluded.value")
    report("rowid table + UNIQUE(series,ts)", seconds: seconds, bytes: finish(db, path), "two B-trees per reading")
    sqlite3_close(db)
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
}

// C: columnar chunks, one row per series-hour.
do {
    let (db, path) = open("chunks", "CREATE TABLE chunk(series_id INTEGER NOT NULL, start INTEGER NOT NULL, n INTEGER NOT NULL, ts BLOB NOT NULL, vals BLOB NOT NULL, PRIMARY KEY(series_id, start)) WITHOUT ROWID")
    var ins: OpaquePointer?
    check(sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO chunk VALUES(?,?,?,?,?)", -1, &ins, nil), db, "prepare")
    struct Open { var start: Int64 = -1; var last: Int64 = 0; var ts: [UInt8] = []; var vals: [UInt8] = []; var n = 0 }
    var open = [Open](repeating: Open(), count: seriesCount + 1)
    func flush(_ s: Int) {
        let o = open[s]
        guard o.n > 0 else { return }
        sqlite3_bind_int64(ins, 1, Int64(s)); sqlite3_bind_int64(ins, 2, o.start); sqlite3_bind_int64(ins, 3, Int64(o.n))
        _ = o.ts.withUnsafeBytes { sqlite3_bind_blob(ins, 4, $0.baseAddress, Int32($0.count), nil) }
        _ = o.vals.withUnsafeBytes { sqlite3_bind_blob(ins, 5, $0.baseAddress, Int32($0.count), nil) }
        check(sqlite3_step(ins), db, "insert"); sqlite3_reset(ins)
        open[s] = Open()
    }
    let seconds = timed {
        for b in stride(from: 0, to: readings, by: batch) {
            sqlite3_exec(db, "BEGIN", nil, nil, nil)
            for i in b..<min(b + batch, readings) {
                let s = Int(sid[i]), hour = ts[i] / 3_600_000 * 3_600_000
                if open[s].start != hour { flush(s); open[s].start = hour; open[s].last = hour }
                var d = UInt64(ts[i] - open[s].last)
                while d >= 0x80 { open[s].ts.append(UInt8(d & 0x7f) | 0x80); d >>= 7 }
                open[s].ts.append(UInt8(d))
                open[s].last = ts[i]
                withUnsafeBytes(of: vs[i].bitPattern.littleEndian) { open[s].vals.append(contentsOf: $0) }
                open[s].n += 1
            }
            sqlite3_exec(db, "COMMIT", nil, nil, nil)
        }
        sqlite3_exec(db, "BEGIN", nil, nil, nil)
        for s in 1...seriesCount { flush(s) }
        sqlite3_exec(db, "COMMIT", nil, nil, nil)
    }
    sqlite3_finalize(ins)
    report("columnar hour chunks (varint ts, f64)", seconds: seconds, bytes: finish(db, path),
           "open chunks live in memory (need their own journal); a late reading rewrites its chunk")
    sqlite3_close(db)
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
}
