import Foundation
import Testing
import VigilCore
@testable import VigilHealth

/// The per-machine decision loop on memory, no SQLite: commissioning, the sensors' judge,
/// scoring with a faulty sensor left out, and an operator's maintenance re-commissioning.
@Suite struct HealthDecisionsTests {
    static let base: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z
    static let sensors = ["current", "flow", "pressure", "temp"]

    /// The health tables and a machine's raw readings in memory; minute features are the minute
    /// means of the readings, as the store's rollups give them.
    final class MemoryStorage: HealthStorage {
        var readings: [String: [(sensor: String, ts: Int64, value: Double)]] = [:]
        var records: [String: MachineHealthRecord] = [:]
        var models: [String: [ModelRecord]] = [:]
        var history: [String: [HealthHistoryRow]] = [:]
        var events: [Event] = []
        var conditions: [String: [String: SensorCondition]] = [:]

        var machines: [String] { readings.keys.sorted() }

        func minuteFeatures(machine: String, sensors: [String]?, after: Int64, through: Int64) -> MinuteFeatures {
            let names = sensors ?? Set((readings[machine] ?? []).map(\.sensor)).sorted()
            var sums: [Int64: [String: (Double, Int)]] = [:]
            for r in readings[machine] ?? [] {
                let minute = r.ts / 60_000 * 60_000
                guard minute > after, minute <= through else { continue }
                let (s, n) = sums[minute, default: [:]][r.sensor] ?? (0, 0)
                sums[minute, default: [:]][r.sensor] = (s + r.value, n + 1)
            }
            let times = sums.keys.sorted()
            return MinuteFeatures(sensors: names, times: times, rows: times.map { t in names.map { sums[t]?[$0].map { $0.0 / Double($0.1) } } })
        }

        func rawReadings(machine: String, after: Int64, through: Int64) -> [(sensor: String, ts: Int64, value: Double)] {
            (readings[machine] ?? []).filter { $0.ts > after && $0.ts <= through }
        }

        var metadata: [String: [String: SensorMetadata]] = [:]
        func sensorMetadata(machine: String, sensors: [String]) -> [String: SensorMetadata] { (metadata[machine] ?? [:]).filter { sensors.contains($0.key) } }

        func impossibleMinutes(machine: String, after: Int64, through: Int64) -> [String: Set<Int64>] {
            var out: [String: Set<Int64>] = [:]
            for r in readings[machine] ?? [] where r.ts > after && r.ts <= through && metadata[machine]?[r.sensor]?.isImpossible(r.value) == true {
                out[r.sensor, default: []].insert(r.ts / 60_000 * 60_000)
            }
            return out
        }
        func machineHealth(_ machine: String) -> MachineHealthRecord? { records[machine] }
        func model(machine: String, version: Int) -> ModelRecord? { models[machine]?.first { $0.info.version == version } }
        func latestModelTrainFrom(machine: String) -> Int64? { models[machine]?.map(\.info.trainFrom).max() }
        func latestModelTrainTo(machine: String) -> Int64? { models[machine]?.map(\.info.trainTo).max() }

        func alarmMinutes(machine: String, after: Int64, through: Int64) -> Set<Int64> {
            Set((history[machine] ?? []).filter { $0.ts > after && $0.ts <= through && $0.status == .alarm }.map(\.ts))
        }

        func sensorFaultMinutes(machine: String, after: Int64, through: Int64) -> Set<Int64> {
            var minutes = Set<Int64>()
            for e in events where e.machine == machine && e.kind == .sensorFault {
                guard let since = e.fault?.since else { continue }
                let closed = events.first { $0.machine == machine && $0.kind == .sensorRecovered && $0.sensor == e.sensor && $0.at >= since }?.at ?? through
                var m = max(since, after + 1) / 60_000 * 60_000
                while m <= min(closed, through) { minutes.insert(m); m += 60_000 }
            }
            return minutes
        }

        func registerModel(machine: String, info: ModelLineage, body: String, activate: Bool, events: [Event]) -> Int {
            let version = (models[machine]?.count ?? 0) + 1
            var info = info
            info.version = version
            models[machine, default: []].append(ModelRecord(machine: machine, info: info, body: body))
            if activate { records[machine, default: MachineHealthRecord(machine: machine)].activeVersion = version }
            self.events += events.map { var e = $0; e.modelVersion = version; return e }
            return version
        }

