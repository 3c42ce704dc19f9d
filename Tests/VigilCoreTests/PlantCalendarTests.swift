import Foundation
import Testing
@testable import VigilCore

/// The plant's days against Python's `zoneinfo` (an independent reading of the same tz database):
/// every local day's start over whole years — DST days of 23 and 25 hours, a +05:45 zone, a
/// 30-minute DST, clocks that jump at midnight — in the table's years and in years only the
/// file's POSIX footer rule covers.
@Suite struct PlantCalendarTests {
    static let zones = ["Europe/Berlin", "Asia/Kathmandu", "America/Chicago", "Australia/Lord_Howe", "America/Santiago", "UTC"]

    static func calendar(_ zone: String) throws -> PlantCalendar {
        try PlantCalendar(timeZone: zone, tzif: Array(try Data(contentsOf: URL(fileURLWithPath: "/usr/share/zoneinfo/" + zone))))
    }

    /// `zone`'s day starts (UTC ms) for every date of `years`, from Python: the first instant whose
    /// local date is the day (a midnight the clock jumped over starts the day where the gap ends).
    static func pythonDayStarts(_ zone: String, years: [Int]) throws -> [String: Int64] {
        let script = """
            import sys
            from datetime import datetime, date, timedelta, timezone
            from zoneinfo import ZoneInfo
            z = ZoneInfo(sys.argv[1])
            def local(t): return datetime.fromtimestamp(t, timezone.utc).astimezone(z).replace(tzinfo=None)
            for y in map(int, sys.argv[2:]):
                d = date(y, 1, 1)
                while d.year == y:
                    mid = datetime(d.year, d.month, d.day)
                    lo = int(mid.replace(tzinfo=timezone.utc).timestamp()) - 2 * 86400
                    hi = lo + 4 * 86400
                    while hi - lo > 1:  # the first second whose local time is at or after midnight
                        m = (lo + hi) // 2
                        if local(m) >= mid: hi = m
                        else: lo = m
                    print(d.isoformat(), hi * 1000)
                    d += timedelta(days=1)
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", script, zone] + years.map(String.init)
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        var starts: [String: Int64] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: " ")
            starts[String(f[0])] = Int64(f[1])!
        }
        return starts
    }

    @Test(arguments: zones) func everyDayStartsWhereZoneinfoSays(zone: String) throws {
        let cal = try Self.calendar(zone)
        let expected = try Self.pythonDayStarts(zone, years: [1995, 2026, 2027, 2045])
        #expect(expected.count == 4 * 365)
        let hour: Int64 = 3_600_000
        var lengths: Set<Int64> = []
        for (text, start) in expected {
            let date = try #require(LocalDate(text))
            #expect(cal.start(of: date) == start, "\(zone) \(text)")
            #expect(cal.date(of: start) == date && cal.dayStart(of: start) == start)
            let next = cal.dayAfter(start)
            #expect(cal.dayStart(of: next - 1) == start && cal.date(of: next) > date, "\(zone) \(text): the day ends where the next begins")
            #expect(cal.dayStart(of: start + (next - start) / 2) == start)
            lengths.insert(next - start)
        }
        let expectedLengths: Set<Int64> = switch zone {
        case "Europe/Berlin", "America/Chicago", "America/Santiago": [23 * hour, 24 * hour, 25 * hour]
        case "Australia/Lord_Howe": [47 * hour / 2, 24 * hour, 49 * hour / 2]
        default: [24 * hour]
        }
        #expect(lengths == expectedLengths)
    }

    @Test func berlinsDaysOf2026() throws {
        let cal = try Self.calendar("Europe/Berlin")
        let spring = try #require(LocalDate("2026-03-29")), autumn = try #require(LocalDate("2026-10-25"))
        #expect(cal.start(of: spring) == 1_774_738_800_000)  // 2026-03-28T23:00:00Z
        #expect(cal.dayAfter(cal.start(of: spring)) - cal.start(of: spring) == 23 * 3_600_000)
        #expect(cal.dayAfter(cal.start(of: autumn)) - cal.start(of: autumn) == 25 * 3_600_000)
        #expect(cal.rfc3339(1_774_746_000_000) == "2026-03-29T03:00:00+02:00")
        #expect(try Self.calendar("Asia/Kathmandu").rfc3339(1_774_746_000_123) == "2026-03-29T06:45:00.123+05:45")
        #expect(PlantCalendar.utc.rfc3339(0) == "1970-01-01T00:00:00Z")
        #expect(cal.dayStart(2, daysBefore: cal.start(of: spring) + 3_600_000) == cal.start(of: try #require(LocalDate("2026-03-27"))))
    }

    @Test func datesAreReadStrictly() {
        #expect(LocalDate("2026-03-29") == LocalDate(year: 2026, month: 3, day: 29))
        for bad in ["2026-02-30", "2026-13-01", "2026-3-29", "26-03-29", "2026-03-29T00:00", "", "2026/03/29", "２０２６-03-29"] {
            #expect(LocalDate(bad) == nil, "\(bad)")
        }
        #expect(LocalDate(daysSinceEpoch: 0).description == "1970-01-01")
        #expect(LocalDate(daysSinceEpoch: -1).description == "1969-12-31")
    }

    @Test func aFileThatIsNotTZifIsAnError() {
        #expect(throws: PlantCalendar.LoadError.self) { try PlantCalendar(timeZone: "x", tzif: Array("hello".utf8)) }
        #expect(throws: PlantCalendar.LoadError.self) { try PlantCalendar(timeZone: "x", tzif: Array("TZif2".utf8) + [UInt8](repeating: 0, count: 40)) }
    }
}
