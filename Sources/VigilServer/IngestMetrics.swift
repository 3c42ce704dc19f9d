import Synchronization

/// Live ingest counters of the MQTT thread, read by /metrics and /healthz. Counts of what reached
/// SQLite come from `IngestBuffer.stats`; rejections by reason from the database.
public final class IngestMetrics: Sendable {
    let messages = Atomic<Int>(0)
    /// Readings made durable (journaled) and so acknowledged to the broker.
    let readingsAccepted = Atomic<Int>(0)
    let journalErrors = Atomic<Int>(0)
    /// Wall-clock ms of the last message received (0 = none yet).
    let lastMessageAt = Atomic<Int64>(0)

    public init() {}
}
