// Chunk codec benchmark (issue 13): bytes per reading, encode and decode speed on one core, and
// rollups rebuilt from sealed chunks, against peers in the same run: the raw columns (16 bytes a
// reading: what memcpy moves), zstd on the same columns (the `zstd` command's own benchmark mode),
// and the rollup kernel on already-decoded columns.
//
// Data: the simulator's plant model (8 sensors with their noise levels, a load cycle, values to
// three decimals, 1 Hz), optionally with timestamp jitter, cut into chunks of one series-span.
//   swift build -c release --product vigil-bench-codec -Xswiftc -target-cpu -Xswiftc native
//   .build/release/vigil-bench-codec [--series 160] [--hours 24] [--chunk-hours 6] [--jitter-ms 0] [--rounds 5] [--no-zstd]
//   --chunk-seconds 10 instead of --chunk-hours: the recent rows' slots, which ingest encodes one
//   per series and 10 s (`RowTable`).
import Foundation
import VigilCodec
import VigilCore
import VigilRollup

var seriesCount = 160, hours = 24, chunkSeconds = 6 * 3600, jitter: Int64 = 0, rounds = 5, zstd = true
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    func int() -> Int {
        guard let v = args.next().flatMap({ Int($0) }), v >= 0 else {
            FileHandle.standardError.write("vigil-bench-codec: \(a) needs a non-negative integer\n".data(using: .utf8)!)
            exit(2)
        }
        return v
    }
    switch a {
    case "--series": seriesCount = max(1, int())
    case "--hours": hours = max(1, int())
    case "--chunk-hours": chunkSeconds = max(1, int()) * 3600
    case "--chunk-seconds": chunkSeconds = max(1, int())
    case "--jitter-ms": jitter = Int64(int())
    case "--rounds": rounds = max(1, int())
    case "--no-zstd": zstd = false
    case "--help", "-h":
        print("usage: vigil-bench-codec [--series N] [--hours H] [--chunk-hours C | --chunk-seconds S] [--jitter-ms J] [--rounds R] [--no-zstd]")
        exit(0)
    default:
        FileHandle.standardError.write("vigil-bench-codec: unknown argument \(a)\n".data(using: .utf8)!)
        exit(2)
    }
}

// MARK: data: the simulator's model (firmware-sim/FleetModel.swift), series by series

extension SplitMix64 {
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func gaussian() -> Double { (-2 * log(max(unit(), .ulpOfOne))).squareRoot() * cos(2 * .pi * unit()) }
}

let start: Int64 = 1_764_028_800_000  // a UTC midnight
let perSeries = hours * 3600
let span = chunkSeconds
var chunks: [[UInt8]] = []
var rawColumns: [UInt8] = []  // ts + value, 16 bytes a reading, for the peers
var totalReadings = 0
do {
    var rng = SplitMix64(seed: 11)
    let machines = (seriesCount + 7) / 8
    for m in 0..<machines {
        let phase = rng.unit() * 2 * .pi, offset = rng.unit() * 2 - 1
        var temp = 45 + offset, bearing = 50 + offset
        var cols = [SeriesColumns](repeating: SeriesColumns(), count: 8)
        for i in 0..<perSeries {
            let t = start + Int64(i) * 1000 + Int64(m) * 7
            let h = Double(t) / 3_600_000
            let load = min(1, max(0.1, 0.6 + 0.25 * sin(2 * .pi * h / 8 + phase) + 0.05 * rng.gaussian()))
            let ambient = 22 + 4 * sin(2 * .pi * (h - 9) / 24) + 0.1 * rng.gaussian()
            let alpha = 1 - exp(-1.0 / 600)
            temp += alpha * ((ambient + 20 + 25 * load + offset) - temp)
            bearing += alpha * ((ambient + 25 + 30 * load + offset) - bearing)
            let v = [temp + 0.2 * rng.gaussian(), max(0, 1.5 + 2.5 * load + 0.1 * offset + 0.15 * rng.gaussian()),
                     max(0, 8 + 22 * load + 0.3 * rng.gaussian()), 3.5 + 2.5 * load + 0.05 * rng.gaussian(),
                     max(0, 40 + 80 * load + 1.5 * rng.gaussian()), 1450 + 40 * load + 3 * rng.gaussian(),
                     bearing + 0.3 * rng.gaussian(), ambient]
            let tj = jitter > 0 ? t + Int64(rng.next() % UInt64(2 * jitter + 1)) - jitter : t
            for s in 0..<8 { cols[s].append(ts: tj, value: (v[s] * 1000).rounded() / 1000, seq: Int64(i + 1)) }
        }
        for s in 0..<min(8, seriesCount - m * 8) {
            var from = 0
            while from < perSeries {
                let to = min(perSeries, from + span)
                let part = SeriesColumns(ts: Array(cols[s].ts[from..<to]), values: Array(cols[s].values[from..<to]), seq: Array(cols[s].seq[from..<to]))
                chunks.append(ChunkCodec.encode(part))
                for i in from..<to {
                    withUnsafeBytes(of: cols[s].ts[i]) { rawColumns.append(contentsOf: $0) }
                    withUnsafeBytes(of: cols[s].values[i].bitPattern) { rawColumns.append(contentsOf: $0) }
                }
                totalReadings += to - from
                from = to
            }
        }
    }
}

