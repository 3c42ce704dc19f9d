import Testing
@testable import VigilCore

/// Hostile and malformed inputs: each is rejected with the right reason, never crashes, and
/// never yields a reading.
@Suite struct DecoderRobustnessTests {
    static let now: Int64 = 1_764_000_000_000
    let decoder = PayloadDecoder()

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var topic: String
        var payload: [UInt8]
        var reasons: [RejectReason]
        var testDescription: String { name }

        init(_ name: String, topic: String = "vigil/m1/temp", _ payload: String, _ reason: RejectReason) {
            self.init(name, topic: topic, bytes: Array(payload.utf8), [reason])
        }

        init(_ name: String, topic: String = "vigil/m1/temp", bytes: [UInt8], _ reasons: [RejectReason]) {
            self.name = name
            self.topic = topic
            payload = bytes
            self.reasons = reasons
        }
    }

    static let cases: [Case] = [
        // Truncated and broken JSON.
        Case("truncated object", #"{"ts": 1763999999000, "value": 2"#, .malformedJSON),
        Case("truncated string", #"{"ts": "2025-11-24T15:5"#, .malformedJSON),
        Case("truncated array", #"[{"value": 1}, {"value": 2}"#, .malformedJSON),
        Case("only open brace", "{", .malformedJSON),
        Case("only open bracket", "[", .malformedJSON),
        Case("missing colon", #"{"value" 1}"#, .malformedJSON),
        Case("trailing comma object", #"{"value": 1,}"#, .malformedJSON),
        Case("trailing comma array", #"[{"value": 1},]"#, .malformedJSON),
        Case("single quotes", #"{'value': 1}"#, .malformedJSON),
        Case("unquoted key", #"{value: 1}"#, .malformedJSON),
        Case("garbage after object", #"{"value": 1} x"#, .malformedJSON),
        Case("two objects", #"{"value": 1}{"value": 2}"#, .malformedJSON),
        Case("NaN literal", #"{"value": NaN}"#, .malformedJSON),
        Case("Infinity literal", #"{"value": Infinity}"#, .malformedJSON),
        Case("hex number", #"{"value": 0x10}"#, .malformedJSON),
        Case("leading zero", #"{"value": 01}"#, .malformedJSON),
        Case("bare minus", #"{"value": -}"#, .malformedJSON),
        Case("bad exponent", #"{"value": 1e}"#, .malformedJSON),
        Case("bad escape", #"{"ts": "\x", "value": 1}"#, .malformedJSON),
        Case("lone surrogate", #"{"ts": "\ud800", "value": 1}"#, .malformedJSON),
        Case("raw control char", "{\"ts\": \"a\u{01}b\", \"value\": 1}", .malformedJSON),
        Case("comment in JSON", #"{"value": 1 /* c */}"#, .malformedJSON),
        Case("only line-protocol comments", "# a = b\n# c d=1\n", .emptyPayload),  // found by scripts/fuzz in CI
        // Nesting.
        Case("deep arrays", String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000), .malformedJSON),
        Case("deep objects", String(repeating: #"{"a":"#, count: 5000) + "1" + String(repeating: "}", count: 5000), .malformedJSON),
        Case("nested batch", #"[[{"value": 1}]]"#, .malformedJSON),
        Case("value is object", #"{"value": {"x": 1}}"#, .notANumber),
        Case("value is array", #"{"value": [1]}"#, .notANumber),
        // Numbers.
        Case("huge number", #"{"value": 1e400}"#, .notFinite),
        Case("huge negative", #"{"value": -1e400}"#, .notFinite),
        Case("300-digit integer", #"{"value": \#(String(repeating: "9", count: 400))}"#, .notFinite),
        Case("scalar nan", "nan", .notFinite),
        Case("scalar inf", "inf", .notFinite),
        Case("scalar -Infinity", "-Infinity", .notFinite),
        Case("scalar 1e999", "1e999", .notFinite),
        Case("scalar two numbers", "1 2", .unknownFormat),
        Case("scalar hex", "0x1p3", .unknownFormat),
        Case("scalar with unit", "21.5C", .unknownFormat),
        // Wrong types.
        Case("value string", #"{"value": "21.5"}"#, .notANumber),
        Case("value bool", #"{"value": true}"#, .notANumber),
        Case("value null", #"{"value": null}"#, .missingValue),
        Case("no value", #"{"ts": 1763999999000}"#, .missingValue),
        Case("values not object", topic: "vigil/m1", #"{"values": 3}"#, .notANumber),
        Case("values empty", topic: "vigil/m1", #"{"values": {}}"#, .missingValue),
        Case("ts object", #"{"ts": {}, "value": 1}"#, .badTimestamp),
        Case("ts bad string", #"{"ts": "yesterday", "value": 1}"#, .badTimestamp),
        Case("ts not finite", #"{"ts": 1e400, "value": 1}"#, .badTimestamp),
        Case("ts before 2000", #"{"ts": 946684799999, "value": 1}"#, .timestampOutOfRange),
        Case("ts negative", #"{"ts": -5, "value": 1}"#, .timestampOutOfRange),
        Case("ts far future", #"{"ts": 4102444800000, "value": 1}"#, .timestampOutOfRange),
        Case("ts max int", #"{"ts": 9223372036854775807, "value": 1}"#, .timestampOutOfRange),
        Case("top-level string", #""21.5""#, .unknownFormat),
        Case("top-level bool", "true", .notANumber),
        Case("array of numbers", "[1]", .malformedJSON),
        Case("empty batch", "[]", .missingValue),
        // Encoding and size.
        Case("invalid UTF-8", bytes: [0x7B, 0x22, 0x76, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D], [.invalidUTF8]),
        Case("overlong UTF-8", bytes: [0xC0, 0xAF], [.invalidUTF8]),
        Case("UTF-16 BOM payload", bytes: [0xFF, 0xFE, 0x31, 0x00], [.invalidUTF8]),
        Case("NUL bytes", bytes: [0, 0, 0], [.unknownFormat]),
        Case("1 MB payload", bytes: Array(repeating: UInt8(ascii: "1"), count: 1 << 20), [.payloadTooLarge]),
        Case("1 MB JSON", bytes: Array(("[" + String(repeating: #"{"value":1},"#, count: 100_000) + "]").utf8), [.payloadTooLarge]),
        Case("empty", "", .emptyPayload),
        Case("whitespace", " \n\t ", .emptyPayload),
        // Line protocol edge cases.
        Case("lp no fields", topic: "vigil/m1", "m,machine=a 1763999999000000000", .malformedLineProtocol),
        Case("lp empty tag value", topic: "vigil/m1", "m,machine= temp=1", .malformedLineProtocol),
        Case("lp tag without =", topic: "vigil/m1", "m,machine temp=1", .malformedLineProtocol),
        Case("lp field without value", topic: "vigil/m1", "m,machine=a temp=", .malformedLineProtocol),
        Case("lp bad integer", topic: "vigil/m1", "m,machine=a temp=12x", .malformedLineProtocol),
        Case("lp negative unsigned", topic: "vigil/m1", "m,machine=a temp=-1u", .malformedLineProtocol),
        Case("lp unterminated string", topic: "vigil/m1", #"m,machine=a note="abc"#, .malformedLineProtocol),
        Case("lp float timestamp", topic: "vigil/m1", "m,machine=a temp=1 1.5e18", .malformedLineProtocol),
        Case("lp string field", topic: "vigil/m1", #"m,machine=a note="x y""#, .notANumber),
        Case("lp bool field", topic: "vigil/m1", "m,machine=a on=T", .notANumber),
        Case("lp nan field", topic: "vigil/m1", "m,machine=a temp=NaN", .malformedLineProtocol),
        Case("lp bad machine tag", topic: "vigil/m1", "m,machine=a#b temp=1", .badMachineID),
        Case("lp bad field key", topic: "vigil/m1", "m,machine=a te/mp=1", .badSensorID),
        Case("lp old timestamp", topic: "vigil/m1", "m,machine=a temp=1 1", .timestampOutOfRange),
        // Topic and id injection.
        Case("wildcard in topic", topic: "vigil/+/temp", "1", .badMachineID),
        Case("hash in topic", topic: "vigil/m1/#", "1", .badSensorID),
        Case("empty level", topic: "vigil//temp", "1", .badMachineID),
        Case("trailing slash", topic: "vigil/m1/", "1", .badSensorID),
        Case("machine only", topic: "vigil/temp", "1", .badTopic),
        Case("wrong prefix", topic: "vigilant/m1/temp", "1", .badTopic),
        Case("no prefix level", topic: "m1/temp", "1", .badTopic),
        Case("SQL in machine", topic: "vigil/m1';DROP TABLE reading;--/temp", "1", .badMachineID),
        Case("path traversal", topic: "vigil/../../etc/temp", "1", .badMachineID),
        Case("unicode machine", topic: "vigil/pümpe/temp", "1", .badMachineID),
        Case("129-char sensor", topic: "vigil/m1/" + String(repeating: "s", count: 129), "1", .badSensorID),
        Case("129-char machine", topic: "vigil/" + String(repeating: "m", count: 129) + "/t", "1", .badMachineID),
        Case("sensor key injection", topic: "vigil/m1", #"{"values": {"a b": 1}}"#, .badSensorID),
        Case("empty sensor key", topic: "vigil/m1", #"{"values": {"": 1}}"#, .badSensorID),
    ]

    @Test(arguments: cases)
    func isRejectedWithTheRightReason(_ c: Case) {
        let d = decoder.decode(topic: c.topic, payload: c.payload, receivedAt: Self.now)
        #expect(d.readings.isEmpty)
        #expect(d.rejections.map(\.reason) == c.reasons)
        #expect(d.rejections.allSatisfy { !$0.detail.isEmpty && $0.detail.utf8.count < 600 })
    }

    @Test func suiteIsLargeEnough() { #expect(Self.cases.count >= 60) }
}
