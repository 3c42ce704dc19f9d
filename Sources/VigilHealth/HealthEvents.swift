public import VigilCore

/// The events health decisions raise, with the sentence a person reads.
public enum HealthEvents {
    /// A status change at a scored minute, with what drove it.
    public static func statusChange(_ machine: String, at ts: Int64, from: HealthStatus, to s: HealthScore, version: Int) -> Event {
        let why = s.contributors.map { c in
            c.sensorFault.map { "\(c.sensor) left out (sensor fault: \($0.rawValue))" } ?? "\(c.sensor) \(Int((c.share * 100).rounded())) %"
        }.joined(separator: ", ")
        return Event(at: ts, kind: .statusChanged, machine: machine, status: s.status, previousStatus: from, health: s.health,
                     contributors: s.contributors, modelVersion: version,
                     detail: "\(machine): \(from.rawValue) → \(s.status.rawValue), health \(Replay.fixed(s.health, 1))" + (why.isEmpty ? "" : " (\(why))"))
    }

    /// A sensor fault that opened or closed.
    public static func sensor(_ machine: String, _ c: SensorFaultDetector.Change) -> Event {
        Event(at: c.at, kind: c.opened ? .sensorFault : .sensorRecovered, machine: machine, sensor: c.sensor, fault: c.fault,
              detail: c.opened ? "\(machine): sensor \(c.sensor) \(c.fault.kind.rawValue): \(c.fault.evidence)"
                               : "\(machine): sensor \(c.sensor) behaves again (\(c.fault.kind.rawValue) since \(Timestamp.rfc3339(millis: c.fault.since)))")
    }
}