        func activateModel(machine: String, version: Int, events: [Event]) -> Bool {
            guard model(machine: machine, version: version) != nil else { return false }
            records[machine, default: MachineHealthRecord(machine: machine)].activeVersion = version
            self.events += events
            return true
        }

        func saveHealth(_ record: MachineHealthRecord, history: [HealthHistoryRow], events: [Event], sensors: [SensorCondition]?, state: Bool) {
            var record = record
            if !state, let kept = records[record.machine] {
                record.scorerState = kept.scorerState
                record.sensorDetector = kept.sensorDetector
                record.stateThrough = kept.stateThrough
            }
            records[record.machine] = record
            self.history[record.machine, default: []] += history
            self.events += events
            for c in sensors ?? [] { conditions[record.machine, default: [:]][c.sensor] = c }
        }

        func recordMaintenance(machine: String, at: Int64, note: String) {
            records[machine, default: MachineHealthRecord(machine: machine)].commissionFrom = at
            records[machine]!.commissioningRows = 0
        }
    }

    /// Readings every 10 s for `minutes` minutes from minute `from`; `temp` is frozen from
    /// minute `stuckFrom` on.
    static func readings(minutes: Range<Int>, seed: UInt64, stuckFrom: Int = .max) -> [(sensor: String, ts: Int64, value: Double)] {
        var rng = SplitMix64(seed: seed)
        var out: [(sensor: String, ts: Int64, value: Double)] = []
        var frozen: Double?
        for m in minutes {
            for k in 0..<6 {
                let load = 0.7 + 0.2 * sin(Double(m) / 5)
                let n = { Double.random(in: -1...1, using: &rng) }
                var values = [10 * load + 0.1 * n(), 100 * load + n(), 4 + 2 * load + 0.05 * n(), 50 + 20 * load + 0.3 * n()]
                if m >= stuckFrom { frozen = frozen ?? values[3]; values[3] = frozen! }
                for (s, v) in zip(sensors, values) { out.append((s, base + Int64(m) * 60_000 + Int64(k) * 10_000, v)) }
            }
        }
        return out
    }

    static func decisions(_ storage: MemoryStorage) -> HealthDecisions<MemoryStorage> {
        var settings = HealthSettings()
        settings.commissionMinutes = 60
        settings.retrainMinutes = 0
        return HealthDecisions(storage: storage, settings: settings)
    }

    /// Brings the machine up to minute `minute` (exclusive), round after round while it is behind.
    static func settle(_ d: HealthDecisions<MemoryStorage>, _ kept: inout MachineHealth?, through minute: Int,
                       reports: inout [HealthDecisions<MemoryStorage>.Report]) throws {
        repeat {
            let (m, report) = try d.update(machine: "pump", kept: kept, through: base + Int64(minute - 1) * 60_000, now: base + Int64(minute + 1) * 60_000)
            kept = m
            reports.append(report)
        } while kept?.behind == true
    }

    @Test func commissionsJudgesTheSensorsAndScoresWithAStuckSensorLeftOut() throws {
        let storage = MemoryStorage()
        let d = Self.decisions(storage)
        var kept: MachineHealth?
        var reports: [HealthDecisions<MemoryStorage>.Report] = []
        storage.readings["pump"] = Self.readings(minutes: 0..<30, seed: 1)
        try Self.settle(d, &kept, through: 30, reports: &reports)
        #expect(storage.models["pump"] == nil && storage.records["pump"]?.commissioningRows == 30, "collecting rows, nothing to train yet")

        storage.readings["pump"] = Self.readings(minutes: 0..<240, seed: 1, stuckFrom: 150)
        try Self.settle(d, &kept, through: 240, reports: &reports)
        let model = try #require(storage.models["pump"]?.first)
        #expect(model.info.trigger == .commissioning && model.info.rowCount == 60)
        #expect(reports.flatMap(\.notices).contains { if case .sensorsProfiled(_, 4, 4, _, _) = $0 { true } else { false } })
        let scored = storage.history["pump"]!.map(\.ts)
        #expect(scored == (60..<240).map { Self.base + Int64($0) * 60_000 }, "every minute after commissioning scored once, in order")

        let fault = try #require(storage.events.first { $0.kind == .sensorFault })
        #expect(fault.sensor == "temp" && fault.fault?.kind == .stuck)
        #expect(abs(fault.fault!.since - (Self.base + 150 * 60_000)) <= 60_000)
        #expect(storage.conditions["pump"]?["temp"]?.state == .fault)
        #expect(!storage.history["pump"]!.contains { $0.status == .alarm }, "a sensor fault alone never alarms the machine")
        let record = try #require(storage.records["pump"])
        #expect(record.contributors.contains { $0.sensor == "temp" && $0.sensorFault == .stuck })
        #expect(record.confidence < 1)
        // What was saved is what is published.
        let published = reports.flatMap(\.publications)
        #expect(published.contains(.health(record, trainedAt: model.info.createdAt)))
        #expect(published.contains { if case .sensors("pump", let cs) = $0 { cs.contains { $0.sensor == "temp" && $0.state == .fault && $0.lastSeen != nil } } else { false } })

        // A state kept between rounds and one loaded from what was saved decide alike.
        storage.readings["pump"]! += Self.readings(minutes: 240..<250, seed: 9, stuckFrom: 0)
        var reloaded: MachineHealth? = nil
        let saved = (storage.records, storage.history, storage.events)
        try Self.settle(d, &kept, through: 250, reports: &reports)
        let kept250 = (storage.records, storage.history, storage.events)
        (storage.records, storage.history, storage.events) = saved
        try Self.settle(d, &reloaded, through: 250, reports: &reports)
        #expect(storage.history == kept250.1 && storage.events.map(\.detail) == kept250.2.map(\.detail))
        #expect(storage.records["pump"]?.health == kept250.0["pump"]?.health)
    }

