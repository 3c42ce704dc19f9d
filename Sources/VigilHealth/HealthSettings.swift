import VigilCore

/// How machines are scored, judged and retrained (`[health]` in the configuration).
public struct HealthSettings: Sendable {
    public var commissionMinutes = 1440
    public var bands = HealthBands()
    public var parameters = HealthParameters()
    /// A minute is final this long after it ended (the rollup flush delay plus a pass).
    public var finalAfterMillis: Int64 = 6_000
    /// Seconds between the health service's rounds.
    public var interval: Double = 5
    /// Data minutes after the newest model's data at which a retraining is tried anyway
    /// (0 = only on drift).
    public var retrainMinutes = 1440
    /// Minutes of recent data a candidate learns from (its last fifth is held out).
    public var retrainWindowMinutes = 2880
    public var drift = PageHinkley()
    /// Machine types (`pattern=type`, pattern an id or `prefix*`): a new machine of a type is
    /// scored from its first minute with a fleet reference — the commissioning data of the
    /// other machines of its type — until it has `commissionMinutes` of its own.
    public var machineTypes: [(pattern: String, type: String)] = []
    /// A machine with no reading for this long is reported silent (`machine_silent`); 0 = never.
    public var silentAfterMillis: Int64 = 900_000
    /// The most data the sensor judge takes in one step (a backlog is judged in steps, and
    /// scoring waits for it). Short, so that in a backlog the judge runs at most this far ahead
    /// of the minutes being scored, as it does live (6 hours let it see a drift's future and
    /// found 10 of seed 7's 25 drifts instead of 18).
    public var judgeStepMillis: Int64 = 3_600_000

    public init() {}

    public func type(of machine: String) -> String? {
        machineTypes.first { $0.pattern.hasSuffix("*") ? machine.hasPrefix($0.pattern.dropLast()) : machine == $0.pattern }?.type
    }

    var rules: MachineLifecycle.Rules { .init(commissionMinutes: commissionMinutes, retrainMinutes: retrainMinutes) }
}
