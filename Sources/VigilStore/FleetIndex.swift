public import VigilCore
import Synchronization

/// The fleet overview kept in memory by the writer: each machine's sensors, latest reading time
/// and current health. Updated after every commit (readings) and every health save, loaded from
/// SQLite at start, so `GET /api/v1/machines` answers from memory and is never stale.
public final class FleetIndex: Sendable {
    struct Entry {
        var sensors: [String] = []  // sorted
        var lastSeen: Int64 = 0
        /// When its latest reading was received (ms); after a restart, its data's last time.
        var lastReceived: Int64 = 0
        var health: Double?
        var status: HealthStatus?
        var missing: Int64 = 0
        var faultySensors = 0

        /// The run of readings of one machine from `i` on (`i` ends past it).
        mutating func note(_ readings: [Reading], from i: inout Int, received: Int64?) {
            let machine = readings[i].machine
            var sensor: String?
            while i < readings.count, readings[i].machine == machine {
                if readings[i].sensor != sensor {
                    sensor = readings[i].sensor
                    add(sensor: readings[i].sensor)
                }
                lastSeen = max(lastSeen, readings[i].ts)
                i += 1
            }
            if let received { lastReceived = max(lastReceived, received) }
        }

        /// `sensors` stays sorted and without repeats.
        mutating func add(sensor: String) {
            guard !sensors.contains(sensor) else { return }
            sensors.append(sensor)
            sensors.sort()
        }
    }

    private let machines = Mutex<(all: [String: Entry], generation: Int)>(([:], 0))

    init() {}

    func load(_ db: SQLiteConnection) throws {
        var all: [String: Entry] = [:]
        for (m, s, last) in try db.query("SELECT machine, sensor, last_ts FROM series ORDER BY machine, sensor", row: { ($0.text(0), $0.text(1), $0.int(2)) }) {
            all[m, default: Entry()].sensors.append(s)
            all[m]!.lastSeen = max(all[m]!.lastSeen, last)
            all[m]!.lastReceived = all[m]!.lastSeen
        }
        for (m, h, st) in try db.query("SELECT machine, health, status FROM machine_health WHERE health IS NOT NULL AND status IS NOT NULL",
                                       row: { ($0.text(0), $0.double(1), HealthStatus(stored: $0.text(2))) }) where all[m] != nil {
            all[m]!.health = h
            all[m]!.status = st
        }
        for (m, n) in try db.query("SELECT machine, count(*) FROM sensor_condition WHERE state = 'fault' GROUP BY machine",
                                   row: { ($0.text(0), Int($0.int(1))) }) where all[m] != nil {
            all[m]!.faultySensors = n
        }
        for (m, missing) in try db.query("SELECT s.machine, sum(q.missing) FROM series_quality q JOIN series s ON s.id = q.series_id GROUP BY s.machine",
                                         row: { ($0.text(0), $0.int(1)) }) where all[m] != nil {
            all[m]!.missing = missing
        }
        machines.withLock { $0 = (all, $0.generation + 1) }
    }

    /// Committed readings: the largest timestamp per series of a batch, and per machine when
    /// its latest reading was received.
    func noteReadings(_ latest: [StoreWriter.SeriesName: Int64], received: [String: Int64]) {
        guard !latest.isEmpty else { return }
        machines.withLock { m in
            m.generation += 1
            for (key, ts) in latest {
                var e = m.all[key.machine] ?? Entry()
                e.add(sensor: key.sensor)
                e.lastSeen = max(e.lastSeen, ts)
                m.all[key.machine] = e
            }
            for (machine, at) in received {
                guard var e = m.all[machine] else { continue }
                e.lastReceived = max(e.lastReceived, at)
                m.all[machine] = e
            }
        }
    }

    /// A journaled message's readings, before their commit: they come in runs of one machine,
    /// each run one lookup (every message passes here, on the MQTT thread).
    func noteMessage(_ readings: [Reading], received: Int64?) {
        guard !readings.isEmpty else { return }
        machines.withLock { m in
            m.generation += 1
            var i = 0
            while i < readings.count {
                m.all[readings[i].machine, default: Entry()].note(readings, from: &i, received: received)
            }
        }
    }

    /// Committed loss accounting: the change of each machine's missing readings.
    func noteMissing(_ change: [String: Int64]) {
        guard change.values.contains(where: { $0 != 0 }) else { return }
        machines.withLock { m in
            for (machine, delta) in change where delta != 0 { m.all[machine]?.missing += delta }
            m.generation += 1
        }
    }

    func noteHealth(machine: String, health: Double?, status: HealthStatus?) {
        machines.withLock { m in
            guard m.all[machine] != nil else { return }
            m.all[machine]!.health = health
            m.all[machine]!.status = status
            m.generation += 1
        }
    }

    func noteSensorFaults(machine: String, count: Int) {
        machines.withLock { m in
            guard m.all[machine] != nil, m.all[machine]!.faultySensors != count else { return }
            m.all[machine]!.faultySensors = count
            m.generation += 1
        }
    }

    func remove(machine: String) {
        machines.withLock { m in
            guard m.all.removeValue(forKey: machine) != nil else { return }
            m.generation += 1
        }
    }

    public func contains(_ machine: String) -> Bool {
        machines.withLock { $0.all[machine] != nil }
    }

    /// Every machine, sorted by id.
    public func snapshot() -> [MachineSummary] {
        snapshotWithGeneration().machines
    }

    /// Changes whenever the overview does.
    public var generation: Int { machines.withLock { $0.generation } }

    /// `snapshot()` with the generation it shows: the HTTP layer renders it once per change and
    /// shares the result, so a polled overview costs a lock.
    public func snapshotWithGeneration() -> (machines: [MachineSummary], generation: Int) {
        let (all, generation) = machines.withLock { ($0.all, $0.generation) }
        return (all.keys.sorted().map { id in
            let e = all[id]!
            return MachineSummary(id: id, sensors: e.sensors, lastSeen: e.lastSeen, lastReceived: e.lastReceived, health: e.health, status: e.status,
                                  missing: e.missing, faultySensors: e.faultySensors)
        }, generation)
    }
}

/// A machine in the fleet overview.
public struct MachineSummary: Sendable, Equatable {
    public var id: String
    public var sensors: [String]
    /// Largest reading timestamp of any of its sensors.
    public var lastSeen: Int64
    /// When its latest reading was received (ms; after a restart, `lastSeen` until one arrives):
    /// what silence is judged on, so a device with a wrong clock or a backfill is not "silent".
    public var lastReceived: Int64
    public var health: Double?
    public var status: HealthStatus?
    /// Readings its devices numbered that never arrived.
    public var missing: Int64
    /// Its sensors in fault.
    public var faultySensors: Int
}
