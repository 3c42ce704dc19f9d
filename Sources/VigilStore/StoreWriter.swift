public import VigilCore
import VigilCodec
import VigilRollup
import Synchronization

/// The single writer of raw readings and quarantine. `write` applies a batch of messages in one
/// transaction that has committed when the call returns (`IngestBuffer` calls it with the
/// messages it holds in its journal).
public final class StoreWriter: Sendable {
    let state: Mutex<State>
    public let quarantineLimit: Int
    /// The fleet overview in memory, kept current after every commit.
    public let fleet: FleetIndex
    /// Every series' newest committed reading time, under its own lock (the API reads it while a
    /// pass may hold the writer for seconds). `series.last_ts` is written when it enters a new
    /// ten-minute window (`LastReadings.window`), not at every commit (a page of `series` per
    /// commit at a plant's pace): the file lags it by less than that window,
    /// `newestReadings(machine:)` answers exactly, and opening the store finds the exact time
    /// again (`LastReadings.load`).
    private let lastReadings: Mutex<[Int64: (name: SeriesName, ts: Int64)]>
    let clock: @Sendable () -> Int64
    /// The streams upstream sinks send: changes to their rows are noted in the change log.
    public let upstream: Set<UpstreamStream>
    /// Whether the health registry was handed out (it is, once).
    let healthRegistryTaken = Atomic<Bool>(false)
    /// The plant's days, which day rollups are cut on.
    public let calendar: PlantCalendar
    /// The configuration's `[[sensors]]` rules (laid under what devices and operators stored).
    public let sensorRules: [SensorRule]
    /// Set when opening found day rollups cut in another zone and cut them again: from which zone
    /// to which, and how many series-days were written.
    public let recutDays: (from: String, to: String, days: Int)?

    struct State {
        let db: SQLiteConnection
        let insertQuarantine: Statement
        let countReject: Statement
        var seriesIDs: [SeriesName: Int64] = [:]
        var seriesNames: [Int64: SeriesName] = [:]
        /// The series a machine's readings named, by position (most readings are found there).
        var seriesByPosition = SeriesByPosition<Int64>()
        /// The series named for the first time by the transaction under way: forgotten again if it
        /// rolls back (its retry must name them again, or its readings would go to ids that do not exist).
        var namedUncommitted: [SeriesName] = []
        var quarantineRows: Int
        var rollups: RollupMaintenance
        var sealer: ChunkSealer
        var sealed: ChunkTotals
        /// Loss accounting per series (every series that has sent a `seq`).
        var sequences: [Int64: SequenceTracker]
        let saveSequence: Statement
        /// Sensor metadata: the `[[sensors]]` rules, what is stored per source, and the physical
        /// ranges that result for the series that have one (`SensorMetadataRecords.swift`).
        let sensorRules: [SensorRule]
        var sensorMetadata: [SeriesName: [SensorMetadata.Source: SensorMetadata]]
        var limits: [Int64: SensorMetadata] = [:]
        /// Readings outside their sensor's physical range, per series, since the daemon started.
        var impossible: [Int64: Int64] = [:]
        /// Whether an upstream sink is sent the sensor stream (a new sensor, or new metadata, is noted).
        var upstreamSensors = false
    }

    struct SeriesName: Hashable {
        var machine: String
        var sensor: String
    }

    /// What one write did, for metrics.
    public struct Outcome: Sendable, Equatable {
        public var stored = 0
        public var quarantined = 0
        public var quarantineEvicted = 0
        /// Readings whose minute had already been closable when they arrived.
        public var late = 0
        /// Readings found missing by a jump in their series' sequence numbers.
        public var missing = 0
    }

