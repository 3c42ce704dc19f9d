/// Timestamps: epoch seconds/ms/µs/ns detected by magnitude, RFC 3339, and the accepted window.
public enum Timestamp {
    /// 2000-01-01T00:00:00Z: readings before it are rejected (SPEC §2).
    public static let earliestAccepted: Int64 = 946_684_800_000

    /// Converts an epoch number of unknown unit to milliseconds by its magnitude:
    /// < 1e11 seconds, < 1e14 milliseconds, < 1e17 microseconds, else nanoseconds.
    /// Seconds reach year 5138 before 1e11; milliseconds reach 1973 at 1e11, so the ranges do not
    /// overlap for any timestamp the gateway accepts.
    public static func millis(fromEpoch raw: Int64) -> Int64 {
        let m = raw.magnitude
        if m < 100_000_000_000 { return raw.multipliedReportingOverflow(by: 1000).overflow ? raw : raw * 1000 }
        if m < 100_000_000_000_000 { return raw }
        if m < 100_000_000_000_000_000 { return raw / 1000 }
        return raw / 1_000_000
    }

    /// The same for a fractional epoch number (e.g. `1732612345.123` seconds). Nil if not finite
    /// or beyond any representable time.
    public static func millis(fromEpoch raw: Double) -> Int64? {
        guard raw.isFinite, raw.magnitude < 9.0e18 else { return nil }
        let m = raw.magnitude
        let ms: Double
        if m < 1e11 { ms = raw * 1000 } else if m < 1e14 { ms = raw } else if m < 1e17 { ms = raw / 1000 } else { ms = raw / 1e6 }
        return Int64(ms.rounded(.down))
    }

    /// Parses RFC 3339 (`2024-11-26T09:12:25.123Z`, `…+01:00`; a space may stand for `T`).
    /// Fractions beyond milliseconds are truncated. Returns epoch milliseconds.
    public static func millis(rfc3339 s: String) -> Int64? {
        let b = Array(s.utf8)
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(UInt8(ascii: "-")), let month = digits(2), expect(UInt8(ascii: "-")),
              let day = digits(2) else { return nil }
        guard i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        guard let hour = digits(2), expect(UInt8(ascii: ":")), let minute = digits(2), expect(UInt8(ascii: ":")),
              let second = digits(2) else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 61 else { return nil }
        var millis = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var n = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if n < 3 { millis = millis * 10 + Int(b[i] - 48) }
                n += 1
                i += 1
            }
            guard n > 0 else { return nil }
            for _ in n..<max(n, 3) { millis *= 10 }
        }
        guard i < b.count else { return nil }
        var offsetMinutes = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = digits(2), expect(UInt8(ascii: ":")), let om = digits(2), oh < 24, om < 60 else { return nil }
            offsetMinutes = sign * (oh * 60 + om)
        default:
            return nil
        }
        guard i == b.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offsetMinutes * 60)
        let ms = seconds * 1000 + Int64(millis)
        // An offset can carry the instant past year 9999 (or before year 0), which has no
        // four-digit RFC 3339 form to print it back in (found by the timestamp fuzz target).
        return rfc3339Range.contains(ms) ? ms : nil
    }

    /// The instants RFC 3339's four-digit years can write: 0000-01-01 to 9999-12-31, UTC.
    static let rfc3339Range = Int64(daysFromCivil(year: 0, month: 1, day: 1)) * 86_400_000
        ... Int64(daysFromCivil(year: 9999, month: 12, day: 31)) * 86_400_000 + 86_399_999

    /// Formats epoch milliseconds as RFC 3339 UTC with milliseconds.
    public static func rfc3339(millis: Int64) -> String {
        let secs = millis.floorDiv(1000)
        let ms = Int(millis - secs * 1000)
        let days = secs.floorDiv(86_400)
        let sod = Int(secs - days * 86_400)
        let (y, m, d) = civilFromDays(Int(days))
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(sod / 3600, 2)):\(pad(sod / 60 % 60, 2)):\(pad(sod % 60, 2)).\(pad(ms, 3))Z"
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Howard Hinnant's days-from-civil: days since 1970-01-01 of a proleptic Gregorian date.
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

extension Int64 {
    /// Division rounding toward negative infinity (bucket starts of pre-1970 times stay correct).
    @inlinable
    public func floorDiv(_ d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}

extension Timestamp {
    /// A time given in a query or on the command line: epoch milliseconds or RFC 3339.
    public static func millis(query s: String) -> Int64? {
        if let n = Int64(s) { return n }
        return millis(rfc3339: s)
    }
}
