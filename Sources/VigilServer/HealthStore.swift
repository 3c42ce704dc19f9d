import Synchronization
import VigilCore
import VigilHealth
import VigilStore

/// What the health decisions read and write, on the store: the health registry (held by the
/// health service alone) and what health reads of the rest of the store.
///
/// A round's saves are kept and written together when it ends (`flush`), in one transaction: a
/// machine's record shares its page with the fleet's, the event log's pages are shared too, and
/// one commit writes each page once instead of once a machine. Within the round, a machine's
/// record reads as saved; whatever else reads or writes the health tables (a model's
/// registration, an operator's command, a retraining window) writes them first.
struct HealthStore: HealthStorage, Sendable {
    let writer: StoreWriter
    let registry: HealthRegistry
    /// The last answer of `minuteMeans` per sensor within a round (`newRound` forgets them):
    /// every machine of a round asks for the same minutes of its peers, so the fleet's minutes
    /// are read once a round, not once a machine.
    private let peers = Latest()

    private final class Latest: Sendable {
        let bySensor = Mutex<[String: (after: Int64, through: Int64, means: [Int64: [String: Double]])]>([:])
    }

    /// The round's saves not yet written, in order, and the machines they are of.
    private let unsaved = Unsaved()

    private final class Unsaved: Sendable {
        let saves = Mutex<(list: [HealthSave], machines: Set<String>)>(([], []))
    }

    /// Writes the round's saves, in one transaction; kept for the next try when it fails.
    func flush() throws {
        let saves = unsaved.saves.withLock { $0.list }
        guard !saves.isEmpty else { return }
        try registry.saveHealth(saves)
        unsaved.saves.withLock {
            $0.list.removeFirst(saves.count)
            $0.machines = Set($0.list.map(\.record.machine))
        }
    }

    init(writer: StoreWriter, registry: HealthRegistry) {
        self.writer = writer
        self.registry = registry
    }

    /// Forgets what the last round read of the fleet (rollups move on between rounds).
    func newRound() { peers.bySensor.withLock { $0.removeAll() } }

    var machines: [String] { writer.fleet.snapshot().map(\.id) }
    func minuteFeatures(machine: String, sensors: [String]?, after: Int64, through: Int64) throws -> MinuteFeatures {
        try writer.minuteFeatures(machine: machine, sensors: sensors, after: after, through: through)
    }
    func peerMinutes(sensor: String, besides machine: String, after: Int64, through: Int64) throws -> [Int64: [Double]] {
        let cached = peers.bySensor.withLock { c in c[sensor].flatMap { $0.after == after && $0.through == through ? $0.means : nil } }
        let means = try cached ?? writer.minuteMeans(sensor: sensor, after: after, through: through)
        if cached == nil { peers.bySensor.withLock { $0[sensor] = (after, through, means) } }
        return means.mapValues { byMachine in byMachine.compactMap { $0.key == machine ? nil : $0.value } }
    }
    func rawReadings(machine: String, after: Int64, through: Int64) throws -> [(sensor: String, ts: Int64, value: Double)] {
        try writer.rawReadings(machine: machine, after: after, through: through)
    }
    func impossibleMinutes(machine: String, after: Int64, through: Int64) throws -> [String: Set<Int64>] {
        try writer.impossibleMinutes(machine: machine, after: after, through: through)
    }
    func sensorMetadata(machine: String, sensors: [String]) -> [String: SensorMetadata] { writer.sensorMetadata(machine: machine, sensors: sensors) }
    func machineHealth(_ machine: String) throws -> MachineHealthRecord? {
        let pending = unsaved.saves.withLock { $0.machines.contains(machine) ? $0.list.filter { $0.record.machine == machine } : [] }
        return try pending.reduce(registry.machineHealth(machine)) { $1.applied(to: $0) }
    }
    func model(machine: String, version: Int) throws -> ModelRecord? { try registry.model(machine: machine, version: version) }
    func latestModelTrainFrom(machine: String) throws -> Int64? { try registry.latestModelTrainFrom(machine: machine) }
    func latestModelTrainTo(machine: String) throws -> Int64? { try registry.latestModelTrainTo(machine: machine) }
    func alarmMinutes(machine: String, after: Int64, through: Int64) throws -> Set<Int64> {
        try flush()
        return try registry.alarmMinutes(machine: machine, after: after, through: through)
    }
    func sensorFaultMinutes(machine: String, after: Int64, through: Int64) throws -> Set<Int64> {
        try flush()
        return try registry.sensorFaultMinutes(machine: machine, after: after, through: through)
    }
    func registerModel(machine: String, info: ModelLineage, body: String, activate: Bool, events: [Event]) throws -> Int {
        try flush()
        return try registry.registerModel(machine: machine, info: info, body: body, activate: activate, events: events)
    }
    func activateModel(machine: String, version: Int, events: [Event]) throws -> Bool {
        try flush()
        return try registry.activateModel(machine: machine, version: version, events: events)
    }
    func saveHealth(_ record: MachineHealthRecord, history: [HealthHistoryRow], events: [Event], sensors: [SensorCondition]?, state: Bool) {
        unsaved.saves.withLock {
            $0.list.append(HealthSave(record: record, history: history, events: events, sensors: sensors, state: state))
            $0.machines.insert(record.machine)
        }
    }
    func recordMaintenance(machine: String, at: Int64, note: String) throws {
        try flush()
        try registry.recordMaintenance(machine: machine, at: at, note: note)
    }
}
