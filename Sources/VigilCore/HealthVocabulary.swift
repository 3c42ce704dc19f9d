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
