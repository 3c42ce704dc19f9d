import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
public import Logging
public import ServiceLifecycle
import Synchronization
public import VigilCore
public import VigilStore

/// Tells operators what changed: appends the daemon's own degradation and recovery to the event
/// log, and delivers the log to each `[[notify.webhook]]` in order, one POST per event, from a
/// cursor kept in SQLite that moves only after the receiver's 2xx. A receiver that is down or
/// failing is retried with backoff (1 s doubling to 5 min), across restarts; nothing here ever
/// waits on ingestion or scoring, nor they on it. Delivery is at least once: receivers
/// deduplicate by `X-Vigil-Event-Id` (the event's `id`).
public final class NotifyService: Service, Sendable {
    /// One webhook and how its delivery goes (for /metrics).
    struct Sink: Sendable {
        let name: String
        let hook: Webhook
        var cursor: NotifyCursor
        var nextAttempt: Double = 0
        var delivered = 0
        var failed = 0
    }

    public struct SinkStats: Sendable {
        public var name: String
        public var delivered: Int
        public var failed: Int
        public var pending: Int64
        public var lastError: String?
    }

    let writer: StoreWriter
    let condition: DaemonCondition?
    let logger: Logger
    private let sinks: Mutex<[Sink]>
    private let reasons = Mutex<Set<DegradedReason>?>(nil)
    private let lastEvent = Atomic<Int64>(0)
    /// The daemon's condition is first judged this long after the start: connecting to the broker
    /// is not an outage worth a notification.
    static let startupGraceSeconds = 15.0
    private let started = SystemClock.monotonicSeconds()

    /// Loads (or starts at the newest event) each webhook's cursor, so a new webhook gets what
    /// happens from now on, not the whole history.
    /// Events are kept `keepDays` (0 = forever), and longer until every webhook and upstream sink has them.
    let keepDays: Int
    private let lastPrune = Atomic<Int64>(0)

    /// The last event every upstream sink has (nil: none sends events): kept until then too.
    let upstreamAcknowledged: (@Sendable () -> Int64?)?

    public init(writer: StoreWriter, webhooks: [Webhook], condition: DaemonCondition?, keepDays: Int = 365,
                upstreamAcknowledged: (@Sendable () -> Int64?)? = nil, logger: Logger) throws {
        self.writer = writer
        self.upstreamAcknowledged = upstreamAcknowledged
        self.keepDays = keepDays
        self.condition = condition
        self.logger = logger
        let newest = try writer.lastEventID()
        var sinks: [Sink] = []
        for (n, hook) in webhooks.enumerated() {
            let key = "webhook " + hook.url
            let cursor = try writer.notifyCursor(sink: key) ?? {
                let fresh = NotifyCursor(lastEvent: newest, failures: 0, lastError: nil)
                try writer.setNotifyCursor(sink: key, fresh)
                return fresh
            }()
            sinks.append(Sink(name: "webhook[\(n)]", hook: hook, cursor: cursor))
        }
        self.sinks = Mutex(sinks)
        lastEvent.store(newest, ordering: .relaxed)
    }

