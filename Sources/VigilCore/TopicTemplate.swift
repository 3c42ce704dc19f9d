/// Maps MQTT topic levels to key parts (SPEC §3). Levels are literals, `+` (any one level,
/// ignored), `{machine}` (one level of the machine id), `{machine...}` (one or more levels; at
/// most one per template) and `{sensor}`. Machine levels are joined with `/`:
/// `vigil/{machine...}/{sensor}` maps `vigil/plant1/press7/temp` to (`plant1/press7`, `temp`).
/// Templates with `{sensor}` serve single-value payloads; templates without it serve
/// multi-sensor payloads (`values`, line protocol).
public struct TopicTemplate: Sendable, Equatable, CustomStringConvertible {
    enum Level: Sendable, Equatable {
        case literal(Substring)
        case any
        case machine
        case machineRest
        case sensor
    }

    let levels: [Level]
    public let description: String
    public var hasSensor: Bool { levels.contains(.sensor) }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) throws(ParseError) {
        var levels: [Level] = []
        for part in text.split(separator: "/", omittingEmptySubsequences: false) {
            switch part {
            case "+": levels.append(.any)
            case "{machine}": levels.append(.machine)
            case "{machine...}": levels.append(.machineRest)
            case "{sensor}": levels.append(.sensor)
            case "", "#":
                throw ParseError(description: "'\(text)': empty levels and '#' are not allowed in a template")
            default:
                guard !part.contains("{"), !part.contains("}"), !part.contains("+") else {
                    throw ParseError(description: "'\(text)': unknown placeholder '\(part)' (use {machine}, {machine...}, {sensor} or +)")
                }
                levels.append(.literal(part))
            }
        }
        guard levels.contains(.machine) || levels.contains(.machineRest) else {
            throw ParseError(description: "'\(text)': a template needs {machine} or {machine...}")
        }
        guard levels.filter({ $0 == .machineRest }).count <= 1, levels.filter({ $0 == .sensor }).count <= 1 else {
            throw ParseError(description: "'\(text)': at most one {machine...} and one {sensor}")
        }
        self.levels = levels
        description = text
    }

    /// The default pair for a prefix: `<prefix>/{machine...}/{sensor}` and `<prefix>/{machine...}`.
    public static func defaults(prefix: String = "vigil") -> [TopicTemplate] {
        let p = prefix.isEmpty ? "" : prefix + "/"
        // Force-try: these literals are valid for any prefix without placeholders.
        return [try! TopicTemplate("\(p){machine...}/{sensor}"), try! TopicTemplate("\(p){machine...}")]
    }

    /// The subscription filter that covers this template (`{machine...}` → `#` when last, else
    /// every placeholder → `+`).
    public var subscriptionFilter: String {
        var out: [String] = []
        for (n, l) in levels.enumerated() {
            switch l {
            case .literal(let s): out.append(String(s))
            case .machineRest where n == levels.count - 1: out.append("#")
            case .machineRest: return (out + ["#"]).joined(separator: "/")
            default: out.append("+")
            }
        }
        return out.joined(separator: "/")
    }

    /// The machine and sensor a topic maps to, or nil if it does not match.
    public func match(_ topicLevels: [Substring]) -> (machine: String, sensor: String?)? {
        let restIndex = levels.firstIndex(of: .machineRest)
        if restIndex == nil {
            guard topicLevels.count == levels.count else { return nil }
        } else {
            guard topicLevels.count >= levels.count else { return nil }
        }
        let extra = topicLevels.count - levels.count  // levels swallowed by {machine...} beyond its first
        var machine: [Substring] = []
        var sensor: String?
        var t = 0
        for l in levels {
            switch l {
            case .literal(let s):
                guard topicLevels[t] == s else { return nil }
                t += 1
            case .any:
                t += 1
            case .machine:
                machine.append(topicLevels[t])
                t += 1
            case .machineRest:
                machine.append(contentsOf: topicLevels[t...(t + extra)])
                t += extra + 1
            case .sensor:
                sensor = String(topicLevels[t])
                t += 1
            }
        }
        return (machine.joined(separator: "/"), sensor)
    }
}
