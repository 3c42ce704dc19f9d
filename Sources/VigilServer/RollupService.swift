public import Logging
public import ServiceLifecycle
public import VigilStore
import Dispatch
import Foundation
import Synchronization
import VigilCore

/// Keeps rollups current, seals history and applies retention, on its own thread (SQLite work
/// stays off the cooperative pool): every second it re-reduces the minutes that are due (and
/// their days), then seals spans past `storage.seal_after` into compressed chunks, one bounded
/// transaction at a time with rollup passes in between (an old database is converted this way
/// after an upgrade); every hour, and once at start, it prunes per the retention tiers. The to-do
/// lists live in SQLite, so a restart picks up where the last run stopped.
public final class RollupService: Service, Sendable {
    public struct Stats: Sendable, Equatable {
        public var minutesReduced = 0
        public var daysReduced = 0
        public var pendingMinutes = 0
        public var lagMillis: Int64 = 0
        public var errors = 0
        public var rawRowsPruned = 0
        public var minuteRowsPruned = 0
        /// Chunks written by sealing, of which `sealMerges` folded late readings into an existing one.
        public var chunksSealed = 0
        public var sealMerges = 0
        /// Rows moved into chunks.
        public var rowsSealed = 0
        /// The database file as last looked at, and what compaction gave back since the start.
        public var fileBytes = 0
        public var freeBytes = 0
        public var releasedBytes = 0
    }

    /// How often the daemon looks whether most of its file is free (besides whenever sealing has
    /// caught up after moving readings), and the most that may be live for it to give the free part
    /// back by itself (`StoreWriter.compact` copies what is live: about 5 s of held writes here,
    /// while the journal takes readings, well inside the 30 s the watchdog allows a stalled ingest).
    /// A larger store with most of it free is advised once to run `vigild --seal` at a quiet hour.
    static let compactInterval = 600.0
    /// Minutes re-reduced in one transaction.
    static let passMinutes = 2_000
    static let compactLiveLimit = 256 << 20

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
        var advised = false
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

    /// The sealed history's size.
    public var sealed: ChunkTotals { writer.sealedTotals }

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

    private func applyRetention() {
        guard rawDays > 0 || minuteDays > 0 else { return }
        do {
            let pruned = try writer.applyRetention(rawDays: rawDays, minuteDays: minuteDays)
            state.withLock {
                $0.stats.rawRowsPruned += pruned.rawRows
                $0.stats.minuteRowsPruned += pruned.minuteRows
            }
            if pruned.rawRows + pruned.minuteRows > 0 {
                logger.info("retention pruned", metadata: ["store.raw_rows": "\(pruned.rawRows)", "store.minute_rows": "\(pruned.minuteRows)",
                                                           "store.chunks": "\(pruned.chunks.chunks)"])
            }
        } catch {
            state.withLock { $0.stats.errors += 1 }
            logger.error("retention failed; will retry", metadata: ["error": "\(error)"])
        }
    }

    /// Looks at the file's free pages and gives them back when most of the file is free.
    private func maintainSpace() {
        do {
            let space = try writer.fileSpace()
            state.withLock {
                $0.stats.fileBytes = space.bytes
                $0.stats.freeBytes = space.free
            }
            guard space.mostlyFree else { return }
            guard space.live <= Self.compactLiveLimit else {
                if state.withLock({ s in defer { s.advised = true }; return !s.advised }) {
                    logger.notice("most of the database file is free; run vigild --seal at a quiet hour to give it back",
                                  metadata: ["store.file_bytes": "\(space.bytes)", "store.free_bytes": "\(space.free)"])
                }
                return
            }
            let started = SystemClock.monotonicSeconds()
            let released = try writer.compact(maxLiveBytes: Self.compactLiveLimit)
            guard released > 0 else { return }
            let after = try writer.fileSpace()
            state.withLock {
                $0.stats.releasedBytes += released
                $0.stats.fileBytes = after.bytes
                $0.stats.freeBytes = after.free
            }
            logger.notice("gave free space back to the file system", metadata: [
                "store.released_bytes": "\(released)", "store.file_bytes": "\(after.bytes)",
                "milliseconds": "\(Int((SystemClock.monotonicSeconds() - started) * 1000))"])
        } catch {
            state.withLock { $0.stats.errors += 1 }
            logger.error("giving free space back failed; will retry", metadata: ["error": "\(error)"])
        }
    }

    private func loop() {
        var nextHourly = 0.0
        var nextSpaceCheck = 0.0
        var sealedSinceCheck = 0
        while !state.withLock({ $0.stopping }) {
            if SystemClock.monotonicSeconds() >= nextHourly {
                nextHourly = SystemClock.monotonicSeconds() + retentionInterval
                applyRetention()
                // Another process (`vigild --seal`) may have sealed since the last look.
                try? writer.reloadSealedTotals()
            }
            var moreToSeal = false
            do {
                // One bounded transaction at a time, so ingestion commits in between.
                while !state.withLock({ $0.stopping }) {
                    let started = SystemClock.monotonicSeconds()
                    let pass = try writer.rollupPass(limit: Self.passMinutes)
                    state.withLock {
                        $0.stats.minutesReduced += pass.minutes
                        $0.stats.daysReduced += pass.days
                    }
                    if pass.minutes == 0 { break }
                    // Working through a backlog: the writer is left alone for a fifth of the time
                    // a pass held it, so health (whose every read waits for it) and ingestion
                    // commits keep moving instead of waiting a whole pass for each turn.
                    if pass.minutes == Self.passMinutes {
                        Thread.sleep(forTimeInterval: min(0.05, (SystemClock.monotonicSeconds() - started) / 4))
                    }
                }
                let backlog = try writer.rollupBacklog()
                state.withLock {
                    $0.stats.pendingMinutes = backlog.pending
                    $0.stats.lagMillis = backlog.lagMillis
                }
                let sealStarted = SystemClock.monotonicSeconds()
                let seal = try writer.sealPass()
                moreToSeal = seal.more
                // The same for a backlog of spans to seal (a span's transaction holds the writer
                // for seconds at a plant's scale).
                if seal.more { Thread.sleep(forTimeInterval: min(1, (SystemClock.monotonicSeconds() - sealStarted) / 4)) }
                sealedSinceCheck += seal.readings
                state.withLock {
                    $0.stats.chunksSealed += seal.chunks
                    $0.stats.sealMerges += seal.merges
                    $0.stats.rowsSealed += seal.readings
                }
            } catch {
                state.withLock { $0.stats.errors += 1 }
                logger.error("rollup or sealing pass failed; will retry", metadata: ["error": "\(error)"])
            }
            // Caught up with sealing (the moment a backfill's or a conversion's space is free), or
            // every `compactInterval` (retention and removals free pages too).
            if !moreToSeal, sealedSinceCheck > 0 || SystemClock.monotonicSeconds() >= nextSpaceCheck {
                nextSpaceCheck = SystemClock.monotonicSeconds() + Self.compactInterval
                sealedSinceCheck = 0
                maintainSpace()
            }
            if !moreToSeal { _ = wake.wait(timeout: .now() + .milliseconds(Int(interval * 1000))) }
        }
        done.signal()
    }
}
