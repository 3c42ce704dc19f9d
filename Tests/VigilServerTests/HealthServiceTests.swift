import Foundation
import Logging
import Testing
import VigilAPI
import VigilCore
import VigilHealth
import VigilStore
@testable import VigilServer

/// The health service against a real SQLite file: commissioning, causal scoring from minute
/// rollups, lineage, promotion, rollback, maintenance and restart continuity.
@Suite struct HealthServiceTests {
    static let base: Int64 = 1_767_225_600_000 // 2026-01-01T00:00:00Z
    static let sensors = ["current", "flow", "pressure", "temp"]

    final class TempDir {
        let path = NSTemporaryDirectory() + "vigil-health-\(UUID().uuidString)"
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Readings every 10 s for `minutes` minutes from `start`; `fault` shifts the current and
    /// `heat` the temperature.
    static func readings(machine: String, start: Int64, minutes: Int, seed: UInt64, heat: (Int) -> Double = { _ in 0 },
                         fault: (Int) -> Double = { _ in 0 }) -> [IngestMessage] {
        var rng = SplitMix64(seed: seed)
        var messages: [IngestMessage] = []
        for m in 0..<minutes {
            var rs: [Reading] = []
            for k in 0..<6 {
                let t = start + Int64(m) * 60_000 + Int64(k) * 10_000
                let load = 0.7 + 0.2 * sin(Double(m) / 5) // a 31-minute cycle: commissioning sees its whole range
                let n = { Double.random(in: -1...1, using: &rng) }
                let values = [10 * load + 0.1 * n() + fault(m), 100 * load + n(), 4 + 2 * load + 0.05 * n(), 50 + 20 * load + 0.3 * n() + heat(m)]
                for (s, v) in zip(sensors, values) { rs.append(Reading(machine: machine, sensor: s, ts: t, value: v)) }
            }
            messages.append(IngestMessage(readings: rs, rejections: [], topic: "t", payload: [], receivedAt: start + Int64(m + 1) * 60_000))
        }
        return messages
    }

    static func service(_ writer: StoreWriter) -> HealthService {
        var settings = HealthService.Settings()
        settings.commissionMinutes = 60
        return HealthService(writer: writer, publisher: nil, settings: settings, logger: Logger(label: "test"))
    }

    /// Ticks until no machine has more to do at once (a backlog is judged and scored in steps).
    static func settle(_ health: HealthService, now: Int64) throws {
        while try health.tick(now: now) {}
    }

    static func ingest(_ writer: StoreWriter, _ messages: [IngestMessage]) throws {
        _ = try writer.write(messages)
        _ = try writer.rollupAllDue(now: SystemClock.wallMillis() + 86_400_000)
    }

    /// A backlog is rolled up in passes (oldest minute first, series by series within it); a minute
    /// is scored once, so health waits until every sensor's rollup of it is in — it never scores a
    /// minute on a partial row.
    @Test func scoresOnlyMinutesWhoseRollupsAreAllIn() async throws {
        let dir = try TempDir()
        let writer = try StoreWriter(path: dir.path + "/v.sqlite")
        let health = Self.service(writer)
        try Self.ingest(writer, Self.readings(machine: "pump-01", start: Self.base, minutes: 70, seed: 2))
        try Self.settle(health, now: Self.base + 80 * 60_000)  // commissioned on 60, scored 61-70
        _ = try writer.write(Self.readings(machine: "pump-01", start: Self.base + 70 * 60_000, minutes: 100, seed: 3))
        // One small pass: minutes 70-81 of the 4 sensors are rolled up, minute 82 of two of them.
        _ = try writer.rollupPass(now: SystemClock.wallMillis() + 86_400_000, limit: 50)
        let pending = try #require(try writer.earliestPendingMinutes()["pump-01"])
        #expect(pending == Self.base + 82 * 60_000)
        try Self.settle(health, now: Self.base + 200 * 60_000)
        let scoredBefore = try #require(try health.registry.machineHealth("pump-01")).scoredThrough
        #expect(scoredBefore < pending, "nothing from the first pending minute on")
        _ = try writer.rollupAllDue(now: SystemClock.wallMillis() + 86_400_000)
        #expect(try writer.earliestPendingMinutes()["pump-01"] == nil)
        try Self.settle(health, now: Self.base + 200 * 60_000)
        let reader = try StoreReader(path: dir.path + "/v.sqlite")
        let history = try await reader.healthHistory(machine: "pump-01", from: 0, to: .max, limit: 1000)
        #expect(history.map(\.ts) == (60..<170).map { Self.base + Int64($0) * 60_000 }, "every minute scored once, in order")
        #expect(try #require(try health.registry.machineHealth("pump-01")).confidence > 0.99 * 60 / 1440, "full rows: confidence is not cut by missing sensors")
    }

