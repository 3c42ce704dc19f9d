import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
public import Logging
public import ServiceLifecycle
import Synchronization
public import VigilCore
public import VigilAPI
public import VigilStore

/// Streams this site's rollups, health points, model versions, maintenance and events into each
/// `[[upstream.clickhouse]]` (docs/scale-out.md), from a durable outbox: per sink and stream a
/// cursor in SQLite over the change log (or the event log), moved only after ClickHouse answered
/// 2xx. A `kill -9`, a restart or an outage of hours loses nothing and resends at most the batch
/// in flight, which the tables' replacing key absorbs. Runs beside ingestion and scoring and
/// never waits on them (reads go through the read-only connections), nor they on it.
public final class UpstreamService: Service, Sendable {
    /// One sink's delivery of one stream.
    struct Lane: Sendable {
        let sink: Int
        let stream: UpstreamStream
        var cursor: UpstreamCursor
        /// False until its cursor exists (a new sink's lane starts in `run`).
        var started: Bool
        var nextAttempt: Double = 0
        /// When the last insert went (monotonic seconds), and whether it was a full batch.
        var lastSent: Double = 0
        var full = false
        var sentRows = 0
        var failed = 0
        var backlog = UpstreamBacklog(rows: 0, oldestAt: nil)
    }

    let writer: StoreWriter
    let reader: StoreReader
    let site: String
    let sinks: [ClickHouseSink]
    let passwords: [String]
    let logger: Logger
    /// A new sink is first sent what changed since then (`upstream.backfill_days` ago).
    let backfillSince: Int64
    private let lanes: Mutex<[Lane]>
    private let lastBacklog = Atomic<Int64>(0)

    /// Resumes every sink's lanes; a new sink's lanes start in `run`, first sending `backfillDays`
    /// of history (see `StoreWriter.startUpstream`).
    public init(writer: StoreWriter, reader: StoreReader, site: String, sinks: [ClickHouseSink], backfillDays: Int,
                environment: [String: String], logger: Logger) throws {
        self.writer = writer
        self.reader = reader
        self.site = site
        self.sinks = sinks
        self.passwords = sinks.map { $0.resolvedPassword(environment: environment) }
        self.logger = logger
        backfillSince = SystemClock.wallMillis() - Int64(backfillDays) * 86_400_000
        var lanes: [Lane] = []
        for (n, sink) in sinks.enumerated() {
            for stream in sink.streams {
                // A new lane starts (and backfills) in `run`, after READY: a big backfill must not
                // hold up the daemon's start. Until then its cursor is 0, which also keeps the log
                // and the events it will need from being pruned.
                let cursor = try writer.upstreamCursor(sink: sink.cursorName, stream: stream)
                lanes.append(Lane(sink: n, stream: stream, cursor: cursor ?? UpstreamCursor(lastSeq: 0), started: cursor != nil))
            }
        }
        self.lanes = Mutex(lanes)
    }

    /// Starts the lanes of new sinks: their cursor and the history they are sent first.
    private func startNewLanes() throws {
        for i in lanes.withLock({ Array($0.indices) }) where !lanes.withLock({ $0[i].started }) {
            let (sink, stream) = lanes.withLock { (sinks[$0[i].sink], $0[i].stream) }
            let cursor = try writer.startUpstream(sink: sink.cursorName, stream: stream, since: backfillSince)
            lanes.withLock { $0[i].cursor = cursor; $0[i].started = true }
            logger.info("upstream stream started", metadata: ["upstream.sink": "\(sink.url)", "upstream.stream": "\(stream.rawValue)"])
        }
    }

    /// The streams some sink sends (the writer logs changes for these).
    public static func streams(_ sinks: [ClickHouseSink]) -> Set<UpstreamStream> {
        Set(sinks.flatMap(\.streams))
    }

    /// Each lane as `/metrics`, `/api/v1/upstream` and `vigil upstream status` show it.
    public var status: [API.UpstreamLane] {
        lanes.withLock { $0.map {
            API.UpstreamLane(sink: "clickhouse[\($0.sink)]", url: sinks[$0.sink].url, stream: $0.stream, cursor: $0.cursor.lastSeq,
                             sentRows: $0.sentRows, failures: $0.failed, pendingRows: $0.backlog.rows, oldestPendingAt: $0.backlog.oldestAt,
                             lastError: $0.cursor.lastError)
        } }
    }

    /// The least cursor of the sinks sending `stream` (nil: none sends it).
    public func acknowledged(_ stream: UpstreamStream) -> Int64? {
        lanes.withLock { $0.filter { $0.stream == stream }.map(\.cursor.lastSeq).min() }
    }