    /// `rollupFlushDelayMillis`: how long a minute must be quiet (and over) before its rollup is
    /// recomputed; readings arriving later than that after their minute are counted as late.
    /// `sealAfterMillis`: how long after a span ends its readings stay rows before they are sealed
    /// into a chunk. `clock` stamps the rollup to-do marks (tests pin it).
    /// `syncCommits`: `synchronous=FULL`, each commit on stable storage before it returns (power-loss
    /// durability: the ingest journal's segment is emptied only after its batch is committed).
    /// `calendar`: the plant's days, which day rollups are cut on; when the store's were cut in
    /// another zone, they are cut again from the minute rollups first (`recutDays`).
    public init(path: String, quarantineLimit: Int = 10_000, rollupFlushDelayMillis: Int64 = 4_000,
                sealAfterMillis: Int64 = 3_600_000, syncCommits: Bool = false, upstream: Set<UpstreamStream> = [],
                sensorRules: [SensorRule] = [], calendar: PlantCalendar = .utc,
                clock: @escaping @Sendable () -> Int64 = SystemClock.wallMillis) throws {
        self.clock = clock
        self.upstream = upstream
        let db = try SQLiteConnection(path: path)
        try Schema.configure(db)
        // Freed pages go to the free list unwritten: sealing drops a span's row table (a few
        // hundred MB at a large plant) at the cost of the free list's pages. Debian builds SQLite
        // to zero every freed page (secure_delete), which writes the table once more; a reading's
        // old bytes stay in a free page until it is reused or the file vacuumed.
        try db.execute("PRAGMA secure_delete=OFF")
        // A sealing transaction reads and writes a whole span; SQLite's default cache (2 MB)
        // halved its speed. 64 MB, used only as needed.
        try db.execute("PRAGMA cache_size=-65536")
        if syncCommits { try db.execute("PRAGMA synchronous=FULL") }
        try Schema.migrate(db)
        let rows = try db.query("SELECT count(*) FROM quarantine") { Int($0.int(0)) }.first ?? 0
        self.quarantineLimit = quarantineLimit
        lastReadings = Mutex(try LastReadings.load(db))
        let fleet = FleetIndex()
        try fleet.load(db)
        self.fleet = fleet
        self.calendar = calendar
        self.sensorRules = sensorRules
        var rollups = RollupMaintenance(db: db, flushDelay: rollupFlushDelayMillis, upstream: upstream, calendar: calendar)
        let cutIn = try db.query("SELECT value FROM site_setting WHERE key = 'timezone'") { $0.text(0) }.first ?? "UTC"
        // The configuration's [[sensors]] may have changed since the last start: every sensor is
        // sent again (a row per series, replacing the cluster's).
        if upstream.contains(.sensor) { try db.run("INSERT INTO upstream_change(stream, series_id, machine, t, at) SELECT ?, id, NULL, 0, ? FROM series",
                                                   [.int(UpstreamStream.sensor.code), .int(clock())]) }
        if cutIn != calendar.timeZone {
            recutDays = (from: cutIn, to: calendar.timeZone, days: try rollups.recutDays())
            try db.run("INSERT OR REPLACE INTO site_setting(key, value) VALUES('timezone', ?)", [.text(calendar.timeZone)])
        } else {
            recutDays = nil
        }
        state = Mutex(State(
            db: db,
            insertQuarantine: try db.statement(
                "INSERT INTO quarantine(received_at, topic, payload, reason, detail) VALUES(?,?,?,?,?)"),
            countReject: try db.statement(
                "INSERT INTO reject_count(reason, n) VALUES(?1, ?2) ON CONFLICT(reason) DO UPDATE SET n = n + ?2"),
            quarantineRows: rows,
            rollups: rollups,
            sealer: ChunkSealer(db: db, sealAfter: sealAfterMillis),
            sealed: try ChunkTotals.load(db),
            sequences: try SequenceSQL.load(db),
            saveSequence: try db.statement(SequenceSQL.upsert),
            sensorRules: sensorRules,
            sensorMetadata: try SensorMetadataSQL.load(db), upstreamSensors: upstream.contains(.sensor)))
    }