    /// Minutes holding a reading the instrument cannot read (a rail value of 9999 on a 0–150 °C
    /// sensor) are left out of commissioning: the reference learns from 60 other minutes.
    @Test func commissioningLeavesOutReadingsBeyondThePhysicalRange() throws {
        for declared in [false, true] {
            let storage = MemoryStorage()
            if declared { storage.metadata["pump"] = ["temp": SensorMetadata(unit: "°C", min: 0, max: 150)] }
            var readings = Self.readings(minutes: 0..<100, seed: 7)
            for i in readings.indices where readings[i].sensor == "temp" && (10..<20).contains((readings[i].ts - Self.base) / 60_000) { readings[i].value = 9999 }
            storage.readings["pump"] = readings
            var kept: MachineHealth?
            var reports: [HealthDecisions<MemoryStorage>.Report] = []
            try Self.settle(Self.decisions(storage), &kept, through: 100, reports: &reports)
            let model = try #require(storage.models["pump"]?.first)
            #expect(model.info.rowCount == 60)
            // Undeclared, the rail minutes are learned as normal; declared, ten later minutes replace them.
            #expect(model.info.trainTo == Self.base + (declared ? 69 : 59) * 60_000, "declared: \(declared)")
        }
    }

    @Test func maintenanceReCommissionsFromTheDataAfterIt() throws {
        let storage = MemoryStorage()
        let d = Self.decisions(storage)
        var kept: MachineHealth?
        var reports: [HealthDecisions<MemoryStorage>.Report] = []
        storage.readings["pump"] = Self.readings(minutes: 0..<100, seed: 3)
        try Self.settle(d, &kept, through: 100, reports: &reports)
        #expect(storage.models["pump"]?.count == 1)

        let at = Self.base + 100 * 60_000
        let (m, applied) = try d.apply(.maintenance(at: at, note: "bearing replaced"), machine: "pump", kept: kept, now: at)
        kept = m
        #expect(applied == .maintenance(at: at, note: "bearing replaced"))
        #expect(throws: MachineLifecycle.Refusal.firstModel(1)) { try d.apply(.rollback, machine: "pump", kept: kept, now: at) }

        storage.readings["pump"]! += Self.readings(minutes: 100..<150, seed: 4)
        try Self.settle(d, &kept, through: 150, reports: &reports)
        #expect(storage.models["pump"]?.count == 1, "50 rows after maintenance: not yet")
        storage.readings["pump"]! += Self.readings(minutes: 150..<170, seed: 5)
        try Self.settle(d, &kept, through: 170, reports: &reports)
        let second = try #require(storage.models["pump"]?.last?.info)
        #expect(second.version == 2 && second.trigger == .maintenance && second.parentVersion == 1 && second.trainFrom >= at)
        #expect(storage.records["pump"]?.activeVersion == 2)
        #expect(storage.history["pump"]!.map(\.ts) == (60..<170).map { Self.base + Int64($0) * 60_000 }, "scoring continued across it")
    }
}
