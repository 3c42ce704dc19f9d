/// Why an input was rejected. The raw values are stable: they name quarantine rows and metric labels.
public enum RejectReason: String, Sendable, CaseIterable, Codable {
    case badTopic = "bad_topic"
    case badMachineID = "bad_machine_id"
    case badSensorID = "bad_sensor_id"
    case notFinite = "not_finite"
    case notANumber = "not_a_number"
    case missingValue = "missing_value"
    case badTimestamp = "bad_timestamp"
    case timestampOutOfRange = "timestamp_out_of_range"
    case payloadTooLarge = "payload_too_large"
    case emptyPayload = "empty_payload"
    case invalidUTF8 = "invalid_utf8"
    case malformedJSON = "malformed_json"
    case malformedLineProtocol = "malformed_line_protocol"
    case unknownFormat = "unknown_format"
    /// Sparkplug B (docs/sparkplug.md): a payload that is not a valid protobuf `Payload`.
    case malformedSparkplug = "malformed_sparkplug"
    /// A Sparkplug metric of a type that is not a reading (String, Bytes, DataSet, Template, arrays…).
    case unsupportedDatatype = "unsupported_datatype"
    /// A Sparkplug metric no birth named: kept here until the edge node's rebirth resolves it.
    case unknownAlias = "unknown_alias"
}

/// One rejected reading or message, with a human-readable detail.
public struct Rejection: Sendable, Equatable {
    public var reason: RejectReason
    public var detail: String
    public init(_ reason: RejectReason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }
}

/// What one MQTT message decoded to: accepted readings and the readings (or whole message) rejected.
public struct DecodedMessage: Sendable, Equatable {
    public var readings: [Reading] = []
    public var rejections: [Rejection] = []
    public init() {}
}

/// Decodes the payload dialects of SPEC §3 into validated readings. Pure: the receive time and
/// the clock used for the future-timestamp limit are passed in.
public struct PayloadDecoder: Sendable {
    /// How topics map to machine and sensor, tried in order (default: `vigil/{machine...}/{sensor}`
    /// and `vigil/{machine...}`).
    public var templates: [TopicTemplate]
    public var maxPayloadBytes: Int
    /// Readings more than this far in the future of the receive time are rejected.
    public var maxFutureMillis: Int64

    public init(templates: [TopicTemplate] = TopicTemplate.defaults(), maxPayloadBytes: Int = 256 * 1024,
                maxFutureMillis: Int64 = 600_000) {
        self.templates = templates
        self.maxPayloadBytes = maxPayloadBytes
        self.maxFutureMillis = maxFutureMillis
    }

    public init(topicPrefix: String, maxPayloadBytes: Int = 256 * 1024, maxFutureMillis: Int64 = 600_000) {
        self.init(templates: TopicTemplate.defaults(prefix: topicPrefix), maxPayloadBytes: maxPayloadBytes, maxFutureMillis: maxFutureMillis)
    }

