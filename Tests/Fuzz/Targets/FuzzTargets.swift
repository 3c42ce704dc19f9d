import VigilCore

/// What the fuzzers feed arbitrary bytes to: everything that reads bytes from the network or an
/// operator's file. Each target checks what must hold for any input (no crash, no hang, and the
/// invariants below); libFuzzer (`scripts/fuzz`) searches for inputs that break them, and the seed
/// corpus under `Tests/Fuzz/corpus/<target>/` (plus every input a fuzzer ever broke) is replayed by
/// `FuzzCorpusTests` on every test run.
public enum FuzzTargets {
    public static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "payload": payload, "topic": topic, "timestamp": timestamp, "toml": toml,
    ]

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
