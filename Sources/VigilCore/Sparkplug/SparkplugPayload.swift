/// Sparkplug B payloads (`org.eclipse.tahu.protobuf.Payload`, Sparkplug 3.0 chapter "Payloads"),
/// decoded and encoded by hand: proto2 wire format, the fields the specification numbers, unknown
/// fields skipped. Pure: bytes in, values out. The decoder is the ingest hot path (docs/sparkplug.md
/// measures it); the encoder serves the host's rebirth command, tests and benchmarks.
public enum Sparkplug {
    /// The metric data types (Sparkplug 3.0 §6.4.16). Raw values are the wire's.
    public enum DataType: UInt32, Sendable, CaseIterable {
        case unknown = 0
        case int8 = 1, int16 = 2, int32 = 3, int64 = 4
        case uint8 = 5, uint16 = 6, uint32 = 7, uint64 = 8
        case float = 9, double = 10, boolean = 11, string = 12, dateTime = 13, text = 14, uuid = 15
        case dataSet = 16, bytes = 17, file = 18, template = 19, propertySet = 20, propertySetList = 21
        case int8Array = 22, int16Array = 23, int32Array = 24, int64Array = 25
        case uint8Array = 26, uint16Array = 27, uint32Array = 28, uint64Array = 29
        case floatArray = 30, doubleArray = 31, booleanArray = 32, stringArray = 33, dateTimeArray = 34

        /// The specification's name (`Int32`, `DateTime`, …), as quarantine details say it.
        public var name: String {
            let s = String(describing: self)
            return s.prefix(1).uppercased() + s.dropFirst()
        }
    }

    /// A metric's value: the `oneof value` field that was present.
    public enum Value: Sendable, Equatable {
        case int(UInt32)
        case long(UInt64)
        case float(Float)
        case double(Double)
        case boolean(Bool)
        case string(String)
        case bytes([UInt8])
        /// DataSet (17), Template (18) or an extension (19): not decoded.
        case other(field: Int)
    }

    /// A property value (`PropertyValue`): the scalar kinds; nested property sets are not kept.
    public enum PropertyValue: Sendable, Equatable {
        case int(UInt32), long(UInt64), float(Float), double(Double), boolean(Bool), string(String)

        /// A number, for the engineering range (`engLow`, `engHigh`).
        public var number: Double? {
            switch self {
            case .int(let v): Double(Int32(bitPattern: v))
            case .long(let v): Double(Int64(bitPattern: v))
            case .float(let v): Double(v)
            case .double(let v): v
            case .boolean, .string: nil
            }
        }
    }

    public struct Metric: Sendable, Equatable {
        public var name: String?
        public var alias: UInt64?
        public var timestamp: UInt64?
        public var datatype: UInt32?
        public var isHistorical = false
        public var isTransient = false
        public var isNull = false
        /// The metric's `properties` (keys → scalar values), e.g. `engUnit`, `engLow`, `engHigh`.
        public var properties: [(key: String, value: PropertyValue)] = []
        public var value: Value?

        public init(name: String? = nil, alias: UInt64? = nil, timestamp: UInt64? = nil, datatype: DataType? = nil,
                    value: Value? = nil, isHistorical: Bool = false, isNull: Bool = false,
                    properties: [(key: String, value: PropertyValue)] = []) {
            self.name = name
            self.alias = alias
            self.timestamp = timestamp
            self.datatype = datatype?.rawValue
            self.value = value
            self.isHistorical = isHistorical
            self.isNull = isNull
            self.properties = properties
        }

        public func property(_ key: String) -> PropertyValue? { properties.first { $0.key == key }?.value }

        public static func == (a: Metric, b: Metric) -> Bool {
            a.name == b.name && a.alias == b.alias && a.timestamp == b.timestamp && a.datatype == b.datatype
                && a.isHistorical == b.isHistorical && a.isTransient == b.isTransient && a.isNull == b.isNull
                && a.value == b.value && a.properties.elementsEqual(b.properties) { $0.key == $1.key && $0.value == $1.value }
        }
    }

