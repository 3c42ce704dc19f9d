import Synchronization
import VigilCore
import VigilMQTT

/// `vigil-sim --format sparkplug`: every simulated machine is a Sparkplug B edge node of group
/// `group` whose node id is the machine id (vigild: `[sparkplug] machine = "{edge}"` names the
/// machines as in the other dialects and the labels). Like real edge firmware it sends an NBIRTH
/// (bdSeq, `Node Control/Rebirth`, each sensor with an alias and the Double type) and then NDATA
/// of alias-only metrics with their timestamps, numbers every message with the node's `seq`
/// (0–255, wrapping), answers `NCMD Node Control/Rebirth` with a new NBIRTH, and sends an NDEATH
/// with its bdSeq when it stops. (One MQTT session carries every node, so there is no per-node
/// Will: a crashed simulator's nodes die by silence, not by certificate.)
final class SparkplugNodes: Sendable {
    let group: String
    /// Nodes asked for a rebirth (by node id), set on the MQTT thread, served by the send loop.
    private let rebirths = Mutex<Set<String>>([])
    static let bdSeq: UInt64 = 0

    init(group: String) { self.group = group }

    var commandFilter: String { "\(SparkplugTopic.namespace)/\(group)/NCMD/+" }

    /// An NCMD to one of our nodes: a rebirth request is noted for the send loop.
    func handle(_ message: MQTTMessage) {
        guard case .message(.ncmd, _, let edge, _)? = SparkplugTopic.parse(message.topic),
              let p = try? Sparkplug.Payload.decode(message.payload),
              p.metrics.contains(where: { $0.name == "Node Control/Rebirth" && $0.value == .boolean(true) }) else { return }
        rebirths.withLock { _ = $0.insert(edge) }
    }

    /// Whether `node` was asked for a rebirth since the last call (and forgets the request).
    func rebirthRequested(_ node: String) -> Bool { rebirths.withLock { $0.remove(node) != nil } }

    /// The NBIRTH of `node` with `sensors` (aliases = positions); metrics have no value yet.
    func birth(node: String, sensors: [String], seq: inout UInt64, now: Int64) -> (topic: String, payload: [UInt8]) {
        seq = 0
        var metrics: [Sparkplug.Metric] = [
            .init(name: "bdSeq", datatype: .int64, value: .long(Self.bdSeq)),
            .init(name: "Node Control/Rebirth", datatype: .boolean, value: .boolean(false)),
        ]
        for (k, s) in sensors.enumerated() {
            metrics.append(.init(name: s, alias: UInt64(k), timestamp: UInt64(now), datatype: .double, isNull: true))
        }
        return ("\(SparkplugTopic.namespace)/\(group)/NBIRTH/\(node)", Self.numbered(metrics, seq: &seq, now: now))
    }

    /// NDATA of `samples` by alias (`sensors` gives each name's alias).
    func data(node: String, sensors: [String], samples: [Sample], seq: inout UInt64, now: Int64) -> (topic: String, payload: [UInt8], readings: Int) {
        var metrics: [Sparkplug.Metric] = []
        for sample in samples {
            for (name, value) in sample.values {
                guard let k = sensors.firstIndex(of: name) else { continue }
                metrics.append(.init(alias: UInt64(k), timestamp: UInt64(max(0, sample.ts)), value: .double(value)))
            }
        }
        return ("\(SparkplugTopic.namespace)/\(group)/NDATA/\(node)", Self.numbered(metrics, seq: &seq, now: now), metrics.count)
    }

    func death(node: String) -> (topic: String, payload: [UInt8]) {
        ("\(SparkplugTopic.namespace)/\(group)/NDEATH/\(node)",
         Sparkplug.Payload(metrics: [.init(name: "bdSeq", datatype: .int64, value: .long(Self.bdSeq))]).encoded())
    }

    static func numbered(_ metrics: [Sparkplug.Metric], seq: inout UInt64, now: Int64) -> [UInt8] {
        defer { seq = (seq + 1) % 256 }
        return Sparkplug.Payload(timestamp: UInt64(max(0, now)), metrics: metrics, seq: seq).encoded()
    }
}