    /// The health tables have one writer by construction: the store hands its health registry to
    /// the first health service and to nobody after.
    @Test func theHealthRegistryIsHandedOutOnce() throws {
        let dir = try TempDir()
        let writer = try StoreWriter(path: dir.path + "/v.sqlite")
        _ = Self.service(writer)
        #expect(writer.healthRegistry() == nil)
        let other = try StoreWriter(path: dir.path + "/w.sqlite")
        #expect(other.healthRegistry() != nil && other.healthRegistry() == nil)
    }

    /// A backlog longer than one judge step (the sensors are judged before their minutes are
    /// scored) is worked through in consecutive steps without waiting for the clock, not one step
    /// per wall-clock minute.
    @Test func aBacklogIsJudgedAndScoredInStepsWithoutWaiting() async throws {
        let dir = try TempDir()
        let writer = try StoreWriter(path: dir.path + "/v.sqlite")
        var settings = HealthService.Settings()
        settings.commissionMinutes = 60
        settings.judgeStepMillis = 20 * 60_000
        let health = HealthService(writer: writer, publisher: nil, settings: settings, logger: Logger(label: "test"))
        try Self.ingest(writer, Self.readings(machine: "pump-01", start: Self.base, minutes: 70, seed: 2))
        let now = Self.base + 400 * 60_000
        try health.tick(now: now)  // commissioned on 60, sensors profiled
        try Self.ingest(writer, Self.readings(machine: "pump-01", start: Self.base + 70 * 60_000, minutes: 300, seed: 3))
        var ticks = 0
        while try health.tick(now: now) { ticks += 1 }
        #expect(ticks >= 300 / 20 - 1, "one step of 20 minutes per tick: \(ticks)")
        let scored = try #require(try health.registry.machineHealth("pump-01")).scoredThrough
        #expect(scored == Self.base + 369 * 60_000, "every minute scored within the same wall-clock minute")
        #expect(try health.tick(now: now) == false)
    }

    @Test func commissionsScoresAndExplainsAFault() async throws {
        let dir = try TempDir()
        let writer = try StoreWriter(path: dir.path + "/v.sqlite")
        let health = Self.service(writer)
        // 40 minutes: not enough to commission.
        try Self.ingest(writer, Self.readings(machine: "pump-01", start: Self.base, minutes: 40, seed: 1))
        try Self.settle(health, now: Self.base + 50 * 60_000)
        var record = try #require(try health.registry.machineHealth("pump-01"))
        #expect(record.activeVersion == nil && record.health == nil && record.commissioningRows > 30)

        // Three hours more; from minute 150 on the motor draws 3 A more and runs 4 °C hotter (a
        // machine's fault: one sensor stepping alone is held as a suspect sensor fault).
        try Self.ingest(writer, Self.readings(machine: "pump-01", start: Self.base, minutes: 220, seed: 1, heat: { $0 >= 150 ? 4 : 0 }) {
            $0 >= 150 ? 3 : 0
        })
        try Self.settle(health, now: Self.base + 230 * 60_000)
        record = try #require(try health.registry.machineHealth("pump-01"))
        #expect(record.activeVersion == 1)
        #expect(record.status == .alarm)
        #expect(record.contributors.first?.sensor == "current")
        let models = try health.registry.models(machine: "pump-01")
        #expect(models.count == 1)
        let v1 = models[0].info
        #expect(v1.trigger == .commissioning && v1.parentVersion == nil && v1.rowCount == 60)
        #expect(v1.trainFrom == Self.base && v1.trainTo == Self.base + 59 * 60_000)
        #expect(v1.contentSha256.count == 64 && v1.codeVersion == HealthModel.codeVersion && v1.gateDecision == .promoted)

        let reader = try StoreReader(path: dir.path + "/v.sqlite")
        let history = try await reader.healthHistory(machine: "pump-01", from: 0, to: .max, limit: 1000)
        // Scored from the minute after the commissioning data, every minute once, in order.
        #expect(history.first?.ts == Self.base + 60 * 60_000)
        #expect(history.count == 220 - 60)
        #expect(history.prefix(85).allSatisfy { $0.status != .alarm })
        #expect(history.suffix(60).allSatisfy { $0.status == .alarm && $0.health <= 55 })
    }

