import ArgumentParser
import VigilAPI
import VigilCore

/// `vigil sparkplug`: the daemon's Sparkplug B edge nodes (docs/sparkplug.md).
struct SparkplugNodes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sparkplug",
        abstract: "Sparkplug B edge nodes: online, bdSeq, messages missing by seq, births, deaths, rebirth requests, unknown aliases.")

    @OptionGroup var connection: Connection

    func run() async throws {
        let nodes = try await connection.client.get("/api/v1/sparkplug/nodes", as: [API.SparkplugNode].self)
        if nodes.isEmpty && connection.format == .table {
            print("no Sparkplug edge node seen ([sparkplug] enabled = true in the daemon's config)")
            return
        }
        let time = try await connection.timeCells()
        try connection.emit(nodes) {
            var out = Rows(columns: ["group", "edge", "online", "devices", "bd_seq", "missing", "duplicates", "births", "deaths",
                                     "stale_deaths", "rebirths", "unknown_aliases", "last_message"])
            for n in nodes {
                out.rows.append([
                    .text(n.group), .text(n.edge), .text(n.online ? "yes" : "no"),
                    .int(Int64(n.devices.filter(\.online).count)), n.bdSeq.map { .int($0) } ?? .null, .int(n.messages.missing),
                    .int(n.messages.duplicates), .int(Int64(n.births)), .int(Int64(n.deaths)), .int(Int64(n.staleDeaths)),
                    .int(Int64(n.rebirthRequests)), .int(Int64(n.unknownAliases)), time(n.lastMessageAt),
                ])
            }
            return out
        }
    }
}
