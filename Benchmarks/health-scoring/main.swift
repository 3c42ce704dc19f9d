// Health scoring benchmark (issue 5): rows/s of the production scorer for an 8-sensor machine on
// one core (smoothing, Mahalanobis statistic, health, status, contributors per row), against a
// peer in the same run: numpy computing only the statistic for all rows at once (vectorised,
// not causal, no contributors) on the same rows.
//
// Then the sensor-fault detector's cost per raw reading, beside the minute-rollup kernel's on the
// same readings.
//
// Run: swift build -c release --product vigil-bench-health && .build/release/vigil-bench-health [--rows 2000000]
import Foundation
import VigilCore
import VigilHealth
import VigilRollup

var rows = 2_000_000
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    if a == "--rows", let v = args.next().flatMap({ Int($0) }), v > 0 { rows = v; continue }
    FileHandle.standardError.write("usage: vigil-bench-health [--rows N]\n".data(using: .utf8)!)
    exit(2)
}

let sensors = (0..<8).map { "s\($0)" }
/// Eight sensors that follow one load cycle, with noise; sensor 3 drifts in the second half.
func makeTable(_ rows: Int) -> [[Double?]] {
    var state: UInt64 = 42
    var table: [[Double?]] = []
    table.reserveCapacity(rows)
    for t in 0..<rows {
        let load: Double = 0.7 + 0.2 * sin(Double(t) / 300)
        var row: [Double?] = []
        for j in 0..<8 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            let noise = Double((z ^ (z >> 31)) >> 11) / Double(1 << 53) - 0.5
            let drift: Double = j == 3 && t > rows / 2 ? 2 : 0
            row.append(Double(j + 1) * 10 * load + noise + drift)
        }
        table.append(row)
    }
    return table
}
let table = makeTable(rows)
let model = try HealthModel.train(sensors: sensors, rows: Array(table[..<1000]))
var scorer = HealthScorer(model: model)
var alarms = 0
let t0 = DispatchTime.now().uptimeNanoseconds
for r in table {
    let s = scorer.score(r)
    if s.status == .alarm { alarms += 1 }
}
let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
print("# health scoring: \(rows) rows × 8 sensors, one core")
print(String(format: "Vigil HealthScorer (causal, full score)   %10.0f rows/s  (%.2f µs/row, %d alarms)", Double(rows) / seconds, seconds / Double(rows) * 1e6, alarms))

// Peer: numpy, statistic only, all rows in one vectorised expression.
let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bench-health-\(getpid())")
try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: dir) }
let flat = table.flatMap { $0.map { $0! } }
try flat.withUnsafeBytes { try Data($0).write(to: dir.appendingPathComponent("rows.bin")) }
try model.precision.withUnsafeBytes { try Data($0).write(to: dir.appendingPathComponent("precision.bin")) }
let script = """
import numpy as np, time, sys
d = sys.argv[1]
x = np.fromfile(d + '/rows.bin').reshape(-1, 8)
P = np.fromfile(d + '/precision.bin').reshape(8, 8)
c = np.array(\(model.center)); s = np.array(\(model.scale)); m = np.array(\(model.mean))
best = 1e9
for _ in range(3):
    t0 = time.perf_counter()
    z = (x - c) / s - m
    t2 = np.einsum('ij,jk,ik->i', z, P, z)
    best = min(best, time.perf_counter() - t0)
print(best)
"""
let p = Process()
p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
p.arguments = ["python3", "-c", script, dir.path]
let pipe = Pipe()
p.standardOutput = pipe
try p.run()
let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
p.waitUntilExit()
if p.terminationStatus == 0, let t = Double(out.trimmingCharacters(in: .whitespacesAndNewlines)) {
    print(String(format: "numpy, statistic only, vectorised batch    %10.0f rows/s  (%.2f µs/row)", Double(rows) / t, t / Double(rows) * 1e6))
} else {
    print("numpy peer skipped (pip install numpy)")
}

// MARK: sensor-fault detector: cost per raw reading, beside the rollup kernel's

// The same table as raw readings at 1 Hz (8 per row, in time order), judged by the production
// detector with profiles learned from the first 1,000 rows; the peer is the minute-rollup kernel
// (SIMD and scalar) over the same readings, one series at a time as the rollup service runs it.
let readingRows = min(rows, 1_000_000)
let learnRows = 1_000
var detector = SensorFaultDetector(sensors: sensors, commissioning: (0..<8).map { j in
    ((0..<learnRows).map { Int64($0) * 1000 }, (0..<learnRows).map { table[$0][j]! })
})
var opened = 0
let d0 = DispatchTime.now().uptimeNanoseconds
for t in 0..<readingRows {
    let ts = Int64(t) * 1000
    for j in 0..<8 { opened += detector.observe(sensor: j, ts: ts, value: table[t][j]!).count }
    if t % 60 == 59 { opened += detector.advance(to: ts).count }
}
let detectorSeconds = Double(DispatchTime.now().uptimeNanoseconds - d0) / 1e9
let judged = Double(readingRows * 8)
print("# sensor-fault detector: \(readingRows * 8) raw readings (8 sensors at 1 Hz), one core")
print(String(format: "Vigil SensorFaultDetector.observe          %10.0f readings/s  (%.0f ns/reading, %d changes)",
             judged / detectorSeconds, detectorSeconds / judged * 1e9, opened))
let columnTimes = (0..<readingRows).map { Int64($0) * 1000 }
let columns = (0..<8).map { j in (0..<readingRows).map { table[$0][j]! } }
for simd in [true, false] {
    var buckets: [Bucket] = []
    buckets.reserveCapacity(readingRows / 60 + 2)
    var best = Double.infinity
    for _ in 0..<3 {
        let r0 = DispatchTime.now().uptimeNanoseconds
        for column in columns {
            buckets.removeAll(keepingCapacity: true)
            columnTimes.withUnsafeBufferPointer { ts in
                column.withUnsafeBufferPointer { vs in
                    if simd { RollupKernel.rollup(ts: ts, values: vs, width: .minute, into: &buckets) } else {
                        RollupKernel.rollupScalar(ts: ts, values: vs, width: .minute, into: &buckets)
                    }
                }
            }
        }
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - r0) / 1e9)
    }
    print((simd ? "minute rollup kernel (SIMD), same readings  " : "minute rollup kernel (scalar), same readings")
          + String(format: "%10.0f readings/s  (%.1f ns/reading)", judged / best, best / judged * 1e9))
}
