import Testing
@testable import VigilCore

/// The pure side of upstream streaming: the ClickHouse DDL the contract names, `RowBinary` rows
/// laid out exactly as the insert's column list says, and the `[upstream]` configuration.
@Suite struct UpstreamTests {
    @Test func clusterSchemaHasLocalReplacingTablesAndDistributedOnesShardedByMachine() {
        let ddl = ClickHouse.schema(database: "vigil", cluster: "fleet")
        for table in ["vigil_rollup_minute", "vigil_rollup_day", "vigil_health", "vigil_model"] {
            #expect(ddl.contains("CREATE TABLE IF NOT EXISTS vigil.\(table)_local ("), "\(table)_local")
            #expect(ddl.contains("vigil.\(table) AS vigil.\(table)_local ENGINE = Distributed(fleet, vigil, \(table)_local, cityHash64(machine))"), "\(table)")
        }
        #expect(ddl.contains("ReplacingMergeTree(rev)"))
        #expect(ddl.contains("ORDER BY (site, machine, sensor, ts)"))
        let statements = ddl.split(separator: ";").filter { !$0.allSatisfy(\.isWhitespace) }
        #expect(statements.count == 1 + 2 * UpstreamStream.allCases.count)

        let plain = ClickHouse.schema(database: "central", prefix: "x_")
        #expect(!plain.contains("Distributed") && !plain.contains("_local"))
        #expect(plain.contains("CREATE TABLE IF NOT EXISTS central.x_rollup_minute ("))
        for column in ["site String", "machine String", "ts UInt64", "count UInt64", "mean Float64", "min Float64", "max Float64", "sum Float64", "stddev Float64"] {
            #expect(plain.contains(column), "\(column)")
        }
    }

    /// Walks `RowBinary` bytes by the column types of the insert: every row must end exactly where
    /// the next begins, and doubles keep their bits.
    @Test func rowBinaryFollowsTheInsertsColumnList() throws {
        let rows: [UpstreamStream: UpstreamRow] = [
            .rollupMinute: .rollup(.init(machine: "m1", sensor: "temp", ts: 1_764_000_000_000, count: 6, mean: 0.1 + 0.2, min: -0.0, max: 1e300, sum: 5e-324, stddev: 0.5, rev: 7)),
            .rollupDay: .rollup(.init(machine: "m1", sensor: "temp", ts: 1_763_938_800_000, count: 86_400, mean: 1, min: 0, max: 2, sum: 86_400, stddev: 1, rev: 3,
                                      day: .init(date: LocalDate(year: 2025, month: 11, day: 24), timeZone: "Europe/Berlin"))),
            .health: .health(.init(machine: "m1", ts: 1, health: 99.5, status: .watch, confidence: 0.9, modelVersion: 2, anomaly: 0.3, rev: 8)),
            .model: .model(.init(machine: "m1", lineage: ModelLineage(
                version: 2, active: true, createdAt: 3, trigger: .drift, parentVersion: nil, trainFrom: 1, trainTo: 2, rowCount: 30,
                contentSha256: String(repeating: "a", count: 64), sensors: ["temp"], parameters: [:], codeVersion: "vigil-health-2",
                metrics: [:], gateDecision: .promoted, gateReason: "é \"quoted\""), rev: 9)),
            .maintenance: .maintenance(.init(machine: "m1", id: 4, at: 5, note: String(repeating: "n", count: 300))),
            .event: .event(Event(id: 3, at: 4, kind: .statusChanged, machine: "m1", status: .alarm, health: 20, modelVersion: 1, detail: "d")),
            .quarantine: .quarantine(.init(id: 5, receivedAt: 6, topic: "vigil/m1/temp", reason: "malformed_json", detail: "unexpected end")),
            .sensor: .sensor(.init(machine: "m1", sensor: "temp", metadata: SensorMetadata(unit: "°C", description: "casing", min: -40, max: nil, step: 0.1), rev: 10)),
        ]
        #expect(Set(rows.keys) == Set(UpstreamStream.allCases))
        for (stream, row) in rows {
            let bytes = ClickHouse.rowBinary([row, row], site: "plant-a")
            let columns = ClickHouse.table(stream).columns
            #expect(ClickHouse.insert(database: "vigil", prefix: "vigil_", stream: stream).contains("(" + columns.map(\.0).joined(separator: ", ") + ") FORMAT RowBinary"))
            var i = 0
            var doubles: [Double] = []
            for _ in 0..<2 {
                for (_, type) in columns {
                    var t = Substring(type)
                    if t.hasPrefix("Nullable(") {
                        let isNull = bytes[i] == 1
                        i += 1
                        if isNull { continue }
                        t = t.dropFirst("Nullable(".count).dropLast()
                    }
                    switch t {
                    case "UInt64": i += 8
                    case "UInt8": i += 1
                    case "Date":
                        #expect(Int(bytes[i]) | Int(bytes[i + 1]) << 8 == 20_416, "2025-11-24 as days since 1970")
                        i += 2
                    case "Float64":
                        doubles.append(Double(bitPattern: bytes[i..<i + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }))
                        i += 8
                    case "String":
                        var n = 0, shift = 0
                        while true {
                            let b = bytes[i]; i += 1
                            n |= Int(b & 0x7F) << shift; shift += 7
                            if b < 0x80 { break }
                        }
                        i += n
                    default: Issue.record("unexpected type \(type)")
                    }
                }
            }
            #expect(i == bytes.count, "\(stream): rows end where the columns say")
            if stream == .rollupMinute {
                #expect(doubles.prefix(5).map(\.bitPattern) == [0.1 + 0.2, -0.0, 1e300, 5e-324, 0.5].map(\.bitPattern))
            }
        }
    }

