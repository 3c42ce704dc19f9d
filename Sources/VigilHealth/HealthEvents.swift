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

    /// A registered model version (its `modelVersion` is set by the registry).
    public static func model(_ lineage: ModelLineage, machine: String) -> Event {
        Event(at: lineage.createdAt, kind: lineage.gateDecision == .promoted ? .modelPromoted : .modelRejected, machine: machine,
              detail: "\(machine): \(lineage.trigger.rawValue) model \(lineage.gateDecision.rawValue): \(lineage.gateReason)")
    }

    /// A version an operator made active.
    public static func activated(_ machine: String, version: Int, rolledBack: Bool, at: Int64) -> Event {
        Event(at: at, kind: rolledBack ? .modelRolledBack : .modelPromoted, machine: machine, modelVersion: version,
              detail: "\(machine): model version \(version) made active by an operator (\(rolledBack ? "rollback" : "promote"))")
    }

    /// Machines that went silent (nothing received for `silentAfter` ms; 0 = never by time) or
    /// came back, from when each last received a reading — not its readings' timestamps: a device
    /// with a wrong clock, or history being backfilled, is not silent. A machine in `offline` (a
    /// Sparkplug death certificate, with its reason) is silent at once, whatever it last sent.
    /// `known` (whether each was last reported silent) is brought up to date.
    public static func presence(lastReceived: [(machine: String, at: Int64)], offline: [String: String] = [:], known: inout [String: Bool],
                                now: Int64, silentAfter: Int64) -> [Event] {
        var events: [Event] = []
        for (machine, received) in lastReceived {
            let reason = offline[machine]
            let silent = reason != nil || (silentAfter > 0 && now - received > silentAfter)
            guard silent != (known[machine] ?? false) else { continue }
            known[machine] = silent
            let detail = if let reason { "\(machine): offline: \(reason)" }
                else if silent { "\(machine): no reading received since \(Timestamp.rfc3339(millis: received))" }
                else { "\(machine): reporting again" }
            events.append(Event(at: silent ? now : received, kind: silent ? .machineSilent : .machineBack, machine: machine,
                                detail: detail))
        }
        return events
    }
}
