/// The sensor-fault vocabulary, one type from the detector to the wire: the detectors in
/// VigilHealth produce these, the store keeps them, events, the API, metrics and the CLI show
/// their raw values.

/// What is wrong with a sensor (not with its machine).
public enum SensorFaultKind: String, Codable, Sendable, CaseIterable {
    /// Its value froze (or moves far less than it ever did while commissioned) while its siblings move.
    case stuck
    /// Isolated readings far off their neighbours.
    case spike
    /// It stopped reporting while its machine still reports.
    case dropout
    /// A value it cannot read: outside its configured limits or far outside everything seen while
    /// commissioned (a transmitter's rail or sentinel).
    case outOfRange = "out_of_range"
    /// It slowly left the relation it had with its siblings while they stayed consistent.
    case drift
    /// Its short-term variation jumped while its level did not.
    case noise
}

/// Whether a sensor can be believed: `suspect` while evidence builds, `fault` once it is decided.
public enum SensorState: String, Codable, Sendable, CaseIterable {
    case ok, suspect, fault
}

/// An open (or just closed) sensor fault: its kind, when the faulty behaviour began (epoch ms,
/// data time) and a sentence for a person saying what was seen against what is normal.
public struct SensorFault: Codable, Sendable, Equatable {
    public var kind: SensorFaultKind
    public var since: Int64
    public var evidence: String

    public init(kind: SensorFaultKind, since: Int64, evidence: String) {
        self.kind = kind
        self.since = since
        self.evidence = evidence
    }
}

/// A sensor as its machine's judge sees it: what the store keeps (`sensor_condition`), the
/// sensors route answers (`API.SensorStatus`) and `vigil-out/sensors/<machine>/<sensor>` retains.
public struct SensorCondition: Codable, Sendable, Equatable {
    public var sensor: String
    /// `ok`, `suspect` or `fault`; `ok` also for a sensor not judged yet (before commissioning).
    public var state: SensorState
    public var fault: SensorFault?
    /// Its newest reading (the store derives it from the series, so it does not keep it here).
    public var lastSeen: Int64?
    /// Its usual interval between readings, learned while commissioned (nil before).
    public var cadenceMs: Int64?
    /// What is known of it beside its readings (`SensorMetadata`: the config's `[[sensors]]`, a
    /// Sparkplug birth's `engUnit`/`engLow`/`engHigh`, an operator's PUT); nil when nothing says.
    public var unit: String?
    public var description: String?
    public var min: Double?
    public var max: Double?
    public var step: Double?

    /// What is known of it (`SensorMetadata`), as these fields.
    public var metadata: SensorMetadata {
        get { SensorMetadata(unit: unit, description: description, min: min, max: max, step: step) }
        set { (unit, description, min, max, step) = (newValue.unit, newValue.description, newValue.min, newValue.max, newValue.step) }
    }

    public init(sensor: String, state: SensorState, fault: SensorFault?, lastSeen: Int64?, cadenceMs: Int64?) {
        self.sensor = sensor
        self.state = state
        self.fault = fault
        self.lastSeen = lastSeen
        self.cadenceMs = cadenceMs
    }

    enum CodingKeys: String, CodingKey { case sensor, state, fault, lastSeen, cadenceMs, unit, description, min, max, step }

    /// Writes absent values as null: every object has every key.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sensor, forKey: .sensor)
        try c.encode(state, forKey: .state)
        try c.encode(fault, forKey: .fault)
        try c.encode(lastSeen, forKey: .lastSeen)
        try c.encode(cadenceMs, forKey: .cadenceMs)
        try c.encode(unit, forKey: .unit)
        try c.encode(description, forKey: .description)
        try c.encode(min, forKey: .min)
        try c.encode(max, forKey: .max)
        try c.encode(step, forKey: .step)
    }
}
