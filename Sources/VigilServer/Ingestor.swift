public import Logging
public import VigilCore
public import VigilStore
public import VigilMQTT
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The gateway's message path: decode, validate, and store one MQTT message before returning.
///
/// `handle` runs on libmosquitto's network thread and returns only after the readings and
/// rejections of the message are committed, so the PUBACK that libmosquitto writes after the
/// callback never acknowledges an uncommitted reading. If storage fails, it retries with backoff
/// and so holds the MQTT thread: the broker queues (backpressure) instead of Vigil losing data.
public final class Ingestor: Sendable {
    let decoder: PayloadDecoder
    let writer: StoreWriter
    let metrics: IngestMetrics
    let logger: Logger
    private let stopping = Atomic<Bool>(false)

    public init(decoder: PayloadDecoder, writer: StoreWriter, metrics: IngestMetrics, logger: Logger) {
        self.decoder = decoder
        self.writer = writer
        self.metrics = metrics
        self.logger = logger
    }

    public func handle(_ message: MQTTMessage) {
        let now = Clock.nowMillis()
        metrics.messages.add(1, ordering: .relaxed)
        metrics.lastMessageAt.store(now, ordering: .relaxed)
        let decoded = decoder.decode(topic: message.topic, payload: message.payload, receivedAt: now)
        var delayMicros: UInt32 = 50_000
        while true {
            do {
                let outcome = try writer.write(decoded.readings, rejections: decoded.rejections, topic: message.topic,
                                               payload: message.payload, receivedAt: now)
                metrics.readingsStored.add(outcome.stored, ordering: .relaxed)
                metrics.readingsRejected.add(outcome.quarantined, ordering: .relaxed)
                metrics.quarantineEvicted.add(outcome.quarantineEvicted, ordering: .relaxed)
                if !decoded.rejections.isEmpty {
                    metrics.rejectedByReason.withLock { counts in
                        for r in decoded.rejections { counts[r.reason.rawValue, default: 0] += 1 }
                    }
                    logger.debug("quarantined", metadata: [
                        "mqtt.topic": "\(message.topic)", "reject.reason": "\(decoded.rejections[0].reason.rawValue)",
                    ])
                }
                return
            } catch {
                metrics.storageErrors.add(1, ordering: .relaxed)
                logger.error("storage write failed; holding the message and retrying", metadata: [
                    "mqtt.topic": "\(message.topic)", "error": "\(error)",
                ])
                if stopping.load(ordering: .relaxed) && delayMicros >= 1_000_000 {
                    // Shutting down with storage still failing: give up without returning, so no
                    // PUBACK is written; the broker redelivers to the next run.
                    logger.critical("storage unavailable during shutdown; exiting without acknowledging")
                    _exit(1)
                }
                usleep(delayMicros)
                delayMicros = min(delayMicros * 2, 2_000_000)
            }
        }
    }

    func beginStopping() { stopping.store(true, ordering: .relaxed) }
}

enum Clock {
    static func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
