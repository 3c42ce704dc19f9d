import Synchronization

/// Live ingest counters of the MQTT thread, read by /metrics and /healthz. Counts of what reached
/// SQLite come from `IngestBuffer.stats`; rejections by reason from the database.
public final class IngestMetrics: Sendable {
    let messages = Atomic<Int>(0)
    /// Readings made durable (journaled) and so acknowledged to the broker.
    let readingsAccepted = Atomic<Int>(0)
    let journalErrors = Atomic<Int>(0)
    /// Wall-clock ms of the first failure of the current run of failing journal writes (0 = none).
    let journalFailingSince = Atomic<Int64>(0)
    private let journalError = Mutex<String?>(nil)
    /// Wall-clock ms of the last message received (0 = none yet).
    let lastMessageAt = Atomic<Int64>(0)

    /// The last journal write error while writes are failing.
    var lastJournalError: String? { journalError.withLock { $0 } }

    func journalFailed(_ error: any Error, now: Int64) {
        journalError.withLock { $0 = "\(error)" }
        _ = journalFailingSince.compareExchange(expected: 0, desired: now, ordering: .relaxed)
    }

    func journalRecovered() {
        guard journalFailingSince.load(ordering: .relaxed) != 0 else { return }
        journalFailingSince.store(0, ordering: .relaxed)
        journalError.withLock { $0 = nil }
    }

    public init() {}
}
