import Testing
import VigilCore
import VigilRollup
@testable import VigilStore

/// Loss accounting in the store: gaps in `seq` become missing readings in the minutes they would
/// have fallen in, late arrivals take them back, and health features carry each minute's
/// completeness; all of it survives a restart.
@Suite struct LossAccountingStoreTests {
    static let t0 = RollupStoreTests.leapDay

    static func reading(_ seq: Int64) -> Reading {
        Reading(machine: "m", sensor: "s", ts: t0 + seq * 1000, value: Double(seq), seq: seq)
    }

    @Test func gapsLandInTheirMinutesAndLateArrivalsTakeThemBack() async throws {
        let tmp = try TempDatabase()
        do {
            let writer = try StoreWriter(path: tmp.path)
            // seq k at k seconds; 100…159 never arrive: 20 of minute 1 (60–119 s), 40 of minute 2.
            let sent = (0..<300).filter { !(100..<160).contains($0) }.map { Self.reading(Int64($0)) }
            let outcome = try writer.write([IngestMessage(readings: sent, rejections: [], topic: "t", payload: [], receivedAt: 0)])
            #expect(outcome.missing == 60)
            _ = try writer.write([IngestMessage(readings: [Self.reading(130)], rejections: [], topic: "t", payload: [], receivedAt: 0)])
            _ = try writer.rollupAllDue(now: SealedHistoryTests.far)
            let f = try writer.minuteFeatures(machine: "m", sensors: nil, after: Self.t0 - 1, through: Self.t0 + 240_000)
            let completeness = Dictionary(uniqueKeysWithValues: zip(f.times.map { ($0 - Self.t0) / 60_000 }, f.completeness))
            #expect(completeness == [0: 1, 1: 40.0 / 60, 2: 21.0 / 60, 3: 1, 4: 1])
        }
        // After a restart the tracker goes on from disk: 300 is skipped.
        let writer = try StoreWriter(path: tmp.path)
        #expect(try writer.write([IngestMessage(readings: [Self.reading(301)], rejections: [], topic: "t", payload: [], receivedAt: 0)]).missing == 1)
        let reader = try StoreReader(path: tmp.path)
        let q = try #require(try await reader.quality(machine: "m"))
        #expect(q.total.missing == 60 && q.total.late == 1)
        #expect(q.minutes.map(\.ts) == [Self.t0 + 60_000, Self.t0 + 120_000, Self.t0 + 300_000] && q.minutes.map(\.missing) == [20, 39, 1])
        #expect(try await reader.quality(machine: "m", from: Self.t0 + 120_000, to: Self.t0 + 180_000)?.minutes.count == 1)
    }
}
