import VigilCore

/// What the fuzzers feed arbitrary bytes to: everything that reads bytes from the network or an
/// operator's file. Each target checks what must hold for any input (no crash, no hang, and the
/// invariants below); libFuzzer (`scripts/fuzz`) searches for inputs that break them, and the seed
/// corpus under `Tests/Fuzz/corpus/<target>/` (plus every input a fuzzer ever broke) is replayed by
/// `FuzzCorpusTests` on every test run.
public enum FuzzTargets {
    public static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "payload": payload, "topic": topic, "timestamp": timestamp, "toml": toml, "sparkplug": sparkplug,
    ]

    static let sparkplugTopics = ["spBv1.0/g/NBIRTH/e", "spBv1.0/g/DBIRTH/e/d", "spBv1.0/g/DDATA/e/d", "spBv1.0/g/NDATA/e",
                                  "spBv1.0/g/NDEATH/e", "spBv1.0/g/DDEATH/e/d", "spBv1.0/g/DDATA/e/other device"]

    /// Sparkplug B messages to one host, split at each `0xFF 0xFE` pair; each message's first byte
    /// picks its topic. Births, data and deaths in any order and any bytes: nothing traps, and every
    /// reading has valid keys and a finite value.
    public static func sparkplug(_ data: [UInt8]) {
        var host = SparkplugHost()
        var now: Int64 = 1_764_000_000_000
        var start = 0
        var i = 0
        while i <= data.count {
            if i == data.count || (i + 1 < data.count && data[i] == 0xFF && data[i + 1] == 0xFE) {
                let message = Array(data[start..<i])
                if let first = message.first {
                    let o = host.receive(topic: sparkplugTopics[Int(first) % sparkplugTopics.count], payload: Array(message.dropFirst()), receivedAt: now)
                    for r in o.live.readings + o.historical {
                        precondition(r.value.isFinite, "a reading's value must be finite")
                        precondition(KeyRules.isValidMachine(r.machine) && KeyRules.isValidSensor(r.sensor), "decoded keys must be valid")
                    }
                }
                now += 700
                _ = host.tick(now: now)
                start = i + 2
                i += 2
            } else {
                i += 1
            }
        }
    }

    static let topics = ["vigil/m1/temp", "vigil/m1", "vigil/plant1/line2/press7/temp", "vigil/m1/batch", "vigil/+/temp", "", "vigil/m1/temp/extra"]
    static let decoder = PayloadDecoder()

    /// A payload of any dialect (JSON, batches, line protocol, scalars) on a topic the first byte picks.
    public static func payload(_ data: [UInt8]) {
        let topic = topics[Int(data.first ?? 0) % topics.count]
        let decoded = decoder.decode(topic: topic, payload: Array(data.dropFirst()), receivedAt: 1_764_000_000_000)
        for r in decoded.readings {
            precondition(r.value.isFinite, "a reading's value must be finite")
            precondition(KeyRules.isValidMachine(r.machine) && KeyRules.isValidSensor(r.sensor), "decoded keys must be valid")
        }
        precondition(!decoded.readings.isEmpty || !decoded.rejections.isEmpty, "a message is stored or rejected, never dropped")
    }

    /// A topic template and a topic, separated by the first zero byte.
    public static func topic(_ data: [UInt8]) {
        let split = data.firstIndex(of: 0) ?? data.count
        let template = String(decoding: data[..<split], as: UTF8.self)
        let topic = String(decoding: data[min(split + 1, data.count)...], as: UTF8.self)
        guard let t = try? TopicTemplate(template) else { return }
        _ = t.match(topic.split(separator: "/", omittingEmptySubsequences: false))
        // Whatever the template extracts, what is stored has valid keys (or is rejected).
        let decoded = PayloadDecoder(templates: [t]).decode(topic: topic, payload: Array("21.5".utf8), receivedAt: 1_764_000_000_000)
        for r in decoded.readings {
            precondition(KeyRules.isValidMachine(r.machine) && KeyRules.isValidSensor(r.sensor), "decoded keys must be valid")
        }
        precondition(!decoded.readings.isEmpty || !decoded.rejections.isEmpty, "a message is stored or rejected, never dropped")
    }

    /// Timestamps as devices and operators write them; a parsed RFC 3339 time prints back to itself.
    public static func timestamp(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        if let ms = Timestamp.millis(rfc3339: text) {
            precondition(Timestamp.millis(rfc3339: Timestamp.rfc3339(millis: ms)) == ms, "RFC 3339 round trip")
        }
        _ = Timestamp.millis(query: text)
        if data.count >= 8 {
            let raw = data.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
            _ = Timestamp.millis(fromEpoch: raw)
            _ = Timestamp.millis(fromEpoch: Double(bitPattern: UInt64(bitPattern: raw)))
        }
    }

    /// A configuration file: parsed, and loaded with its keys and cross-key rules.
    public static func toml(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        _ = try? TOML.parse(text)
        _ = try? VigilConfig.load(fileText: text, fileName: "fuzz.toml", environment: [:])
    }
}
