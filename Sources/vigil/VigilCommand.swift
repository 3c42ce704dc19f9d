import ArgumentParser
import Foundation
import VigilCLI
import VigilAPI
import VigilCore

@main
struct Vigil: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Ask a running vigild which machine needs you, and why.",
        discussion: "Exit codes: 0 ok, 1 runtime failure (e.g. vigild unreachable), 2 usage error.",
        subcommands: [Machines.self, Health.self, Sensors.self, Series.self, Models.self, Maintenance.self, Remove.self, Quarantine.self, Events.self, Upstream.self, SparkplugNodes.self, Export.self, ReplayCommand.self, CheckConfig.self])

    static func main() async { await runMain() }
}

/// Where vigild is and how to authenticate.
struct Endpoint: ParsableArguments {
    @Option(help: "vigild's URL (default: $VIGIL_URL, else http://127.0.0.1:8470).")
    var url: String?

    @Option(help: "Bearer token when vigild has access control on (default: $VIGIL_TOKEN).")
    var token: String?

    var client: APIClient { APIClient(url: url, token: token) }

    /// The plant's calendar: vigild's `site.timezone` (from `/healthz`) read from this machine's tz
    /// database; UTC when the zone's file is not here (then times show in UTC, `Z`).
    func calendar() async throws -> PlantCalendar {
        let zone = try await client.get("/healthz", as: API.DaemonStatus.self).timezone
        guard zone != "UTC", let data = FileManager.default.contents(atPath: PlantCalendar.databasePath(of: zone, environment: ProcessInfo.processInfo.environment)),
              let calendar = try? PlantCalendar(timeZone: zone, tzif: Array(data)) else { return .utc }
        return calendar
    }
}

/// A time option: epoch ms, RFC 3339, or a plant's local date (`2026-03-29`).
func isTimeOption(_ s: String) -> Bool { PlantCalendar.utc.time(query: s, end: false) != nil }

struct Connection: ParsableArguments {
    @OptionGroup var endpoint: Endpoint

    @Option(help: "Output format: table, json or csv.")
    var format: OutputFormat = .table

    var client: APIClient { endpoint.client }
}

struct Machines: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List machines with their health, status, sensors and when they last reported.")

    @OptionGroup var connection: Connection

    func run() async throws {
        let machines = try await connection.client.get("/api/v1/machines", as: [API.Machine].self).worstFirst(\.health, \.id)
        let ago = try await connection.timeCells(ago: true)
        try connection.emit(machines) {
            // A loss column when any machine lost readings (always in CSV, for scripts).
            let loss = connection.format != .table || machines.contains { $0.missing > 0 }
            var out = Rows(columns: ["machine", "health", "status", "sensors", "lastSeen"] + (loss ? ["missing"] : []))
            for m in machines {
                out.rows.append([
                    .text(m.id), m.health.map { .number(connection.format == .table ? ($0 * 10).rounded() / 10 : $0) } ?? .null,
                    m.status.map { .status($0.rawValue) } ?? (connection.format == .table ? .status("commissioning") : .null),
                    .text(m.sensors.joined(separator: " ")),
                    ago(m.lastSeen),
                ] + (loss ? [.int(m.missing)] : []))
            }
            return out
        }
    }
}