    @Test func aNewMachineOfATypeIsScoredFromItsFirstMinuteWithTheFleetReference() async throws {
        let dir = try TempDir()
        let writer = try StoreWriter(path: dir.path + "/v.sqlite")
        var settings = HealthService.Settings()
        settings.commissionMinutes = 60
        settings.machineTypes = [(pattern: "pump-*", type: "pump")]
        let health = HealthService(writer: writer, publisher: nil, settings: settings, logger: Logger(label: "test"))
        try Self.ingest(writer, Self.readings(machine: "pump-01", start: Self.base, minutes: 120, seed: 7))
        try Self.settle(health, now: Self.base + 130 * 60_000)
        // pump-02 arrives with 20 minutes: scored at once with the fleet reference.
        let later = Self.base + 120 * 60_000
        try Self.ingest(writer, Self.readings(machine: "pump-02", start: later, minutes: 20, seed: 8))
        try Self.settle(health, now: later + 30 * 60_000)
        var models = try health.registry.models(machine: "pump-02")
        #expect(models.map(\.info.trigger) == [.fleetReference])
        #expect(models[0].info.trainFrom == Self.base && models[0].info.gateReason.contains("pump-01"))
        let reader = try StoreReader(path: dir.path + "/v.sqlite")
        var history = try await reader.healthHistory(machine: "pump-02", from: 0, to: .max, limit: 1000)
        #expect(history.first?.ts == later && history.count == 20)
        #expect(history.allSatisfy { $0.status != .alarm })
        // With 60 minutes of its own it is commissioned on them.
        try Self.ingest(writer, Self.readings(machine: "pump-02", start: later, minutes: 90, seed: 8))
        try Self.settle(health, now: later + 100 * 60_000)
        models = try health.registry.models(machine: "pump-02")
        #expect(models.map(\.info.trigger) == [.fleetReference, .commissioning] && models[1].info.active && models[1].info.parentVersion == 1)
        history = try await reader.healthHistory(machine: "pump-02", from: 0, to: .max, limit: 1000)
        #expect(history.count == 90 && zip(history, history.dropFirst()).allSatisfy { $0.ts + 60_000 == $1.ts })
        // A machine without a type still waits for its own data.
        try Self.ingest(writer, Self.readings(machine: "fan-01", start: later, minutes: 20, seed: 9))
        try Self.settle(health, now: later + 101 * 60_000)
        #expect(try health.registry.models(machine: "fan-01").isEmpty)
    }

    @Test func aRestartContinuesExactlyAsIfItHadNotHappened() async throws {
        let dir = try TempDir()
        let messages = Self.readings(machine: "m", start: Self.base, minutes: 200, seed: 2) { $0 >= 120 ? Double($0 - 120) * 0.05 : 0 }
        // One service scoring everything in one go...
        let a = try StoreWriter(path: dir.path + "/a.sqlite")
        try Self.ingest(a, messages)
        try Self.settle(Self.service(a), now: Self.base + 210 * 60_000)
        // ... and one that stops halfway and is replaced by a new instance (a restart: the store
        // is opened again, and the new service takes its health registry).
        do {
            let b = try StoreWriter(path: dir.path + "/b.sqlite")
            try Self.ingest(b, Array(messages[..<130]))
            try Self.settle(Self.service(b), now: Self.base + 131 * 60_000)
        }
        let b = try StoreWriter(path: dir.path + "/b.sqlite")
        try Self.ingest(b, Array(messages[130...]))
        try Self.settle(Self.service(b), now: Self.base + 210 * 60_000)
        let ra = try StoreReader(path: dir.path + "/a.sqlite"), rb = try StoreReader(path: dir.path + "/b.sqlite")
        let ha = try await ra.healthHistory(machine: "m", from: 0, to: .max, limit: 1000)
        let hb = try await rb.healthHistory(machine: "m", from: 0, to: .max, limit: 1000)
        #expect(ha.count == 140 && ha == hb)
    }

