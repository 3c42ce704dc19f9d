// Decode benchmark: the gateway's CPU work per reading, without broker or disk.
// Decodes a 1000-reading JSON batch (the `vigil-sim load` shape) with PayloadDecoder, encodes
// the result as a journal record, and decodes the same bytes with Foundation's
// JSONSerialization as a peer; then a Sparkplug B DDATA of 100 metrics through the protobuf
// decoder and the host (Benchmarks/sparkplug_peer.py decodes the same bytes with upb, Google's C
// protobuf runtime, and swift-protobuf). Run: swift run -c release vigil-bench-decode
import Foundation
import VigilCore
import VigilStore

/// `VIGIL_BENCH_ONLY=<substring>` runs only the measurements whose name contains it (profiling).
let only = ProcessInfo.processInfo.environment["VIGIL_BENCH_ONLY"]

func measure(_ name: String, readings: Int, rounds: Int, _ body: () -> Int) {
    if let only, !name.contains(only) { return }
    var sink = 0
    let t0 = Date()
    for _ in 0..<rounds { sink &+= body() }
    let dt = Date().timeIntervalSince(t0)
    let perSecond = Double(readings * rounds) / dt
    let label = name.padding(toLength: 36, withPad: " ", startingAt: 0)
    print(label + String(format: "%12.0f readings/s  %6.3f µs/reading  (check %d)", perSecond, 1e6 / perSecond, sink))
}

let now: Int64 = 1_764_000_000_000
let n = 1000
let batch = "[" + (0..<n).map { "{\"ts\":\(now - 1_000_000 + Int64($0) * 1000),\"value\":\(Double($0 % 1000) / 10)}" }.joined(separator: ",") + "]"
let bytes = Array(batch.utf8)
let multi = "[" + (0..<(n / 4)).map { "{\"ts\":\(now - 1_000_000 + Int64($0) * 1000),\"values\":{\"temp\":45.5,\"vib\":2.25,\"current\":\($0),\"pressure\":4.125}}" }.joined(separator: ",") + "]"
let multiBytes = Array(multi.utf8)
let line = (0..<(n / 4)).map { "m,machine=press7 temp=45.5,vib=2.25,current=\($0)i,pressure=4.125 \((now - 1_000_000 + Int64($0) * 1000) * 1_000_000)" }.joined(separator: "\n")
let lineBytes = Array(line.utf8)
let decoder = PayloadDecoder()
let rounds = 300

print("# decode benchmark: \(n)-reading messages, \(rounds) rounds each, one core")
measure("PayloadDecoder JSON batch", readings: n, rounds: rounds) {
    decoder.decode(topic: "vigil/load-1/s0", payload: bytes, receivedAt: now).readings.count
}
measure("PayloadDecoder JSON multi batch", readings: n, rounds: rounds) {
    decoder.decode(topic: "vigil/press7", payload: multiBytes, receivedAt: now).readings.count
}
measure("PayloadDecoder line protocol", readings: n, rounds: rounds) {
    decoder.decode(topic: "vigil/x", payload: lineBytes, receivedAt: now).readings.count
}
// The firmware shape (`vigil-sim --format line`): one 8-sensor line a machine and second, a message each.
let smallLines = (0..<n / 8).map { k in
    Array(("vigil,machine=pump-\(k % 20) " + ["temp", "vib", "current", "pressure", "flow", "rpm", "bearing_temp", "ambient"].enumerated()
        .map { "\($1)=\(Double(4000 + (k * 7 + $0 * 13) % 900) / 100)" }.joined(separator: ",")
        + " \((now - 1_000_000 + Int64(k) * 1000) * 1_000_000)").utf8)
}
measure("PayloadDecoder line protocol, 8 a message", readings: n, rounds: rounds) {
    smallLines.reduce(0) { $0 + decoder.decode(topic: "vigil/pump", payload: $1, receivedAt: now).readings.count }
}
let decoded = decoder.decode(topic: "vigil/load-1/s0", payload: bytes, receivedAt: now)
let message = IngestMessage(readings: decoded.readings, rejections: [], topic: "", payload: [], receivedAt: now)
measure("JournalCodec encode", readings: n, rounds: rounds) {
    var out: [UInt8] = []
    JournalCodec.encode(message, into: &out)
    return out.count
}
let data = Data(bytes)
measure("peer: JSONSerialization parse only", readings: n, rounds: rounds) {
    ((try? JSONSerialization.jsonObject(with: data)) as? [Any])?.count ?? 0
}

// Sparkplug B (docs/sparkplug.md): a DDATA of 100 alias-only Double metrics (25 timestamps × 4
// sensors, the `vigil-sim load --format sparkplug` shape) through the protobuf decoder alone and
// through the host (aliases resolved, readings validated), beside the JSON multi batch above.
let sparkplugMetrics = 100
var host = SparkplugHost()
_ = host.receive(topic: "spBv1.0/bench/NBIRTH/load", payload: Sparkplug.Payload(timestamp: UInt64(now), metrics: [
    .init(name: "bdSeq", datatype: .int64, value: .long(0))], seq: 0).encoded(), receivedAt: now)
_ = host.receive(topic: "spBv1.0/bench/DBIRTH/load/press7", payload: Sparkplug.Payload(timestamp: UInt64(now), metrics: (0..<4).map {
    .init(name: "s\($0)", alias: UInt64($0), datatype: .double, value: .double(0)) }, seq: 1).encoded(), receivedAt: now)
var sparkplugSeq: UInt64 = 2
var ddataMetrics: [Sparkplug.Metric] = []
for k in 0..<sparkplugMetrics {
    let ts = UInt64(now - 1_000_000 + Int64(k / 4) * 1000)
    ddataMetrics.append(Sparkplug.Metric(alias: UInt64(k % 4), timestamp: ts, value: .double(Double(k % 1000) / 10)))
}
let ddata = Sparkplug.Payload(timestamp: UInt64(now), metrics: ddataMetrics, seq: 2)
let ddataBytes = ddata.encoded()
print("# Sparkplug DDATA: \(sparkplugMetrics) metrics, \(ddataBytes.count) bytes (\(ddataBytes.count / sparkplugMetrics) per metric)")
measure("Sparkplug.Payload.decode (protobuf)", readings: sparkplugMetrics, rounds: rounds * 10) {
    (try? Sparkplug.Payload.decode(ddataBytes))?.metrics.count ?? 0
}
let ddataSeqs = (0..<256).map { s -> [UInt8] in var p = ddata; p.seq = UInt64(s); return p.encoded() }
measure("SparkplugHost.receive DDATA", readings: sparkplugMetrics, rounds: rounds * 10) {
    defer { sparkplugSeq = (sparkplugSeq + 1) % 256 }
    return host.receive(topic: "spBv1.0/bench/DDATA/load/press7", payload: ddataSeqs[Int(sparkplugSeq)], receivedAt: now).live.readings.count
}
if let path = ProcessInfo.processInfo.environment["VIGIL_BENCH_SPARKPLUG_PAYLOAD"] {
    FileManager.default.createFile(atPath: path, contents: Data(ddataBytes))  // for the upb peer (Benchmarks/sparkplug_peer.py)
}
