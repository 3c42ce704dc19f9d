/// The TOML subset Vigil's config uses: `[section]` and `[a.b]` tables, `[[a.b]]` arrays of tables
/// (their keys come out as `a.b[0].key`, `a.b[1].key`, …), `key = value` with basic/literal
/// strings, integers, floats, booleans and single-line arrays of those, `#` comments.
/// Errors carry the line number so a bad config names its line.
public enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case bool(Bool)
    case array([TOMLValue])

    var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .bool: "boolean"
        case .array: "array"
        }
    }
}

public struct TOMLEntry: Sendable, Equatable {
    /// `section.key` (`key` at the top level).
    public var path: String
    public var value: TOMLValue
    public var line: Int
}

public struct TOMLError: Error, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

public enum TOML {
    public static func parse(_ text: String) throws(TOMLError) -> [TOMLEntry] {
        var entries: [TOMLEntry] = []
        var section = ""
        var seen = Set<String>()
        var tableCounts: [String: Int] = [:]
        var lineNo = 0
        for rawLine in text.utf8.split(separator: 10, omittingEmptySubsequences: false) {
            lineNo += 1
            var s = Scanner(bytes: Array(rawLine), line: lineNo)
            s.skipSpace()
            if s.atEndOrComment { continue }
            if s.peek == UInt8(ascii: "[") {
                s.i += 1
                let array = s.peek == UInt8(ascii: "[")
                if array { s.i += 1 }
                var name = try s.bareKey()
                while s.peek == UInt8(ascii: ".") {
                    s.i += 1
                    name += "." + (try s.bareKey())
                }
                for _ in 0..<(array ? 2 : 1) {
                    guard s.peek == UInt8(ascii: "]") else { throw s.error(array ? "expected ']]' after table name" : "expected ']' after section name") }
                    s.i += 1
                }
                s.skipSpace()
                guard s.atEndOrComment else { throw s.error("unexpected text after section header") }
                if array {
                    let n = tableCounts[name, default: 0]
                    tableCounts[name] = n + 1
                    section = "\(name)[\(n)]"
                } else {
                    section = name
                }
                continue
            }
            let key = try s.bareKey()
            s.skipSpace()
            guard s.peek == UInt8(ascii: "=") else { throw s.error("expected '=' after key '\(key)'") }
            s.i += 1
            s.skipSpace()
            let value = try s.value()
            s.skipSpace()
            guard s.atEndOrComment else { throw s.error("unexpected text after value of '\(key)'") }
            let path = section.isEmpty ? key : "\(section).\(key)"
            guard seen.insert(path).inserted else { throw s.error("duplicate key '\(path)'") }
            entries.append(TOMLEntry(path: path, value: value, line: lineNo))
        }
        return entries
    }

    /// Parses a single value as written in an environment variable: TOML syntax if it parses,
    /// otherwise the raw text as a string (so `VIGIL_MQTT_URL=mqtt://h:1` needs no quotes).
    public static func parseLooseValue(_ text: String) -> TOMLValue {
        var s = Scanner(bytes: Array(text.utf8), line: 0)
        if let v = try? s.value(), s.i == s.bytes.count { return v }
        return .string(text)
    }

    struct Scanner {
        let bytes: [UInt8]
        let line: Int
        var i = 0
        var depth = 0

        init(bytes: [UInt8], line: Int) {
            self.bytes = bytes.last == 13 ? Array(bytes.dropLast()) : bytes
            self.line = line
        }

        var peek: UInt8? { i < bytes.count ? bytes[i] : nil }
        var atEndOrComment: Bool { peek == nil || peek == UInt8(ascii: "#") }

        func error(_ m: String) -> TOMLError { TOMLError(line: line, message: m) }

        mutating func skipSpace() {
            while let c = peek, c == 0x20 || c == 0x09 { i += 1 }
        }

        mutating func bareKey() throws(TOMLError) -> String {
            let start = i
            while let c = peek, (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45 {
                i += 1
            }
            guard i > start else { throw error("expected a key") }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        mutating func value() throws(TOMLError) -> TOMLValue {
            guard let c = peek else { throw error("missing value") }
            switch c {
            case UInt8(ascii: "\""): return .string(try basicString())
            case UInt8(ascii: "'"):
                i += 1
                let start = i
                while let d = peek, d != UInt8(ascii: "'") { i += 1 }
                guard peek != nil else { throw error("unterminated string") }
                defer { i += 1 }
                return .string(String(decoding: bytes[start..<i], as: UTF8.self))
            case UInt8(ascii: "["):
                // Config arrays are flat; a bound keeps hostile nesting from exhausting the stack
                // (found by the toml fuzz target).
                depth += 1
                defer { depth -= 1 }
                guard depth <= 16 else { throw error("arrays nested deeper than 16") }
                i += 1
                var items: [TOMLValue] = []
                while true {
                    skipSpace()
                    if peek == UInt8(ascii: "]") { i += 1; return .array(items) }
                    items.append(try value())
                    skipSpace()
                    if peek == UInt8(ascii: ",") { i += 1; continue }
                    guard peek == UInt8(ascii: "]") else { throw error("expected ',' or ']' in array") }
                }
            default:
                let start = i
                while let d = peek, d != 0x20, d != 0x09, d != UInt8(ascii: ","), d != UInt8(ascii: "]"), d != UInt8(ascii: "#") { i += 1 }
                let word = String(decoding: bytes[start..<i], as: UTF8.self)
                if word == "true" { return .bool(true) }
                if word == "false" { return .bool(false) }
                let digits = word.replacingUnderscores()
                if let n = Int64(digits) { return .integer(n) }
                if digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let d = Double(digits), d.isFinite {
                    return .float(d)
                }
                throw error("invalid value '\(word.prefix(40))' (strings need quotes)")
            }
        }

        mutating func basicString() throws(TOMLError) -> String {
            i += 1
            var out: [UInt8] = []
            while let c = peek {
                i += 1
                if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
                if c == UInt8(ascii: "\\") {
                    guard let e = peek else { break }
                    i += 1
                    switch e {
                    case UInt8(ascii: "n"): out.append(10)
                    case UInt8(ascii: "t"): out.append(9)
                    case UInt8(ascii: "r"): out.append(13)
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(e)
                    default: throw error("unsupported escape '\\\(Character(Unicode.Scalar(e)))'")
                    }
                } else {
                    out.append(c)
                }
            }
            throw error("unterminated string")
        }
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