    public struct Payload: Sendable, Equatable {
        public var timestamp: UInt64?
        public var metrics: [Metric] = []
        public var seq: UInt64?
        public var uuid: String?
        public var body: [UInt8]?

        public init(timestamp: UInt64? = nil, metrics: [Metric] = [], seq: UInt64? = nil) {
            self.timestamp = timestamp
            self.metrics = metrics
            self.seq = seq
        }
    }

    /// Why a payload could not be decoded (quarantined as `malformed_sparkplug`).
    public struct DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        init(_ d: String) { description = d }
    }
}

// MARK: - Decoding

extension Sparkplug.Payload {
    /// Decodes a protobuf `Payload`. Never traps: truncated or garbage input is a `DecodeError`.
    public static func decode(_ bytes: [UInt8]) throws(Sparkplug.DecodeError) -> Sparkplug.Payload {
        try bytes.withUnsafeBufferPointer { (buf) throws(Sparkplug.DecodeError) -> Sparkplug.Payload in
            var r = ProtoReader(buf, 0, buf.count)
            var p = Sparkplug.Payload()
            while let (field, wire) = try r.tag() {
                switch (field, wire) {
                case (1, 0): p.timestamp = try r.varint()
                case (2, 2): p.metrics.append(try Sparkplug.Metric.decode(try r.sub()))
                case (3, 0): p.seq = try r.varint()
                case (4, 2): p.uuid = try r.string()
                case (5, 2): p.body = Array(try r.bytes())
                default: try r.skip(wire)
                }
            }
            return p
        }
    }
}

extension Sparkplug.Metric {
    static func decode(_ r: consuming ProtoReader) throws(Sparkplug.DecodeError) -> Sparkplug.Metric {
        var m = Sparkplug.Metric()
        while let (field, wire) = try r.tag() {
            switch (field, wire) {
            case (1, 2): m.name = try r.string()
            case (2, 0): m.alias = try r.varint()
            case (3, 0): m.timestamp = try r.varint()
            case (4, 0): m.datatype = UInt32(truncatingIfNeeded: try r.varint())
            case (5, 0): m.isHistorical = try r.varint() != 0
            case (6, 0): m.isTransient = try r.varint() != 0
            case (7, 0): m.isNull = try r.varint() != 0
            case (9, 2): m.properties = try Self.decodeProperties(try r.sub())
            case (10, 0): m.value = .int(UInt32(truncatingIfNeeded: try r.varint()))
            case (11, 0): m.value = .long(try r.varint())
            case (12, 5): m.value = .float(Float(bitPattern: try r.fixed32()))
            case (13, 1): m.value = .double(Double(bitPattern: try r.fixed64()))
            case (14, 0): m.value = .boolean(try r.varint() != 0)
            case (15, 2): m.value = .string(try r.string())
            case (16, 2): m.value = .bytes(Array(try r.bytes()))
            case (17, 2), (18, 2), (19, 2):
                _ = try r.bytes()
                m.value = .other(field: field)
            case (10...19, _):
                throw Sparkplug.DecodeError("metric value field \(field) has wire type \(wire)")
            default: try r.skip(wire)  // metadata (8) and unknown fields
            }
        }
        return m
    }

    /// A `PropertySet`: `keys` (1) and `values` (2) in step.
    static func decodeProperties(_ r: consuming ProtoReader) throws(Sparkplug.DecodeError) -> [(key: String, value: Sparkplug.PropertyValue)] {
        var keys: [String] = []
        var values: [Sparkplug.PropertyValue?] = []
        while let (field, wire) = try r.tag() {
            switch (field, wire) {
            case (1, 2): keys.append(try r.string())
            case (2, 2): values.append(try decodePropertyValue(try r.sub()))
            default: try r.skip(wire)
            }
        }
        guard keys.count == values.count else {
            throw Sparkplug.DecodeError("property set has \(keys.count) keys and \(values.count) values")
        }
        return zip(keys, values).compactMap { k, v in v.map { (k, $0) } }
    }