    /// Stores the readings and rejections of `messages` atomically. A reading whose key exists
    /// replaces it (idempotent on `(machine, sensor, ts)`; the later message wins).
    public func write(_ messages: [IngestMessage]) throws -> Outcome {
        try state.withLock { s in
            var outcome = Outcome()
            var touched: Set<SeriesBucket> = []
            var lastTouched: SeriesBucket?  // consecutive readings mostly share a minute
            var latest: [Int64: Int64] = [:]  // series → largest ts in this batch
            var received: [String: Int64] = [:]  // machine → latest receipt in this batch
            // Consecutive readings mostly share a series: its limits are looked up once.
            var lastID: Int64 = -1
            var lastLimits: SensorMetadata?
            var sequenced: [Int64: SequenceTracker?] = [:]  // series whose loss accounting changed → as it was
            var lastSequenced: Int64?
            var lossByMinute: [SeriesBucket: Int64] = [:]  // change of missing readings per series-minute
            var spans: Set<Int64> = []  // row tables made sure of in this batch
            var lastSpan: Int64?  // consecutive readings mostly share a span
            var rows: [RowTable.Pending] = []
            var newTables = false  // the view of the row tables is made again before the commit
            s.namedUncommitted.removeAll()
            do { try s.db.transaction {
                for m in messages {
                    var previous: String?
                    for r in m.readings where m.live && r.machine != previous {
                        previous = r.machine
                        if m.receivedAt > received[r.machine, default: .min] { received[r.machine] = m.receivedAt }
                    }
                    var positions = s.seriesByPosition
                    s.seriesByPosition = SeriesByPosition()  // taken out, so it is updated in place
                    defer { s.seriesByPosition = positions }
                    let ids = try positions.ids(of: m.readings) { r throws in try Self.seriesID(&s, r) }
                    for (r, id) in zip(m.readings, ids) {
                        if id != lastID {
                            lastID = id
                            lastLimits = s.limits.isEmpty ? nil : s.limits[id]
                        }
                        if lastLimits?.isImpossible(r.value) == true {
                            s.impossible[id, default: 0] += 1
                        }
                        let bucket = SeriesBucket(series: id, start: BucketWidth.minute.start(of: r.ts))
                        if bucket != lastTouched {
                            touched.insert(bucket)
                            lastTouched = bucket
                        }
                        if r.ts > latest[id, default: .min] { latest[id] = r.ts }
                        if s.rollups.isLate(ts: r.ts, receivedAt: m.receivedAt) { outcome.late += 1 }
                        if let seq = r.seq {
                            if id != lastSequenced, sequenced[id] == nil { sequenced[id] = .some(s.sequences[id]) }
                            lastSequenced = id
                            let previous = s.sequences[id]?.highestTs
                            switch s.sequences[id, default: SequenceTracker()].observe(seq: seq, ts: r.ts) {
                            case .gap(let n):
                                outcome.missing += Int(n)
                                for part in SequenceTracker.minutesOfGap(count: n, from: previous ?? r.ts, to: r.ts) {
                                    lossByMinute[SeriesBucket(series: id, start: part.minute), default: 0] += part.missing
                                }
                            case .late:
                                lossByMinute[SeriesBucket(series: id, start: BucketWidth.minute.start(of: r.ts)), default: 0] -= 1
                            default:
                                break
                            }
                        }
                        let span = RowTable.span(of: r.ts)
                        if span != lastSpan {
                            // Once per span and batch: its table may be new (or dropped by sealing since).
                            if spans.insert(span).inserted, try RowTable.create(s.db, span: span) { newTables = true }
                            lastSpan = span
                        }
                        rows.append(RowTable.Pending(span: span, series: id, ts: r.ts, value: r.value, seq: r.seq))
                    }
                    outcome.stored += m.readings.count
                    for j in m.rejections {
                        let q = s.insertQuarantine
                        q.reset()
                        try q.bind([.int(m.receivedAt), .text(m.topic), .blob(m.payloadHead), .text(j.reason.rawValue), .text(j.detail)])
                        _ = try q.step()
                        try Self.count(&s, j.reason.rawValue, 1)
                    }
                    outcome.quarantined += m.rejections.count
                }
                try RowTable.upsert(s.db, &rows)
                let now = clock()
                for t in touched { try s.rollups.markDirty(series: t.series, minute: t.start, now: now) }
                let newest = lastReadings.withLock { $0 }
                for (id, ts) in latest {
                    let known = newest[id]?.ts
                    guard ts > known ?? .min else { continue }
                    if known.map({ LastReadings.windowStart($0) != LastReadings.windowStart(ts) }) ?? true {
                        try s.db.run("UPDATE series SET last_ts = max(last_ts, ?) WHERE id = ?", [.int(ts), .int(id)])
                    }
                }
                if newTables { try RowTable.recreateView(s.db) }
                for id in sequenced.keys { try SequenceSQL.save(s.saveSequence, series: id, s.sequences[id]!) }
                for (bucket, change) in lossByMinute where change != 0 {
                    try s.db.run("INSERT INTO loss_minute(series_id, minute, missing) VALUES(?1, ?2, max(0, ?3)) "
                                 + "ON CONFLICT(series_id, minute) DO UPDATE SET missing = max(0, missing + ?3)",
                                 [.int(bucket.series), .int(bucket.start), .int(change)])
                }
                s.quarantineRows += outcome.quarantined
                let excess = s.quarantineRows - quarantineLimit
                if excess > 0 {
                    // Oldest first; the eviction itself is counted so nothing leaves silently.
                    try s.db.run("DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine ORDER BY id LIMIT ?)", [.int(Int64(excess))])
                    try Self.count(&s, "quarantine_evicted", excess)
                    s.quarantineRows -= excess
                    outcome.quarantineEvicted = excess
                }
            } } catch {
                // Rolled back: the batch will be offered again, so its readings were not seen, and
                // the series it named are not in the file.
                for (id, old) in sequenced { s.sequences[id] = old }
                for name in s.namedUncommitted {
                    guard let id = s.seriesIDs.removeValue(forKey: name) else { continue }
                    s.seriesNames[id] = nil
                    s.limits[id] = nil
                    s.impossible[id] = nil
                    s.seriesByPosition.forget(machine: name.machine)
                }
                throw error
            }
            // Committed: visible to the fleet overview.
            lastReadings.withLock { newest in
                for (id, ts) in latest where ts > newest[id]?.ts ?? .min { newest[id] = (s.seriesNames[id]!, ts) }
            }
            fleet.noteReadings(Dictionary(uniqueKeysWithValues: latest.map { (s.seriesNames[$0.key]!, $0.value) }), received: received)
            var missingChange: [String: Int64] = [:]
            for (id, old) in sequenced { missingChange[s.seriesNames[id]!.machine, default: 0] += s.sequences[id]!.missing - (old?.missing ?? 0) }
            fleet.noteMissing(missingChange)
            return outcome
        }
    }

