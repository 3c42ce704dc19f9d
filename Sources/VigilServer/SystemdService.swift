public import Logging
public import ServiceLifecycle
public import VigilMQTT
public import VigilStore
import Synchronization
import VigilCore

/// Tells systemd how `vigild` is: `READY=1` once storage is open, the HTTP port is bound and the
/// MQTT client is started; `STATUS=` with live figures; `WATCHDOG=1` only while ingestion is
/// healthy, so a wedged pipeline is restarted even though the process is alive; `STOPPING=1`
/// on shutdown.
public struct SystemdService: Service {
    let notifier: SystemdNotifier
    let watchdogInterval: Double?
    let metrics: IngestMetrics
    let buffer: IngestBuffer
    let mqtt: MQTTSessions
    let condition: DaemonCondition
    let httpReady: @Sendable () async -> Void
    let logger: Logger

    public init(environment: [String: String], metrics: IngestMetrics, buffer: IngestBuffer, mqtt: MQTTSessions, condition: DaemonCondition,
                httpReady: @escaping @Sendable () async -> Void, logger: Logger) {
        notifier = SystemdNotifier(environment: environment)
        watchdogInterval = SystemdNotifier.watchdogInterval(environment: environment)
        self.metrics = metrics
        self.buffer = buffer
        self.mqtt = mqtt
        self.condition = condition
        self.httpReady = httpReady
        self.logger = logger
    }

    public func run() async throws {
        guard notifier.isActive else {
            try? await gracefulShutdown()
            return
        }
        await httpReady()
        var health = IngestHealth()
        notifier.notify("READY=1\nSTATUS=\(statusLine(&health))")
        logger.info("systemd notified READY=1", metadata: ["systemd.watchdog_seconds": "\(watchdogInterval.map { "\($0)" } ?? "off")"])
        let tick = min(watchdogInterval.map { $0 / 2 } ?? 5, 5)
        while !Task.isShuttingDownGracefully {
            do {
                // Woken by a graceful shutdown, so STOPPING=1 goes out and the services after this one stop at once.
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int(tick * 1000))) }
            } catch {
                break
            }
            let stats = buffer.stats
            let healthy = health.observe(stats, now: SystemClock.monotonicSeconds(), stallAfter: watchdogInterval ?? 30)
            var message = "STATUS=\(statusLine(&health))"
            if watchdogInterval != nil {
                if healthy {
                    message += "\nWATCHDOG=1"
                } else {
                    logger.error("ingestion stalled: not feeding the watchdog", metadata: ["ingest.backlog": "\(stats.pendingReadings)"])
                }
            }
            notifier.notify(message)
        }
        notifier.notify("STOPPING=1\nSTATUS=stopping: draining MQTT and the ingest journal")
    }

    var messages: Int { metrics.messages.load(ordering: .relaxed) }

    /// The live figures, led by `degraded: <reasons>; ` when the daemon is degraded (as /healthz).
    func statusLine(_ health: inout IngestHealth) -> String {
        let reasons = condition.status().reasons
        let figures = health.status(buffer.stats, mqttSessions: (mqtt.connected, mqtt.count), messages: messages)
        return reasons.isEmpty ? figures : "degraded: " + reasons.map(\.reason.rawValue).joined(separator: ", ") + "; " + figures
    }
}

/// Decides whether ingestion is making progress: healthy while nothing waits for SQLite, or the
/// applier committed recently. A backlog that does not move for `stallAfter` seconds is a stall.
/// Pure bookkeeping, so it is unit-tested without systemd.
public struct IngestHealth: Sendable {
    var lastApplied = -1
    var lastProgress = 0.0
    var rateBase = 0
    var lastRateAt = 0.0
    var rate = 0.0

    public init() {}

    public mutating func observe(_ stats: IngestBuffer.Stats, now: Double, stallAfter: Double) -> Bool {
        if stats.appliedReadings != lastApplied || stats.pendingReadings == 0 {
            lastApplied = stats.appliedReadings
            lastProgress = now
        }
        return now - lastProgress < stallAfter
    }

    mutating func status(_ stats: IngestBuffer.Stats, mqttSessions: (connected: Int, of: Int), messages: Int) -> String {
        let now = SystemClock.monotonicSeconds()
        if lastRateAt > 0, now > lastRateAt {
            rate = Double(stats.appliedReadings - rateBase) / (now - lastRateAt)
        }
        rateBase = stats.appliedReadings
        lastRateAt = now
        return "\(Int(rate.rounded())) readings/s, \(stats.appliedReadings) stored, backlog \(stats.pendingReadings), "
            + "\(messages) messages, MQTT " + (mqttSessions.connected == mqttSessions.of ? "connected"
                : mqttSessions.connected == 0 ? "disconnected" : "\(mqttSessions.connected) of \(mqttSessions.of) sessions connected")
    }
}
