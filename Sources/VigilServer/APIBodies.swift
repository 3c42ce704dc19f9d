import VigilAPI
import VigilCore
import VigilStore

// The store's records as the API's bodies: the one place where the two meet.

extension API.Machine {
    init(_ m: MachineSummary) {
        self.init(id: m.id, sensors: m.sensors, lastSeen: m.lastSeen, health: m.health, status: m.status, missing: m.missing, faultySensors: m.faultySensors)
    }
}

extension API.HealthPoint {
    init(_ r: HealthHistoryRow) {
        self.init(ts: r.ts, health: r.health, status: r.status)
    }
}

extension API.Quality {
    init(_ q: QualityReport) {
        self.init(machine: q.machine, total: q.total,
                  sensors: q.sensors.map { Sensor(sensor: $0.sensor, highestSeq: $0.highestSeq, counts: $0.counts) },
                  minutes: q.minutes.map { Minute(ts: $0.ts, missing: $0.missing) })
    }
}

extension API.RemovedMachine {
    init(_ r: RemovedCounts) {
        self.init(machine: r.machine)
        sensors = r.sensors
        readings = r.readings
        rollupRows = r.rollupRows
        modelVersions = r.modelVersions
        healthPoints = r.healthPoints
    }
}
