import ArgumentParser
import Foundation
import VigilCLI
import VigilAPI
import VigilCore

/// `vigil export`: rollups or health history of the whole fleet for hand-off, in a stable schema.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export the fleet's rollups, raw readings or health history as CSV or JSON lines.",
        discussion: """
            Schema (stable): rollups — machine,sensor,ts,count,mean,min,max,sum,stddev,unit (ts = bucket \
            start, epoch ms UTC; stddev = population; day rows add date, the plant's local date); raw — \
            machine,sensor,ts,value,unit (every stored reading, read as columns: about a third of the \
            server's work of points); health — machine,ts,health,status (one row per scored minute). CSV \
            has that header; JSON lines carry the same keys, one object per row. Machines and sensors in id \
            order, rows in time order.
            """)

    enum What: String, ExpressibleByArgument { case rollups, raw, health }
    enum Format: String, ExpressibleByArgument { case csv, jsonl }

    @Option(help: "rollups, raw or health.")
    var what: What = .rollups

    @Option(help: "minute or day (rollups).")
    var resolution: String = "minute"

    @Option(help: "Start (inclusive): epoch ms, RFC 3339, or a date (YYYY-MM-DD: the start of the plant's local day).")
    var from: String?

    @Option(help: "End (exclusive): epoch ms, RFC 3339, or a date (the end of that local day).")
    var to: String?

    @Option(help: "csv or jsonl.")
    var format: Format = .csv

    @OptionGroup var endpoint: Endpoint

    func validate() throws {
        guard ["minute", "day"].contains(resolution) else { throw ValidationError("--resolution must be minute or day") }
        for (name, v) in [("--from", from), ("--to", to)] {
            if let v, !isTimeOption(v) { throw ValidationError("\(name): '\(v)' is not epoch ms, RFC 3339 or a date (YYYY-MM-DD)") }
        }
    }

    func run() async throws {
        let client = endpoint.client
        // Dates are the plant's local days (`from` D: its start; `to` D: its end).
        let calendar = [from, to].contains { $0.flatMap(LocalDate.init) != nil } ? try await endpoint.calendar() : .utc
        let start = from.flatMap { calendar.time(query: $0, end: false) }, end = to.flatMap { calendar.time(query: $0, end: true) }
        let machines = try await client.get("/api/v1/machines", as: [API.Machine].self).sorted { $0.id < $1.id }
        // Rollups carry their sensor's unit (empty when none is known) and, for days, the local date.
        let day = resolution == "day"
        let columns = switch what {
        case .rollups: ["machine", "sensor", "ts"] + (day ? ["date"] : []) + ["count", "mean", "min", "max", "sum", "stddev", "unit"]
        case .raw: ["machine", "sensor", "ts", "value", "unit"]
        case .health: ["machine", "ts", "health", "status"]
        }
        if format == .csv { print(columns.joined(separator: ",")) }
        func emit(_ values: [String], quoted: Set<Int>) {
            if format == .csv {
                print(values.map { $0.contains(",") || $0.contains("\"") ? "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : $0 }.joined(separator: ","))
            } else {
                let fields = zip(columns, values).enumerated().map { i, kv in
                    "\"\(kv.0)\":" + (quoted.contains(i) ? "\"\(kv.1.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"" : (kv.1.isEmpty ? "null" : kv.1))
                }
                print("{" + fields.joined(separator: ",") + "}")
            }
        }
        func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "" }
        for m in machines {
            let id = APIClient.segment(m.id)
            switch what {
            case .rollups:
                let units = Dictionary(try await client.get("/api/v1/machines/\(id)/sensors", as: [API.SensorStatus].self).map { ($0.sensor, $0.unit ?? "") }) { a, _ in a }
                for sensor in m.sensors.sorted() {
                    try await client.pages("/api/v1/machines/\(id)/sensors/\(APIClient.segment(sensor))/series", query: [("resolution", resolution)],
                                           from: start, to: end, ts: { (p: API.SeriesPoint) in p.ts }) { points in
                        for p in points {
                            let stats = [String(p.count), number(p.mean), number(p.min), number(p.max), number(p.sum), number(p.stddev)]
                            let unit = units[sensor] ?? ""
                            // JSON lines: an unknown unit is null.
                            emit([m.id, sensor, String(p.ts)] + (day ? [p.date ?? ""] : []) + stats + [unit],
                                 quoted: Set(day ? [0, 1, 3] : [0, 1]).union(unit.isEmpty ? [] : [day ? 10 : 9]))
                        }
                    }
                }
            case .raw:
                let units = Dictionary(try await client.get("/api/v1/machines/\(id)/sensors", as: [API.SensorStatus].self).map { ($0.sensor, $0.unit ?? "") }) { a, _ in a }
                for sensor in m.sensors.sorted() {
                    let unit = units[sensor] ?? ""
                    try await client.pages("/api/v1/machines/\(id)/sensors/\(APIClient.segment(sensor))/series",
                                           query: [("resolution", "raw"), ("format", "columns")], from: start, to: end,
                                           as: API.SeriesColumns.self, times: \.ts) { page, n in
                        for i in 0..<n { emit([m.id, sensor, String(page.ts[i]), number(page.value[i]), unit], quoted: unit.isEmpty ? [0, 1] : [0, 1, 4]) }
                    }
                }
            case .health:
                try await client.pages("/api/v1/machines/\(id)/health/history", query: [], from: start, to: end,
                                       ts: { (p: API.HealthPoint) in p.ts }) { points in
                    for p in points { emit([m.id, String(p.ts), number(p.health), p.status.rawValue], quoted: [0, 3]) }
                }
            }
        }
    }
}
