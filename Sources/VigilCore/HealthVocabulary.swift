/// The health vocabulary, one type from the model to the wire: the health model produces these,
/// the store keeps them, the API and the CLI show their raw values.

/// A machine's status band (SPEC §5), worst last.
public enum HealthStatus: String, Codable, Sendable, Comparable, CaseIterable {
    case ok, watch, warning, alarm

    public var severity: Int { HealthStatus.allCases.firstIndex(of: self)! }
    public static func < (a: HealthStatus, b: HealthStatus) -> Bool { a.severity < b.severity }
}

/// A sensor that pushed a machine's statistic up, with its share of the push; or a sensor left
/// out of the statistic because it is faulty (`sensorFault` set, `share` 0).
public struct Contributor: Codable, Sendable, Equatable {
    public var sensor: String
    public var share: Double
    /// The kind of the sensor's open fault: it was not scored.
    public var sensorFault: SensorFaultKind?

    public init(sensor: String, share: Double, sensorFault: SensorFaultKind? = nil) {
        self.sensor = sensor
        self.share = share
        self.sensorFault = sensorFault
    }
}

extension HealthStatus {
    /// A status as this code stored it (an unknown text, which only a hand-edited database can
    /// hold, reads as the worst).
    public init(stored text: String) { self = HealthStatus(rawValue: text) ?? .alarm }
}

/// Why a model version exists. The raw values are what the registry stores and the API shows.
public enum ModelTrigger: String, Codable, Sendable, CaseIterable {
    /// The machine's first model, trained on its first complete minutes.
    case commissioning
    /// Trained on the commissioning data of the other machines of its type, so a new machine is
    /// scored from its first minute.
    case fleetReference = "fleet-reference"
    /// The health reference re-commissioned on the minutes after a maintenance event.
    case maintenance
    /// A retrained anomaly model, because recent normal behaviour drifted.
    case drift
    /// A retrained anomaly model, because enough new data had come in since the newest model.
    case schedule

    /// Retraining triggers renew the anomaly model only; the others renew the health reference.
    public var isRetraining: Bool { self == .drift || self == .schedule }
}

extension ModelTrigger {
    /// A trigger as this code stored it (an unknown text reads as `commissioning`).
    public init(stored text: String) { self = ModelTrigger(rawValue: text) ?? .commissioning }
}

/// The evaluation gate's verdict on a model version (commissioned ones are promoted outright).
public enum GateDecision: String, Codable, Sendable {
    case promoted, rejected
}


extension GateDecision {
    /// A decision as this code stored it (an unknown text reads as `rejected`).
    public init(stored text: String) { self = GateDecision(rawValue: text) ?? .rejected }
}

/// A model version's lineage: what the registry keeps, the API shows (`/machines/{id}/models`)
/// and the upstream model stream carries — one type from model to wire.
public struct ModelLineage: Codable, Sendable, Equatable {
    public var version: Int
    public var active: Bool
    public var createdAt: Int64
    public var trigger: ModelTrigger
    public var parentVersion: Int?
    public var trainFrom: Int64
    public var trainTo: Int64
    public var rowCount: Int
    /// SHA-256 of the canonical training rows.
    public var contentSha256: String
    public var sensors: [String]
    public var parameters: [String: Double]
    public var codeVersion: String
    public var metrics: [String: Double]
    public var gateDecision: GateDecision
    public var gateReason: String

    public init(version: Int, active: Bool, createdAt: Int64, trigger: ModelTrigger, parentVersion: Int?, trainFrom: Int64, trainTo: Int64,
                rowCount: Int, contentSha256: String, sensors: [String], parameters: [String: Double], codeVersion: String,
                metrics: [String: Double], gateDecision: GateDecision, gateReason: String) {
        self.version = version
        self.active = active
        self.createdAt = createdAt
        self.trigger = trigger
        self.parentVersion = parentVersion
        self.trainFrom = trainFrom
        self.trainTo = trainTo
        self.rowCount = rowCount
        self.contentSha256 = contentSha256
        self.sensors = sensors
        self.parameters = parameters
        self.codeVersion = codeVersion
        self.metrics = metrics
        self.gateDecision = gateDecision
        self.gateReason = gateReason
    }
}