    static func decodePropertyValue(_ r: consuming ProtoReader) throws(Sparkplug.DecodeError) -> Sparkplug.PropertyValue? {
        var value: Sparkplug.PropertyValue?
        var isNull = false
        while let (field, wire) = try r.tag() {
            switch (field, wire) {
            case (2, 0): isNull = try r.varint() != 0
            case (3, 0): value = .int(UInt32(truncatingIfNeeded: try r.varint()))
            case (4, 0): value = .long(try r.varint())
            case (5, 5): value = .float(Float(bitPattern: try r.fixed32()))
            case (6, 1): value = .double(Double(bitPattern: try r.fixed64()))
            case (7, 0): value = .boolean(try r.varint() != 0)
            case (8, 2): value = .string(try r.string())
            default: try r.skip(wire)  // type (1), nested sets, extensions
            }
        }
        return isNull ? nil : value
    }
}

/// A bounds-checked protobuf reader over a window of a buffer.
struct ProtoReader: ~Copyable {
    let buf: UnsafeBufferPointer<UInt8>
    var i: Int
    let end: Int

    init(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) {
        self.buf = buf
        i = start
        self.end = end
    }

    /// The next field number and wire type, or nil at the end.
    mutating func tag() throws(Sparkplug.DecodeError) -> (Int, Int)? {
        guard i < end else { return nil }
        let key = try varint()
        let field = key >> 3
        guard field > 0, field <= 536_870_911 else { throw Sparkplug.DecodeError("field number \(field) out of range") }
        return (Int(field), Int(key & 7))
    }

    @inline(__always)
    mutating func varint() throws(Sparkplug.DecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while i < end {
            let b = buf[i]
            i += 1
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            guard shift < 64 else { throw Sparkplug.DecodeError("varint longer than 10 bytes") }
        }
        throw Sparkplug.DecodeError("truncated varint")
    }

    mutating func fixed32() throws(Sparkplug.DecodeError) -> UInt32 {
        guard end - i >= 4 else { throw Sparkplug.DecodeError("truncated fixed32") }
        var v: UInt32 = 0
        for k in 0..<4 { v |= UInt32(buf[i + k]) << (8 * UInt32(k)) }
        i += 4
        return v
    }

    mutating func fixed64() throws(Sparkplug.DecodeError) -> UInt64 {
        guard end - i >= 8 else { throw Sparkplug.DecodeError("truncated fixed64") }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(buf[i + k]) << (8 * UInt64(k)) }
        i += 8
        return v
    }

    /// A length-delimited field's bytes.
    mutating func bytes() throws(Sparkplug.DecodeError) -> UnsafeBufferPointer<UInt8> {
        let n = try varint()
        guard n <= UInt64(end - i) else { throw Sparkplug.DecodeError("length \(n) runs past the end") }
        let out = UnsafeBufferPointer(rebasing: buf[i..<(i + Int(n))])
        i += Int(n)
        return out
    }

    /// A length-delimited field as a reader of its own.
    mutating func sub() throws(Sparkplug.DecodeError) -> ProtoReader {
        let n = try varint()
        guard n <= UInt64(end - i) else { throw Sparkplug.DecodeError("length \(n) runs past the end") }
        let r = ProtoReader(buf, i, i + Int(n))
        i += Int(n)
        return r
    }

    mutating func string() throws(Sparkplug.DecodeError) -> String {
        let b = try bytes()
        guard let s = String(validating: b, as: UTF8.self) else { throw Sparkplug.DecodeError("string is not UTF-8") }
        return s
    }

    mutating func skip(_ wire: Int) throws(Sparkplug.DecodeError) {
        switch wire {
        case 0: _ = try varint()
        case 1:
            guard end - i >= 8 else { throw Sparkplug.DecodeError("truncated fixed64") }
            i += 8
        case 2: _ = try bytes()
        case 5:
            guard end - i >= 4 else { throw Sparkplug.DecodeError("truncated fixed32") }
            i += 4
        default: throw Sparkplug.DecodeError("wire type \(wire) is not used by Sparkplug")
        }
    }
}

