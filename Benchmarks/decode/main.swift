// Decode benchmark: the gateway's CPU work per reading, without broker or disk.
// Decodes a 1000-reading JSON batch (the `vigil-sim load` shape) with PayloadDecoder, encodes
// the result as a journal record, and decodes the same bytes with Foundation's
// JSONSerialization as a peer. Run: swift run -c release vigil-bench-decode
import Foundation
import VigilCore
import VigilStore

func measure(_ name: String, readings: Int, rounds: Int, _ body: () -> Int) {
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