struct Series: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print one sensor's readings (raw) or rollups (minute, day).")

    @Argument(help: "Machine id, e.g. press7 or plant1/line2/press7.")
    var machine: String

    @Argument(help: "Sensor id, e.g. temp.")
    var sensor: String

    @Option(help: "raw, minute or day.")
    var resolution: String = "raw"

    @Option(help: "Start (inclusive): epoch ms, RFC 3339, or a date (YYYY-MM-DD: the start of the plant's local day).")
    var from: String?

    @Option(help: "End (exclusive): epoch ms, RFC 3339, or a date (the end of that local day: --from D --to D is day D).")
    var to: String?

    @Option(help: "At most this many rows.")
    var limit: Int?

    @OptionGroup var connection: Connection

    func validate() throws {
        guard ["raw", "minute", "day"].contains(resolution) else { throw ValidationError("--resolution must be raw, minute or day") }
        for (name, v) in [("--from", from), ("--to", to)] {
            if let v, !isTimeOption(v) { throw ValidationError("\(name): '\(v)' is not epoch ms, RFC 3339 or a date (YYYY-MM-DD)") }
        }
        guard KeyRules.isValidMachine(machine) else { throw ValidationError("MACHINE '\(machine)' is not a valid machine id") }
        guard KeyRules.isValidSensor(sensor) else { throw ValidationError("SENSOR '\(sensor)' is not a valid sensor id") }
    }

    func run() async throws {
        var query = [("resolution", resolution)]
        if let from { query.append(("from", from)) }
        if let to { query.append(("to", to)) }
        if let limit { query.append(("limit", String(limit))) }
        let path = "/api/v1/machines/\(APIClient.segment(machine))/sensors/\(APIClient.segment(sensor))/series"
        let (points, next) = try await connection.client.page(path, query: query, as: [API.SeriesPoint].self)
        let raw = resolution == "raw", day = resolution == "day"
        // A table shows the plant's local times with their offset; rows name the sensor's unit.
        let calendar = connection.format == .table ? try await connection.endpoint.calendar() : .utc
        let unit = try await connection.client.get("/api/v1/machines/\(APIClient.segment(machine))/sensors", as: [API.SensorStatus].self)
            .first { $0.sensor == sensor }?.unit
        try connection.emit(points) {
            var out = Rows(columns: raw ? ["machine", "sensor", "ts", "value", "unit"]
                                        : ["machine", "sensor", "ts"] + (day ? ["date"] : []) + ["count", "mean", "min", "max", "sum", "stddev", "unit"])
            let u: Rows.Cell = unit.map { .text($0) } ?? .null
            for p in points {
                let ts: Rows.Cell = connection.format == .table ? .text(calendar.rfc3339(p.ts)) : .int(p.ts)
                out.rows.append(raw ? [.text(machine), .text(sensor), ts, .number(p.mean), u]
                                    : [.text(machine), .text(sensor), ts] + (day ? [.text(p.date ?? "")] : [])
                                      + [.int(Int64(p.count)), .number(p.mean), .number(p.min), .number(p.max), .number(p.sum), .number(p.stddev), u])
            }
            return out
        }
        if let next {
            FileHandle.standardError.write(Data("vigil: \(points.count) rows shown, more follow: add --from \(next)\n".utf8))
        }
    }
}

struct Quarantine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List rejected inputs, newest first, with the reason.")

    @Option(help: "At most this many entries.")
    var limit: Int = 50

    @OptionGroup var connection: Connection

    func run() async throws {
        let items = try await connection.client.get("/api/v1/quarantine", query: [("limit", String(limit))], as: [API.QuarantineItem].self)
        let time = try await connection.timeCells()
        try connection.emit(items) {
            var out = Rows(columns: ["receivedAt", "reason", "topic", "detail", "payload"])
            for q in items {
                let payload = q.payload ?? "base64:" + (q.payloadBase64 ?? "")
                out.rows.append([
                    time(q.receivedAt),
                    .text(q.reason), .text(q.topic), .text(q.detail),
                    .text(connection.format == .table ? String(payload.prefix(60)).replacingOccurrences(of: "\n", with: "⏎") : payload),
                ])
            }
            return out
        }
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What operators are told, newest first: status changes, machines gone silent or back, model changes, daemon degradation.")

    @Option(help: "Only this machine's events.")
    var machine: String?

    @Option(help: "At most this many events.")
    var limit: Int = 50

    @OptionGroup var connection: Connection

    func validate() throws {
        if let machine, !KeyRules.isValidMachine(machine) { throw ValidationError("--machine '\(machine)' is not a valid machine id") }
        guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be 1…10000") }
    }

    func run() async throws {
        var query = [("limit", String(limit))]
        if let machine { query.append(("machine", machine)) }
        let events = try await connection.client.get("/api/v1/events", query: query, as: [Event].self)
        let time = try await connection.timeCells()
        try connection.emit(events) {
            var out = Rows(columns: ["id", "at", "kind", "machine", "status", "detail"])
            for e in events {
                out.rows.append([
                    .int(e.id), time(e.at), .text(e.kind.rawValue),
                    e.machine.map { .text($0) } ?? .null, e.status.map { .status($0.rawValue) } ?? .null, .text(e.detail),
                ])
            }
            return out
        }
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate a vigild configuration file offline (with VIGIL_* overrides).")

    @Argument(help: "The TOML file.")
    var file: String = "config/vigil.toml"

    // Synchronous: the configuration value stays off async frames (see vigild).
    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw ProgramError(.usage, "cannot read '\(file)'") }
        do {
            let c = try VigilConfig.load(fileText: String(decoding: data, as: UTF8.self), fileName: file,
                                         environment: ProcessInfo.processInfo.environment)
            print("\(file): ok (mqtt.url=\(c.mqttURL), storage.db=\(c.storageDB), http.listen=\(c.httpListen))")
        } catch {
            throw ProgramError(.usage, "\(error)")
        }
    }
}
