/// What a machine's or a sensor's loss accounting counted (from the devices' `seq`; see
/// `SequenceTracker`). One type from the tracker to the wire.
public struct LossCounts: Codable, Sendable, Equatable {
    /// Readings numbered but never received.
    public var missing: Int64 = 0
    /// Readings whose sequence number had been seen already (redeliveries, replays).
    public var duplicates: Int64 = 0
    /// Readings that arrived after a higher number and filled a gap.
    public var late: Int64 = 0
    /// Times the device's counter began again (not loss).
    public var restarts: Int64 = 0

    public init(missing: Int64 = 0, duplicates: Int64 = 0, late: Int64 = 0, restarts: Int64 = 0) {
        self.missing = missing
        self.duplicates = duplicates
        self.late = late
        self.restarts = restarts
    }

    public static func += (a: inout LossCounts, b: LossCounts) {
        a.missing += b.missing
        a.duplicates += b.duplicates
        a.late += b.late
        a.restarts += b.restarts
    }
}
