import ArgumentParser
import Foundation
import VigilCLI
import VigilAPI
import VigilCore

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Which machine needs you, and why: health, status, confidence and the sensors behind it.")

    @Argument(help: "One machine (default: all, worst first).")
    var machine: String?

    @OptionGroup var connection: Connection

    func run() async throws {
        var ids: [String]
        if let machine {
            guard KeyRules.isValidMachine(machine) else { throw ValidationError("MACHINE '\(machine)' is not a valid machine id") }
            ids = [machine]
        } else {
            ids = try await connection.client.get("/api/v1/machines", as: [API.Machine].self).map(\.id)
        }
        var healths: [API.Health] = []
        for id in ids {
            healths.append(try await connection.client.get("/api/v1/machines/\(APIClient.segment(id))/health", as: API.Health.self))
        }
        healths = healths.worstFirst(\.health, \.machine)
        let ago = try await connection.timeCells(ago: true)
        let rows = {
            var out = Rows(columns: ["machine", "health", "status", "confidence", "contributors", "model", "updatedAt"])
            for h in healths {
                let contributors = h.contributors.map { c in
                    c.sensorFault.map { "\(c.sensor) sensor fault (\($0.rawValue))" } ?? "\(c.sensor) \(Int((c.share * 100).rounded()))%"
                }.joined(separator: ", ")
                let status = h.status?.rawValue ?? "commissioning \(h.commissioningRows ?? 0)/\(h.commissioningNeeded ?? 0)"
                out.rows.append([
                    .text(h.machine), h.health.map { .number(($0 * 10).rounded() / 10) } ?? .null, .status(status),
                    .number((h.confidence * 100).rounded() / 100), .text(contributors), h.model.map { .int(Int64($0.version)) } ?? .null,
                    h.updatedAt.map(ago) ?? .null,
                ])
            }
            return out
        }
        // One machine: the API's object, as GET …/health answers; all: an array of them.
        if machine != nil, let one = healths.first { try connection.emit(one, rows: rows) } else { try connection.emit(healths, rows: rows) }
    }
}

struct Sensors: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Whether a machine's sensors can be believed: ok, suspect or fault (stuck, spike, dropout, out_of_range, drift, noise) with the evidence.",
        discussion: "A faulty sensor is left out of the machine's health until it behaves again. --format json prints the API's objects (GET /api/v1/machines/{id}/sensors).")

    @Argument(help: "Machine id.")
    var machine: String

    @OptionGroup var connection: Connection

    func validate() throws {
        guard KeyRules.isValidMachine(machine) else { throw ValidationError("MACHINE '\(machine)' is not a valid machine id") }
    }

    func run() async throws {
        let sensors = try await connection.client.get("/api/v1/machines/\(APIClient.segment(machine))/sensors", as: [API.SensorStatus].self)
        let ago = try await connection.timeCells(ago: true)
        try connection.emit(sensors) {
            var out = Rows(columns: ["sensor", "state", "kind", "since", "evidence", "lastSeen", "cadenceMs", "unit", "min", "max"])
            for s in sensors {
                out.rows.append([
                    .text(s.sensor), .status(s.state.rawValue), s.fault.map { .text($0.kind.rawValue) } ?? .null,
                    s.fault.map { ago($0.since) } ?? .null,
                    s.fault.map { .text($0.evidence) } ?? .null,
                    s.lastSeen.map(ago) ?? .null,
                    s.cadenceMs.map { .int($0) } ?? .null,
                    s.unit.map { .text($0) } ?? .null, s.min.map { .number($0) } ?? .null, s.max.map { .number($0) } ?? .null,
                ])
            }
            return out
        }
    }
}

struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A machine's model versions with lineage; promote one or roll back.")

    @Argument(help: "Machine id.")
    var machine: String

    @Option(help: "Make this version the active one.")
    var promote: Int?

    @Flag(help: "Go back to the version the active one replaced.")
    var rollback = false

    @OptionGroup var connection: Connection

    func validate() throws {
        guard KeyRules.isValidMachine(machine) else { throw ValidationError("MACHINE '\(machine)' is not a valid machine id") }
        if promote != nil && rollback { throw ValidationError("--promote and --rollback exclude each other") }
    }

    func run() async throws {
        let base = "/api/v1/machines/\(APIClient.segment(machine))/models"
        if let promote {
            let v = try await connection.client.post("\(base)/\(promote)/promote", as: API.ActiveVersion.self)
            try connection.say(v, "\(machine): active model version \(v.version)")
            return
        }
        if rollback {
            let v = try await connection.client.post("\(base)/rollback", as: API.ActiveVersion.self)
            try connection.say(v, "\(machine): rolled back to model version \(v.version)")
            return
        }
        let models = try await connection.client.get(base, as: [API.ModelVersion].self)
        let time = try await connection.timeCells()
        try connection.emit(models) {
            var out = Rows(columns: ["version", "active", "trigger", "parent", "createdAt", "trainFrom", "trainTo", "rows", "sha256", "gate", "reason"])
            for m in models {
                out.rows.append([
                    .int(Int64(m.version)), .text(m.active ? "*" : ""), .text(m.trigger.rawValue), m.parentVersion.map { .int(Int64($0)) } ?? .null,
                    time(m.createdAt), time(m.trainFrom), time(m.trainTo), .int(Int64(m.rowCount)),
                    .text(connection.format == .table ? String(m.contentSha256.prefix(12)) : m.contentSha256), .text(m.gateDecision.rawValue), .text(m.gateReason),
                ])
            }
            return out
        }
    }
}

struct Maintenance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record a maintenance event: the machine's health reference is re-commissioned from data after it.")

    @Argument(help: "Machine id.")
    var machine: String

    @Option(help: "What was done.")
    var note: String = ""

    @Option(help: "When (epoch ms or RFC 3339; default now).")
    var at: String?

    @OptionGroup var connection: Connection

    func validate() throws {
        guard KeyRules.isValidMachine(machine) else { throw ValidationError("MACHINE '\(machine)' is not a valid machine id") }
        if let at, Timestamp.millis(query: at) == nil { throw ValidationError("--at: '\(at)' is not epoch ms or RFC 3339") }
    }

    func run() async throws {
        let payload: Data
        if let at, let ms = Timestamp.millis(query: at) {
            payload = try JSONSerialization.data(withJSONObject: ["note": note, "at": ms])
        } else {
            payload = try JSONSerialization.data(withJSONObject: ["note": note])
        }
        let event = try await connection.client.post("/api/v1/machines/\(APIClient.segment(machine))/maintenance", body: payload, as: API.MaintenanceEvent.self)
        let when = connection.format == .json ? "" : try await connection.endpoint.calendar().rfc3339(event.at)
        try connection.say(event, "\(event.machine): maintenance recorded at \(when); the health reference re-commissions from data after it")
    }
}

struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decommission a machine: delete its readings, rollups, health, models and maintenance log, and clear its retained health topic.",
        discussion: "Irreversible, so it needs --yes. Stop the device first: a machine that publishes again comes back as a new one.")

    @Argument(help: "Machine id.")
    var machine: String

    @Flag(help: "Really delete.")
    var yes = false

    @OptionGroup var endpoint: Endpoint

    func validate() throws {
        guard KeyRules.isValidMachine(machine) else { throw ValidationError("MACHINE '\(machine)' is not a valid machine id") }
        guard yes else { throw ValidationError("this deletes everything stored for '\(machine)'; add --yes to go ahead") }
    }

    func run() async throws {
        let r = try await endpoint.client.delete("/api/v1/machines/\(APIClient.segment(machine))", as: API.RemovedMachine.self)
        print("\(r.machine): removed \(r.sensors) sensors, \(r.readings) readings, \(r.rollupRows) rollup rows, "
              + "\(r.modelVersions) model versions, \(r.healthPoints) health points")
    }
}