    /// The newest committed reading time of each sensor of `machine` (exact; `series.last_ts` in
    /// the file may lag it by less than `LastReadings.window`).
    public func newestReadings(machine: String) -> [String: Int64] {
        lastReadings.withLock { newest in
            var out: [String: Int64] = [:]
            for (name, ts) in newest.values where name.machine == machine { out[name.sensor] = ts }
            return out
        }
    }

    /// A journaled message not yet committed (`ingest.apply_interval`): its machines and sensors,
    /// last seen and received, are in the fleet overview from now on.
    func noteUncommitted(_ m: IngestMessage) {
        fleet.noteMessage(m.readings, received: m.live ? m.receivedAt : nil)
    }

    private static func count(_ s: inout State, _ reason: String, _ n: Int) throws {
        let c = s.countReject
        c.reset()
        try c.bind([.text(reason), .int(Int64(n))])
        _ = try c.step()
    }

    private static func seriesID(_ s: inout State, _ r: Reading) throws -> Int64 {
        let name = SeriesName(machine: r.machine, sensor: r.sensor)
        if let id = s.seriesIDs[name] { return id }
        try s.db.run("INSERT INTO series(machine, sensor) VALUES(?,?) ON CONFLICT(machine, sensor) DO NOTHING",
                     [.text(r.machine), .text(r.sensor)])
        let id = try s.db.query("SELECT id FROM series WHERE machine=? AND sensor=?", [.text(r.machine), .text(r.sensor)]) { $0.int(0) }[0]
        s.seriesIDs[name] = id
        s.seriesNames[id] = name
        s.namedUncommitted.append(name)
        resolveLimits(&s, series: id)
        if s.upstreamSensors { try UpstreamLog.note(s.db, .sensor, series: id, t: 0) }
        return id
    }
}

