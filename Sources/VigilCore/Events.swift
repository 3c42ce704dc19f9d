/// What operators are told about (notifications, `GET /api/v1/events`, `vigil events`). The raw
/// values are the wire's and the config's (`notify.webhook.events`).
public enum EventKind: String, Codable, Sendable, CaseIterable {
    /// A machine's status changed (either direction), with health, contributors and model version.
    case statusChanged = "status_changed"
    /// No reading from a machine for `notify.silent_after_seconds`.
    case machineSilent = "machine_silent"
    /// A silent machine reports again.
    case machineBack = "machine_back"
    /// A model version became active: commissioned, retrained and passed by the gate, or promoted
    /// by an operator.
    case modelPromoted = "model_promoted"
    /// An operator rolled a machine back to the active version's parent.
    case modelRolledBack = "model_rolled_back"
    /// A retrained candidate the gate refused.
    case modelRejected = "model_rejected"
    /// An admin decommissioned a machine (`DELETE /api/v1/machines/{id}`, `vigil remove`): its
    /// data is gone from this site, and an upstream cluster that keeps its history learns that it
    /// left the fleet.
    case machineRemoved = "machine_removed"
    /// A sensor's fault opened (stuck, spike, dropout, out of range, drift, noise): the sensor is
    /// left out of its machine's scoring until it recovers.
    case sensorFault = "sensor_fault"
    /// A faulty sensor behaves again.
    case sensorRecovered = "sensor_recovered"
    /// The daemon became degraded (storage failing, disk low, MQTT down, rollups lagging).
    case daemonDegraded = "daemon_degraded"
    /// The daemon is well again.
    case daemonRecovered = "daemon_recovered"
}

/// One event as it is kept and sent. `id` grows with every event (the delivery order and the
/// receivers' deduplication key); `at` is when it happened (for a status change: the scored
/// minute).
public struct Event: Codable, Sendable, Equatable {
    public var id: Int64
    public var at: Int64
    public var kind: EventKind
    public var machine: String?
    public var status: HealthStatus?
    public var previousStatus: HealthStatus?
    public var health: Double?
    public var contributors: [Contributor]?
    public var modelVersion: Int?
    /// For sensor events: the sensor and its fault (for `sensor_recovered`, the fault that closed).
    public var sensor: String?
    public var fault: SensorFault?
    /// A sentence for a person: what happened and why.
    public var detail: String

    public init(id: Int64 = 0, at: Int64, kind: EventKind, machine: String? = nil, status: HealthStatus? = nil,
                previousStatus: HealthStatus? = nil, health: Double? = nil, contributors: [Contributor]? = nil,
                modelVersion: Int? = nil, sensor: String? = nil, fault: SensorFault? = nil, detail: String) {
        self.id = id
        self.at = at
        self.kind = kind
        self.machine = machine
        self.status = status
        self.previousStatus = previousStatus
        self.health = health
        self.contributors = contributors
        self.modelVersion = modelVersion
        self.sensor = sensor
        self.fault = fault
        self.detail = detail
    }
}
