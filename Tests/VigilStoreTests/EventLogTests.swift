import Testing
import VigilCore
@testable import VigilStore

/// The event log: ids in order, newest first for the API, a cursor per sink, pruning that never
/// takes what a sink has not delivered.
@Suite struct EventLogTests {
    @Test func eventsKeepTheirOrderCursorsAndPruneOnlyWhatIsDelivered() async throws {
        let tmp = try TempDatabase()
        let writer = try StoreWriter(path: tmp.path)
        #expect(try writer.lastEventID() == 0)
        try writer.appendEvents((0..<5).map { Event(at: Int64($0) * 1000, kind: .statusChanged, machine: $0 % 2 == 0 ? "a" : "b",
                                                    status: .alarm, previousStatus: .ok, detail: "e\($0)") })
        #expect(try writer.lastEventID() == 5)
        #expect(try writer.events(after: 2, limit: 10).map(\.id) == [3, 4, 5])
        #expect(try writer.events(after: 2, limit: 10).first?.detail == "e2")
        let reader = try StoreReader(path: tmp.path)
        #expect(try await reader.events(before: nil, machine: nil, limit: 2).map(\.id) == [5, 4])
        #expect(try await reader.events(before: 4, machine: "a", limit: 10).map(\.id) == [3, 1])
        try writer.setNotifyCursor(sink: "webhook x", NotifyCursor(lastEvent: 3, failures: 2, lastError: "HTTP 500"))
        #expect(try writer.notifyCursor(sink: "webhook x") == NotifyCursor(lastEvent: 3, failures: 2, lastError: "HTTP 500"))
        #expect(try writer.notifyCursor(sink: "webhook y") == nil)
        // Old enough are events 1-4 (at < 4000); delivered are 1-3: only those go.
        #expect(try writer.pruneEvents(before: 4000, acknowledged: 3) == 3)
        #expect(try writer.events(after: 0, limit: 10).map(\.id) == [4, 5])
        // Ids keep growing after a prune (AUTOINCREMENT): a receiver's dedup key is never reused.
        try writer.appendEvents([Event(at: 9000, kind: .daemonRecovered, detail: "ok")])
        #expect(try writer.lastEventID() == 6)
    }
}
