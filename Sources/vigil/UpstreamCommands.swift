import ArgumentParser
import VigilAPI
import VigilCore

/// `vigil upstream …`: the central cluster's side of `[upstream]` (docs/scale-out.md).
struct Upstream: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Streaming to a central ClickHouse cluster: the tables it needs and how far each stream has got.",
        subcommands: [UpstreamSchema.self, UpstreamStatus.self])
}

struct UpstreamSchema: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the ClickHouse DDL (';'-separated, runs as is on every node) for the tables the upstream streams go into.",
        discussion: """
            With --cluster: per stream a local ReplacingMergeTree table <prefix><stream>_local and a Distributed table \
            <prefix><stream> over it, sharded by cityHash64(machine). Without: one ReplacingMergeTree table per stream. \
            Run it on every node, e.g. `vigil upstream schema clickhouse --cluster fleet | clickhouse-client --multiquery`.
            """)

    @Argument(help: "The engine (clickhouse).")
    var engine: String

    @Option(help: "The cluster (remote_servers) to shard over; Distributed tables are added.")
    var cluster: String?

    @Option(name: .customLong("shards-by"), help: "What rows are sharded by (machine: every row of a machine on one shard, which FINAL needs).")
    var shardsBy: String = "machine"

    @Option(help: "The database (the sink's database).")
    var database: String = "vigil"

    @Option(help: "The table name prefix (the sink's table_prefix).")
    var prefix: String = "vigil_"

    func validate() throws {
        guard engine == "clickhouse" else { throw ValidationError("'\(engine)' is not a supported engine (clickhouse)") }
        guard shardsBy == "machine" else { throw ValidationError("--shards-by: only machine is supported (a key's rows must share a shard)") }
        let identifier: (String) -> Bool = { $0.utf8.allSatisfy { ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 } }
        guard !database.isEmpty, identifier(database) else { throw ValidationError("--database '\(database)' is not a database name (letters, digits, '_')") }
        guard identifier(prefix) else { throw ValidationError("--prefix '\(prefix)' is not a table name prefix (letters, digits, '_')") }
        if let cluster, cluster.isEmpty || !identifier(cluster) { throw ValidationError("--cluster '\(cluster)' is not a cluster name (letters, digits, '_')") }
    }

    func run() throws {
        print(ClickHouse.schema(database: database, prefix: prefix, cluster: cluster), terminator: "")
    }
}

struct UpstreamStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Each upstream sink's streams: acknowledged cursor, rows sent, pending rows and their age, last error.")

    @OptionGroup var connection: Connection

    func run() async throws {
        let lanes = try await connection.client.get("/api/v1/upstream", as: [API.UpstreamLane].self)
        if lanes.isEmpty && connection.format == .table {
            print("no upstream sink configured ([[upstream.clickhouse]] in the daemon's config)")
            return
        }
        let now = SystemClock.wallMillis()
        try connection.emit(lanes) {
            var out = Rows(columns: ["sink", "stream", "cursor", "sent", "pending", "oldest_pending_s", "failures", "last_error"])
            for l in lanes {
                out.rows.append([
                    .text(l.sink), .text(l.stream.rawValue), .int(l.cursor), .int(Int64(l.sentRows)), .int(l.pendingRows),
                    l.oldestPendingAt.map { .int(max(0, now - $0) / 1000) } ?? .null, .int(Int64(l.failures)), l.lastError.map { .text($0) } ?? .null,
                ])
            }
            return out
        }
    }
}
