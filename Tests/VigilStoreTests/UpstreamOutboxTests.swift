import Foundation
import Testing
import VigilCore
@testable import VigilStore

/// The upstream outbox's store side against a real SQLite file: a change to a rollup is noted in
/// the transaction that makes it, a batch carries each changed key once with its newest change as
/// `rev`, a correction comes again with a larger `rev`, the cursor survives reopening, pruning
/// forgets only what was acknowledged, and nothing is noted for streams no sink sends.
@Suite struct UpstreamOutboxTests {
    static let t0: Int64 = 1_764_000_000_000 / 60_000 * 60_000
    static let streams: Set<UpstreamStream> = [.rollupMinute, .rollupDay, .health, .model, .maintenance]

    static func readings(_ minutes: Range<Int>, value: Double = 1) -> [Reading] {
        minutes.flatMap { m in (0..<6).map { Reading(machine: "m1", sensor: "temp", ts: t0 + Int64(m) * 60_000 + Int64($0) * 10_000, value: value + Double($0)) } }
    }

    func rollups(_ batch: UpstreamBatch) -> [UpstreamRow.Rollup] {
        batch.rows.compactMap { if case .rollup(let r) = $0 { r } else { nil } }
    }

    @Test func changesComeOnceWithTheirNewestRevAndCorrectionsComeAgain() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path, rollupFlushDelayMillis: 0, upstream: Self.streams)
        let reader = try StoreReader(path: tmp.path)
        let cursor = try writer.startUpstream(sink: "s", stream: .rollupMinute, since: 0)
        #expect(cursor.lastSeq == 0)

        try writer.write(Self.readings(0..<3), rejections: [], topic: "", payload: [], receivedAt: Self.t0)
        _ = try writer.rollupAllDue(now: SystemClock.wallMillis() + 3_600_000)
        // The same minutes again: replaced values, and rolled up twice before the batch is read.
        try writer.write(Self.readings(1..<2, value: 10), rejections: [], topic: "", payload: [], receivedAt: Self.t0)
        _ = try writer.rollupAllDue(now: SystemClock.wallMillis() + 3_600_000)

        let first = try await reader.upstreamBatch(stream: .rollupMinute, after: cursor.lastSeq, limit: 100)
        let rows = rollups(first)
        #expect(rows.map(\.ts) == [Self.t0, Self.t0 + 60_000, Self.t0 + 120_000], "each key once, in order of its first change")
        #expect(first.changes == 4 && first.through > 0)
        let corrected = try #require(rows.first { $0.ts == Self.t0 + 60_000 })
        #expect(corrected.min == 10 && corrected.count == 6, "the row as it is now")
        #expect(corrected.rev == first.through, "the newest change is the rev")
        #expect(Set(rows.map(\.rev)).count == 3)

        try writer.setUpstreamCursor(sink: "s", stream: .rollupMinute, UpstreamCursor(lastSeq: first.through))
        try writer.pruneUpstreamChanges(stream: .rollupMinute, through: first.through)
        let none = try await reader.upstreamBatch(stream: .rollupMinute, after: first.through, limit: 100)
        #expect(none.rows.isEmpty && none.changes == 0 && none.through == first.through)

        // A late reading corrects a minute already sent: it comes again, with a larger rev.
        try writer.write([Reading(machine: "m1", sensor: "temp", ts: Self.t0 + 5_000, value: -7)], rejections: [], topic: "", payload: [], receivedAt: Self.t0 + 7_200_000)
        _ = try writer.rollupAllDue(now: SystemClock.wallMillis() + 3_600_000)
        let late = rollups(try await reader.upstreamBatch(stream: .rollupMinute, after: first.through, limit: 100))
        #expect(late.count == 1 && late[0].ts == Self.t0 && late[0].min == -7 && late[0].count == 7 && late[0].rev > first.through)
        let day = try await reader.upstreamBatch(stream: .rollupDay, after: 0, limit: 100)
        #expect(rollups(day).count == 1 && rollups(day)[0].count == 19, "the day carries every correction")

        // The cursor outlives the writer; a sink that starts again resumes, not backfills.
        let reopened = try StoreWriter(path: tmp.path, upstream: Self.streams)
        #expect(try reopened.startUpstream(sink: "s", stream: .rollupMinute, since: 0).lastSeq == first.through)
        let backlog = try await reader.upstreamBacklog(stream: .rollupMinute, after: first.through)
        #expect(backlog.rows >= 1 && backlog.oldestAt != nil)
    }

    @Test func aNewSinkIsSentTheKeptHistoryAndRevsNeverGoBack() async throws {
        let tmp = try TempDatabase()
        do {
            let plain = try StoreWriter(path: tmp.path, rollupFlushDelayMillis: 0)
            try plain.write(Self.readings(0..<4), rejections: [], topic: "", payload: [], receivedAt: Self.t0)
            _ = try plain.rollupAllDue(now: SystemClock.wallMillis() + 3_600_000)
            try plain.healthRegistry()!.recordMaintenance(machine: "m1", at: Self.t0, note: "bearing")
        }
        let reader = try StoreReader(path: tmp.path)
        // Without a sink nothing was noted.
        #expect(try await reader.upstreamBacklog(stream: .rollupMinute, after: 0).rows == 0)

        let writer = try StoreWriter(path: tmp.path, rollupFlushDelayMillis: 0, upstream: Self.streams)
        let minutes = try writer.startUpstream(sink: "new", stream: .rollupMinute, since: Self.t0 + 60_000)
        let maintenance = try writer.startUpstream(sink: "new", stream: .maintenance, since: Self.t0 + 60_000)
        let backfill = rollups(try await reader.upstreamBatch(stream: .rollupMinute, after: minutes.lastSeq, limit: 100))
        #expect(backfill.map(\.ts) == [1, 2, 3].map { Self.t0 + $0 * 60_000 }, "minutes from `since` on")
        let m = try await reader.upstreamBatch(stream: .maintenance, after: maintenance.lastSeq, limit: 100)
        #expect(m.rows == [.maintenance(.init(machine: "m1", id: 1, at: Self.t0, note: "bearing"))], "maintenance: all that is kept")

        // Prune everything, then change again: the sequence goes on (AUTOINCREMENT), never back.
        let top = backfill.map(\.rev).max() ?? 0
        try writer.pruneUpstreamChanges(stream: .rollupMinute, through: .max)
        try writer.write(Self.readings(0..<1, value: 50), rejections: [], topic: "", payload: [], receivedAt: Self.t0)
        _ = try writer.rollupAllDue(now: SystemClock.wallMillis() + 3_600_000)
        let next = rollups(try await reader.upstreamBatch(stream: .rollupMinute, after: 0, limit: 100))
        #expect(next.count == 1 && next[0].rev > top)
    }
}