    /// A machine's states are saved at a change and every half hour of scored minutes, not with
    /// every minute. Stopped, the service saves them and continues exactly as a run without the
    /// stop; killed in between, the next start scores the minutes since its states again: what was
    /// said before the crash stays as it was, no minute is missing or scored twice, no event is
    /// said twice. (Scored again, a stretch is judged in one step, as a backlog is, rather than as
    /// its readings arrived: from there on the scores may differ a little from the uninterrupted
    /// run's, as they do with the rounds' timing.)
    @Test(arguments: [false, true]) func aCrashScoresAgainFromTheSavedStatesAndSaysNothingTwice(stopped: Bool) async throws {
        let dir = try TempDir()
        let messages = Self.readings(machine: "m", start: Self.base, minutes: 200, seed: 2) { $0 >= 120 ? Double($0 - 120) * 0.05 : 0 }
        /// Live: a minute's readings arrive and are scored, one minute at a time.
        func live(_ writer: StoreWriter, _ health: HealthService, minute: Int) throws {
            try Self.ingest(writer, minute == 60 ? Array(messages[...60]) : [messages[minute]])
            try Self.settle(health, now: Self.base + Int64(minute + 2) * 60_000)
        }
        do {
            let a = try StoreWriter(path: dir.path + "/a.sqlite")
            let health = Self.service(a)
            for minute in 60..<200 { try live(a, health, minute: minute) }
        }
        // Killed (or stopped) with minutes scored since its states were saved.
        var minute = 60
        var saved = MachineHealthRecord(machine: "m")
        do {
            let b = try StoreWriter(path: dir.path + "/b.sqlite")
            let health = Self.service(b)
            while minute < 130 || saved.scoredThrough - saved.stateThrough < 3 * 60_000 {
                try live(b, health, minute: minute)
                minute += 1
                saved = try #require(try health.registry.machineHealth("m"))
                try #require(minute < 190)
            }
            #expect(saved.stateThrough > Self.base + 120 * 60_000)
            if stopped {
                health.saveStates()
                let now = try #require(try health.registry.machineHealth("m"))
                #expect(now.stateThrough == now.scoredThrough && now.scoredThrough == saved.scoredThrough)
            }
        }
        let rb = try StoreReader(path: dir.path + "/b.sqlite")
        let before = try await rb.healthHistory(machine: "m", from: 0, to: .max, limit: 1000)
        do {
            let b = try StoreWriter(path: dir.path + "/b.sqlite")
            let health = Self.service(b)
            for m in minute..<200 { try live(b, health, minute: m) }
        }
        let ra = try StoreReader(path: dir.path + "/a.sqlite")
        let ha = try await ra.healthHistory(machine: "m", from: 0, to: .max, limit: 1000)
        let hb = try await rb.healthHistory(machine: "m", from: 0, to: .max, limit: 1000)
        #expect(ha.count == 140 && hb.map(\.ts) == ha.map(\.ts))
        #expect(Array(hb.prefix(before.count)) == before)
        // What scoring says (a model's events carry the wall clock of the round that trained it).
        let said = { (r: StoreReader) in try await r.events(before: nil, machine: "m", limit: 1000).filter {
            [.statusChanged, .sensorFault, .sensorRecovered].contains($0.kind)
        }.map { e in
            var e = e
            e.id = 0
            return e
        } }
        let ea = try await said(ra), eb = try await said(rb)
        #expect(ea.contains { $0.kind == .statusChanged })
        let key = { (e: Event) in "\(e.kind) \(e.at) \(e.sensor ?? "")" }
        #expect(Set(eb.map(key)).count == eb.count)
        #expect(eb.filter { $0.at <= saved.stateThrough } == ea.filter { $0.at <= saved.stateThrough })
        if stopped {
            #expect(ha == hb && ea == eb)
        }
    }

    @Test func maintenancePromotionAndRollback() throws {
        let dir = try TempDir()
        let writer = try StoreWriter(path: dir.path + "/v.sqlite")
        let health = Self.service(writer)
        try Self.ingest(writer, Self.readings(machine: "m", start: Self.base, minutes: 100, seed: 3))
        try Self.settle(health, now: Self.base + 110 * 60_000)
        let v1Body = try health.registry.models(machine: "m")[0].body

        // Maintenance at minute 100: the reference is re-commissioned from data after it.
        #expect(try health.apply(.maintenance(at: Self.base + 100 * 60_000, note: "bearing replaced"), machine: "m")
                == .maintenance(.init(machine: "m", at: Self.base + 100 * 60_000, note: "bearing replaced")))
        try Self.ingest(writer, Self.readings(machine: "m", start: Self.base + 100 * 60_000, minutes: 80, seed: 4) { _ in 1 })
        try Self.settle(health, now: Self.base + 190 * 60_000)
        var models = try health.registry.models(machine: "m")
        #expect(models.map(\.info.version) == [1, 2])
        #expect(models[1].info.trigger == .maintenance && models[1].info.parentVersion == 1 && models[1].info.active)
        #expect(models[1].info.trainFrom == Self.base + 100 * 60_000)
        #expect(models[1].info.contentSha256 != models[0].info.contentSha256)

