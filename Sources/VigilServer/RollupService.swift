public import Logging
public import ServiceLifecycle
public import VigilStore
import Dispatch
import Synchronization
import VigilCore

/// Keeps rollups current and applies retention, on its own thread (SQLite work stays off the
/// cooperative pool): every second it re-reduces the minutes that are due (and their days);
/// every hour, and once at start, it prunes per the retention tiers. The to-do list lives in
/// SQLite, so a restart picks up where the last run stopped.
public final class RollupService: Service, Sendable {
    public struct Stats: Sendable, Equatable {
        public var minutesReduced = 0
        public var daysReduced = 0
        public var pendingMinutes = 0
        public var lagMillis: Int64 = 0
        public var errors = 0
        public var rawRowsPruned = 0
        public var minuteRowsPruned = 0
    }

    let writer: StoreWriter
    let rawDays: Int
    let minuteDays: Int
    let logger: Logger
    let interval: Double
    let retentionInterval: Double
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    struct State {
        var stats = Stats()
        var stopping = false
    }

    public init(writer: StoreWriter, metrics: IngestMetrics, rawDays: Int, minuteDays: Int, logger: Logger,
                interval: Double = 1, retentionInterval: Double = 3600) {
        self.writer = writer
        self.rawDays = rawDays
        self.minuteDays = minuteDays
        self.logger = logger
        self.interval = interval
        self.retentionInterval = retentionInterval
    }

    public var stats: Stats { state.withLock { $0.stats } }

    public func run() async throws {
        DispatchQueue(label: "vigil.rollup").async { self.loop() }
        try? await gracefulShutdown()
        state.withLock { $0.stopping = true }
        wake.signal()
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.done.wait()
                cont.resume()
            }
        }
    }

    private func loop() {
        var nextRetention = 0.0
        while !state.withLock({ $0.stopping }) {
            let now = SystemClock.monotonicSeconds()
            if (rawDays > 0 || minuteDays > 0) && now >= nextRetention {
                nextRetention = now + retentionInterval
                do {
                    let pruned = try writer.applyRetention(rawDays: rawDays, minuteDays: minuteDays)
                    state.withLock {
                        $0.stats.rawRowsPruned += pruned.rawRows
                        $0.stats.minuteRowsPruned += pruned.minuteRows
                    }
                    if pruned.rawRows + pruned.minuteRows > 0 {
                        logger.info("retention pruned", metadata: ["store.raw_rows": "\(pruned.rawRows)", "store.minute_rows": "\(pruned.minuteRows)"])
                    }
                } catch {
                    state.withLock { $0.stats.errors += 1 }
                    logger.error("retention failed; will retry", metadata: ["error": "\(error)"])
                }
            }
            do {
                // One bounded transaction at a time, so ingestion commits in between.
                while !state.withLock({ $0.stopping }) {
                    let pass = try writer.rollupPass()
                    state.withLock {
                        $0.stats.minutesReduced += pass.minutes
                        $0.stats.daysReduced += pass.days
                    }
                    if pass.minutes == 0 { break }
                }
                let backlog = try writer.rollupBacklog()
                state.withLock {
                    $0.stats.pendingMinutes = backlog.pending
                    $0.stats.lagMillis = backlog.lagMillis
                }
            } catch {
                state.withLock { $0.stats.errors += 1 }
                logger.error("rollup pass failed; will retry", metadata: ["error": "\(error)"])
            }
            _ = wake.wait(timeout: .now() + .milliseconds(Int(interval * 1000)))
        }
        done.signal()
    }
}
