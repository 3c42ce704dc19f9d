public import VigilCore

/// Training a machine's model versions, each with its lineage and the event that announces it:
/// a health reference commissioned on the machine's own rows or on its fleet's, and a retrained
/// anomaly model judged by the gate. Pure: the health service fetches the rows and registers
/// what comes out (the registry numbers the version).
public enum ModelTraining {
    /// A model version ready to register.
    public struct Version: Sendable {
        public var model: MachineModel
        /// Its `version` is 0 until the registry numbers it.
        public var lineage: ModelLineage
        /// Activate it on registering (a commissioned reference, or a candidate the gate promoted).
        public var activate: Bool { lineage.gateDecision == .promoted }
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
        /// Not enough data yet (the usual case while a machine is new): nothing went wrong.
        public var tooFewRows = false
    }

    /// A health reference commissioned on a machine's first complete minutes (`rows`, cut by
    /// `MachineLifecycle.commissioningCut`, `completeRows` of them complete): its first model when
    /// `parent` is nil, else one replacing a fleet reference (`.commissioning`) or re-commissioned
    /// after maintenance. `at`: when it is registered.
    public static func commission(sensors: [String], times: [Int64], rows: [[Double?]], completeRows: Int, trigger: ModelTrigger,
                                  parent: Int?, parameters: HealthParameters, minimumRows: Int, at: Int64) throws(Failure) -> Version {
        guard completeRows >= minimumRows else { throw Failure(description: "\(completeRows) complete minutes, \(minimumRows) needed", tooFewRows: true) }
        let model = try train(sensors: sensors, rows: rows, parameters: parameters, minimumRows: minimumRows)
        let reason = parent == nil ? "first model of the machine (commissioning)"
            : trigger == .commissioning ? "commissioned on its own data, replacing the fleet reference"
            : "health reference re-commissioned after maintenance"
        return Version(model: MachineModel(reference: model, anomaly: model),
                       lineage: lineage(model, times: times, rows: rows, trigger: trigger, parent: parent, metrics: ["completeRows": Double(completeRows)],
                                        decision: .promoted, reason: reason, at: at))
    }

    /// A health reference for a new machine of `type`, from the commissioning rows of the other
    /// machines of its type (`sources`), so it is scored from its first minute.
    public static func fleetReference(type: String, sensors: [String], times: [Int64], rows: [[Double?]], sources: [String],
                                      parameters: HealthParameters, minimumRows: Int, at: Int64) throws(Failure) -> Version {
        let complete = rows.filter { $0.allSatisfy { $0 != nil } }.count
        guard complete >= minimumRows else { throw Failure(description: "\(complete) complete minutes of type \(type), \(minimumRows) needed", tooFewRows: true) }
        let model = try train(sensors: sensors, rows: rows, parameters: parameters, minimumRows: minimumRows)
        return Version(model: MachineModel(reference: model, anomaly: model),
                       lineage: lineage(model, times: times, rows: rows, trigger: .fleetReference, parent: nil,
                                        metrics: ["sourceMachines": Double(sources.count)], decision: .promoted,
                                        reason: "fleet reference of type \(type) from the commissioning data of \(sources.joined(separator: ", "))", at: at))
    }

    /// A candidate anomaly model from the recent window (`times`/`rows`, minutes in `excluding`
    /// left out: alarms, faulty sensors), judged by the gate against the active one on the
    /// window's last fifth; the health reference is kept. Registered whatever the gate says
    /// (`activate` tells whether it was promoted).
    public static func retrain(active: MachineModel, activeVersion: Int, trigger: ModelTrigger, times: [Int64], rows: [[Double?]],
                               excluding: Set<Int64>, parameters: HealthParameters, minimumRows: Int, at: Int64) throws(Failure) -> Version {
        guard let (train, heldOut) = RetrainGate.window(times: times, rows: rows, excluding: excluding, minimumRows: minimumRows) else {
            throw Failure(description: "too few normal rows", tooFewRows: true)
        }
        var candidate = try Self.train(sensors: active.anomaly.sensors, rows: train.map(\.row), parameters: parameters, minimumRows: minimumRows)
        candidate.siblings = nil  // sensors are judged with the reference's; not stored with every retraining
        let gate = RetrainGate.evaluate(active: active.anomaly, candidate: candidate, heldOut: heldOut)
        return Version(model: MachineModel(reference: active.reference, anomaly: candidate),
                       lineage: lineage(candidate, times: train.map(\.ts), rows: train.map(\.row), trigger: trigger, parent: activeVersion,
                                        metrics: gate.metrics, decision: gate.promote ? .promoted : .rejected, reason: gate.reason, at: at))
    }

    private static func train(sensors: [String], rows: [[Double?]], parameters: HealthParameters, minimumRows: Int) throws(Failure) -> HealthModel {
        do {
            return try HealthModel.train(sensors: sensors, rows: rows, parameters: parameters, minimumRows: minimumRows)
        } catch {
            throw Failure(description: error.description)
        }
    }

    static func lineage(_ model: HealthModel, times: [Int64], rows: [[Double?]], trigger: ModelTrigger, parent: Int?,
                        metrics: [String: Double], decision: GateDecision, reason: String, at: Int64) -> ModelLineage {
        ModelLineage(
            version: 0, active: decision == .promoted, createdAt: at, trigger: trigger, parentVersion: parent,
            trainFrom: times.first ?? 0, trainTo: times.last ?? 0, rowCount: model.trainingRows,
            contentSha256: HealthModel.contentHash(sensors: model.sensors, times: times, rows: rows), sensors: model.sensors,
            parameters: model.parameters.dictionary, codeVersion: HealthModel.codeVersion,
            metrics: metrics.merging(["threshold": model.threshold, "fastThreshold": model.fastThreshold ?? model.threshold,
                                      "ledoitWolfShrinkage": model.shrinkage]) { a, _ in a },
            gateDecision: decision, gateReason: reason)
    }
}