// MARK: other writers' work on the single connection

extension StoreWriter {
    /// Runs `body` with the writer connection held (health records, registry).
    func withConnection<T>(_ body: @Sendable (SQLiteConnection) throws -> T) throws -> T {
        try state.withLock { s in try body(s.db) }
    }
}

// MARK: rollups and retention (they share the single writer connection)

extension StoreWriter {
    /// Re-reduces the minutes that are due (and their days) in one transaction.
    public func rollupPass(now: Int64 = SystemClock.wallMillis(), limit: Int = 2_000) throws -> RollupPass {
        try state.withLock { s in
            do {
                let pass = try s.db.transaction { try s.rollups.pass(now: now, limit: limit) }
                s.rollups.keepFolds()
                return pass
            } catch {
                s.rollups.forgetFolds()
                throw error
            }
        }
    }

    /// Runs passes until nothing is due.
    public func rollupAllDue(now: Int64 = SystemClock.wallMillis()) throws -> RollupPass {
        var total = RollupPass()
        while true {
            let p = try rollupPass(now: now)
            total.minutes += p.minutes
            total.days += p.days
            if p.minutes == 0 { return total }
        }
    }

    /// Buckets waiting for a pass and the rollup lag.
    public func rollupBacklog(now: Int64 = SystemClock.wallMillis()) throws -> (pending: Int, lagMillis: Int64) {
        try state.withLock { s in try s.rollups.backlog(now: now) }
    }

    /// Recomputes the rollups of the local days overlapping `[from, to)` from raw
    /// (`vigild --rebuild-rollups`).
    public func rebuildRollups(from: Int64, to: Int64) throws -> RollupRebuild {
        try state.withLock { s in try s.rollups.rebuild(from: from, to: to) }
    }

    /// Applies the retention tiers: raw rows older than `rawDays` and minute rollups older than
    /// `minuteDays` whole local days before today go (0 keeps them forever); day rollups stay. Raw
    /// rows go by whole 6-hour spans (sealed chunks), so up to 6 hours more may stay; minute
    /// rollups by whole local days, never past the raw horizon.
    public func applyRetention(rawDays: Int, minuteDays: Int, now: Int64 = SystemClock.wallMillis()) throws -> RetentionPrune {
        let rawBefore = rawDays > 0 ? ChunkSpan.start(of: calendar.dayStart(rawDays, daysBefore: now)) : nil
        var minutesBefore = minuteDays > 0 ? calendar.dayStart(minuteDays, daysBefore: now) : nil
        if let rawBefore, let m = minutesBefore, m > rawBefore { minutesBefore = calendar.dayStart(of: rawBefore) }
        if let rawBefore, let minutesBefore { precondition(rawBefore >= minutesBefore, "minute rollups must outlive raw rows") }
        precondition(minutesBefore == nil || rawBefore != nil, "minute rollups must outlive raw rows")
        return try state.withLock { s in
            let pruned = try s.db.transaction { try s.rollups.prune(rawBefore: rawBefore, minutesBefore: minutesBefore, now: now) }
            s.sealed -= pruned.chunks
            return pruned
        }
    }
}

// MARK: sealed history

extension StoreWriter {
    /// One sealing transaction, so ingestion commits in between: one span's rows (every series of
    /// it), or about `maxMinuteBuckets` minute buckets into sealed days; `more` says whether to call again.
    public func sealPass(now: Int64 = SystemClock.wallMillis(), maxMinuteBuckets: Int = 100_000) throws -> SealPass {
        try state.withLock { s in
            let pass = try s.db.transaction { try s.sealer.seal(now: now, maxMinuteBuckets: maxMinuteBuckets) }
            s.sealed += pass.delta
            return pass
        }
    }

