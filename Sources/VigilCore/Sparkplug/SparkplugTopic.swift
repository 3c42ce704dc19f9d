/// Sparkplug topics (Sparkplug 3.0 chapter "Topics"): `spBv1.0/<group>/<type>/<edge>[/<device>]`
/// and the host's `spBv1.0/STATE/<host_id>`.
public enum SparkplugTopic: Sendable, Equatable {
    case message(MessageType, group: String, edge: String, device: String?)
    case state(hostID: String)

    public static let namespace = "spBv1.0"

    public enum MessageType: String, Sendable, CaseIterable {
        case nbirth = "NBIRTH", ndeath = "NDEATH", dbirth = "DBIRTH", ddeath = "DDEATH"
        case ndata = "NDATA", ddata = "DDATA", ncmd = "NCMD", dcmd = "DCMD"

        /// Device messages name a device in the topic; node messages do not.
        public var isDevice: Bool { self == .dbirth || self == .ddeath || self == .ddata || self == .dcmd }
    }

    /// Nil when the topic is not in the Sparkplug B namespace or its shape is wrong for its type.
    public static func parse(_ topic: String) -> SparkplugTopic? {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard levels.count >= 3, levels[0] == namespace else { return nil }
        if levels[1] == "STATE" {
            return levels.count == 3 && !levels[2].isEmpty ? .state(hostID: String(levels[2])) : nil
        }
        guard let type = MessageType(rawValue: String(levels[2])), levels.count == (type.isDevice ? 5 : 4),
              !levels.contains(where: \.isEmpty) else { return nil }
        return .message(type, group: String(levels[1]), edge: String(levels[3]), device: type.isDevice ? String(levels[4]) : nil)
    }

    /// The topic of a node command (`NCMD`) to an edge node.
    public static func nodeCommand(group: String, edge: String) -> String { "\(namespace)/\(group)/NCMD/\(edge)" }

    public static func state(hostID: String) -> String { "\(namespace)/STATE/\(hostID)" }
}

/// How a Sparkplug identity names a Vigil machine (`sparkplug.machine`): a template of `{group}`,
/// `{edge}` and `{device}` (default `{group}/{edge}/{device}`). A node's own metrics drop the levels
/// that hold `{device}` (`{group}/{edge}`). Identity parts are made valid id characters: anything
/// outside `[A-Za-z0-9_.:-]` becomes `_`.
public struct SparkplugMachineTemplate: Sendable, Equatable, CustomStringConvertible {
    public let description: String
    let levels: [Substring]

    public static let `default` = try! SparkplugMachineTemplate("{group}/{edge}/{device}")

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) throws(ParseError) {
        let levels = text.split(separator: "/", omittingEmptySubsequences: false)
        guard !levels.contains(where: \.isEmpty) else {
            throw ParseError(description: "'\(text)': empty levels are not allowed")
        }
        guard text.contains("{edge}") else {
            throw ParseError(description: "'\(text)': the template needs {edge} (edge nodes are what tells machines apart)")
        }
        var rest = text
        for p in ["{group}", "{edge}", "{device}"] { rest = rest.replacing(p, with: "") }
        guard !rest.contains("{"), !rest.contains("}") else {
            throw ParseError(description: "'\(text)': unknown placeholder (use {group}, {edge}, {device})")
        }
        guard rest.utf8.allSatisfy({ KeyRules.isIDByte($0) || $0 == UInt8(ascii: "/") }) else {
            throw ParseError(description: "'\(text)': literal parts may use only letters, digits and _ . : -")
        }
        guard levels.contains(where: { !$0.contains("{device}") }) else {
            throw ParseError(description: "'\(text)': a node's own metrics need a level without {device}")
        }
        description = text
        self.levels = levels
    }

    /// The machine of a node's metrics (`device` nil) or of a device's.
    public func machine(group: String, edge: String, device: String?) -> String {
        var parts: [String] = []
        for level in levels {
            if device == nil && level.contains("{device}") { continue }
            parts.append(String(level).replacing("{group}", with: Sparkplug.idPart(group))
                .replacing("{edge}", with: Sparkplug.idPart(edge))
                .replacing("{device}", with: Sparkplug.idPart(device ?? "")))
        }
        return parts.joined(separator: "/")
    }
}

extension Sparkplug {
    /// An identity part as id characters: bytes outside `[A-Za-z0-9_.:-]` become `_`; `.`/`..` `_`.
    public static func idPart(_ s: String) -> String {
        let bytes = s.utf8.map { KeyRules.isIDByte($0) ? $0 : UInt8(ascii: "_") }
        let out = String(decoding: bytes, as: UTF8.self)
        return out == "." || out == ".." ? String(repeating: "_", count: out.count) : out
    }

    /// The Vigil sensor id of a metric name: Sparkplug's folder separator `/` becomes `.`, other
    /// bytes outside `[A-Za-z0-9_.:-]` become `_` (`Motor 1/Speed` → `Motor_1.Speed`).
    public static func sensorID(_ name: String) -> String {
        let bytes = name.utf8.map { b in b == UInt8(ascii: "/") ? UInt8(ascii: ".") : KeyRules.isIDByte(b) ? b : UInt8(ascii: "_") }
        return String(decoding: bytes, as: UTF8.self)
    }
}
