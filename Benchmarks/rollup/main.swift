// Rollup benchmark (issue 4): minute + day rollups of ≥ 50 M jittered 1 Hz readings
// (int64 ts + float64 value, contiguous per series) on one core, against peers in the same run:
// this machine's sequential read bandwidth (the limit), the scalar reference loop, SQLite
// GROUP BY on the same rows, and DuckDB (pip, one thread) GROUP BY time_bucket.
//
// Run (AVX-512/AVX2 code needs a target CPU; the default x86-64 target is SSE2 only):
//   swift build -c release --product vigil-bench-rollup -Xswiftc -target-cpu -Xswiftc native
//   .build/release/vigil-bench-rollup [--readings 50000000] [--series 100] [--sqlite-rows 5000000] [--no-duckdb]
import CSQLite
import Foundation
import VigilCore
import VigilRollup

// MARK: arguments

var readings = 50_000_000, seriesCount = 100, sqliteRows = 5_000_000, duckdb = true, rounds = 3
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    func int() -> Int {
        guard let v = args.next().flatMap({ Int($0.replacingOccurrences(of: "_", with: "")) }), v > 0 else {
            FileHandle.standardError.write("vigil-bench-rollup: \(a) needs a positive integer\n".data(using: .utf8)!)
            exit(2)
        }
        return v
    }
    switch a {
    case "--readings": readings = int()
    case "--series": seriesCount = int()
    case "--sqlite-rows": sqliteRows = int()
    case "--rounds": rounds = int()
    case "--no-duckdb": duckdb = false
    case "--help", "-h":
        print("usage: vigil-bench-rollup [--readings N] [--series S] [--sqlite-rows N] [--rounds R] [--no-duckdb]")
        exit(0)
    default:
        FileHandle.standardError.write("vigil-bench-rollup: unknown argument \(a)\n".data(using: .utf8)!)
        exit(2)
    }
}
let perSeries = readings / seriesCount
readings = perSeries * seriesCount
sqliteRows = min(sqliteRows, readings)

// MARK: data: one 64-byte aligned column pair, series after series, each sorted by time

func aligned<T>(_ type: T.Type, _ count: Int) -> UnsafeMutableBufferPointer<T> {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<T>.stride, alignment: 64)
    return UnsafeMutableBufferPointer(start: raw.bindMemory(to: T.self, capacity: count), count: count)
}

let ts = aligned(Int64.self, readings)
let values = aligned(Double.self, readings)
let start: Int64 = 1_764_000_000_000 // 2025-11-24T16:00:00Z: runs cross day boundaries
do {
    var rng = SplitMix64(seed: 4)
    for s in 0..<seriesCount {
        var t = start + Int64(s) * 37
        var level = 50.0 + Double(s)
        for i in 0..<perSeries {
            t += 1000 + Int64(rng.next() % 401) - 200 // 1 Hz ± 200 ms
            level += Double(Int64(rng.next() % 2001) - 1000) * 1e-4
            ts[s * perSeries + i] = t
            values[s * perSeries + i] = level + Double(rng.next() % 1000) * 1e-3
        }
    }
}
let span = Double(ts[perSeries - 1] - ts[0]) / 86_400_000
print("# rollup benchmark: \(readings) readings, \(seriesCount) series × \(perSeries) (jittered 1 Hz, \(String(format: "%.1f", span)) days each), 16 B/reading, one core")

