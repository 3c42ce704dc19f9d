public import VigilCore
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The durable, bounded hand-off between the MQTT thread and SQLite.
///
/// `append` writes the message's record to a journal file with `write(2)` and returns: from then
/// on the message survives a crash or SIGKILL of the process (the bytes are in the kernel), so
/// the MQTT callback may return and let libmosquitto send the PUBACK. A background applier moves
/// pending messages into SQLite in large transactions (group commit) when their `schedule` says
/// (checked every `flushInterval`) or sooner when `batchReadings` are pending, then discards the
/// journal segment it applied; `unapplied` reads what still waits.
/// On start, `recover()` replays whatever a crash left in the journal.
///
/// Two journal segments alternate: appends go to the active one; the applier swaps segments
/// when it takes a batch, so the inactive segment holds exactly that batch and is truncated
/// after its commit. When SQLite falls behind by `maxPendingReadings`, `append` waits: the MQTT
/// thread slows, the broker queues, nothing is dropped, and `pendingReadings` shows the backlog.
public final class IngestBuffer: Sendable {
    public struct Options: Sendable {
        public var flushInterval: Double = 0.05
        /// When a trickle of readings waiting in the journal is committed (a backlog of
        /// `batchReadings` is committed at once, and so is the batch after it; so is a message with
        /// a rejection). Until committed, readings are durable; `unapplied` reads them, and the
        /// fleet overview has noted them. `CommitSchedule(every: 0)`: commit every `flushInterval`.
        public var schedule = CommitSchedule(every: 0)
        public var batchReadings = 50_000
        public var maxPendingReadings = 1_000_000
        /// Each journal record is on stable storage (`fdatasync`) before `append` returns
        /// (power-loss durability). Concurrent appends (several MQTT sessions) share syncs:
        /// group commit.
        public var syncJournal = false
        public init() {}
    }

    public struct Stats: Sendable, Equatable {
        public var pendingReadings = 0
        public var appliedReadings = 0
        public var appliedBatches = 0
        /// Applied readings that arrived after their minute's rollup could have closed.
        public var lateReadings = 0
        public var journalBytes = 0
        public var applyErrors = 0
        /// Journal `fdatasync` calls (power-loss durability: at most one per appended message;
        /// fewer when concurrent appends share one).
        public var journalSyncs = 0
        /// Wall-clock ms of the first failure of the current run of failing commits (nil: none).
        public var applyFailingSince: Int64?
        /// The last commit error while commits are failing.
        public var lastApplyError: String?
        /// Wall-clock seconds the applier spent in SQLite transactions.
        public var applySeconds = 0.0

        public init() {}
    }

    struct Segment {
        let fd: Int32
        let path: String
        var bytes = 0
        /// Written since its last `fdatasync` began.
        var unsynced = false
        /// The machines and series its records have named (a record names only new ones).
        var names = JournalCodec.Names()
        /// A write failed (it may have named something or not): its records name everything
        /// themselves until it is emptied.
        var selfNaming = false
    }

    struct State {
        var pending: [IngestMessage] = []
        /// The batch being committed: read from memory until its commit is done.
        var applying: [IngestMessage] = []
        var pendingReadings = 0
        /// When the oldest pending message was appended: monotonic seconds and wall ms.
        var pendingSince = 0.0
        var pendingSinceWall: Int64 = 0
        /// Monotonic seconds at which the first late pending message (`CommitSchedule.isLate`) was appended.
        var lateSince: Double?
        /// A pending message was rejected (in part): commit without waiting for the schedule, so
        /// quarantine shows it at once (rare, so cheap).
        var commitNow = false
        /// The last batch taken was a full one (a backlog or backfill): the next is committed
        /// without waiting either, so a fast backfill is all queryable as it ends (a tail found
        /// after a small batch waits for the schedule).
        var inBacklog = false
        var segments: [Segment]
        var active = 0
        var generation: UInt64 = 0
        var stopping = false
        var stats = Stats()
        /// Records written so far (the group commit's sequence).
        var written: UInt64 = 0
    }

    /// Group commit: how many records are known to be on stable storage, and whether an append
    /// is syncing for everyone right now.
    struct SyncState {
        var synced: UInt64 = 0
        var syncing = false
    }