func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func fmt(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }

let chunkBytes = chunks.reduce(0) { $0 + $1.count }
print("data: \(totalReadings) readings, \(seriesCount) series × \(hours) h at 1 Hz (jitter ±\(jitter) ms), \(chunks.count) chunks of \(chunkSeconds % 3600 == 0 ? "\(chunkSeconds / 3600) h" : "\(chunkSeconds) s")")
print("chunks: \(chunkBytes) bytes = \(fmt(Double(chunkBytes) / Double(totalReadings), 3)) bytes/reading (ts + value + seq; raw columns: 16 + 8)")

// MARK: encode / decode / rollup from chunks, best of `rounds` (CPU time of this thread)

@MainActor func best(_ body: () -> Int) -> Double {
    var t = Double.infinity
    for _ in 0..<rounds {
        let c0 = cpuSeconds()
        let check = body()
        precondition(check > 0)
        t = min(t, cpuSeconds() - c0)
    }
    return t
}

var decoded: [SeriesColumns] = chunks.map { try! ChunkCodec.decode($0) }
let encode = best { decoded.reduce(0) { $0 + ChunkCodec.encode($1).count } }
print("encode: \(fmt(Double(totalReadings) / encode / 1e6, 1)) M readings/s (ts + value + seq, one core)")

var cols = SeriesColumns()
cols.ts.reserveCapacity(span)
cols.values.reserveCapacity(span)
let decodeAll = best {
    var n = 0
    for c in chunks {
        cols.removeAll()
        try! c.withUnsafeBytes { try ChunkCodec.decode($0, into: &cols, withSeq: false) }
        n += cols.count
    }
    return n
}
print("decode ts + value: \(fmt(Double(totalReadings) / decodeAll / 1e6, 1)) M readings/s")

var minutes: [Bucket] = []
let rollup = best {
    var n = 0
    for c in chunks {
        cols.removeAll()
        try! c.withUnsafeBytes { try ChunkCodec.decode($0, into: &cols, withSeq: false) }
        minutes.removeAll(keepingCapacity: true)
        cols.ts.withUnsafeBufferPointer { t in cols.values.withUnsafeBufferPointer { v in RollupKernel.rollup(ts: t, values: v, width: .minute, into: &minutes) } }
        n += minutes.count
    }
    return n
}
print("rollup rebuild from chunks (decode + minute kernel): \(fmt(Double(totalReadings) / rollup / 1e6, 1)) M readings/s")

// Peer: the kernel on decoded columns, and a plain copy of the raw columns.
let kernelOnly = best {
    var n = 0
    for c in decoded {
        minutes.removeAll(keepingCapacity: true)
        c.ts.withUnsafeBufferPointer { t in c.values.withUnsafeBufferPointer { v in RollupKernel.rollup(ts: t, values: v, width: .minute, into: &minutes) } }
        n += minutes.count
    }
    return n
}
decoded = []
print("peer: minute kernel on decoded columns: \(fmt(Double(totalReadings) / kernelOnly / 1e6, 1)) M readings/s")
var copyTarget = [UInt8](repeating: 0, count: rawColumns.count)
let copy = best {
    copyTarget.withUnsafeMutableBytes { d in rawColumns.withUnsafeBytes { s in d.copyMemory(from: s) } }
    return Int(copyTarget[copyTarget.count / 2]) + 1
}
print("peer: memcpy of the raw columns: \(fmt(Double(totalReadings) / copy / 1e6, 0)) M readings/s (\(fmt(Double(rawColumns.count) / copy / 1e9, 1)) GB/s)")

if zstd {
    let path = NSTemporaryDirectory() + "vigil-bench-codec-\(getpid()).bin"
    FileManager.default.createFile(atPath: path, contents: Data(rawColumns))
    defer { try? FileManager.default.removeItem(atPath: path) }
    for level in [3, 19] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["zstd", "-q", "-b\(level)", "-i3", path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        do {
            try p.run()
            p.waitUntilExit()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            // zstd 1.5: "-3     87793448 (2.519) 192.78 MB/s  652.6 MB/s  name" (level, compressed bytes,
            // ratio, compression and decompression speed of the input).
            let line = text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).last.map(String.init) ?? text
            let fields = line.split(separator: " ").map(String.init)
            if fields.count >= 6, let size = Double(fields[1]), let enc = Double(fields[3]), let dec = Double(fields[5]) {
                let input = Double(rawColumns.count) / Double(totalReadings)  // bytes per reading in the file
                print("peer: zstd -\(level) on the raw ts + value columns: \(fmt(size / Double(totalReadings), 3)) bytes/reading, "
                      + "encode \(fmt(enc * 1e6 / input / 1e6, 1)) M readings/s, decode \(fmt(dec * 1e6 / input / 1e6, 1)) M readings/s")
            } else {
                print("peer: zstd -\(level): \(line)")
            }
        } catch {
            print("peer: zstd not available (\(error))")
        }
    }
}
