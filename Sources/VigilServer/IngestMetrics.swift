import Synchronization

/// Live ingest counters, shared by the MQTT thread (writes) and /metrics, /healthz (reads).
public final class IngestMetrics: Sendable {
    let messages = Atomic<Int>(0)
    let readingsStored = Atomic<Int>(0)
    let readingsRejected = Atomic<Int>(0)
    let quarantineEvicted = Atomic<Int>(0)
    let storageErrors = Atomic<Int>(0)
    /// Wall-clock ms of the last message received (0 = none yet).
    let lastMessageAt = Atomic<Int64>(0)
    let rejectedByReason = Mutex<[String: Int]>([:])

    public init() {}
}
