import ArgumentParser
import Foundation
import VigilCore

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

/// Renders rows as an aligned table or CSV. (`--format json` prints the API's own objects instead:
/// `Connection.emit`.)
struct Rows {
    enum Cell {
        case text(String)
        /// A health status ("ok", "watch", "alarm", "commissioning…"): coloured in tables on a terminal.
        case status(String)
        case int(Int64)
        case number(Double)
        case null

        var plain: String {
            switch self {
            case .text(let s), .status(let s): s
            case .int(let n): String(n)
            case .number(let d): Rows.format(d)
            case .null: ""
            }
        }

    }

    var columns: [String]
    var rows: [[Cell]] = []

    static func format(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    /// `color`: ANSI colours for status cells in tables (default: only when stdout is a terminal, see `Terminal`).
    func render(_ format: OutputFormat, color: Bool = Terminal.colors) -> String {
        switch format {
        case .table:
            // camelCase → "CAMEL CASE" for people; JSON/CSV keep the API's names.
            let header = columns.map { c in
                c.reduce(into: "") { out, ch in if ch.isUppercase { out += " " }; out.append(ch) }.uppercased()
            }
            let texts = rows.map { $0.map(\.plain) }
            var widths = header.map(\.count)
            for r in texts { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
            // Pad first, colour after: escape codes take no columns on screen.
            func line(_ cells: [String], styles: [String?]) -> String {
                cells.enumerated().map { i, c in
                    let padded = i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    guard let style = styles[i] else { return padded }
                    return style + padded + Terminal.reset
                }.joined(separator: "  ")
            }
            let plain = [String?](repeating: nil, count: columns.count)
            let lines = [line(header, styles: color ? plain.map { _ in Terminal.bold } : plain)]
                + zip(texts, rows).map { t, r in line(t, styles: color ? r.map(\.style) : plain) }
            return lines.joined(separator: "\n") + "\n"
        case .csv:
            func esc(_ s: String) -> String {
                s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
            }
            return ([columns.joined(separator: ",")] + rows.map { $0.map { esc($0.plain) }.joined(separator: ",") })
                .joined(separator: "\n") + "\n"
        case .json:
            preconditionFailure("JSON output is the API's own objects: see Connection.emit")
        }
    }
}

extension Array {
    /// Lowest health first, then by id; machines not scored yet (still commissioning) last.
    func worstFirst(_ health: KeyPath<Element, Double?>, _ id: KeyPath<Element, String>) -> [Element] {
        sorted { ($0[keyPath: health] ?? .infinity, $0[keyPath: id]) < ($1[keyPath: health] ?? .infinity, $1[keyPath: id]) }
    }
}

extension Rows.Cell {
    var style: String? {
        guard case .status(let s) = self else { return nil }
        switch s {
        case "ok": return Terminal.green
        case "watch": return Terminal.yellow
        case "alarm": return Terminal.red
        default: return Terminal.dim
        }
    }
}

/// Colours only for people: stdout is a terminal, `NO_COLOR` (no-color.org) is unset and `TERM` is not "dumb".
enum Terminal {
    static let colors: Bool = {
        let env = ProcessInfo.processInfo.environment
        return isatty(STDOUT_FILENO) == 1 && (env["NO_COLOR"] ?? "").isEmpty && env["TERM"] != "dumb"
    }()
    static let reset = "\u{1B}[0m", bold = "\u{1B}[1m", dim = "\u{1B}[2m"
    static let red = "\u{1B}[1;31m", yellow = "\u{1B}[33m", green = "\u{1B}[32m"
}

/// `2026-11-29T02:02:03+01:00 (5s ago)` for tables: the plant's local time and its age.
func describeTime(_ ms: Int64, calendar: PlantCalendar, now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) -> String {
    let age = (now - ms) / 1000
    let ago: String
    switch age {
    case ..<0: ago = "in the future"
    case ..<120: ago = "\(age)s ago"
    case ..<7200: ago = "\(age / 60)m ago"
    case ..<172_800: ago = "\(age / 3600)h ago"
    default: ago = "\(age / 86_400)d ago"
    }
    return "\(calendar.rfc3339(ms)) (\(ago))"
}

extension Connection {
    /// How a row shows a time: in a table the plant's local time with its offset (with `ago`, and
    /// how long ago), else epoch ms.
    func timeCells(ago: Bool = false) async throws -> @Sendable (Int64) -> Rows.Cell {
        guard format == .table else { return { .int($0) } }
        let calendar = try await endpoint.calendar()
        return { ago ? .text(describeTime($0, calendar: calendar)) : .text(calendar.rfc3339($0)) }
    }
}

extension Connection {
    /// Prints `value` — what the API answered — as JSON with `--format json` (exactly the API's
    /// objects: same keys and types, so a script can use either), else `rows()` as a table or CSV.
    func emit<T: Encodable>(_ value: T, rows: () -> Rows) throws {
        guard format == .json else {
            print(rows().render(format), terminator: "")
            return
        }
        try printJSON(value)
    }

    /// The API's answer to a command as JSON with `--format json`, else `sentence`.
    func say<T: Encodable>(_ value: T, _ sentence: String) throws {
        guard format == .json else {
            print(sentence)
            return
        }
        try printJSON(value)
    }

    private func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}