// MARK: - Encoding

extension Sparkplug.Payload {
    /// The protobuf encoding (fields in number order; absent optionals omitted).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + metrics.count * 24)
        if let timestamp { ProtoWriter.varintField(1, timestamp, &out) }
        for m in metrics { ProtoWriter.message(2, m.encoded(), &out) }
        if let seq { ProtoWriter.varintField(3, seq, &out) }
        if let uuid { ProtoWriter.message(4, Array(uuid.utf8), &out) }
        if let body { ProtoWriter.message(5, body, &out) }
        return out
    }
}

extension Sparkplug.Metric {
    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        if let name { ProtoWriter.message(1, Array(name.utf8), &out) }
        if let alias { ProtoWriter.varintField(2, alias, &out) }
        if let timestamp { ProtoWriter.varintField(3, timestamp, &out) }
        if let datatype { ProtoWriter.varintField(4, UInt64(datatype), &out) }
        if isHistorical { ProtoWriter.varintField(5, 1, &out) }
        if isTransient { ProtoWriter.varintField(6, 1, &out) }
        if isNull { ProtoWriter.varintField(7, 1, &out) }
        if !properties.isEmpty {
            var set: [UInt8] = []
            for p in properties { ProtoWriter.message(1, Array(p.key.utf8), &set) }
            for p in properties { ProtoWriter.message(2, p.value.encoded(), &set) }
            ProtoWriter.message(9, set, &out)
        }
        switch value {
        case .int(let v)?: ProtoWriter.varintField(10, UInt64(v), &out)
        case .long(let v)?: ProtoWriter.varintField(11, v, &out)
        case .float(let v)?:
            ProtoWriter.varint(UInt64(12 << 3 | 5), &out)
            withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        case .double(let v)?:
            ProtoWriter.varint(UInt64(13 << 3 | 1), &out)
            withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        case .boolean(let v)?: ProtoWriter.varintField(14, v ? 1 : 0, &out)
        case .string(let v)?: ProtoWriter.message(15, Array(v.utf8), &out)
        case .bytes(let v)?: ProtoWriter.message(16, v, &out)
        case .other(let field)?: ProtoWriter.message(field, [], &out)
        case nil: break
        }
        return out
    }
}

extension Sparkplug.PropertyValue {
    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        switch self {
        case .int(let v):
            ProtoWriter.varintField(1, UInt64(Sparkplug.DataType.int32.rawValue), &out)
            ProtoWriter.varintField(3, UInt64(v), &out)
        case .long(let v):
            ProtoWriter.varintField(1, UInt64(Sparkplug.DataType.int64.rawValue), &out)
            ProtoWriter.varintField(4, v, &out)
        case .float(let v):
            ProtoWriter.varintField(1, UInt64(Sparkplug.DataType.float.rawValue), &out)
            ProtoWriter.varint(UInt64(5 << 3 | 5), &out)
            withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        case .double(let v):
            ProtoWriter.varintField(1, UInt64(Sparkplug.DataType.double.rawValue), &out)
            ProtoWriter.varint(UInt64(6 << 3 | 1), &out)
            withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        case .boolean(let v):
            ProtoWriter.varintField(1, UInt64(Sparkplug.DataType.boolean.rawValue), &out)
            ProtoWriter.varintField(7, v ? 1 : 0, &out)
        case .string(let v):
            ProtoWriter.varintField(1, UInt64(Sparkplug.DataType.string.rawValue), &out)
            ProtoWriter.message(8, Array(v.utf8), &out)
        }
        return out
    }
}

enum ProtoWriter {
    static func varint(_ v: UInt64, _ out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func varintField(_ field: Int, _ v: UInt64, _ out: inout [UInt8]) {
        varint(UInt64(field << 3), &out)
        varint(v, &out)
    }

    static func message(_ field: Int, _ bytes: [UInt8], _ out: inout [UInt8]) {
        varint(UInt64(field << 3 | 2), &out)
        varint(UInt64(bytes.count), &out)
        out.append(contentsOf: bytes)
    }
}
