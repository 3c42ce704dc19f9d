/// The plant's days: a day runs from local midnight to local midnight in the plant's time zone
/// (`[site] timezone`), so it lasts 23, 24 or 25 hours across daylight-saving changes. Built from
/// the zone's compiled tz database file (TZif, RFC 8536, as `/usr/share/zoneinfo` holds it):
/// its transitions, and after the last one the rule of its POSIX TZ footer, expanded to 2200.
/// Pure: the file is read by the caller.
public struct PlantCalendar: Sendable, Equatable {
    /// The IANA name (`Europe/Berlin`), `UTC` for UTC.
    public let timeZone: String
    /// The offset (ms, local − UTC) before the first change.
    let initialOffset: Int64
    /// Offset changes in time order: from `changes[i].at` (UTC ms) on, local time is UTC + `offset`.
    let changes: [(at: Int64, offset: Int64)]

    public static let utc = PlantCalendar(timeZone: "UTC", initialOffset: 0, changes: [])

    init(timeZone: String, initialOffset: Int64, changes: [(at: Int64, offset: Int64)]) {
        self.timeZone = timeZone
        self.initialOffset = initialOffset
        self.changes = changes
    }

    public static func == (a: PlantCalendar, b: PlantCalendar) -> Bool {
        a.timeZone == b.timeZone && a.initialOffset == b.initialOffset
            && a.changes.count == b.changes.count && zip(a.changes, b.changes).allSatisfy { $0.at == $1.at && $0.offset == $1.offset }
    }

    static let day: Int64 = 86_400_000

    // MARK: offsets

    /// Local time minus UTC (ms) at the instant `utc`.
    public func offset(at utc: Int64) -> Int64 {
        let i = firstChange(after: utc)
        return i == 0 ? initialOffset : changes[i - 1].offset
    }

    /// The first instant whose local time is `local` (ms since the epoch, read as local time): the
    /// earlier one when the clock went back over it, the end of the gap when the clock jumped it.
    public func instant(ofLocal local: Int64) -> Int64 {
        // Offsets are within a day of UTC: the candidates are the offsets of the periods around.
        var candidates: Set<Int64> = [offset(at: local - Self.day), offset(at: local), offset(at: local + Self.day)]
        var gapEnd: Int64?
        var i = firstChange(after: local - 2 * Self.day)
        while i < changes.count, changes[i].at <= local + 2 * Self.day {
            let before = i == 0 ? initialOffset : changes[i - 1].offset
            candidates.insert(changes[i].offset)
            // Jumped forward over `local`: it never happened; the day starts where the gap ends.
            if changes[i].offset > before, changes[i].at + before <= local, local < changes[i].at + changes[i].offset { gapEnd = changes[i].at }
            i += 1
        }
        if let valid = candidates.map({ local - $0 }).filter({ offset(at: $0) + $0 == local }).min() { return valid }
        return gapEnd ?? (local - offset(at: local))
    }

    /// The index of the first change after `t` (binary search).
    private func firstChange(after t: Int64) -> Int {
        var lo = 0, hi = changes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if changes[mid].at <= t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    // MARK: days

    /// The start (UTC ms) of the local day holding `utc`.
    public func dayStart(of utc: Int64) -> Int64 {
        instant(ofLocal: Self.floorDay(utc + offset(at: utc)) * Self.day)
    }

    /// The start of the local day after the one starting at (or holding) `start`.
    public func dayAfter(_ start: Int64) -> Int64 {
        instant(ofLocal: (Self.floorDay(start + offset(at: start)) + 1) * Self.day)
    }

    /// The start of the local day `n` days before (negative: after) the one holding `utc`.
    public func dayStart(_ n: Int, daysBefore utc: Int64) -> Int64 {
        instant(ofLocal: (Self.floorDay(utc + offset(at: utc)) - Int64(n)) * Self.day)
    }

    /// The local date of the instant `utc`.
    public func date(of utc: Int64) -> LocalDate {
        LocalDate(daysSinceEpoch: Self.floorDay(utc + offset(at: utc)))
    }

    /// The start (UTC ms) of the local day `date`.
    public func start(of date: LocalDate) -> Int64 { instant(ofLocal: date.daysSinceEpoch * Self.day) }

    /// A query time (`from`/`to` of the API, `--from/--to` of the CLI): epoch ms, RFC 3339, or a
    /// local date — as a start (`end` false) the day's start, as an end the next day's start, so
    /// `from=D&to=D` is the whole day D. Nil when it is none of these.
    public func time(query s: String, end: Bool) -> Int64? {
        guard let date = LocalDate(s) else { return Timestamp.millis(query: s) }
        return end ? dayAfter(start(of: date)) : start(of: date)
    }

    /// Where the tz database file of `zone` is: under `$TZDIR`, else `/usr/share/zoneinfo`
    /// (Debian's `tzdata`). The daemon and the CLI read it there.
    public static func databasePath(of zone: String, environment: [String: String]) -> String {
        (environment["TZDIR"] ?? "/usr/share/zoneinfo") + "/" + zone
    }

    /// `utc` as RFC 3339 local time with its offset (`2026-03-29T03:00:00+02:00`; `Z` in UTC).
    public func rfc3339(_ utc: Int64) -> String {
        let o = offset(at: utc)
        let local = utc + o
        let d = LocalDate(daysSinceEpoch: Self.floorDay(local))
        let ms = local - Self.floorDay(local) * Self.day
        let s = ms / 1000
        var out = "\(d)T\(Self.two(s / 3600)):\(Self.two(s / 60 % 60)):\(Self.two(s % 60))"
        if ms % 1000 != 0 { out += "." + String(String(1000 + ms % 1000).dropFirst()) }
        guard timeZone != "UTC" || o != 0 else { return out + "Z" }
        let m = abs(o) / 60_000
        return out + (o < 0 ? "-" : "+") + "\(Self.two(m / 60)):\(Self.two(m % 60))"
    }

    static func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }

