#if canImport(Glibc)
import Glibc
#endif

/// A small, strict JSON parser for device payloads: bounded depth, exact integers, clear errors.
/// Written here rather than using Foundation so that every rejection has a precise reason and the
/// decoder stays pure and fast on the ingest path.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// `exact` holds the value when the literal was an integer that fits in Int64.
    case number(Double, exact: Int64?)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x, ex), .number(y, ey)): return x == y && ex == ey
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member `key` of an object (the last one if repeated).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.0 == key })?.1
    }

    public static let maxDepth = 16

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var offset: Int
        public var description: String { "\(message) at byte \(offset)" }
    }

    public static func parse(_ bytes: some Collection<UInt8>) throws(ParseError) -> JSONValue {
        let array = Array(bytes)
        return try parse(array, 0..<array.count)
    }

    /// Parses `bytes[range]` without copying it.
    public static func parse(_ bytes: [UInt8], _ range: Range<Int>) throws(ParseError) -> JSONValue {
        var p = Parser(bytes: bytes, i: range.lowerBound, end: range.upperBound)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == p.end else { throw p.error("trailing characters") }
        return v
    }
}

// MARK: the fast path for flat readings

extension JSONValue {
    /// One `{"ts": n, "value": n, "seq": n}` object (`ts` and `seq` optional, numbers only).
    public struct FlatReading: Sendable {
        public var ts: JSONValue?
        public var value: JSONValue
        public var seq: JSONValue?
    }

    /// The commonest device payload — one reading object or an array of them, with numeric
    /// members `ts`, `value`, `seq` only — scanned without building a tree. Returns nil for
    /// anything else (another key, a string or null, nesting, a repeated key, an empty array,
    /// malformed JSON): the caller then parses the payload in full, so a payload this accepts
    /// decodes exactly as the general parser's tree would (same number tokens, same reader).
    public static func flatReadings(_ bytes: [UInt8], _ range: Range<Int>) -> (items: [FlatReading], isArray: Bool)? {
        var p = Parser(bytes: bytes, i: range.lowerBound, end: range.upperBound)
        p.skipSpace()
        guard p.i < p.end else { return nil }
        let isArray = bytes[p.i] == UInt8(ascii: "[")
        var items: [FlatReading] = []
        if isArray {
            p.i += 1
            while true {
                p.skipSpace()
                guard let item = p.flatReading() else { return nil }
                items.append(item)
                p.skipSpace()
                guard p.i < p.end else { return nil }
                if bytes[p.i] == UInt8(ascii: ",") { p.i += 1; continue }
                if bytes[p.i] == UInt8(ascii: "]") { p.i += 1; break }
                return nil
            }
        } else {
            guard let item = p.flatReading() else { return nil }
            items.append(item)
        }
        p.skipSpace()
        return p.i == p.end ? (items, isArray) : nil
    }
}

