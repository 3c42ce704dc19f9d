import VigilCore

/// The payload dialects of SPEC §3, as real firmware sends them.
enum PayloadFormat: String, CaseIterable {
    case scalar, json, multi, batch, line
}

struct OutgoingMessage {
    var topic: String
    var payload: String
    /// Readings in this message.
    var readings: Int
}

enum PayloadEncoder {
    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
    }

    /// Encodes samples (one per tick) of one machine. `batch` groups all ticks into one message;
    /// every other format sends one message per tick (and per sensor for `scalar`/`json`).
    static func encode(machine: String, ticks: [(ts: Int64, seq: Int64, values: [(String, Double)])], format: PayloadFormat,
                       prefix: String) -> [OutgoingMessage] {
        var out: [OutgoingMessage] = []
        func multiObject(_ t: (ts: Int64, seq: Int64, values: [(String, Double)])) -> String {
            let fields = t.values.map { "\"\($0.0)\":\(number($0.1))" }.joined(separator: ",")
            return "{\"ts\":\(t.ts),\"seq\":\(t.seq),\"values\":{\(fields)}}"
        }
        switch format {
        case .scalar:
            for t in ticks { for (s, v) in t.values { out.append(.init(topic: "\(prefix)/\(machine)/\(s)", payload: number(v), readings: 1)) } }
        case .json:
            for t in ticks {
                for (s, v) in t.values {
                    out.append(.init(topic: "\(prefix)/\(machine)/\(s)", payload: "{\"ts\":\(t.ts),\"value\":\(number(v)),\"seq\":\(t.seq)}", readings: 1))
                }
            }
        case .multi:
            for t in ticks { out.append(.init(topic: "\(prefix)/\(machine)", payload: multiObject(t), readings: t.values.count)) }
        case .batch:
            guard !ticks.isEmpty else { break }
            out.append(.init(topic: "\(prefix)/\(machine)", payload: "[" + ticks.map(multiObject).joined(separator: ",") + "]",
                             readings: ticks.reduce(0) { $0 + $1.values.count }))
        case .line:
            let lines = ticks.map { t in
                "vigil,machine=\(machine) " + t.values.map { "\($0.0)=\(number($0.1))" }.joined(separator: ",") + " \(t.ts * 1_000_000)"
            }
            if !lines.isEmpty {
                out.append(.init(topic: "\(prefix)/\(machine)", payload: lines.joined(separator: "\n"),
                                 readings: ticks.reduce(0) { $0 + $1.values.count }))
            }
        }
        return out
    }
}
