import Testing
import VigilStore
@testable import VigilServer

@Suite struct SystemdNotifierTests {
    @Test func isANoOpOutsideSystemd() {
        #expect(!SystemdNotifier(environment: [:]).isActive)
        #expect(!SystemdNotifier(environment: [:]).notify("READY=1"))
    }

    @Test func watchdogIntervalIsForThisProcessOnly() {
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "2000000"]) == 2)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"]) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "x"]) == nil)
    }

    @Test func aBacklogThatDoesNotMoveIsAStall() {
        var h = IngestHealth()
        var stats = IngestBuffer.Stats()
        var ok: Bool
        ok = h.observe(stats, now: 0, stallAfter: 10)
        #expect(ok)          // idle is healthy
        stats.pendingReadings = 500
        ok = h.observe(stats, now: 5, stallAfter: 10)
        #expect(ok)
        stats.appliedReadings = 100                                 // progress
        ok = h.observe(stats, now: 12, stallAfter: 10)
        #expect(ok)
        ok = h.observe(stats, now: 21, stallAfter: 10)
        #expect(ok)
        ok = h.observe(stats, now: 23, stallAfter: 10)
        #expect(!ok)        // stuck for 11 s
        stats.pendingReadings = 0                                   // drained: healthy again
        ok = h.observe(stats, now: 24, stallAfter: 10)
        #expect(ok)
    }
}
