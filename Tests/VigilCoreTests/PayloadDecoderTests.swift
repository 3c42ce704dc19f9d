import Foundation
import Testing
@testable import VigilCore

@Suite struct PayloadDecoderTests {
    let decoder = PayloadDecoder()
    let now: Int64 = 1_764_000_000_000

    func decode(_ topic: String, _ payload: String) -> DecodedMessage {
        decoder.decode(topic: topic, payload: Array(payload.utf8), receivedAt: now)
    }

    func reasons(_ d: DecodedMessage) -> [RejectReason] { d.rejections.map(\.reason) }

    /// The flat-reading fast path decodes exactly as the general parser: the same random
    /// payloads with one extra member (which sends them down the general path, where unknown
    /// keys are ignored) give identical readings and rejections.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func flatFastPathEqualsGeneralParser(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }
        let numbers = ["0", "-0", "21.5", "-3.25e2", "1e999", "-1e999", "123456789012345678", "9007199254740993",
                       "99999999999999999999", "0.1", "1E-7", "42"]
        let times = ["\(now)", "\(now / 1000)", "\(now)000", "\(now)000000", "\(now / 1000).5", "\(now + 86_400_000)", "-5",
                     "1", "\(now)", "\(now - 1234)"]
        for _ in 0..<300 {
            var objects: [String] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                var members: [String] = []
                if Int.random(in: 0..<5, using: &rng) > 0 { members.append("\"ts\": \(pick(times))") }
                members.append("\"value\":\(pick(numbers))")
                if Bool.random(using: &rng) { members.append("\"seq\" : \(pick(["7", "-2", "3.5", "1e3", "12345678901234567890"]))") }
                members.shuffle(using: &rng)
                objects.append("{" + members.joined(separator: ",") + "}")
            }
            let single = objects.count == 1 && Bool.random(using: &rng)
            let fast = single ? objects[0] : "[" + objects.joined(separator: ", ") + "]"
            let general = fast.replacingOccurrences(of: "{", with: "{\"note\": \"x\", ")
            #expect(JSONValue.flatReadings(Array(fast.utf8), 0..<fast.utf8.count) != nil, "\(fast)")
            #expect(JSONValue.flatReadings(Array(general.utf8), 0..<general.utf8.count) == nil)
            #expect(decode("vigil/m/s", fast) == decode("vigil/m/s", general), "\(fast)")
        }
        // Shapes the fast path leaves to the general parser, decoded as before.
        for payload in [#"[]"#, #"{"value": null}"#, #"{"value": 1, "value": 2}"#, #"[{"value": 1},]"#, #"{"ts": "2025-11-24T15:59:59Z", "value": 1}"#,
                        #"[{"value": 1} {"value": 2}]"#, #"{"value": 1} x"#] {
            #expect(JSONValue.flatReadings(Array(payload.utf8), 0..<payload.utf8.count) == nil, "\(payload)")
        }
        #expect(decode("vigil/m/s", #"{"value": 1, "value": 2}"#).readings.map(\.value) == [2])
    }

    /// Decimal numbers parse to the same bits as strtod (Swift's Double(String)), inside and
    /// outside the 15-digit, ±22 exponent fast path.
    @Test func decimalsParseCorrectlyRounded() throws {
        var rng = SplitMix64(seed: 77)
        for _ in 0..<50_000 {
            let intDigits = String(Int64.random(in: 0..<Int64(1) << Int.random(in: 1...62, using: &rng), using: &rng))
            let fraction = String((0..<Int.random(in: 1...18, using: &rng)).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
            var token = (Bool.random(using: &rng) ? "-" : "") + intDigits + "." + fraction
            if Int.random(in: 0..<3, using: &rng) == 0 { token += "e\(Int.random(in: -30...30, using: &rng))" }
            guard case .number(let d, nil) = try JSONValue.parse(Array(token.utf8)) else {
                Issue.record("\(token) did not parse as a non-integer number")
                continue
            }
            #expect(d.bitPattern == Double(token)!.bitPattern, "\(token): \(d) vs \(Double(token)!)")
        }
    }

    @Test func scalarUsesReceiveTime() {
        let d = decode("vigil/press7/temp", " 21.5\n")
        #expect(d.readings == [Reading(machine: "press7", sensor: "temp", ts: now, value: 21.5)])
    }

    @Test func jsonSingleWithSiteMachine() {
        let d = decode("vigil/plant1/line2/press7/temp", #"{"ts": 1763999999000, "value": 21.5, "seq": 42, "unit": "C"}"#)
        #expect(d.readings == [Reading(machine: "plant1/line2/press7", sensor: "temp", ts: 1_763_999_999_000, value: 21.5, seq: 42)])
        #expect(d.rejections.isEmpty)
    }

    @Test func jsonTimestampForms() {
        for ts in ["1763999999", "1763999999000", "1763999999000000000", #""2025-11-24T15:59:59Z""#, "1763999999.0"] {
            let d = decode("vigil/m/s", #"{"ts": \#(ts), "value": 1}"#)
            #expect(d.readings.first?.ts == 1_763_999_999_000, "ts \(ts)")
        }
        #expect(decode("vigil/m/s", #"{"value": 1}"#).readings.first?.ts == now)
    }

    @Test func multiSensor() {
        let d = decode("vigil/plant1/press7", #"{"ts": 1763999999000, "values": {"temp": 21.5, "vib": 0.02}}"#)
        #expect(d.readings.map(\.sensor) == ["temp", "vib"])
        #expect(d.readings.allSatisfy { $0.machine == "plant1/press7" })
    }

    @Test func batchRejectsOnlyTheBadItem() {
        let d = decode("vigil/m1", #"[{"ts": 1763999999000, "values": {"a": 1}}, {"ts": "never", "values": {"a": 2}}, {"ts": 1763999998000, "values": {"a": "x", "b": 3}}]"#)
        #expect(d.readings.map(\.value) == [1, 3])
        #expect(reasons(d) == [.badTimestamp, .notANumber])
        #expect(d.rejections[0].detail.contains("batch item 1"))
    }

    @Test func lineProtocol() {
        let payload = "m,machine=press7,site=p1 temp=21.5,count=3i,state=\"ok\" 1763999999000000000\r\n"
            + "# comment\n\nm,machine=press\\ 8 vib=0.02\n"
            + "m,machine=press9 on=true 1763999999000000000"
        let d = decode("vigil/ignored", payload)
        #expect(d.readings == [
            Reading(machine: "press7", sensor: "temp", ts: 1_763_999_999_000, value: 21.5),
            Reading(machine: "press7", sensor: "count", ts: 1_763_999_999_000, value: 3),
        ])
        #expect(reasons(d) == [.notANumber, .badMachineID, .notANumber])
    }

    @Test func lineProtocolWithoutMachineTagUsesTopic() {
        let d = decode("vigil/plant1/press7", "m temp=1 1763999999000000000")
        #expect(d.readings.first?.machine == "plant1/press7")
    }

    @Test func malformedLineProtocolNamesTheLine() {
        let d = decode("vigil/m", "m,machine=a temp=1\nm,machine=a temp=\nm,machine=a temp=2 notatime")
        #expect(d.readings.count == 1)
        #expect(reasons(d) == [.malformedLineProtocol, .malformedLineProtocol])
        #expect(d.rejections[0].detail.contains("line 2"))
    }

    @Test func lineProtocolLinesAreFramedOnTheirBytes() {
        // CRLF, blank and white-space lines, comments, escapes, several lines; numbered as written.
        let d = decode("vigil/m", "# header\r\nm,machine=a temp=1,vib=2i 1763999999000000000\r\n  \t\n\nm,machine=b\\ c temp=3\n# more\nm,machine=a temp=\"x\"")
        #expect(d.readings.map { "\($0.machine) \($0.sensor) \($0.value)" } == ["a temp 1.0", "a vib 2.0"])
        #expect(reasons(d) == [.badMachineID, .notANumber])
        #expect(d.rejections[1].detail.contains("line 7"))
        // Only comments: line protocol with nothing in it. One comment without a line break is
        // not line protocol, nor is a plain value with spaces around it.
        #expect(reasons(decode("vigil/m", "# a=1 b\n# c")) == [.emptyPayload])
        #expect(reasons(decode("vigil/m", "# a=1 b")) == [.unknownFormat])
        #expect(decode("vigil/m/s", "  \r\n 41.5 \n").readings.first?.value == 41.5)
        #expect(decode("vigil/m/s", "-INFINITY").rejections.first?.reason == .notFinite)
    }

    @Test func rejectionsHaveReasons() {
        let cases: [(String, String, RejectReason)] = [
            ("vigil/m/s", "nan", .notFinite),
            ("vigil/m/s", "-Infinity", .notFinite),
            ("vigil/m/s", "true", .notANumber),
            ("vigil/m/s", "hello world", .unknownFormat),
            ("vigil/m/s", "", .emptyPayload),
            ("vigil/m/s", #"{"ts": 1, "value": 1}"#, .timestampOutOfRange),
            ("vigil/m/s", #"{"ts": 1764000700000, "value": 1}"#, .timestampOutOfRange),
            ("vigil/m/s", #"{"ts": true, "value": 1}"#, .badTimestamp),
            ("vigil/m/s", #"{"value": 1e999}"#, .notFinite),
            ("vigil/m/s", #"{"value": null}"#, .missingValue),
            ("vigil/m/s", #"{"val": 1}"#, .missingValue),
            ("vigil/m/s", #"{"value": 1"#, .malformedJSON),
            ("vigil/m/s", "[1]", .malformedJSON),
            ("vigil/m/s", "[]", .missingValue),
            ("vigil/s", "1", .badTopic),
            ("other/m/s", "1", .badTopic),
            ("vigil/m+x/s", "1", .badMachineID),
            ("vigil/m/s s", "1", .badSensorID),
            ("vigil/m", #"{"values": {"bad/sensor": 1}}"#, .badSensorID),
            ("vigil/m", #"{"values": [1]}"#, .notANumber),
        ]
        for (topic, payload, reason) in cases {
            let d = decode(topic, payload)
            #expect(d.readings.isEmpty, "\(payload)")
            #expect(reasons(d) == [reason], "\(topic) \(payload)")
        }
    }

    @Test func invalidUTF8AndOversize() {
        let bad = decoder.decode(topic: "vigil/m/s", payload: [0x7B, 0xFF, 0xFE, 0x7D], receivedAt: now)
        #expect(reasons(bad) == [.invalidUTF8])
        let small = PayloadDecoder(maxPayloadBytes: 100)
        let big = small.decode(topic: "vigil/m/s", payload: Array(repeating: 0x31, count: 101), receivedAt: now)
        #expect(reasons(big) == [.payloadTooLarge])
    }

    @Test func customPrefix() {
        let d = PayloadDecoder(topicPrefix: "site/a").decode(topic: "site/a/m1/temp", payload: Array("3".utf8), receivedAt: now)
        #expect(d.readings.first?.machine == "m1")
    }
}

@Suite struct TopicTemplateTests {
    func levels(_ t: String) -> [Substring] { t.split(separator: "/", omittingEmptySubsequences: false) }

    @Test func matchesAndMaps() throws {
        let t = try TopicTemplate("factory/{machine}/+/{sensor}")
        #expect(t.match(levels("factory/press7/data/temp"))! == ("press7", "temp"))
        #expect(t.match(levels("factory/press7/temp")) == nil)
        #expect(t.match(levels("plant/press7/data/temp")) == nil)
        #expect(t.subscriptionFilter == "factory/+/+/+")
        let rest = try TopicTemplate("site/{machine...}/raw/{sensor}")
        #expect(rest.match(levels("site/a/b/c/raw/temp"))! == ("a/b/c", "temp"))
        #expect(rest.match(levels("site/raw/temp")) == nil)
        #expect(rest.subscriptionFilter == "site/#")
        #expect(TopicTemplate.defaults()[1].subscriptionFilter == "vigil/#")
    }

    @Test(arguments: ["vigil/{sensor}", "vigil/#", "vigil//{machine}", "vigil/{machine...}/{machine...}", "vigil/{mach}/x", "a+/{machine}"])
    func rejectsBadTemplates(_ text: String) {
        #expect(throws: TopicTemplate.ParseError.self) { try TopicTemplate(text) }
    }

    @Test func decoderUsesTemplatesInOrder() throws {
        let d = PayloadDecoder(templates: [try TopicTemplate("factory/{machine}/+/{sensor}"), try TopicTemplate("factory/{machine}/bulk")])
        let now: Int64 = 1_764_000_000_000
        #expect(d.decode(topic: "factory/p7/data/temp", payload: Array("1.5".utf8), receivedAt: now).readings
            == [Reading(machine: "p7", sensor: "temp", ts: now, value: 1.5)])
        #expect(d.decode(topic: "factory/p7/bulk", payload: Array(#"{"values": {"a": 1}}"#.utf8), receivedAt: now).readings.map(\.machine) == ["p7"])
        let bad = d.decode(topic: "factory/p7/temp", payload: Array("1".utf8), receivedAt: now)
        #expect(bad.rejections.map(\.reason) == [.badTopic])
        #expect(bad.rejections[0].detail.contains("factory/{machine}/+/{sensor}"))
        // Line protocol with a machine tag needs no template.
        #expect(d.decode(topic: "telegraf/x", payload: Array("m,machine=q1 t=1".utf8), receivedAt: now).readings.map(\.machine) == ["q1"])
    }

    @Test func configuresTemplates() throws {
        let c = try VigilConfig.load(fileText: "[mqtt]\ntopic_templates = [\"f/{machine}/{sensor}\", \"g/{machine...}\"]\n",
                                     fileName: "f", environment: [:])
        #expect(c.subscriptionFilters == ["f/+/+", "g/#"])
        #expect(throws: VigilConfig.Error.self) {
            try VigilConfig.load(fileText: "[mqtt]\ntopic_templates = [\"f/{sensor}\"]\n", fileName: "f", environment: [:])
        }
    }
}