    private let state: Mutex<State>
    private let syncState = Mutex(SyncState())
    private let writer: StoreWriter
    private let options: Options
    private let wakeApplier = DispatchSemaphore(value: 0)
    private let spaceAvailable = DispatchSemaphore(value: 0)
    private let applierDone = DispatchSemaphore(value: 0)
    private let onApplyError: @Sendable (any Error) -> Void

    /// Opens (creating if needed) the journal segments `<prefix>.0` and `<prefix>.1`.
    public init(journalPrefix: String, writer: StoreWriter, options: Options = Options(),
                onApplyError: @escaping @Sendable (any Error) -> Void = { _ in }) throws(StoreError) {
        var segments: [Segment] = []
        for n in 0..<2 {
            let path = "\(journalPrefix).\(n)"
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw StoreError("open journal \(path)", errno: errno) }
            segments.append(Segment(fd: fd, path: path))
        }
        // The segments' directory entries must survive a power cut too.
        if options.syncJournal {
            let dir = String(journalPrefix[..<(journalPrefix.lastIndex(of: "/") ?? journalPrefix.startIndex)])
            let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd >= 0 {
                fsync(dfd)
                close(dfd)
            }
        }
        self.writer = writer
        self.options = options
        self.onApplyError = onApplyError
        state = Mutex(State(segments: segments))
    }

    deinit {
        state.withLock { s in for seg in s.segments { close(seg.fd) } }
    }

    /// Replays both segments (older generation first) into SQLite, then empties them. Returns
    /// the number of readings recovered. Call before `start()`.
    public func recover() throws -> Int {
        try state.withLock { s in
            var found: [(UInt64, [IngestMessage])] = []
            for seg in s.segments {
                let bytes = try Self.readAll(seg.fd, path: seg.path)
                guard bytes.count >= 16, Array(bytes[0..<8]) == Self.magic else { continue }
                var r = JournalCodec.Reader(bytes: bytes, i: 8)
                let gen = r.u64() ?? 0
                let (messages, _) = JournalCodec.decode(Array(bytes[16...]))
                found.append((gen, messages))
                s.generation = max(s.generation, gen)
            }
            var recovered = 0
            for (_, messages) in found.sorted(by: { $0.0 < $1.0 }) where !messages.isEmpty {
                _ = try writer.write(messages)
                recovered += messages.reduce(0) { $0 + $1.readings.count }
            }
            for k in s.segments.indices { try Self.reset(&s.segments[k], generation: 0) }
            s.generation += 1
            try Self.reset(&s.segments[s.active], generation: s.generation)
            return recovered
        }
    }

    /// Makes one message durable and queues it for SQLite. Blocks while the backlog is full.
    public func append(_ message: IngestMessage) throws(StoreError) {
        var record: [UInt8] = []
        record.reserveCapacity(64 + message.readings.count * 40)
        let arrival = SystemClock.wallMillis()
        let late = options.schedule.every > 0 && message.readings.contains { options.schedule.isLate(ts: $0.ts, arrival: arrival) }
        while state.withLock({ $0.pendingReadings >= options.maxPendingReadings && !$0.stopping }) {
            wakeApplier.signal()
            _ = spaceAvailable.wait(timeout: .now() + .milliseconds(100))
        }
        let seq = try state.withLock { (s: inout State) throws(StoreError) -> UInt64 in
            // Encoded against the segment it goes to (its names taken out meanwhile, so that
            // encoding updates them in place rather than copying them).
            var names = s.segments[s.active].names
            s.segments[s.active].names = JournalCodec.Names()
            if s.segments[s.active].selfNaming {
                JournalCodec.encode(message, into: &record)
            } else {
                JournalCodec.encode(message, names: &names, into: &record)
            }
            do throws(StoreError) {
                try Self.writeAll(s.segments[s.active].fd, record, path: s.segments[s.active].path)
            } catch {
                // Cut what part of the record was written (records after a torn one would not be
                // read back), and name everything in this segment's records from now on.
                let seg = s.segments[s.active]
                if ftruncate(seg.fd, off_t(seg.bytes)) == 0 { lseek(seg.fd, 0, SEEK_END) }
                s.segments[s.active].selfNaming = true
                throw error
            }
            s.segments[s.active].names = names
            s.segments[s.active].bytes += record.count
            s.segments[s.active].unsynced = true
            s.written += 1
            if s.pending.isEmpty {
                s.pendingSince = SystemClock.monotonicSeconds()
                s.pendingSinceWall = arrival
            }
            if late, s.lateSince == nil { s.lateSince = SystemClock.monotonicSeconds() }
            s.pending.append(message)
            s.pendingReadings += message.readings.count
            s.stats.pendingReadings = s.pendingReadings
            if !message.rejections.isEmpty { s.commitNow = true }
            if s.pendingReadings >= options.batchReadings || s.commitNow { wakeApplier.signal() }
            return s.written
        }
        // On stable storage before the caller returns and the broker gets its PUBACK. (If the
        // applier commits the record to SQLite first, that commit is synced too: synchronous=FULL.)
        if options.syncJournal { try syncThrough(seq) }
        // Journaled, so kept: the fleet sees it now, not when it is committed.
        if options.schedule.every > 0 { writer.noteUncommitted(message) }
    }

    /// The readings of one series in `[from, to)` that are journaled but not yet committed to
    /// SQLite (waiting for their commit, or being committed), oldest first; of two at one
    /// timestamp, the later. Read this before SQLite: a batch committed in between is then in
    /// one of the two answers (a reading in both is the same reading).
    public func unapplied(machine: String, sensor: String, from: Int64, to: Int64) -> [Reading] {
        var found: [(order: Int, reading: Reading)] = []
        state.withLock { s in
            for batch in [s.applying, s.pending] {
                for m in batch {
                    for r in m.readings where r.ts >= from && r.ts < to && r.sensor == sensor && r.machine == machine {
                        found.append((found.count, r))
                    }
                }
            }
        }
        found.sort { ($0.reading.ts, $0.order) < ($1.reading.ts, $1.order) }
        var out: [Reading] = []
        out.reserveCapacity(found.count)
        for (_, r) in found {
            if out.last?.ts == r.ts { out[out.count - 1] = r } else { out.append(r) }
        }
        return out
    }

    /// The newest timestamp of each of `machine`'s sensors among the readings not yet committed
    /// (a sensor new to SQLite is among them until its first commit).
    public func unappliedLatest(machine: String) -> [String: Int64] {
        var latest: [String: Int64] = [:]
        state.withLock { s in
            for batch in [s.applying, s.pending] {
                for m in batch {
                    for r in m.readings where r.machine == machine { latest[r.sensor] = max(latest[r.sensor] ?? .min, r.ts) }
                }
            }
        }
        return latest
    }

    /// Returns once record `seq` is on stable storage. The first caller to find no sync running
    /// syncs every segment written since the last sync began, for all records written until then;
    /// the others wait for that (or the next) sync to cover theirs: one `fdatasync` for as many
    /// concurrent appends as arrive during one.
    private func syncThrough(_ seq: UInt64) throws(StoreError) {
        enum Role { case done, lead, wait }
        while true {
            let role: Role = syncState.withLock { st in
                if st.synced >= seq { return .done }
                if st.syncing { return .wait }
                st.syncing = true
                return .lead
            }
            switch role {
            case .done:
                return
            case .wait:
                usleep(20)
            case .lead:
                let (target, dirty) = state.withLock { s -> (UInt64, [Segment]) in
                    let dirty = s.segments.filter(\.unsynced)
                    for k in s.segments.indices { s.segments[k].unsynced = false }
                    return (s.written, dirty)
                }
                for seg in dirty {
                    while fdatasync(seg.fd) != 0 {
                        guard errno == EINTR else {
                            let error = StoreError("fdatasync \(seg.path)", errno: errno)
                            // Not synced: mark them again for whoever syncs next.
                            state.withLock { s in for k in s.segments.indices where dirty.contains(where: { $0.fd == s.segments[k].fd }) { s.segments[k].unsynced = true } }
                            syncState.withLock { $0.syncing = false }
                            throw error
                        }
                    }
                }
                state.withLock { $0.stats.journalSyncs += dirty.count }
                syncState.withLock { st in
                    st.synced = max(st.synced, target)
                    st.syncing = false
                }
            }
        }
    }

    public var stats: Stats {
        state.withLock { s in
            var stats = s.stats
            stats.journalBytes = s.segments.reduce(0) { $0 + $1.bytes }
            return stats
        }
    }

    /// Starts the applier on its own thread (SQLite work stays off Swift's cooperative pool).
    public func start() {
        let t = DispatchQueue(label: "vigil.ingest.applier")
        t.async { self.applyLoop() }
    }

    /// Applies everything pending and stops the applier. Blocking.
    public func stop() {
        state.withLock { $0.stopping = true }
        wakeApplier.signal()
        applierDone.wait()
    }

    private func applyLoop() {
        while true {
            _ = wakeApplier.wait(timeout: .now() + .milliseconds(Int(options.flushInterval * 1000)))
            let stopping = applyPending()
            spaceAvailable.signal()
            if stopping {
                applierDone.signal()
                return
            }
        }
    }

    /// Takes the pending batch (swapping journal segments), commits it, truncates its segment.
    /// Returns true when stopping and nothing is left.
    private func applyPending() -> Bool {
        let taken: (batch: [IngestMessage], segment: Int, stopping: Bool)? = state.withLock { s in
            guard !s.pending.isEmpty else { return s.stopping ? ([], 0, true) : nil }
            let full = s.pendingReadings >= options.batchReadings
            let now = SystemClock.monotonicSeconds()
            if !s.stopping, !s.commitNow, !full, !s.inBacklog,
               !options.schedule.isDue(since: s.pendingSinceWall, now: SystemClock.wallMillis(), waited: now - s.pendingSince,
                                       lateWaited: s.lateSince.map { now - $0 }) { return nil }
            s.commitNow = false
            s.lateSince = nil
            s.inBacklog = full
            let batch = s.pending
            s.applying = batch
            s.pending.removeAll(keepingCapacity: true)
            let applied = s.active
            s.active = 1 - s.active
            s.generation += 1
            do {
                try Self.reset(&s.segments[s.active], generation: s.generation)
            } catch {
                // Could not start the next segment: keep appending to the current one.
                s.active = applied
                s.pending = batch
                s.applying = []
                return nil
            }
            return (batch, applied, s.stopping)
        }
        guard let taken else { return false }
        if taken.batch.isEmpty { return taken.stopping }
        let readings = taken.batch.reduce(0) { $0 + $1.readings.count }
        var delay: UInt32 = 50_000
        while true {
            let t0 = SystemClock.monotonicSeconds()
            do {
                let outcome = try writer.write(taken.batch)
                let dt = SystemClock.monotonicSeconds() - t0
                state.withLock { s in
                    s.pendingReadings -= readings
                    s.stats.pendingReadings = s.pendingReadings
                    s.stats.appliedReadings += readings
                    s.stats.appliedBatches += 1
                    s.stats.lateReadings += outcome.late
                    s.stats.applySeconds += dt
                    s.stats.applyFailingSince = nil
                    s.stats.lastApplyError = nil
                    // The batch is in SQLite: its journal segment can go.
                    try? Self.reset(&s.segments[taken.segment], generation: 0)
                    s.applying = []
                }
                return false
            } catch {
                state.withLock { s in
                    s.stats.applyErrors += 1
                    s.stats.applyFailingSince = s.stats.applyFailingSince ?? SystemClock.wallMillis()
                    s.stats.lastApplyError = "\(error)"
                }
                onApplyError(error)
                usleep(delay)
                delay = min(delay * 2, 2_000_000)
            }
        }
    }

    // MARK: files

    static let magic: [UInt8] = Array("VIGJRNL1".utf8)

    /// Empties a segment; a non-zero generation writes a fresh header (an active segment).
    static func reset(_ seg: inout Segment, generation: UInt64) throws(StoreError) {
        guard ftruncate(seg.fd, 0) == 0 else { throw StoreError("truncate \(seg.path)", errno: errno) }
        seg.bytes = 0
        seg.names = JournalCodec.Names()
        seg.selfNaming = false
        guard generation > 0 else { return }
        var header = magic
        JournalCodec.put(generation, &header)
        guard pwrite(seg.fd, header, header.count, 0) == header.count else { throw StoreError("write \(seg.path)", errno: errno) }
        lseek(seg.fd, 0, SEEK_END)
        seg.bytes = header.count
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(StoreError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError("write \(path)", errno: errno)
            }
            done += n
        }
    }

    static func readAll(_ fd: Int32, path: String) throws(StoreError) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while true {
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError("read \(path)", errno: errno)
            }
            if n == 0 { return out }
            out.append(contentsOf: buf[0..<n])
            offset += off_t(n)
        }
    }
}

/// A storage I/O failure with the operation and errno.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var errno: Int32
    public init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }
    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}
