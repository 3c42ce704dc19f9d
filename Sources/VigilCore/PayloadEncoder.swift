/// The payload dialects of SPEC §3.
public enum PayloadFormat: String, CaseIterable, Sendable {
    case scalar, json, multi, batch, line
}

/// One machine's readings at one instant, as a device samples them.
public struct Sample: Sendable, Equatable {
    public var ts: Int64
    public var seq: Int64?
    public var values: [(sensor: String, value: Double)]

    public init(ts: Int64, seq: Int64? = nil, values: [(sensor: String, value: Double)]) {
        self.ts = ts
        self.seq = seq
        self.values = values
    }

    public static func == (a: Sample, b: Sample) -> Bool {
        a.ts == b.ts && a.seq == b.seq && a.values.elementsEqual(b.values) { $0.sensor == $1.sensor && $0.value == $1.value }
    }
}

public struct EncodedMessage: Sendable, Equatable {
    public var topic: String
    public var payload: String
    /// Readings in this message.
    public var readings: Int

    public init(topic: String, payload: String, readings: Int) {
        self.topic = topic
        self.payload = payload
        self.readings = readings
    }
}

/// Encodes samples the way firmware sends them: the inverse of `PayloadDecoder` (a property test
/// checks the round trip). Numbers use Swift's shortest round-trip representation.
public enum PayloadEncoder {
    public static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 && !(v == 0 && v.sign == .minus) ? String(Int64(v)) : "\(v)"
    }

    /// `batch` and `line` put all samples into one message; `multi` sends one message per sample;
    /// `scalar` and `json` one per reading. `scalar` carries no timestamp (the gateway stamps it).
    public static func encode(machine: String, samples: [Sample], format: PayloadFormat, prefix: String = "vigil") -> [EncodedMessage] {
        func multiObject(_ s: Sample) -> String {
            let fields = s.values.map { "\"\($0.sensor)\":\(number($0.value))" }.joined(separator: ",")
            let seq = s.seq.map { ",\"seq\":\($0)" } ?? ""
            return "{\"ts\":\(s.ts)\(seq),\"values\":{\(fields)}}"
        }
        let readings = samples.reduce(0) { $0 + $1.values.count }
        switch format {
        case .scalar:
            return samples.flatMap { s in
                s.values.map { EncodedMessage(topic: "\(prefix)/\(machine)/\($0.sensor)", payload: number($0.value), readings: 1) }
            }
        case .json:
            return samples.flatMap { s in
                s.values.map { r in
                    let seq = s.seq.map { ",\"seq\":\($0)" } ?? ""
                    return EncodedMessage(topic: "\(prefix)/\(machine)/\(r.sensor)",
                                          payload: "{\"ts\":\(s.ts),\"value\":\(number(r.value))\(seq)}", readings: 1)
                }
            }
        case .multi:
            return samples.map { EncodedMessage(topic: "\(prefix)/\(machine)", payload: multiObject($0), readings: $0.values.count) }
        case .batch:
            guard !samples.isEmpty else { return [] }
            return [EncodedMessage(topic: "\(prefix)/\(machine)", payload: "[" + samples.map(multiObject).joined(separator: ",") + "]",
                                   readings: readings)]
        case .line:
            guard !samples.isEmpty else { return [] }
            let lines = samples.map { s in
                "vigil,machine=\(machine) " + s.values.map { "\($0.sensor)=\(number($0.value))" }.joined(separator: ",")
                    + " \(s.ts * 1_000_000)"
            }
            return [EncodedMessage(topic: "\(prefix)/\(machine)", payload: lines.joined(separator: "\n"), readings: readings)]
        }
    }
}