    @Test func upstreamConfigurationNamesTheKeyOfEveryMistake() throws {
        let good = try VigilConfig.load(fileText: """
            [upstream]
            site = "plant-a"
            [[upstream.clickhouse]]
            url = "http://10.0.0.5:8123/"
            password_env = "CH_PASSWORD"
            streams = ["rollup_minute", "health"]
            [[upstream.clickhouse]]
            url = "https://central:8443"
            database = "fleet"
            """, fileName: "v.toml", environment: [:])
        #expect(good.upstreamSite == "plant-a")
        #expect(good.upstreamClickHouse.map(\.url) == ["http://10.0.0.5:8123", "https://central:8443"])
        #expect(good.upstreamClickHouse[0].streams == [.rollupMinute, .health])
        #expect(good.upstreamClickHouse[1].streams == UpstreamStream.defaults && good.upstreamClickHouse[1].database == "fleet")
        #expect(good.upstreamClickHouse[0].resolvedPassword(environment: ["CH_PASSWORD": "pw"]) == "pw")

        func key(_ text: String, env: [String: String] = [:]) -> String? {
            do { _ = try VigilConfig.load(fileText: text, fileName: "v.toml", environment: env); return nil } catch { return error.key }
        }
        #expect(key("[[upstream.clickhouse]]\nurl = \"http://c:8123\"") == "upstream.site")
        #expect(key("[upstream]\nsite = \"a\"\n[[upstream.clickhouse]]\nurl = \"ftp://c\"") == "upstream.clickhouse[0].url")
        #expect(key("[upstream]\nsite = \"a\"\n[[upstream.clickhouse]]\nstreams = [\"raw\"]") == "upstream.clickhouse[0].streams")
        #expect(key("[upstream]\nsite = \"a\"\n[[upstream.clickhouse]]\ndatabase = \"x; DROP\"") == "upstream.clickhouse[0].database")
        #expect(key("[upstream]\nsite = \"a\"\n[[upstream.clickhouse]]\nuser = \"u\"") == "upstream.clickhouse[0].url")
        #expect(key("[upstream]\nsite = \"a b\"") == "upstream.site")
        #expect(key("", env: ["VIGIL_UPSTREAM_MAX_LAG_SECONDS": "1"]) == "upstream.max_lag_seconds")
        // [notify] and [upstream] keys are taken from the environment like every other section's.
        let env = try VigilConfig.load(fileText: nil, fileName: "v.toml", environment: ["VIGIL_NOTIFY_SILENT_AFTER_SECONDS": "20", "VIGIL_UPSTREAM_SITE": "plant-b"])
        #expect(env.notifySilentAfterSeconds == 20 && env.upstreamSite == "plant-b")
    }
}