@MainActor func best(_ body: () -> Int) -> (seconds: Double, check: Int) {
    var bestTime = Double.infinity, check = 0
    for _ in 0..<rounds {
        let t0 = DispatchTime.now().uptimeNanoseconds
        check = body()
        bestTime = min(bestTime, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return (bestTime, check)
}

var rows: [(String, Double)] = []
@MainActor func report(_ name: String, rowsPerSecond: Double, _ extra: String = "") {
    rows.append((name, rowsPerSecond))
    print(name.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%8.1f M readings/s", rowsPerSecond / 1e6) + (extra.isEmpty ? "" : "  " + extra))
}

// MARK: the limit: sequential read of both columns

// Both columns are streamed together, as the kernels stream them (two prefetch streams).
let bandwidth = best {
    let t = UnsafeRawPointer(ts.baseAddress!), v = UnsafeRawPointer(values.baseAddress!)
    var a0 = SIMD8<Int64>(), a1 = SIMD8<Int64>(), b0 = SIMD8<Int64>(), b1 = SIMD8<Int64>()
    var offset = 0
    let bytes = readings * 8 - 127
    while offset < bytes {
        a0 &+= t.load(fromByteOffset: offset, as: SIMD8<Int64>.self)
        b0 &+= v.load(fromByteOffset: offset, as: SIMD8<Int64>.self)
        a1 &+= t.load(fromByteOffset: offset + 64, as: SIMD8<Int64>.self)
        b1 &+= v.load(fromByteOffset: offset + 64, as: SIMD8<Int64>.self)
        offset += 128
    }
    return Int(truncatingIfNeeded: (a0 &+ a1 &+ b0 &+ b1).wrappedSum())
}
let bytesPerSecond = Double(readings * 16) / bandwidth.seconds
let limit = bytesPerSecond / 16
report("memory read bandwidth limit", rowsPerSecond: limit, String(format: "(%.1f GB/s)", bytesPerSecond / 1e9))

// MARK: our kernels

var minutes: [Bucket] = [], days: [Bucket] = []
minutes.reserveCapacity(perSeries / 50)
@MainActor func rollupAll(simd: Bool) -> Int {
    var buckets = 0
    for s in 0..<seriesCount {
        minutes.removeAll(keepingCapacity: true)
        days.removeAll(keepingCapacity: true)
        let t = UnsafeBufferPointer(rebasing: ts[s * perSeries ..< (s + 1) * perSeries])
        let v = UnsafeBufferPointer(rebasing: values[s * perSeries ..< (s + 1) * perSeries])
        if simd {
            RollupKernel.rollup(ts: t, values: v, width: .minute, into: &minutes)
        } else {
            RollupKernel.rollupScalar(ts: t, values: v, width: .minute, into: &minutes)
        }
        RollupKernel.coarsen(minutes, to: .day, into: &days)
        buckets += minutes.count + days.count
    }
    return buckets
}
let simd = best { rollupAll(simd: true) }
let simdMinutes = minutes, simdDays = days
let scalar = best { rollupAll(simd: false) }
let agree = simdMinutes.count == minutes.count && simdDays.count == days.count
    && zip(simdMinutes, minutes).allSatisfy { $0.start == $1.start && $0.stats.count == $1.stats.count && $0.stats.min == $1.stats.min && $0.stats.max == $1.stats.max && abs($0.stats.mean - $1.stats.mean) <= 1e-9 * abs($1.stats.mean) }
report("Vigil SIMD kernel (minute + day)", rowsPerSecond: Double(readings) / simd.seconds, "\(simd.check) buckets")
report("Vigil scalar reference (minute + day)", rowsPerSecond: Double(readings) / scalar.seconds, "\(scalar.check) buckets, agrees with SIMD: \(agree)")

// MARK: SQLite GROUP BY on the first `sqliteRows` rows (in memory, rowid table)

do {
    var db: OpaquePointer?
    sqlite3_open(":memory:", &db)
    sqlite3_exec(db, "CREATE TABLE r(series INTEGER, ts INTEGER, value REAL)", nil, nil, nil)
    sqlite3_exec(db, "BEGIN", nil, nil, nil)
    var ins: OpaquePointer?
    sqlite3_prepare_v2(db, "INSERT INTO r VALUES(?,?,?)", -1, &ins, nil)
    for i in 0..<sqliteRows {
        sqlite3_bind_int64(ins, 1, Int64(i / perSeries))
        sqlite3_bind_int64(ins, 2, ts[i])
        sqlite3_bind_double(ins, 3, values[i])
        sqlite3_step(ins)
        sqlite3_reset(ins)
    }
    sqlite3_finalize(ins)
    sqlite3_exec(db, "COMMIT", nil, nil, nil)
    @MainActor func groupBy(_ width: Int) -> Int {
        var st: OpaquePointer?
        let sql = "SELECT series, ts / \(width), count(*), sum(value), min(value), max(value), avg(value), avg(value * value) FROM r GROUP BY 1, 2"
        sqlite3_prepare_v2(db, sql, -1, &st, nil)
        var n = 0
        while sqlite3_step(st) == SQLITE_ROW { n += 1 }
        sqlite3_finalize(st)
        return n
    }
    let sq = best { groupBy(60_000) + groupBy(86_400_000) }
    report("SQLite GROUP BY (minute + day)", rowsPerSecond: Double(sqliteRows) / sq.seconds, "\(sq.check) buckets from \(sqliteRows) rows")
    sqlite3_close(db)
}

// MARK: DuckDB, one thread, GROUP BY time_bucket on the same columns

if duckdb {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bench-rollup-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try Data(buffer: UnsafeBufferPointer(ts)).write(to: dir.appendingPathComponent("ts.bin"))
    try Data(buffer: UnsafeBufferPointer(values)).write(to: dir.appendingPathComponent("value.bin"))
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("duckdb_peer.py")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", script.path, dir.path, String(seriesCount), String(rounds)]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    let lines = text.split(separator: "\n").map { $0.split(separator: " ") }.filter { $0.count == 3 }
    if p.terminationStatus == 0 && !lines.isEmpty {
        for l in lines {
            guard let seconds = Double(l[1]) else { continue }
            report("DuckDB 1 thread GROUP BY \(l[0] == "time_bucket" ? "time_bucket" : "ts // width")", rowsPerSecond: Double(readings) / seconds, "\(l[2]) buckets")
        }
    } else {
        print("DuckDB peer skipped (pip install duckdb numpy): exit \(p.terminationStatus) \(text)")
    }
}

// MARK: ratios

let simdRate = Double(readings) / simd.seconds
print("")
print("SIMD / " + "bandwidth limit".padding(toLength: 38, withPad: " ", startingAt: 0) + String(format: "%7.1f %%", 100 * simdRate / limit))
print("SIMD / " + "scalar reference".padding(toLength: 38, withPad: " ", startingAt: 0) + String(format: "%7.2f ×", simdRate / (Double(readings) / scalar.seconds)))
for (name, rate) in rows where name.hasPrefix("SQLite") || name.hasPrefix("DuckDB") {
    print("SIMD / " + name.padding(toLength: 38, withPad: " ", startingAt: 0) + String(format: "%7.1f ×", simdRate / rate))
}