    public func decode(topic: String, payload: [UInt8], receivedAt: Int64) -> DecodedMessage {
        var out = DecodedMessage()
        guard payload.count <= maxPayloadBytes else {
            out.rejections.append(.init(.payloadTooLarge, "\(payload.count) bytes > limit \(maxPayloadBytes)"))
            return out
        }
        guard Self.isValidUTF8(payload) else {
            out.rejections.append(.init(.invalidUTF8, "payload is not valid UTF-8"))
            return out
        }
        // Trim ASCII white space on bytes (no copy, no Character walking: payloads are large).
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard let start = payload.firstIndex(where: { !isSpace($0) }), let last = payload.lastIndex(where: { !isSpace($0) }) else {
            out.rejections.append(.init(.emptyPayload, "empty payload"))
            return out
        }
        let ctx = Context(decoder: self, topic: topic, receivedAt: receivedAt)
        switch payload[start] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            ctx.decodeJSON(payload, start..<(last + 1), into: &out)
        default:
            // Line protocol first, on the bytes: what looks like it (a space and an `=`) is never
            // a plain value, so the order of the two tests does not change an answer.
            if LineProtocol.looksLikeLineProtocol(payload, start..<(last + 1)) {
                ctx.decodeLineProtocol(payload, start..<(last + 1), into: &out)
            } else if let scalar = Scalar.parse(String(decoding: payload[start...last], as: UTF8.self)) {
                ctx.decodeScalar(scalar, into: &out)
            } else {
                out.rejections.append(.init(.unknownFormat, "not a number, JSON or line protocol"))
            }
        }
        return out
    }

    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        // ASCII fast path, eight bytes at a time; otherwise let the standard library validate.
        let ascii = bytes.withUnsafeBytes { raw in
            var high: UInt64 = 0
            var i = 0
            while i + 8 <= raw.count {
                high |= raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                i += 8
            }
            while i < raw.count {
                high |= UInt64(raw[i])
                i += 1
            }
            return high & 0x8080_8080_8080_8080 == 0
        }
        if ascii { return true }
        return String(validating: bytes, as: UTF8.self) != nil
    }

    /// Validates a timestamp in milliseconds against the accepted window.
    func checkTime(_ ts: Int64, receivedAt: Int64) -> Rejection? {
        if ts < Timestamp.earliestAccepted {
            return .init(.timestampOutOfRange, "ts \(ts) is before 2000-01-01")
        }
        if ts > receivedAt &+ maxFutureMillis {
            return .init(.timestampOutOfRange, "ts \(ts) is more than \(maxFutureMillis / 1000) s in the future")
        }
        return nil
    }
}

private enum Scalar {
    case number(Double)
    case boolean

    static func parse(_ s: String) -> Scalar? {
        // The words are nine letters at most ("+infinity"): a long text is only lowercased if short.
        switch s.utf8.count <= 9 ? s.lowercased() : "" {
        case "true", "false": return .boolean
        case "nan", "+nan", "-nan": return .number(.nan)
        case "inf", "+inf", "infinity", "+infinity": return .number(.infinity)
        case "-inf", "-infinity": return .number(-.infinity)
        default: break
        }
        // Plain decimal only (Swift's Double(String) would also take hex floats).
        guard s.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 || $0 == 43 || $0 == 101 || $0 == 69 }),
              let d = Double(s) else { return nil }
        return .number(d)
    }
}

/// Where in a message a rejected reading was; rendered only when something is rejected.
enum Place: CustomStringConvertible {
    case whole, batchItem(Int), line(Int)

    var description: String {
        switch self {
        case .whole: ""
        case .batchItem(let n): " (batch item \(n))"
        case .line(let n): " (line \(n))"
        }
    }
}

/// Per-message decoding state. A class so the key check can remember the last valid pair:
/// a batch usually repeats one machine and sensor, and checking them once per message matters
/// at hundreds of thousands of readings per second.
private final class Context {
    let decoder: PayloadDecoder
    let topicName: String
    let receivedAt: Int64
    // The last machine and sensor ids found valid: a message's readings mostly repeat them (a
    // line-protocol line is one machine and several sensors). Apart, so each is checked once.
    var lastValidMachine: String?
    var lastValidSensor: String?

    init(decoder: PayloadDecoder, topic: String, receivedAt: Int64) {
        self.decoder = decoder
        self.topicName = topic
        self.receivedAt = receivedAt
    }

    /// The topic's levels, split only when a template is asked (a line-protocol line names its
    /// machine in a tag).
    lazy var topic: [Substring] = topicName.split(separator: "/", omittingEmptySubsequences: false)

    /// The machine of a multi-sensor payload: the first template without `{sensor}` that matches.
    /// Matched once per message (a batch asks for every item).
    lazy var machineFromTopic: String? = {
        for t in decoder.templates where !t.hasSensor { if let m = t.match(topic) { return m.machine } }
        return nil
    }()

    /// Machine and sensor of a single-value payload: the first template with `{sensor}` that matches.
    lazy var machineAndSensorFromTopic: (String, String)? = {
        for t in decoder.templates where t.hasSensor { if let m = t.match(topic), let s = m.sensor { return (m.machine, s) } }
        return nil
    }()

    func noTemplate(_ form: String, sensor: Bool) -> Rejection {
        let names = decoder.templates.filter { $0.hasSensor == sensor }.map(\.description)
        return Rejection(.badTopic, "\(form) needs a topic like \(names.isEmpty ? "(no template configured)" : names.joined(separator: " or "))")
    }

