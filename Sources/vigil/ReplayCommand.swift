import ArgumentParser
import Foundation
import VigilCLI
import VigilCore
import VigilHealth

/// `vigil replay` (SPEC §8): the production health code offline over a CSV.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Score a CSV of one machine's sensors offline with the production health model.",
        discussion: """
            INPUT is `timestamp,<sensor>,<sensor>…` (an empty cell is a missing value; timestamps in \
            epoch s/ms or RFC 3339). OUTPUT gets one row per input row: \
            timestamp,anomaly_score,alarm,health,status,model_version,contributors,sensor_faults \
            (anomaly_score in [0,1]; contributors as sensor:share;…; sensor_faults the sensors in fault \
            at that row as sensor:kind;…, kind one of stuck, spike, dropout, out_of_range, drift, noise). \
            Each sensor is judged from its own behaviour on the commissioning rows, and a faulty sensor \
            is left out of the score, as vigild does. Rows used for commissioning are written with status \
            `commissioning` and no score. Causal (row t uses only rows ≤ t) and deterministic (the same \
            input gives the same bytes). With --state-dir the commissioned model is saved as \
            DIR/<machine>.model.json (the sensors' profiles as DIR/<machine>.sensors.json) and later \
            replays of the machine score with it.
            """)

    @Option(help: "Machine id (names the saved model).")
    var machine: String

    @Option(help: "Input CSV: timestamp,<sensor>,…")
    var input: String

    @Option(help: "Output CSV (\"-\" for standard output).")
    var output: String

    @Option(name: .customLong("state-dir"), help: "Directory that keeps the machine's model between replays.")
    var stateDir: String?

    @Option(name: .customLong("commission-rows"), help: "Commission on the input's own first N rows (default 400).")
    var commissionRows: Int?

    @Option(help: "Commission on this fleet reference instead (healthy rows of other machines of the same type; same columns).")
    var reference: String?

    @Option(help: ArgumentHelp("Model parameters for the commissioned model, e.g. smoothing=0.05,thresholdFactor=4 (for evaluating a change offline).",
                               valueName: "name=value,…"))
    var parameters: String?

    @Flag(name: .customLong("trust-sensors"), help: "Do not judge the sensors: score every reading as it is (the model before sensor-fault detection).")
    var trustSensors = false

    func validate() throws {
        guard KeyRules.isValidMachine(machine) else { throw ValidationError("--machine: '\(machine)' is not a valid machine id") }
        if let commissionRows, commissionRows < 2 { throw ValidationError("--commission-rows must be at least 2") }
        if commissionRows != nil && reference != nil { throw ValidationError("--commission-rows and --reference exclude each other") }
    }

    func run() throws {
        let table = try Self.table(input, flag: "--input")
        var options = Replay.Options()
        if let commissionRows { options.commissionRows = commissionRows }
        options.judgeSensors = !trustSensors
        if let parameters {
            do { options.parameters = try HealthParameters(assignments: parameters) } catch {
                throw ProgramError(.usage, "--parameters: \(error.description)")
            }
        }
        var saved: HealthModel?
        var savedDetector: SensorFaultDetector?
        let modelPath = stateDir.map { "\($0)/\(machine.replacingOccurrences(of: "/", with: "%2F")).model.json" }
        let detectorPath = stateDir.map { "\($0)/\(machine.replacingOccurrences(of: "/", with: "%2F")).sensors.json" }
        if let detectorPath, let data = FileManager.default.contents(atPath: detectorPath) {
            do { savedDetector = try JSONDecoder().decode(SensorFaultDetector.self, from: data) } catch {
                throw ProgramError(.failure, "\(detectorPath): not a sensor profile file (\(error))")
            }
        }
        if let modelPath, let data = FileManager.default.contents(atPath: modelPath) {
            do { saved = try JSONDecoder().decode(HealthModel.self, from: data) } catch {
                throw ProgramError(.failure, "\(modelPath): not a model file (\(error))")
            }
            guard Set(saved!.sensors).isSubset(of: table.sensors) else {
                throw ProgramError(.usage, "--input lacks sensors of the saved model \(modelPath): \(Set(saved!.sensors).subtracting(table.sensors).sorted())")
            }
        }
        let ref = try reference.map { try Self.table($0, flag: "--reference") }
        let result: Replay.Result
        do {
            result = try Replay.run(table, model: saved, detector: savedDetector, reference: ref, options: options)
        } catch {
            throw ProgramError(.usage, "cannot commission machine \(machine): \(error.description)")
        }
        if let stateDir, let modelPath, saved == nil {
            try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try encoder.encode(result.model).write(to: URL(fileURLWithPath: modelPath))
            if let detectorPath, let detector = result.detector {
                // Profiles only: a later replay starts the sensors' running state afresh.
                let fresh = SensorFaultDetector(sensors: detector.sensors, profiles: detector.profiles, settings: detector.settings)
                try encoder.encode(fresh).write(to: URL(fileURLWithPath: detectorPath))
            }
        }
        if output == "-" {
            FileHandle.standardOutput.write(Data(result.csv.utf8))
        } else {
            do { try Data(result.csv.utf8).write(to: URL(fileURLWithPath: output)) } catch {
                throw ProgramError(.failure, "--output: cannot write '\(output)': \(error.localizedDescription)")
            }
        }
    }

    static func table(_ path: String, flag: String) throws -> SensorTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProgramError(.usage, "\(flag): cannot read '\(path)'")
        }
        do {
            return try SensorTable.parse(String(decoding: data, as: UTF8.self))
        } catch {
            throw ProgramError(.usage, "\(flag) \(path): \(error.description)")
        }
    }
}
