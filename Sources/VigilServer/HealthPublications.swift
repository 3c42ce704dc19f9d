import Foundation
import Logging
import VigilAPI
import VigilCore
import VigilHealth
import VigilMQTT

/// What a machine's round reported, carried out: its notices logged, its publications sent
/// retained (`vigil-out/health/<machine>`, `vigil-out/sensors/<machine>/<sensor>`).
extension HealthService {
    /// Publishes and logs what a machine's round reported.
    func carryOut(_ report: HealthDecisions<HealthStore>.Report) {
        for notice in report.notices {
            switch notice {
            case let .modelRegistered(machine, version, l):
                logger.notice("model registered", metadata: ["machine.id": "\(machine)", "model.version": "\(version)", "model.trigger": "\(l.trigger.rawValue)",
                                                             "model.rows": "\(l.rowCount)", "gate": "\(l.gateDecision.rawValue): \(l.gateReason)"])
            case let .noModel(machine, reason, routine):
                // Too few rows is the usual state of a new machine (tried every round): not a warning.
                logger.log(level: routine ? .debug : .warning, "no model trained", metadata: ["machine.id": "\(machine)", "reason": "\(reason)"])
            case let .sensorsProfiled(machine, sensors, judged, withPeers, readings):
                logger.notice("sensors profiled", metadata: ["machine.id": "\(machine)", "sensors": "\(sensors)", "judged": "\(judged)",
                                                             "with_peers": "\(withPeers)", "readings": "\(readings)"])
            }
        }
        guard let publisher else { return }
        for publication in report.publications {
            switch publication {
            case let .health(record, trainedAt):
                let body = API.Health(machine: record.machine, health: record.health, status: record.status, confidence: record.confidence,
                                      updatedAt: record.updatedAt, model: record.activeVersion.map { API.Health.ModelRef(version: $0, trainedAt: trainedAt) },
                                      contributors: record.contributors)
                guard let data = try? JSONEncoder().encode(body) else { continue }
                _ = try? publisher.publish(topic: Self.healthTopic(record.machine), payload: Array(data), qos: 1, retain: true)
            case let .sensors(machine, conditions):
                for c in conditions {
                    guard let data = try? JSONEncoder().encode(c) else { continue }
                    _ = try? publisher.publish(topic: Self.sensorTopic(machine, c.sensor), payload: Array(data), qos: 1, retain: true)
                }
            }
        }
    }

    static func healthTopic(_ machine: String) -> String { "vigil-out/health/" + machine }
    static func sensorTopic(_ machine: String, _ sensor: String) -> String { "vigil-out/sensors/\(machine)/\(sensor)" }
}
