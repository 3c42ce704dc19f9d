// Decodes a Sparkplug B payload (written by vigil-bench-decode) with swift-protobuf and reads
// every metric's alias, timestamp and value, as vigild's decoder does.
import Foundation
import SwiftProtobuf

let path = CommandLine.arguments.dropFirst().first ?? "/tmp/ddata.bin"
guard let data = FileManager.default.contents(atPath: path) else { fatalError("no payload at \(path)") }
let rounds = 3000
var sink = 0.0
var metrics = 0
let t0 = Date()
for _ in 0..<rounds {
    let p = try Org_Eclipse_Tahu_Protobuf_Payload(serializedBytes: data)
    for m in p.metrics {
        sink += Double(m.alias) + Double(m.timestamp & 1) + m.doubleValue
    }
    metrics += p.metrics.count
}
let dt = Date().timeIntervalSince(t0)
let perSecond = Double(metrics) / dt
print("peer: swift-protobuf 1.39 decode".padding(toLength: 36, withPad: " ", startingAt: 0)
      + String(format: "%12.0f readings/s  %6.3f µs/reading  (check %.0f)", perSecond, 1e6 / perSecond, sink))
