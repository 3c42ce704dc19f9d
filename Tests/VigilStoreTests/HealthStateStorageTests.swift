import Testing
import VigilCore
@testable import VigilStore

/// A machine's scorer and sensor-judge states are stored compressed (they are rewritten every
/// scored minute) and read back exactly; a database from before, holding them as text, still reads.
@Suite struct HealthStateStorageTests {
    @Test func statesAreStoredCompressedAndOldTextStillReads() throws {
        let tmp = try TempDatabase()
        let writer = try #require(try StoreWriter(path: tmp.path).healthRegistry())
        var record = MachineHealthRecord(machine: "press-7")
        let detector = "{\"tracks\":[" + (0..<200).map { "{\"steps\":[\(Double($0) / 7),\(Double($0) / 3)],\"lastSeen\":\(1_796_000_000_000 + $0)}" }.joined(separator: ",") + "]}"
        record.scorerState = "{\"slow\":[0.1,0.2]}"
        record.sensorDetector = detector
        try writer.saveHealth(record, history: [])
        let back = try #require(try writer.machineHealth("press-7"))
        #expect(back.scorerState == record.scorerState && back.sensorDetector == detector)
        let db = try SQLiteConnection(path: tmp.path)
        let stored = try db.query("SELECT typeof(sensor_detector), length(sensor_detector) FROM machine_health") { ($0.text(0), Int($0.int(1))) }
        #expect(stored.first?.0 == "blob" && (stored.first?.1 ?? .max) * 4 < detector.utf8.count)
        // As an older vigild left it: text.
        try db.run("UPDATE machine_health SET sensor_detector = ?, scorer_state = NULL", [.text(detector)])
        let old = try #require(try writer.machineHealth("press-7"))
        #expect(old.sensorDetector == detector && old.scorerState == nil)
        // A damaged state is an error, not an empty judge.
        try db.run("UPDATE machine_health SET sensor_detector = ?", [.blob([1, 2, 3])])
        #expect(throws: SQLiteError.self) { try writer.machineHealth("press-7") }
    }
}