        // Roll back (to the parent) and promote again.
        #expect(try health.apply(.rollback, machine: "m") == .active(version: 1))
        try Self.settle(health, now: Self.base + 191 * 60_000)
        models = try health.registry.models(machine: "m")
        #expect(models[0].info.active && !models[1].info.active)
        // The rolled-back version is byte-identical and scores as it did.
        #expect(models[0].body == v1Body)
        let restored = try #require(CanonicalJSON.decode(MachineModel.self, models[0].body)).reference
        let original = try #require(CanonicalJSON.decode(MachineModel.self, v1Body)).reference
        let table = SensorTable(sensors: Self.sensors, timestamps: ["1", "2"], rows: [[7, 70, 5.4, 64], [9, 90, 5.8, 68]])
        #expect(try Replay.run(table, model: restored).csv == Replay.run(table, model: original).csv)
        #expect(throws: HealthService.CommandError.refused(.noSuchVersion(9))) { try health.apply(.promote(version: 9), machine: "m") }
        #expect(throws: HealthService.CommandError.refused(.firstModel(1))) { try health.apply(.rollback, machine: "m") }
        #expect(throws: HealthService.CommandError.noMachine) { try health.apply(.promote(version: 1), machine: "nobody") }
        #expect(try health.apply(.promote(version: 2), machine: "m") == .active(version: 2))
    }
}

@Suite struct RetrainingServiceTests {
    /// A pump whose vibration slowly rises (wear) while its operating point also shifts once
    /// (a normal change the anomaly model should learn).
    static func wearing(start: Int64, minutes: Int) -> [IngestMessage] {
        HealthServiceTests.readings(machine: "m", start: start, minutes: minutes, seed: 21) { m in
            m >= 200 ? 0.4 : 0 // the current settles 0.4 A higher from minute 200 (new setpoint)
        }.enumerated().map { i, msg in
            var msg = msg
            // Temperature drifts up with wear: 0.01 °C per minute.
            msg.readings = msg.readings.map { r in
                var r = r
                if r.sensor == "temp" { r.value += 0.01 * Double(i) }
                return r
            }
            return msg
        }
    }

    @Test func driftRetrainsTheAnomalyModelButHealthKeepsTheWear() async throws {
        let dir = try HealthServiceTests.TempDir()
        let writer = try StoreWriter(path: dir.path + "/v.sqlite")
        var settings = HealthService.Settings()
        settings.commissionMinutes = 60
        settings.retrainMinutes = 0 // drift only
        settings.retrainWindowMinutes = 120
        let health = HealthService(writer: writer, publisher: nil, settings: settings, logger: Logger(label: "test"))
        let messages = Self.wearing(start: HealthServiceTests.base, minutes: 600)
        // Minute by minute (well, ten at a time), as a running daemon sees it.
        for chunk in stride(from: 0, to: messages.count, by: 10) {
            try HealthServiceTests.ingest(writer, Array(messages[chunk..<min(chunk + 10, messages.count)]))
            try HealthServiceTests.settle(health, now: HealthServiceTests.base + Int64(chunk + 10) * 60_000 + 60_000)
        }
        let models = try health.registry.models(machine: "m")
        let retrained = models.filter { $0.info.trigger == .drift }
        #expect(!retrained.isEmpty, "no drift retraining: \(models.map(\.info))")
        for m in retrained {
            #expect(m.info.parentVersion != nil && !m.info.gateReason.isEmpty && m.info.metrics["heldOutRows"] != nil)
            // Retraining keeps the parent's health reference byte for byte.
            let pair = try #require(CanonicalJSON.decode(MachineModel.self, m.body))
            let first = try #require(CanonicalJSON.decode(MachineModel.self, models[0].body))
            #expect(pair.reference == first.reference)
            #expect(pair.anomaly != first.anomaly)
        }
        // Health still shows the wear: lower at the end than after commissioning.
        let reader = try StoreReader(path: dir.path + "/v.sqlite")
        let history = try await reader.healthHistory(machine: "m", from: 0, to: .max, limit: 10_000)
        let early = history.prefix(60).map(\.health).reduce(0, +) / 60
        let late = history.suffix(60).map(\.health).reduce(0, +) / 60
        #expect(late < early - 15, "early \(early), late \(late)")
    }
}