    static func floorDay(_ t: Int64) -> Int64 { t.floorDiv(day) }

    // MARK: TZif

    public struct LoadError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// The calendar of `timeZone` from its TZif file's bytes.
    public init(timeZone: String, tzif bytes: [UInt8]) throws(LoadError) {
        var r = Reader(bytes: bytes)
        func header() throws(LoadError) -> (version: UInt8, isut: Int, isstd: Int, leap: Int, time: Int, type: Int, char: Int) {
            guard r.take(4) == Array("TZif".utf8) else { throw LoadError(description: "not a TZif file") }
            let version = r.take(1).first ?? 0
            _ = r.take(15)
            let c = (0..<6).map { _ in Int(r.int32()) }
            guard !r.failed, c.allSatisfy({ $0 >= 0 && $0 < 100_000 }), c[4] > 0 else { throw LoadError(description: "a malformed TZif header") }
            return (version, c[0], c[1], c[2], c[3], c[4], c[5])
        }
        var h = try header()
        var timeSize = 4
        if h.version >= UInt8(ascii: "2") {
            // Skip the 32-bit block: the 64-bit one follows with its own header.
            _ = r.take(h.time * 5 + h.type * 6 + h.char + h.leap * 8 + h.isstd + h.isut)
            h = try header()
            timeSize = 8
        }
        let times = (0..<h.time).map { _ in timeSize == 8 ? r.int64() : Int64(r.int32()) }
        let indices = r.take(h.time).map(Int.init)
        let offsets = (0..<h.type).map { _ -> Int64 in
            let o = Int64(r.int32())
            _ = r.take(2)
            return o * 1000
        }
        _ = r.take(h.char + h.leap * (timeSize + 4) + h.isstd + h.isut)
        guard !r.failed, indices.allSatisfy({ $0 < offsets.count }) else { throw LoadError(description: "a truncated TZif file") }
        var changes = zip(times, indices).map { (at: $0 * 1000, offset: offsets[$1]) }
        // After the table, the footer's rule (v2+): "\nCET-1CEST,M3.5.0,M10.5.0/3\n".
        if timeSize == 8, r.take(1) == [UInt8(ascii: "\n")] {
            let footer = String(decoding: r.rest.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
            if let rule = PosixRule(footer) {
                let from = changes.last.map { LocalDate(daysSinceEpoch: Self.floorDay($0.at)).year } ?? 1970
                for (at, offset) in rule.changes(years: from...2200) where at > (changes.last?.at ?? .min) {
                    changes.append((at, offset))
                }
                if changes.isEmpty, offsets.count == 1 { self.init(timeZone: timeZone, initialOffset: rule.standard, changes: []); return }
            }
        }
        // Drop changes that do not change the offset (a new abbreviation, a dst flag).
        var kept: [(at: Int64, offset: Int64)] = []
        for c in changes where c.offset != (kept.last?.offset ?? offsets[0]) { kept.append(c) }
        self.init(timeZone: timeZone, initialOffset: offsets[0], changes: kept)
    }

    struct Reader {
        let bytes: [UInt8]
        var at = 0
        var failed = false

        mutating func take(_ n: Int) -> [UInt8] {
            guard n >= 0, at + n <= bytes.count else { failed = true; at = bytes.count; return [] }
            defer { at += n }
            return Array(bytes[at..<at + n])
        }

        mutating func int32() -> Int32 { Int32(bitPattern: take(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) }
        mutating func int64() -> Int64 { Int64(bitPattern: take(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
        var rest: ArraySlice<UInt8> { bytes[at...] }
    }

    /// A POSIX TZ rule as TZif footers hold it: `STDoffset[DST[offset][,Mm.w.d[/time],Mm.w.d[/time]]]`
    /// (`Jn` and `n` day forms are not used by today's zones and give nil).
    struct PosixRule {
        /// Offsets (ms, local − UTC).
        var standard: Int64
        var daylight: Int64?
        var start: (month: Int, week: Int, weekday: Int, time: Int64)?
        var end: (month: Int, week: Int, weekday: Int, time: Int64)?

        init?(_ text: String) {
            var s = Substring(text)
            func name() -> Bool {
                if s.first == "<" {
                    guard let close = s.firstIndex(of: ">") else { return false }
                    s = s[s.index(after: close)...]
                    return true
                }
                let n = s.prefix { $0.isLetter }
                s = s.dropFirst(n.count)
                return n.count >= 3
            }
            /// `[+-]hh[:mm[:ss]]` in seconds.
            func time() -> Int64? {
                var sign: Int64 = 1
                if s.first == "-" || s.first == "+" { sign = s.first == "-" ? -1 : 1; s = s.dropFirst() }
                var parts: [Int64] = []
                while parts.count < 3 {
                    let digits = s.prefix { $0.isNumber }
                    guard !digits.isEmpty, let v = Int64(digits) else { return parts.isEmpty ? nil : sign * Self.seconds(parts) }
                    parts.append(v)
                    s = s.dropFirst(digits.count)
                    guard s.first == ":" else { break }
                    s = s.dropFirst()
                }
                return sign * Self.seconds(parts)
            }
            func date() -> (Int, Int, Int, Int64)? {
                guard s.first == "M" else { return nil }
                s = s.dropFirst()
                let fields = s.prefix { $0.isNumber || $0 == "." }.split(separator: ".").compactMap { Int($0) }
                s = s.dropFirst(s.prefix { $0.isNumber || $0 == "." }.count)
                guard fields.count == 3, (1...12).contains(fields[0]), (1...5).contains(fields[1]), (0...6).contains(fields[2]) else { return nil }
                var at: Int64 = 7200
                if s.first == "/" {
                    s = s.dropFirst()
                    guard let t = time() else { return nil }
                    at = t
                }
                return (fields[0], fields[1], fields[2], at * 1000)
            }
            guard name(), let std = time() else { return nil }
            standard = -std * 1000
            guard !s.isEmpty else { return }
            guard name() else { return nil }
            daylight = s.first == "," ? standard + 3_600_000 : time().map { -$0 * 1000 }
            guard daylight != nil, s.first == "," else { return nil }
            s = s.dropFirst()
            guard let a = date(), s.first == "," else { return nil }
            s = s.dropFirst()
            guard let b = date(), s.isEmpty else { return nil }
            start = a
            end = b
        }

        static func seconds(_ parts: [Int64]) -> Int64 {
            parts.enumerated().reduce(0) { $0 + $1.element * [3600, 60, 1][$1.offset] }
        }

        /// The offset changes of `years`, in time order.
        func changes(years: ClosedRange<Int>) -> [(at: Int64, offset: Int64)] {
            guard let daylight, let start, let end else { return [] }
            var out: [(at: Int64, offset: Int64)] = []
            for y in years {
                // The start is given in standard local time, the end in daylight local time.
                let on = Self.day(y, start.month, start.week, start.weekday) * PlantCalendar.day + start.time - standard
                let off = Self.day(y, end.month, end.week, end.weekday) * PlantCalendar.day + end.time - daylight
                out += on < off ? [(on, daylight), (off, standard)] : [(off, standard), (on, daylight)]
            }
            return out
        }

        /// Days since the epoch of the `week`-th (5: last) `weekday` (0 Sunday) of `month` in `year`.
        static func day(_ year: Int, _ month: Int, _ week: Int, _ weekday: Int) -> Int64 {
            let first = LocalDate(year: year, month: month, day: 1).daysSinceEpoch
            let firstWeekday = Int(((first % 7) + 11) % 7)  // 1970-01-01 was a Thursday (4)
            var d = first + Int64((weekday - firstWeekday + 7) % 7) + Int64(week - 1) * 7
            let next = LocalDate(year: month == 12 ? year + 1 : year, month: month % 12 + 1, day: 1).daysSinceEpoch
            while d >= next { d -= 7 }
            return d
        }
    }
}

/// A calendar date (proleptic Gregorian), `2026-03-29`.
public struct LocalDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// `YYYY-MM-DD`, a real date; nil otherwise.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m), d >= 1 else { return nil }
        self.init(year: y, month: m, day: d)
        guard LocalDate(daysSinceEpoch: daysSinceEpoch) == self else { return nil }  // 2026-02-30
    }

    /// Days since 1970-01-01.
    public var daysSinceEpoch: Int64 { Int64(Timestamp.daysFromCivil(year: year, month: month, day: day)) }

    public init(daysSinceEpoch days: Int64) {
        let c = Timestamp.civilFromDays(Int(days))
        self.init(year: c.year, month: c.month, day: c.day)
    }

    public var description: String {
        let y = String(year), m = month < 10 ? "0\(month)" : "\(month)", d = day < 10 ? "0\(day)" : "\(day)"
        return String(repeating: "0", count: max(0, 4 - y.count)) + y + "-" + m + "-" + d
    }

    public static func < (a: LocalDate, b: LocalDate) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }
}
