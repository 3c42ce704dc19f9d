public import VigilCore

/// What a machine's health decisions read and write, and nothing else: the health tables (its
/// record, history, model versions, maintenance, sensors' conditions, events) and what they read
/// of the rest of the store (minute features, raw readings, the instruments' declared ranges,
/// the fleet). The health service passes the store (one writer of health); unit tests pass memory.
public protocol HealthStorage {
    /// Every machine of the fleet.
    var machines: [String] { get }
    /// Minute means of `machine`'s sensors (all of them, sorted, when `sensors` is nil) for minutes
    /// in `(after, through]`, oldest first.
    func minuteFeatures(machine: String, sensors: [String]?, after: Int64, through: Int64) throws -> MinuteFeatures
    /// Minute means of `sensor` on every machine but `machine` (its peers) for minutes in
    /// `(after, through]`, by minute.
    func peerMinutes(sensor: String, besides machine: String, after: Int64, through: Int64) throws -> [Int64: [Double]]
    /// Every reading with a time in `(after, through]`, in time order (one time's in sensor order).
    func rawReadings(machine: String, after: Int64, through: Int64) throws -> [(sensor: String, ts: Int64, value: Double)]
    /// Per sensor with a declared physical range, the minutes in `(after, through]` holding a
    /// reading beyond it.
    func impossibleMinutes(machine: String, after: Int64, through: Int64) throws -> [String: Set<Int64>]
    /// The instruments' declared metadata (config, device, operator) of `sensors`.
    func sensorMetadata(machine: String, sensors: [String]) -> [String: SensorMetadata]

    func machineHealth(_ machine: String) throws -> MachineHealthRecord?
    func model(machine: String, version: Int) throws -> ModelRecord?
    /// The newest start / end of any registered version's training data (nil: none yet).
    func latestModelTrainFrom(machine: String) throws -> Int64?
    func latestModelTrainTo(machine: String) throws -> Int64?
    /// Minutes in `(after, through]` scored in alarm / with a sensor in fault.
    func alarmMinutes(machine: String, after: Int64, through: Int64) throws -> Set<Int64>
    func sensorFaultMinutes(machine: String, after: Int64, through: Int64) throws -> Set<Int64>

    /// Stores a new version (the next free number, returned), active if `activate`, with `events`
    /// (their `modelVersion` set to it), in one transaction.
    func registerModel(machine: String, info: ModelLineage, body: String, activate: Bool, events: [Event]) throws -> Int
    /// Makes `version` the active one; false if there is no such version.
    func activateModel(machine: String, version: Int, events: [Event]) throws -> Bool
    /// Saves scored minutes, the machine's record, `events` and (when given) its sensors'
    /// conditions in one transaction; the record's `scorerState`, `sensorDetector` and
    /// `stateThrough` only when `state` (otherwise the saved ones stay).
    func saveHealth(_ record: MachineHealthRecord, history: [HealthHistoryRow], events: [Event], sensors: [SensorCondition]?, state: Bool) throws
    func recordMaintenance(machine: String, at: Int64, note: String) throws
}

extension HealthStorage {
    /// From every other machine's minute features (a store answers it in one pass over the
    /// sensor's series).
    public func peerMinutes(sensor: String, besides machine: String, after: Int64, through: Int64) throws -> [Int64: [Double]] {
        var out: [Int64: [Double]] = [:]
        for other in machines where other != machine {
            let f = try minuteFeatures(machine: other, sensors: [sensor], after: after, through: through)
            for (t, row) in zip(f.times, f.rows) { if let x = row.first ?? nil { out[t, default: []].append(x) } }
        }
        return out
    }
}
