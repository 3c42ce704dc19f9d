public import Logging
public import VigilCore
public import VigilStore
public import VigilMQTT
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The gateway's message path: decode, validate, and make one MQTT message durable before returning.
///
/// `handle` runs on libmosquitto's network thread and returns only after the message's readings
/// and rejections are in the ingest journal (`IngestBuffer.append`), so the PUBACK that
/// libmosquitto writes after the callback never acknowledges a reading a crash could lose
/// (docs/durability.md). If the journal cannot be written, or SQLite is so far behind that the
/// bounded buffer is full, it waits: the MQTT thread slows and the broker queues; nothing is dropped.
public final class Ingestor: Sendable {
    let decoder: PayloadDecoder
    let buffer: IngestBuffer
    let metrics: IngestMetrics
    let logger: Logger
    /// Topics of the Sparkplug namespace are the Sparkplug host's (`[sparkplug] enabled`): skipped here.
    let leavesSparkplug: Bool
    private let stopping = Atomic<Bool>(false)

    public init(decoder: PayloadDecoder, buffer: IngestBuffer, metrics: IngestMetrics, logger: Logger, leavesSparkplug: Bool = false) {
        self.leavesSparkplug = leavesSparkplug
        self.decoder = decoder
        self.buffer = buffer
        self.metrics = metrics
        self.logger = logger
    }

    public func handle(_ message: MQTTMessage) {
        if leavesSparkplug && message.topic.hasPrefix(SparkplugTopic.namespace + "/") { return }
        let now = SystemClock.wallMillis()
        metrics.messages.add(1, ordering: .relaxed)
        metrics.lastMessageAt.store(now, ordering: .relaxed)
        let decoded = decoder.decode(topic: message.topic, payload: message.payload, receivedAt: now)
        journal(IngestMessage(readings: decoded.readings, rejections: decoded.rejections, topic: message.topic,
                              payload: message.payload, receivedAt: now))
    }

    /// Makes one message's readings and rejections durable before returning (the PUBACK follows);
    /// while the journal cannot be written it waits and retries, never dropping.
    func journal(_ entry: IngestMessage) {
        var delayMicros: UInt32 = 50_000
        while true {
            do {
                try buffer.append(entry)
                metrics.journalRecovered()
                metrics.readingsAccepted.add(entry.readings.count, ordering: .relaxed)
                if let first = entry.rejections.first {
                    logger.debug("quarantined", metadata: ["mqtt.topic": "\(entry.topic)", "reject.reason": "\(first.reason.rawValue)"])
                }
                return
            } catch {
                metrics.journalErrors.add(1, ordering: .relaxed)
                metrics.journalFailed(error, now: SystemClock.wallMillis())
                logger.error("ingest journal write failed; holding the message and retrying", metadata: [
                    "mqtt.topic": "\(entry.topic)", "error": "\(error)",
                ])
                if stopping.load(ordering: .relaxed) && delayMicros >= 1_000_000 {
                    // Shutting down with the journal still failing: exit without returning, so no
                    // PUBACK is written; the broker redelivers to the next run.
                    logger.critical("ingest journal unavailable during shutdown; exiting without acknowledging")
                    _exit(1)
                }
                usleep(delayMicros)
                delayMicros = min(delayMicros * 2, 2_000_000)
            }
        }
    }

    func beginStopping() { stopping.store(true, ordering: .relaxed) }
}