    /// Seals everything sealable now, one bounded transaction at a time (`vigild --seal`, tests);
    /// `progress` hears of each transaction. Returns what the passes moved.
    public func sealAll(now: Int64 = SystemClock.wallMillis(), progress: (SealPass) -> Void = { _ in }) throws -> SealPass {
        var total = SealPass()
        while true {
            let p = try sealPass(now: now)
            progress(p)
            total += p
            if !p.more { return total }
        }
    }

    /// The database file's pages in bytes: all of them, and the free ones (freed by sealing,
    /// retention or removal, reused by new rows).
    public struct FileSpace: Sendable, Equatable {
        public var bytes: Int
        public var free: Int
        public var live: Int { bytes - free }
        /// More than half of the file and at least 16 MB free: worth giving back.
        public var mostlyFree: Bool { free * 2 > bytes && free > 16 << 20 }
    }

    public func fileSpace() throws -> FileSpace {
        try state.withLock { try Self.fileSpace($0.db) }
    }

    private static func fileSpace(_ db: SQLiteConnection) throws -> FileSpace {
        let free = try db.query("PRAGMA freelist_count") { Int($0.int(0)) }.first ?? 0
        let pages = try db.query("PRAGMA page_count") { Int($0.int(0)) }.first ?? 0
        let size = try db.query("PRAGMA page_size") { Int($0.int(0)) }.first ?? 4096
        return FileSpace(bytes: pages * size, free: free * size)
    }

    /// Gives free pages back to the file system with `VACUUM` when most of the file is free
    /// (`FileSpace.mostlyFree`: after converting a row-table database, sealing a bulk backfill or
    /// retention of a long history; in steady state new rows reuse what sealing frees) and what is
    /// live is at most `maxLiveBytes`. Holds the writer for as long as the copy of what is live
    /// takes (about a second per 50 MB here). Returns the bytes released.
    @discardableResult
    public func compact(maxLiveBytes: Int = .max) throws -> Int {
        try state.withLock { s in
            let before = try Self.fileSpace(s.db)
            guard before.mostlyFree, before.live <= maxLiveBytes else { return 0 }
            try s.db.execute("VACUUM")
            try s.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return before.bytes - (try Self.fileSpace(s.db)).bytes
        }
    }

    /// Sealed chunks, the readings in them and their bytes.
    public var sealedTotals: ChunkTotals { state.withLock { $0.sealed } }

    /// Re-reads the sealed totals from the database (another process, `vigild --seal`, may have sealed).
    public func reloadSealedTotals() throws {
        try state.withLock { s in s.sealed = try ChunkTotals.load(s.db) }
    }
}

// MARK: decommissioning

/// What decommissioning a machine deleted.
public struct RemovedCounts: Sendable, Equatable {
    public var machine: String
    public var sensors = 0
    public var readings = 0
    public var rollupRows = 0
    public var modelVersions = 0
    public var healthPoints = 0
}

