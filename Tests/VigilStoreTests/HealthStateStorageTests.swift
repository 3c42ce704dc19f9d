import Testing
import VigilCore
@testable import VigilStore

/// A machine's scorer and sensor-judge states are stored compressed, apart from its current state,
/// and read back exactly; saved without them, a record keeps the states saved before; states held
/// as text (a database from before) still read.
@Suite struct HealthStateStorageTests {
    @Test func statesAreStoredCompressedAndOldTextStillReads() throws {
        let tmp = try TempDatabase()
        let writer = try #require(try StoreWriter(path: tmp.path).healthRegistry())
        var record = MachineHealthRecord(machine: "press-7")
        let detector = "{\"tracks\":[" + (0..<200).map { "{\"steps\":[\(Double($0) / 7),\(Double($0) / 3)],\"lastSeen\":\(1_796_000_000_000 + $0)}" }.joined(separator: ",") + "]}"
        record.scorerState = "{\"slow\":[0.1,0.2]}"
        record.sensorDetector = detector
        record.scoredThrough = 1_796_000_060_000
        record.stateThrough = 1_796_000_060_000
        try writer.saveHealth(record, history: [])
        let back = try #require(try writer.machineHealth("press-7"))
        #expect(back.scorerState == record.scorerState && back.sensorDetector == detector && back.stateThrough == record.stateThrough)
        let db = try SQLiteConnection(path: tmp.path)
        let stored = try db.query("SELECT typeof(sensor_detector), length(sensor_detector) FROM health_state") { ($0.text(0), Int($0.int(1))) }
        #expect(stored.first?.0 == "blob" && (stored.first?.1 ?? .max) * 4 < detector.utf8.count)
        // A minute saved without its states: the ones saved before stay, with their minute.
        var next = record
        next.scoredThrough += 60_000
        next.health = 88
        next.scorerState = "{\"slow\":[9]}"
        next.stateThrough = next.scoredThrough
        try writer.saveHealth(next, history: [], state: false)
        let kept = try #require(try writer.machineHealth("press-7"))
        #expect(kept.health == 88 && kept.scoredThrough == next.scoredThrough)
        #expect(kept.scorerState == record.scorerState && kept.sensorDetector == detector && kept.stateThrough == record.stateThrough)
        // As an older vigild left it: text.
        try db.run("UPDATE health_state SET sensor_detector = ?, scorer_state = NULL", [.text(detector)])
        let old = try #require(try writer.machineHealth("press-7"))
        #expect(old.sensorDetector == detector && old.scorerState == nil)
        // A damaged state is an error, not an empty judge.
        try db.run("UPDATE health_state SET sensor_detector = ?", [.blob([1, 2, 3])])
        #expect(throws: SQLiteError.self) { try writer.machineHealth("press-7") }
    }

    /// A database from before schema 16 kept the states in `machine_health`: they move to
    /// `health_state`, as of the minute the machine was scored through.
    @Test func statesKeptWithTheRecordAreMoved() throws {
        let tmp = try TempDatabase()
        do { _ = try StoreWriter(path: tmp.path) }
        let db = try SQLiteConnection(path: tmp.path)
        try db.execute(SchemaBefore.v16 + """
            INSERT INTO machine_health(machine, scored_through, health, scorer_state, sensor_detector) VALUES('press-7', 1796000060000, 91, '{"slow":[1]}', '{"tracks":[]}');
            INSERT INTO machine_health(machine, scored_through) VALUES('new-1', 0);
            PRAGMA user_version = 15;
            """)
        let writer = try #require(try StoreWriter(path: tmp.path).healthRegistry())
        let moved = try #require(try writer.machineHealth("press-7"))
        #expect(moved.scorerState == "{\"slow\":[1]}" && moved.sensorDetector == "{\"tracks\":[]}")
        #expect(moved.stateThrough == 1_796_000_060_000 && moved.health == 91)
        let fresh = try #require(try writer.machineHealth("new-1"))
        #expect(fresh.scorerState == nil && fresh.stateThrough == 0)
        #expect(try db.query("SELECT count(*) FROM health_state") { $0.int(0) }.first == 1)
    }

    /// Scored minutes go to a table keyed time first and move, ten minutes or more of a machine at
    /// a time, to one keyed machine first; the history reads the same throughout, in order.
    @Test func historyMovesFromTheRecentTableAndReadsTheSame() async throws {
        let tmp = try TempDatabase()
        let store = try StoreWriter(path: tmp.path)
        let writer = try #require(store.healthRegistry())
        let base: Int64 = 1_796_000_040_000
        func row(_ minute: Int, _ machine: Int) -> HealthHistoryRow {
            HealthHistoryRow(ts: base + Int64(minute) * 60_000, health: Double(90 - minute % 7 - machine), status: minute % 9 == 0 ? .watch : .ok,
                             confidence: 1, modelVersion: 1, anomaly: Double(minute) / 100)
        }
        let db = try SQLiteConnection(path: tmp.path)
        let counts = { try db.query("SELECT (SELECT count(*) FROM health_history_recent), (SELECT count(*) FROM health_history_kept)") { ($0.int(0), $0.int(1)) }.first! }
        for minute in 0..<45 {
            try writer.saveHealth((0..<3).map { m in
                var r = MachineHealthRecord(machine: "m\(m)")
                r.scoredThrough = base + Int64(minute) * 60_000
                return HealthSave(record: r, history: [row(minute, m)], events: [], sensors: nil, state: false)
            })
            let (recent, kept) = try counts()
            #expect(recent + kept == Int64(3 * (minute + 1)))
            #expect(recent <= 3 * 20 && (minute < 20 || kept >= 3 * 10))
        }
        let reader = try StoreReader(path: tmp.path)
        for m in 0..<3 {
            #expect(try await reader.healthHistory(machine: "m\(m)", from: 0, to: .max, limit: 1000) == (0..<45).map { row($0, m) })
            #expect(try await reader.healthHistory(machine: "m\(m)", from: base + 30 * 60_000, to: base + 40 * 60_000, limit: 5) == (30..<35).map { row($0, m) })
        }
        // A removed machine's history goes from both (and is counted), and so do its states.
        var states = MachineHealthRecord(machine: "m1")
        states.scorerState = "{}"
        try writer.saveHealth(states, history: [], state: true)
        #expect(try store.removeMachine("m1")?.healthPoints == 45)
        #expect(try await reader.healthHistory(machine: "m1", from: 0, to: .max, limit: 1000).isEmpty)
        #expect(try db.query("SELECT count(*) FROM health_state WHERE machine = 'm1'") { $0.int(0) }.first == 0)
        #expect(try await reader.healthHistory(machine: "m2", from: 0, to: .max, limit: 1000).count == 45)
    }
}