    /// How long the oldest row no sink has acknowledged has waited (0: none), for `/healthz`.
    public var lagMillis: Int64 {
        let oldest = lanes.withLock { $0.compactMap(\.backlog.oldestAt).min() }
        return oldest.map { max(0, SystemClock.wallMillis() - $0) } ?? 0
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            var busy = false
            do {
                try startNewLanes()
                let count = lanes.withLock { $0.count }
                for i in 0..<count { busy = try await deliver(lane: i) || busy }
                try await refreshBacklog()
            } catch {
                logger.error("upstream pass failed; will retry", metadata: ["error": "\(error)"])
            }
            // A full batch was sent: there is more, go on at once.
            if busy { continue }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } } catch { break }
        }
    }

    /// Sends lane `i`'s next batch; true when it was full (more is waiting).
    private func deliver(lane i: Int) async throws -> Bool {
        var lane = lanes.withLock { $0[i] }
        let sink = sinks[lane.sink]
        let now = SystemClock.monotonicSeconds()
        guard lane.started, now >= lane.nextAttempt, lane.full || now - lane.lastSent >= Double(sink.flushSeconds) else { return false }
        let batch = try await reader.upstreamBatch(stream: lane.stream, after: lane.cursor.lastSeq, limit: sink.batchRows, calendar: writer.calendar,
                                                     sensorRules: writer.sensorRules)
        guard batch.changes > 0 else {
            if lane.full { lanes.withLock { $0[i].full = false } }  // drained: back to flush_seconds
            return false
        }
        if !batch.rows.isEmpty, let error = await post(ClickHouse.rowBinary(batch.rows, site: site), stream: lane.stream, sink: lane.sink) {
            lane.failed += 1
            lane.cursor.failures += 1
            lane.cursor.lastError = error
            lane.nextAttempt = SystemClock.monotonicSeconds() + NotifyService.retryDelay(failures: lane.cursor.failures)
            logger.warning("upstream insert failed; will retry", metadata: [
                "upstream.sink": "clickhouse[\(lane.sink)]", "upstream.stream": "\(lane.stream.rawValue)", "error": "\(error)",
                "upstream.failures": "\(lane.cursor.failures)"])
            try writer.setUpstreamCursor(sink: sink.cursorName, stream: lane.stream, lane.cursor)
            let failed = lane
            lanes.withLock { $0[i] = failed }
            return false
        }
        if lane.cursor.failures > 0 {
            logger.notice("upstream insert succeeded again", metadata: ["upstream.sink": "clickhouse[\(lane.sink)]", "upstream.stream": "\(lane.stream.rawValue)"])
        }
        let full = batch.changes >= sink.batchRows
        lane.cursor = UpstreamCursor(lastSeq: batch.through)
        lane.lastSent = now
        lane.full = full
        lane.sentRows += batch.rows.count
        lane.backlog = full ? UpstreamBacklog(rows: max(0, lane.backlog.rows - Int64(batch.changes)), oldestAt: lane.backlog.oldestAt)
                            : UpstreamBacklog(rows: 0, oldestAt: nil)
        try writer.setUpstreamCursor(sink: sink.cursorName, stream: lane.stream, lane.cursor)
        let sent = lane
        lanes.withLock { $0[i] = sent }
        if lane.stream.usesChangeLog { try prune(lane.stream) }
        return full
    }

    /// Forgets what every sink sending `stream` has acknowledged.
    private func prune(_ stream: UpstreamStream) throws {
        guard let least = acknowledged(stream) else { return }
        try writer.pruneUpstreamChanges(stream: stream, through: least)
    }

    /// Recounts each lane's backlog every 10 s (a range count over the change log).
    private func refreshBacklog() async throws {
        let now = SystemClock.wallMillis()
        guard now - lastBacklog.load(ordering: .relaxed) >= 10_000 else { return }
        lastBacklog.store(now, ordering: .relaxed)
        let snapshot = lanes.withLock { $0.map { ($0.stream, $0.cursor.lastSeq) } }
        for (i, (stream, cursor)) in snapshot.enumerated() {
            let backlog = try await reader.upstreamBacklog(stream: stream, after: cursor)
            lanes.withLock { if $0[i].cursor.lastSeq == cursor { $0[i].backlog = backlog } }
        }
    }

    /// POSTs one `INSERT … FORMAT RowBinary`; nil on 2xx, else what went wrong.
    private func post(_ body: [UInt8], stream: UpstreamStream, sink n: Int) async -> String? {
        let sink = sinks[n]
        var components = URLComponents(string: sink.url + "/")
        // Synchronous across shards: a Distributed insert is acknowledged only once every shard has
        // its rows, so a shard that is down fails the insert and the outbox keeps them (ClickHouse's
        // own queue of asynchronous Distributed inserts once lost rows when a shard was killed while
        // they were being forwarded). A retry after a partial success only re-inserts rows that
        // ReplacingMergeTree(rev) collapses. No effect on a plain table.
        components?.queryItems = [URLQueryItem(name: "query", value: ClickHouse.insert(database: sink.database, prefix: sink.tablePrefix, stream: stream)),
                                  URLQueryItem(name: "insert_distributed_sync", value: "1")]
        guard let url = components?.url else { return "invalid URL" }
        var request = URLRequest(url: url, timeoutInterval: 60)
        request.httpMethod = "POST"
        request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        if sink.compress, let gzipped = Gzip.compress(body, level: 1) {
            request.httpBody = Data(gzipped)
            request.setValue("gzip", forHTTPHeaderField: "Content-Encoding")
        } else {
            request.httpBody = Data(body)
        }
        let credentials = Data("\(sink.user):\(passwords[n])".utf8).base64EncodedString()
        request.setValue("Basic " + credentials, forHTTPHeaderField: "Authorization")
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            if (200..<300).contains(status) { return nil }
            let text = String(decoding: data.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return "HTTP \(status): \(text)"
        } catch {
            return "\(error)"
        }
    }
}