extension StoreWriter {
    /// Deletes a machine and everything stored under it — readings, rollups, health, model
    /// versions, maintenance events — in one transaction that also records a `machine_removed`
    /// event, and drops it from the fleet overview.
    /// Quarantine entries and reject counters stay (they record what arrived, not a machine).
    /// Returns nil when the machine is unknown. A device that keeps publishing comes back as a
    /// new machine.
    public func removeMachine(_ machine: String) throws -> RemovedCounts? {
        try state.withLock { s in
            let known = try s.db.query("SELECT 1 FROM series WHERE machine = ? UNION SELECT 1 FROM machine_health WHERE machine = ?",
                                       [.text(machine), .text(machine)]) { _ in true }
            guard !known.isEmpty else { return nil }
            var removed = RemovedCounts(machine: machine)
            var dropped = ChunkTotals()
            s.rollups.forgetFolds()  // its series' days go (and a new series may take an id back)
            try s.db.transaction {
                let ids = try s.db.query("SELECT id FROM series WHERE machine = ?", [.text(machine)]) { $0.int(0) }
                removed.sensors = ids.count
                for id in ids {
                    removed.readings += try RowTable.delete(s.db, series: id)
                    let sealed = try RawHistory.deleteSealed(s.db, series: id)
                    removed.readings += sealed.chunks.readings
                    removed.rollupRows += sealed.minuteBuckets
                    dropped += sealed.chunks
                    removed.rollupRows += try RollupRows.minute.delete(s.db, series: id) + RollupRows.day.delete(s.db, series: id)
                    try s.db.run("DELETE FROM rollup_base WHERE series_id = ?", [.int(id)])
                    removed.rollupRows += s.db.changes
                    try s.db.run("DELETE FROM rollup_dirty WHERE series_id = ?", [.int(id)])
                    try s.db.run("DELETE FROM series_quality WHERE series_id = ?", [.int(id)])
                    try s.db.run("DELETE FROM loss_minute WHERE series_id = ?", [.int(id)])
                    s.sequences[id] = nil
                }
                try s.db.run("DELETE FROM series WHERE machine = ?", [.text(machine)])
                try s.db.run("DELETE FROM model WHERE machine = ?", [.text(machine)])
                removed.modelVersions = s.db.changes
                for table in ["health_history_kept", "health_history_recent"] {
                    try s.db.run("DELETE FROM \(table) WHERE machine = ?", [.text(machine)])
                    removed.healthPoints += s.db.changes
                }
                try s.db.run("DELETE FROM sensor_condition WHERE machine = ?", [.text(machine)])
                try s.db.run("DELETE FROM machine_health WHERE machine = ?", [.text(machine)])
                try s.db.run("DELETE FROM health_state WHERE machine = ?", [.text(machine)])
                try s.db.run("DELETE FROM maintenance WHERE machine = ?", [.text(machine)])
                try EventSQL.append(s.db, [Event(at: clock(), kind: .machineRemoved, machine: machine, detail: """
                    \(machine) decommissioned: \(removed.sensors) sensors, \(removed.readings) readings, \(removed.rollupRows) rollup rows, \
                    \(removed.modelVersions) model versions and \(removed.healthPoints) health points deleted
                    """)])
            }
            s.sealed -= dropped
            s.seriesIDs = s.seriesIDs.filter { $0.key.machine != machine }
            s.seriesByPosition.forget(machine: machine)
            s.seriesNames = s.seriesNames.filter { $0.value.machine != machine }
            lastReadings.withLock { $0 = $0.filter { $0.value.name.machine != machine } }
            fleet.remove(machine: machine)
            return removed
        }
    }
}

// MARK: newest reading times

/// `series.last_ts`, kept to ten minutes: written when a series' newest reading enters a new
/// window. Once a minute it was 1.3 bytes of WAL a reading at a live plant (a `series` page per
/// commit that crossed a minute); once every ten, a tenth of that.
enum LastReadings {
    static let window: Int64 = 600_000

    static func windowStart(_ ts: Int64) -> Int64 {
        ts - ((ts % window) + window) % window
    }

    /// Every series' newest reading time, exact: the file's `last_ts` is in the same window as the
    /// newest reading (rows or a sealed chunk), so that window is read once per series. Written
    /// back where the file lagged, so what reads the file next (the fleet overview) is exact.
    static func load(_ db: SQLiteConnection) throws -> [Int64: (name: StoreWriter.SeriesName, ts: Int64)] {
        var out: [Int64: (name: StoreWriter.SeriesName, ts: Int64)] = [:]
        let series = try db.query("SELECT id, machine, sensor, last_ts FROM series") { ($0.int(0), $0.text(1), $0.text(2), $0.int(3)) }
        var readings = SeriesColumns()
        for (id, machine, sensor, stored) in series {
            var ts = stored
            if stored > 0 {
                let start = windowStart(stored)
                readings.removeAll()
                try RawHistory.read(db, series: id, from: start, to: start + window, withSeq: false, into: &readings)
                if let newest = readings.ts.last, newest > stored {
                    ts = newest
                    try db.run("UPDATE series SET last_ts = ? WHERE id = ?", [.int(ts), .int(id)])
                }
            }
            out[id] = (StoreWriter.SeriesName(machine: machine, sensor: sensor), ts)
        }
        return out
    }
}
