/// InfluxDB line protocol (what Telegraf's MQTT output sends):
/// `measurement[,tag=value…] field=value[,field=value…] [timestamp]`.
enum LineProtocol {
    enum Field: Equatable {
        case number(Double)
        /// A string or boolean field: named for the rejection message.
        case other(String)
    }

    struct Line {
        var measurement: String
        var tags: [(String, String)]
        var fields: [(String, Field)]
        var timestamp: Int64?
    }

    struct ParseError: Error {
        var message: String
    }

    /// A cheap test before parsing: a space-separated `key=value` part after a measurement.
    static func looksLikeLineProtocol(_ text: String) -> Bool {
        guard let first = text.utf8.first, first != UInt8(ascii: "#") || text.utf8.contains(10) else { return false }
        return text.utf8.contains(UInt8(ascii: " ")) && text.utf8.contains(UInt8(ascii: "="))
    }

    static func parse(_ line: Substring) throws(ParseError) -> Line {
        let b = Array(line.utf8)
        var i = 0

        /// Reads up to an unescaped terminator; `\` escapes the next byte.
        func token(until stops: [UInt8]) -> String {
            var out: [UInt8] = []
            while i < b.count, !stops.contains(b[i]) {
                if b[i] == UInt8(ascii: "\\"), i + 1 < b.count {
                    out.append(b[i + 1])
                    i += 2
                } else {
                    out.append(b[i])
                    i += 1
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
        let space = UInt8(ascii: " "), comma = UInt8(ascii: ","), equals = UInt8(ascii: "=")

        let measurement = token(until: [comma, space])
        guard !measurement.isEmpty else { throw ParseError(message: "missing measurement") }
        var tags: [(String, String)] = []
        while i < b.count, b[i] == comma {
            i += 1
            let k = token(until: [equals, comma, space])
            guard i < b.count, b[i] == equals, !k.isEmpty else { throw ParseError(message: "bad tag near '\(k.prefix(32))'") }
            i += 1
            let v = token(until: [comma, space])
            guard !v.isEmpty else { throw ParseError(message: "empty value for tag '\(k.prefix(32))'") }
            tags.append((k, v))
        }
        guard i < b.count, b[i] == space else { throw ParseError(message: "missing field set") }
        while i < b.count, b[i] == space { i += 1 }

        var fields: [(String, Field)] = []
        repeat {
            if !fields.isEmpty { i += 1 }  // the comma
            let k = token(until: [equals, comma, space])
            guard i < b.count, b[i] == equals, !k.isEmpty else { throw ParseError(message: "bad field near '\(k.prefix(32))'") }
            i += 1
            guard i < b.count else { throw ParseError(message: "missing value for field '\(k.prefix(32))'") }
            if b[i] == UInt8(ascii: "\"") {
                i += 1
                var closed = false
                while i < b.count {
                    if b[i] == UInt8(ascii: "\\") { i += 2; continue }
                    if b[i] == UInt8(ascii: "\"") { closed = true; i += 1; break }
                    i += 1
                }
                guard closed else { throw ParseError(message: "unterminated string in field '\(k.prefix(32))'") }
                fields.append((k, .other("string")))
            } else {
                let start = i
                while i < b.count, b[i] != comma, b[i] != space { i += 1 }
                let raw = String(decoding: b[start..<i], as: UTF8.self)
                fields.append((k, try fieldValue(raw, key: k)))
            }
        } while i < b.count && b[i] == comma

        var timestamp: Int64?
        if i < b.count {
            while i < b.count, b[i] == space { i += 1 }
            let raw = String(decoding: b[i...], as: UTF8.self).trimmingASCIIWhitespace()
            if !raw.isEmpty {
                guard let t = Int64(raw) else { throw ParseError(message: "bad timestamp '\(raw.prefix(32))'") }
                timestamp = t
            }
        }
        return Line(measurement: measurement, tags: tags, fields: fields, timestamp: timestamp)
    }

    static func fieldValue(_ raw: String, key: String) throws(ParseError) -> Field {
        switch raw {
        case "t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE":
            return .other("boolean")
        default:
            break
        }
        if let last = raw.last, last == "i" || last == "u" {
            guard let v = Int64(raw.dropLast()), last == "i" || v >= 0 else {
                throw ParseError(message: "bad integer for field '\(key.prefix(32))'")
            }
            return .number(Double(v))
        }
        guard raw.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 || $0 == 43 || $0 == 101 || $0 == 69 }),
              let d = Double(raw) else {
            throw ParseError(message: "bad number for field '\(key.prefix(32))'")
        }
        return .number(d)
    }
}