private extension Parser {
    /// `{"ts": n, "value": n, "seq": n}` at `i` (keys in any order, each at most once).
    mutating func flatReading() -> JSONValue.FlatReading? {
        guard i < end, bytes[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        var ts: JSONValue?, value: JSONValue?, seq: JSONValue?
        while true {
            skipSpace()
            guard let key = flatKey() else { return nil }
            skipSpace()
            guard i < end, bytes[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            skipSpace()
            // A number token only: anything else goes to the general parser.
            guard i < end, bytes[i] == UInt8(ascii: "-") || (bytes[i] >= 48 && bytes[i] <= 57),
                  let n = try? number() else { return nil }
            switch key {
            case 0: guard ts == nil else { return nil }; ts = n
            case 1: guard value == nil else { return nil }; value = n
            default: guard seq == nil else { return nil }; seq = n
            }
            skipSpace()
            guard i < end else { return nil }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; break }
            return nil
        }
        guard let value else { return nil }
        return JSONValue.FlatReading(ts: ts, value: value, seq: seq)
    }

    static let flatKeys: [[UInt8]] = [Array(#""ts""#.utf8), Array(#""value""#.utf8), Array(#""seq""#.utf8)]

    /// `"ts"` → 0, `"value"` → 1, `"seq"` → 2; nil for any other key.
    mutating func flatKey() -> Int? {
        for (n, key) in Self.flatKeys.enumerated() where i + key.count <= end {
            var k = 0
            while k < key.count && bytes[i + k] == key[k] { k += 1 }
            if k == key.count {
                i += k
                return n
            }
        }
        return nil
    }
}

struct Parser {
    let bytes: [UInt8]
    var i: Int
    let end: Int
    let origin: Int

    init(bytes: [UInt8], i: Int, end: Int) {
        self.bytes = bytes
        self.i = i
        self.end = end
        origin = i
    }

    func error(_ m: String) -> JSONValue.ParseError { .init(message: m, offset: i - origin) }

    mutating func skipSpace() {
        while i < end, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    mutating func value(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
        guard depth < JSONValue.maxDepth else { throw error("nesting deeper than \(JSONValue.maxDepth)") }
        guard i < end else { throw error("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(String, JSONValue)] = []
            skipSpace()
            if i < end, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipSpace()
                guard i < end, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let k = try string()
                skipSpace()
                guard i < end, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                skipSpace()
                members.append((k, try value(depth: depth + 1)))
                skipSpace()
                guard i < end else { throw error("unexpected end in object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                throw error("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if i < end, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < end else { throw error("unexpected end in array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            return try number()
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONValue.ParseError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= end else { throw error("invalid literal") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw error("invalid literal") }
        i += n
    }

    mutating func number() throws(JSONValue.ParseError) -> JSONValue {
        let start = i
        var isInteger = true
        if i < end, bytes[i] == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        while i < end, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
        guard i > intStart else { throw error("invalid value") }
        if bytes[intStart] == 48, i - intStart > 1 { throw error("leading zero in number") }
        if i < end, bytes[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            let f = i
            while i < end, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
            guard i > f else { throw error("digits expected after '.'") }
        }
        if i < end, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            isInteger = false
            i += 1
            if i < end, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            let e = i
            while i < end, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
            guard i > e else { throw error("digits expected in exponent") }
        }
        // Integers: accumulate digits (no String, no strtod) while the value stays exact.
        if isInteger, i - start <= 18 {
            var v: Int64 = 0
            for k in intStart..<i { v = v * 10 + Int64(bytes[k] &- 48) }
            if bytes[start] == UInt8(ascii: "-") { v = -v }
            if v.magnitude <= 1 << 53 { return .number(Double(v), exact: v) }
            return .number(Self.strtod(bytes, start, i), exact: v)
        }
        if !isInteger, let d = Self.fastDecimal(bytes, start, i) { return .number(d, exact: nil) }
        let d = Self.strtod(bytes, start, i)
        return .number(d, exact: isInteger ? Int64(String(decoding: bytes[start..<i], as: UTF8.self)) : nil)
    }

    static let powersOf10: [Double] = (0...22).map { (0..<$0).reduce(1.0) { acc, _ in acc * 10 } }

    /// Clinger's fast path for a validated decimal token: with at most 15 significant digits and a
    /// decimal exponent within ±22, the digits and the power of ten are both exact doubles, so one
    /// multiplication or division is the correctly rounded result — the same bits strtod gives.
    /// nil when the token is outside that range.
    static func fastDecimal(_ bytes: [UInt8], _ start: Int, _ end: Int) -> Double? {
        var k = start
        let negative = bytes[k] == UInt8(ascii: "-")
        if negative { k += 1 }
        var mantissa: Int64 = 0, digits = 0, scale = 0
        var seenDot = false
        while k < end {
            let c = bytes[k]
            if c == UInt8(ascii: ".") {
                seenDot = true
            } else if c >= 48 && c <= 57 {
                if mantissa > 0 || c != 48 { digits += 1 }
                guard digits <= 15 else { return nil }
                mantissa = mantissa * 10 + Int64(c - 48)
                if seenDot { scale -= 1 }
            } else {
                break  // 'e' or 'E'
            }
            k += 1
        }
        if k < end {
            k += 1
            var sign = 1
            if bytes[k] == UInt8(ascii: "-") { sign = -1; k += 1 } else if bytes[k] == UInt8(ascii: "+") { k += 1 }
            var e = 0
            while k < end {
                e = e * 10 + Int(bytes[k] - 48)
                guard e <= 400 else { return nil }
                k += 1
            }
            scale += sign * e
        }
        guard abs(scale) <= 22 else { return nil }
        let m = Double(mantissa)
        let d = scale >= 0 ? m * powersOf10[scale] : m / powersOf10[-scale]
        return negative ? -d : d
    }

    /// Correctly rounded conversion of an already validated number token (a NUL-terminated copy,
    /// so strtod never reads past the payload).
    static func strtod(_ bytes: [UInt8], _ start: Int, _ end: Int) -> Double {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: end - start + 1) { buf in
            for k in start..<end { buf[k - start] = CChar(bitPattern: bytes[k]) }
            buf[end - start] = 0
            return Glibc.strtod(buf.baseAddress!, nil)
        }
    }

    mutating func hex4() throws(JSONValue.ParseError) -> UInt32 {
        guard i + 4 <= end else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw error("bad \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    mutating func string() throws(JSONValue.ParseError) -> String {
        i += 1  // opening quote
        // Fast path: no escapes and no control characters, so the bytes are the string.
        let start = i
        var j = i
        while j < end, bytes[j] != UInt8(ascii: "\""), bytes[j] != UInt8(ascii: "\\"), bytes[j] >= 0x20 { j += 1 }
        if j < end, bytes[j] == UInt8(ascii: "\"") {
            i = j + 1
            return String(decoding: bytes[start..<j], as: UTF8.self)
        }
        var out: [UInt8] = []
        while true {
            guard i < end else { throw error("unterminated string") }
            let c = bytes[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard i < end else { throw error("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard i + 2 <= end, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw error("lone surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("bad surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error("lone surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw error("bad \\u escape") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    throw error("bad escape")
                }
            case 0..<0x20:
                throw error("control character in string")
            default:
                out.append(c)
            }
        }
    }
}
