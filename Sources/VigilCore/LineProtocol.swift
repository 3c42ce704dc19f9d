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
    static func looksLikeLineProtocol(_ b: [UInt8], _ range: Range<Int>) -> Bool {
        guard !range.isEmpty else { return false }
        var space = false, equals = false, newline = false
        for k in range {
            switch b[k] {
            case UInt8(ascii: " "): space = true
            case UInt8(ascii: "="): equals = true
            case 10: newline = true
            default: break
            }
        }
        return (b[range.lowerBound] != UInt8(ascii: "#") || newline) && space && equals
    }

    /// The line in `b[from..<to]` (no line break in it).
    static func parse(_ b: [UInt8], _ from: Int, _ to: Int) throws(ParseError) -> Line {
        var i = from
        let space = UInt8(ascii: " "), comma = UInt8(ascii: ","), equals = UInt8(ascii: "="), backslash = UInt8(ascii: "\\")

        /// Reads up to an unescaped stop byte; `\` escapes the next byte. Straight from the bytes
        /// when nothing is escaped (nearly always).
        func token(_ s1: UInt8, _ s2: UInt8, _ s3: UInt8) -> String {
            let start = i
            var escaped = false
            while i < to {
                let c = b[i]
                if c == s1 || c == s2 || c == s3 { break }
                if c == backslash && i + 1 < to {
                    escaped = true
                    i += 2
                } else {
                    i += 1
                }
            }
            guard escaped else { return String(decoding: b[start..<i], as: UTF8.self) }
            var out: [UInt8] = []
            var k = start
            while k < i {
                if b[k] == backslash && k + 1 < i {
                    out.append(b[k + 1])
                    k += 2
                } else {
                    out.append(b[k])
                    k += 1
                }
            }
            return String(decoding: out, as: UTF8.self)
        }

        let measurement = token(comma, space, space)
        guard !measurement.isEmpty else { throw ParseError(message: "missing measurement") }
        var tags: [(String, String)] = []
        while i < to, b[i] == comma {
            i += 1
            let k = token(equals, comma, space)
            guard i < to, b[i] == equals, !k.isEmpty else { throw ParseError(message: "bad tag near '\(k.prefix(32))'") }
            i += 1
            let v = token(comma, space, space)
            guard !v.isEmpty else { throw ParseError(message: "empty value for tag '\(k.prefix(32))'") }
            tags.append((k, v))
        }
        guard i < to, b[i] == space else { throw ParseError(message: "missing field set") }
        while i < to, b[i] == space { i += 1 }

        var fields: [(String, Field)] = []
        repeat {
            if !fields.isEmpty { i += 1 }  // the comma
            let k = token(equals, comma, space)
            guard i < to, b[i] == equals, !k.isEmpty else { throw ParseError(message: "bad field near '\(k.prefix(32))'") }
            i += 1
            guard i < to else { throw ParseError(message: "missing value for field '\(k.prefix(32))'") }
            if b[i] == UInt8(ascii: "\"") {
                i += 1
                var closed = false
                while i < to {
                    if b[i] == backslash { i += 2; continue }
                    if b[i] == UInt8(ascii: "\"") { closed = true; i += 1; break }
                    i += 1
                }
                guard closed else { throw ParseError(message: "unterminated string in field '\(k.prefix(32))'") }
                fields.append((k, .other("string")))
            } else {
                let start = i
                while i < to, b[i] != comma, b[i] != space { i += 1 }
                fields.append((k, try fieldValue(b, start, i, key: k)))
            }
        } while i < to && b[i] == comma

        var timestamp: Int64?
        while i < to, b[i] == space || b[i] == 9 || b[i] == 10 || b[i] == 13 { i += 1 }
        if i < to {
            var end = to
            while end > i, b[end - 1] == space || b[end - 1] == 9 || b[end - 1] == 10 || b[end - 1] == 13 { end -= 1 }
            guard let t = integer(b, i, end) else {
                throw ParseError(message: "bad timestamp '\(String(decoding: b[i..<min(end, i + 32)], as: UTF8.self))'")
            }
            timestamp = t
        }
        return Line(measurement: measurement, tags: tags, fields: fields, timestamp: timestamp)
    }

    /// A decimal integer with an optional sign, nil on anything else or overflow.
    static func integer(_ b: [UInt8], _ start: Int, _ end: Int) -> Int64? {
        var k = start
        var negative = false
        if k < end, b[k] == UInt8(ascii: "-") || b[k] == UInt8(ascii: "+") {
            negative = b[k] == UInt8(ascii: "-")
            k += 1
        }
        guard k < end else { return nil }
        var v: Int64 = 0
        while k < end {
            let c = b[k]
            guard c >= 48 && c <= 57 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (n, o2) = negative ? m.subtractingReportingOverflow(Int64(c - 48)) : m.addingReportingOverflow(Int64(c - 48))
            guard !o1, !o2 else { return nil }
            v = n
            k += 1
        }
        return v
    }

    static func fieldValue(_ b: [UInt8], _ start: Int, _ end: Int, key: String) throws(ParseError) -> Field {
        guard start < end else { throw ParseError(message: "bad number for field '\(key.prefix(32))'") }
        switch b[start] {
        case UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "f"), UInt8(ascii: "F"):
            switch String(decoding: b[start..<end], as: UTF8.self) {
            case "t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE":
                return .other("boolean")
            default:
                throw ParseError(message: "bad number for field '\(key.prefix(32))'")
            }
        default:
            break
        }
        let last = b[end - 1]
        if last == UInt8(ascii: "i") || last == UInt8(ascii: "u") {
            guard let v = integer(b, start, end - 1), last == UInt8(ascii: "i") || v >= 0 else {
                throw ParseError(message: "bad integer for field '\(key.prefix(32))'")
            }
            return .number(Double(v))
        }
        // JSON-shaped decimals (nearly all) take the exact fast path the JSON decoder uses; the
        // rest go through the standard library's parser.
        if isJSONNumber(b, start, end), let d = Parser.fastDecimal(b, start, end) { return .number(d) }
        guard b[start..<end].allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 || $0 == 43 || $0 == 101 || $0 == 69 }),
              let d = Double(String(decoding: b[start..<end], as: UTF8.self)) else {
            throw ParseError(message: "bad number for field '\(key.prefix(32))'")
        }
        return .number(d)
    }

    /// `-?digits(.digits*)?([eE][+-]?digits)?`: what `Parser.fastDecimal` expects.
    static func isJSONNumber(_ b: [UInt8], _ start: Int, _ end: Int) -> Bool {
        var k = start
        if k < end, b[k] == UInt8(ascii: "-") { k += 1 }
        let digits = k
        while k < end, b[k] >= 48, b[k] <= 57 { k += 1 }
        guard k > digits else { return false }
        if k < end, b[k] == UInt8(ascii: ".") {
            k += 1
            while k < end, b[k] >= 48, b[k] <= 57 { k += 1 }
        }
        if k < end, b[k] == UInt8(ascii: "e") || b[k] == UInt8(ascii: "E") {
            k += 1
            if k < end, b[k] == UInt8(ascii: "+") || b[k] == UInt8(ascii: "-") { k += 1 }
            let e = k
            while k < end, b[k] >= 48, b[k] <= 57 { k += 1 }
            guard k > e else { return false }
        }
        return k == end
    }
}