    func decodeScalar(_ scalar: Scalar, into out: inout DecodedMessage) {
        guard let (machine, sensor) = machineAndSensorFromTopic else {
            out.rejections.append(noTemplate("a plain value", sensor: true))
            return
        }
        switch scalar {
        case .boolean:
            out.rejections.append(.init(.notANumber, "value is a boolean"))
        case .number(let v):
            emit(machine: machine, sensor: sensor, ts: receivedAt, value: v, seq: nil, into: &out)
        }
    }

    func decodeJSON(_ bytes: [UInt8], _ range: Range<Int>, into out: inout DecodedMessage) {
        // Flat readings (the bulk of traffic) skip the tree; the same checks follow.
        if let machineAndSensor = machineAndSensorFromTopic, let flat = JSONValue.flatReadings(bytes, range) {
            for (n, item) in flat.items.enumerated() {
                let at = flat.isArray ? Place.batchItem(n) : .whole
                guard let ts = timestamp(item.ts, at: at, into: &out) else { continue }
                emit(machine: machineAndSensor.0, sensor: machineAndSensor.1, ts: ts, json: item.value, seq: Self.seq(item.seq), place: at,
                     into: &out)
            }
            return
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes, range)
        } catch {
            out.rejections.append(.init(.malformedJSON, error.description))
            return
        }
        switch json {
        case .array(let items):
            if items.isEmpty { out.rejections.append(.init(.missingValue, "empty batch")) }
            for (n, item) in items.enumerated() {
                decodeObject(item, index: n, into: &out)
            }
        default:
            decodeObject(json, index: nil, into: &out)
        }
    }

    func decodeObject(_ obj: JSONValue, index: Int?, into out: inout DecodedMessage) {
        let at = index.map(Place.batchItem) ?? .whole
        guard case .object = obj else {
            out.rejections.append(.init(.malformedJSON, "expected an object\(at)"))
            return
        }
        guard let ts = timestamp(obj["ts"], at: at, into: &out) else { return }
        let seq = Self.seq(obj["seq"])

        if let values = obj["values"] {
            guard let machine = machineFromTopic else {
                let r = noTemplate("a multi-sensor object", sensor: false)
                out.rejections.append(.init(r.reason, r.detail + at.description))
                return
            }
            guard case .object(let members) = values else {
                out.rejections.append(.init(.notANumber, "'values' must be an object of sensor: number\(at)"))
                return
            }
            if members.isEmpty { out.rejections.append(.init(.missingValue, "'values' is empty\(at)")) }
            for (sensor, v) in members {
                emit(machine: machine, sensor: sensor, ts: ts, json: v, seq: seq, place: at, into: &out)
            }
        } else if let v = obj["value"] {
            guard let (machine, sensor) = machineAndSensorFromTopic else {
                let r = noTemplate("a single reading", sensor: true)
                out.rejections.append(.init(r.reason, r.detail + at.description))
                return
            }
            emit(machine: machine, sensor: sensor, ts: ts, json: v, seq: seq, place: at, into: &out)
        } else {
            out.rejections.append(.init(.missingValue, "object has neither 'value' nor 'values'\(at)"))
        }
    }

    /// A reading's `ts`, or nil once it is rejected with where it was.
    func timestamp(_ v: JSONValue?, at: Place, into out: inout DecodedMessage) -> Int64? {
        switch timestamp(v) {
        case .success(let ts): return ts
        case .failure(let r):
            out.rejections.append(.init(r.reason, r.detail + at.description))
            return nil
        }
    }

    /// `seq` when it is an exact integer; anything else is ignored.
    static func seq(_ v: JSONValue?) -> Int64? {
        if case .number(_, let exact?) = v { return exact }
        return nil
    }

    func timestamp(_ v: JSONValue?) -> Result<Int64, RejectionError> {
        switch v {
        case nil, .null?:
            return .success(receivedAt)
        case .number(_, let exact?)?:
            return .success(Timestamp.millis(fromEpoch: exact))
        case .number(let d, nil)?:
            guard let ms = Timestamp.millis(fromEpoch: d) else {
                return .failure(.init(.badTimestamp, "ts \(d) is not a time"))
            }
            return .success(ms)
        case .string(let s)?:
            guard let ms = Timestamp.millis(rfc3339: s) else {
                return .failure(.init(.badTimestamp, "ts '\(s.prefix(40))' is not RFC 3339"))
            }
            return .success(ms)
        default:
            return .failure(.init(.badTimestamp, "ts must be epoch number or RFC 3339 string"))
        }
    }

    func emit(machine: String, sensor: String, ts: Int64, json: JSONValue, seq: Int64?, place: Place,
              into out: inout DecodedMessage) {
        switch json {
        case .number(let d, _):
            emit(machine: machine, sensor: sensor, ts: ts, value: d, seq: seq, place: place, into: &out)
        case .null:
            out.rejections.append(.init(.missingValue, "\(sensor): value is null\(place)"))
        default:
            out.rejections.append(.init(.notANumber, "\(sensor.prefix(64)): value is not a number\(place)"))
        }
    }

    func emit(machine: String, sensor: String, ts: Int64, value: Double, seq: Int64?, place: Place = .whole,
              into out: inout DecodedMessage) {
        if machine != lastValidMachine {
            guard KeyRules.isValidMachine(machine) else {
                out.rejections.append(.init(.badMachineID, "machine id '\(machine.prefix(64))' is invalid\(place)"))
                return
            }
            lastValidMachine = machine
        }
        if sensor != lastValidSensor {
            guard KeyRules.isValidSensor(sensor) else {
                out.rejections.append(.init(.badSensorID, "sensor id '\(sensor.prefix(64))' is invalid\(place)"))
                return
            }
            lastValidSensor = sensor
        }
        guard value.isFinite else {
            out.rejections.append(.init(.notFinite, "\(sensor): value \(value) is not finite\(place)"))
            return
        }
        if let r = decoder.checkTime(ts, receivedAt: receivedAt) {
            out.rejections.append(.init(r.reason, r.detail + place.description))
            return
        }
        out.readings.append(Reading(machine: machine, sensor: sensor, ts: ts, value: value, seq: seq))
    }

    func decodeLineProtocol(_ payload: [UInt8], _ range: Range<Int>, into out: inout DecodedMessage) {
        var lineNo = 0
        var lineStart = range.lowerBound
        // Line by line on the bytes, without an array of them (a message is mostly one line).
        while lineStart < range.upperBound {
            var end = lineStart
            while end < range.upperBound, payload[end] != 10 { end += 1 }
            let next = end + 1
            defer { lineStart = next }
            lineNo += 1
            if end > lineStart, payload[end - 1] == 13 { end -= 1 }
            var k = lineStart
            while k < end, payload[k] == 32 || payload[k] == 9 { k += 1 }
            if k == end || payload[lineStart] == 35 { continue }
            let place = Place.line(lineNo)
            let parsed: LineProtocol.Line
            do {
                parsed = try LineProtocol.parse(payload, lineStart, end)
            } catch {
                out.rejections.append(.init(.malformedLineProtocol, error.message + place.description))
                continue
            }
            guard let machine = parsed.tags.last(where: { $0.0 == "machine" })?.1 ?? machineFromTopic else {
                let r = noTemplate("line protocol without a machine tag", sensor: false)
                out.rejections.append(.init(r.reason, r.detail + place.description))
                continue
            }
            let ts: Int64 = parsed.timestamp.map(Timestamp.millis(fromEpoch:)) ?? receivedAt
            for (sensor, field) in parsed.fields {
                switch field {
                case .number(let d):
                    emit(machine: machine, sensor: sensor, ts: ts, value: d, seq: nil, place: place, into: &out)
                case .other(let kind):
                    out.rejections.append(.init(.notANumber, "\(sensor.prefix(64)): field is a \(kind)\(place)"))
                }
            }
        }
        if out.readings.isEmpty && out.rejections.isEmpty {
            out.rejections.append(.init(.emptyPayload, "line protocol with only comments and blank lines"))
        }
    }
}

struct RejectionError: Error {
    var reason: RejectReason
    var detail: String
    init(_ r: RejectReason, _ d: String) { reason = r; detail = d }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\r\n" || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[start...end])
    }
}