    public var stats: [SinkStats] {
        let newest = lastEvent.load(ordering: .relaxed)
        return sinks.withLock { $0.map { SinkStats(name: $0.name, delivered: $0.delivered, failed: $0.failed,
                                                   pending: max(0, newest - $0.cursor.lastEvent), lastError: $0.cursor.lastError) } }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            do {
                try noteCondition()
                let indices = sinks.withLock { $0.indices }
                // The newest id is only for the sinks' pending gauge: no writer round trip without sinks.
                if !indices.isEmpty { lastEvent.store(try writer.lastEventID(), ordering: .relaxed) }
                for i in indices { try await deliver(sink: i) }
                try pruneHourly()
            } catch {
                logger.error("notification pass failed; will retry", metadata: ["error": "\(error)"])
            }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } } catch { break }
        }
    }

    /// Deletes events past `keepDays` that every sink has delivered, once an hour.
    func pruneHourly() throws {
        let now = SystemClock.wallMillis()
        guard keepDays > 0, now - lastPrune.load(ordering: .relaxed) >= 3_600_000 else { return }
        lastPrune.store(now, ordering: .relaxed)
        let acknowledged = min(sinks.withLock { $0.map(\.cursor.lastEvent).min() } ?? .max, upstreamAcknowledged?() ?? .max)
        let pruned = try writer.pruneEvents(before: now - Int64(keepDays) * 86_400_000, acknowledged: acknowledged)
        if pruned > 0 { logger.info("old events pruned", metadata: ["events": "\(pruned)"]) }
    }

    /// Appends `daemon_degraded` / `daemon_recovered` when the daemon's condition changes.
    func noteCondition() throws {
        guard let condition, SystemClock.monotonicSeconds() - started >= Self.startupGraceSeconds else { return }
        let (_, now) = condition.status()
        let current = Set(now.map(\.reason))
        let previous = reasons.withLock { r in
            defer { r = current }
            return r
        }
        // The first look after a start reports only a degraded daemon.
        guard previous != current, previous != nil || !current.isEmpty else { return }
        let at = SystemClock.wallMillis()
        if current.isEmpty {
            try writer.appendEvents([Event(at: at, kind: .daemonRecovered, detail: "vigild is well again")])
        } else {
            try writer.appendEvents([Event(at: at, kind: .daemonDegraded,
                                           detail: "vigild degraded: " + now.map { "\($0.reason.rawValue) (\($0.detail))" }.joined(separator: "; "))])
        }
    }

    /// Seconds before the next attempt after `failures` failures in a row: 1 s doubling to 5 min
    /// (webhooks and upstream sinks alike).
    static func retryDelay(failures: Int) -> Double {
        min(300, pow(2, Double(min(failures, 12)) - 1))
    }

    /// Sends what sink `i` has not acknowledged yet, in order, until the first failure.
    private func deliver(sink i: Int) async throws {
        var sink = sinks.withLock { $0[i] }
        guard SystemClock.monotonicSeconds() >= sink.nextAttempt else { return }
        let pending = try writer.events(after: sink.cursor.lastEvent, limit: 200)
        guard !pending.isEmpty else { return }
        for event in pending {
            if sink.hook.wants(event) {
                if let error = await post(event, to: sink.hook) {
                    sink.failed += 1
                    sink.cursor.failures += 1
                    sink.cursor.lastError = error
                    sink.nextAttempt = SystemClock.monotonicSeconds() + NotifyService.retryDelay(failures: sink.cursor.failures)
                    logger.warning("notification not delivered; will retry", metadata: [
                        "notify.sink": "\(sink.name)", "event.id": "\(event.id)", "error": "\(error)", "notify.failures": "\(sink.cursor.failures)"])
                    break
                }
                sink.delivered += 1
            }
            sink.cursor.lastEvent = event.id
            sink.cursor.failures = 0
            sink.cursor.lastError = nil
        }
        try writer.setNotifyCursor(sink: "webhook " + sink.hook.url, sink.cursor)
        let updated = sink
        sinks.withLock { $0[i] = updated }
    }

    /// POSTs one event; nil when the receiver answered 2xx, else what went wrong.
    private func post(_ event: Event, to hook: Webhook) async -> String? {
        guard let url = URL(string: hook.url) else { return "invalid URL" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let body = try? encoder.encode(event) else { return "cannot encode event \(event.id)" }
        var request = URLRequest(url: url, timeoutInterval: 10)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue(String(event.id), forHTTPHeaderField: "X-Vigil-Event-Id")
        request.setValue(event.kind.rawValue, forHTTPHeaderField: "X-Vigil-Event-Kind")
        if !hook.bearerToken.isEmpty { request.setValue("Bearer " + hook.bearerToken, forHTTPHeaderField: "Authorization") }
        if !hook.secret.isEmpty {
            let mac = SHA256.hmac(key: Array(hook.secret.utf8), message: Array(body))
            request.setValue("sha256=" + SHA256.hex(mac), forHTTPHeaderField: "X-Vigil-Signature")
        }
        do {
            let (_, response) = try await URLSession.shared.data(for: request)
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            return (200..<300).contains(status) ? nil : "HTTP \(status)"
        } catch {
            return "\(error)"
        }
    }
}
