import Testing
@testable import VigilCore

@Suite struct KeyRulesTests {
    @Test func rfc3339InstantsBeyondFourDigitYearsAreRefused() {
        // Found by the timestamp fuzz target: an offset carried 9999-12-31 into year 10000, which
        // could not be printed back.
        #expect(Timestamp.millis(rfc3339: "9999-12-31T23:59:59.999-23:59") == nil)
        #expect(Timestamp.millis(rfc3339: "0000-01-01T00:00:00+00:01") == nil)
        let last = Timestamp.millis(rfc3339: "9999-12-31T23:59:59.999Z")!
        #expect(Timestamp.millis(rfc3339: Timestamp.rfc3339(millis: last)) == last)
    }

    @Test(arguments: ["press7", "plant1/line2/press7", "a", "A-b_c.d:e", String(repeating: "x", count: 128)])
    func validMachines(_ id: String) { #expect(KeyRules.isValidMachine(id)) }

    @Test(arguments: ["", "/press7", "press7/", "a//b", "bad id", "ä", "a+b", "a#", String(repeating: "x", count: 129)])
    func invalidMachines(_ id: String) { #expect(!KeyRules.isValidMachine(id)) }

    @Test func sensorsHaveNoSlash() {
        #expect(KeyRules.isValidSensor("bearing_temp"))
        #expect(!KeyRules.isValidSensor("a/b"))
        #expect(!KeyRules.isValidSensor(""))
        #expect(!KeyRules.isValidSensor("x\u{0}"))
    }
}

@Suite struct TimestampTests {
    @Test func magnitudeDetection() {
        #expect(Timestamp.millis(fromEpoch: Int64(1_732_612_345)) == 1_732_612_345_000)
        #expect(Timestamp.millis(fromEpoch: Int64(1_732_612_345_123)) == 1_732_612_345_123)
        #expect(Timestamp.millis(fromEpoch: Int64(1_732_612_345_123_456)) == 1_732_612_345_123)
        #expect(Timestamp.millis(fromEpoch: Int64(1_732_612_345_123_456_789)) == 1_732_612_345_123)
        #expect(Timestamp.millis(fromEpoch: 1_732_612_345.5) == 1_732_612_345_500)
        #expect(Timestamp.millis(fromEpoch: Double.nan) == nil)
    }

    @Test func rfc3339() {
        #expect(Timestamp.millis(rfc3339: "2024-11-26T09:12:25.123Z") == 1_732_612_345_123)
        #expect(Timestamp.millis(rfc3339: "2024-11-26T10:12:25.123+01:00") == 1_732_612_345_123)
        #expect(Timestamp.millis(rfc3339: "2024-11-26 09:12:25Z") == 1_732_612_345_000)
        #expect(Timestamp.millis(rfc3339: "2024-11-26T09:12:25.123456789Z") == 1_732_612_345_123)
        #expect(Timestamp.millis(rfc3339: "2024-02-29T00:00:00Z") == 1_709_164_800_000)
        #expect(Timestamp.millis(rfc3339: "2023-02-29T00:00:00Z") == nil)
        #expect(Timestamp.millis(rfc3339: "2024-11-26T09:12:25") == nil)
        #expect(Timestamp.millis(rfc3339: "2024-13-01T00:00:00Z") == nil)
        #expect(Timestamp.millis(rfc3339: "yesterday") == nil)
    }

    @Test func formatRoundTrips() {
        for ms: Int64 in [0, 946_684_800_000, 1_709_164_799_999, 1_732_612_345_123, 4_102_444_800_000, -1] {
            let s = Timestamp.rfc3339(millis: ms)
            #expect(Timestamp.millis(rfc3339: s) == ms, "\(s)")
        }
        #expect(Timestamp.rfc3339(millis: 1_732_612_345_123) == "2024-11-26T09:12:25.123Z")
    }

    @Test func civilDaysAgreeBothWays() {
        for day in stride(from: -800_000, to: 800_000, by: 997) {
            let (y, m, d) = Timestamp.civilFromDays(day)
            #expect(Timestamp.daysFromCivil(year: y, month: m, day: d) == day)
        }
    }
}

@Suite struct JSONValueTests {
    @Test func parsesValues() throws {
        let v = try JSONValue.parse(Array(#" {"a": [1, -2.5e3, true, null, "x\n\u00e9\ud83d\ude00"], "b": {}} "#.utf8))
        #expect(v["a"] == .array([.number(1, exact: 1), .number(-2500, exact: nil), .bool(true), .null, .string("x\né😀")]))
        #expect(v["b"] == .object([]))
    }

    @Test func keepsLargeIntegersExact() throws {
        #expect(try JSONValue.parse(Array("1732612345123456789".utf8)) == .number(1_732_612_345_123_456_789, exact: 1_732_612_345_123_456_789))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "tru", "\"abc", "{\"a\":1}x", "\"\\ud800\"", "\"a\u{01}\"", "NaN", "[1 2]"])
    func rejectsMalformed(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func limitsDepth() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(deep.utf8)) }
    }
}

/// Stored readings and readings not yet committed, merged for the raw series route.
@Suite struct ReadingMergeTests {
    static func r(_ ts: Int64, _ v: Double) -> Reading { Reading(machine: "m", sensor: "s", ts: ts, value: v) }

    @Test func newerReadingsInterleaveAndReplaceAtTheirTimestamp() {
        let stored = [Self.r(1, 1), Self.r(3, 3), Self.r(5, 5)]
        let newer = [Self.r(2, 20), Self.r(3, 30), Self.r(6, 60)]
        #expect(Reading.merged(stored, newer, limit: 10).map(\.value) == [1, 20, 30, 5, 60])
        #expect(Reading.merged(stored, newer, limit: 3).map(\.ts) == [1, 2, 3])
        #expect(Reading.merged([], newer, limit: 10) == newer && Reading.merged(stored, [], limit: 2) == Array(stored.prefix(2)))
    }
}
