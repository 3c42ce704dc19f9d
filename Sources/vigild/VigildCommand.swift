import ArgumentParser
import Foundation
import Logging
import VigilCLI
import VigilCore
import ServiceLifecycle
import VigilServer
import VigilStore

@main
struct Vigild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigild",
        abstract: "The Vigil daemon: MQTT gateway, time-series store with minute/day rollups, machine health and HTTP API.",
        discussion: """
            Configuration comes from a TOML file (default: config/vigil.toml if it exists in the \
            working directory, else /etc/vigil/vigil.toml if it exists, else built-in defaults), \
            then VIGIL_<SECTION>_<KEY> environment variables, then the flags below. \
            Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
            """)

    static func main() async { await runMain() }

    @Option(name: .long, help: "TOML configuration file.")
    var config: String?

    @Option(name: .customLong("mqtt-url"), help: "Broker URL, mqtt://host:port or mqtts://host:port (mqtt.url).")
    var mqttURL: String?

    @Option(name: .long, help: "SQLite database file (storage.db).")
    var db: String?

    @Option(name: .long, help: "HTTP listen address host:port (http.listen).")
    var http: String?

    @Flag(name: .customLong("check-config"), help: "Validate the configuration, print it and exit.")
    var checkConfig = false

    @Flag(name: .customLong("rebuild-rollups"), help: "Recompute minute and day rollups from the raw readings (and retention bases) with the daemon's kernels, then exit. Safe while vigild runs.")
    var rebuildRollups = false

    @Flag(name: .long, help: "Seal every raw reading whose 6-hour span ended more than storage.seal_after ago (and whose rollups are done) into compressed chunks, and whole such days of minute rollups; then, if most of the file is free (after converting an old database), VACUUM it. Exit. Safe while vigild runs (which also seals on its own; a VACUUM holds its writes back while it copies).")
    var seal = false

    @Option(name: .long, help: "With --rebuild-rollups: first time to rebuild (epoch ms or RFC 3339; widened to its UTC day). Default: the beginning.")
    var from: String?

    @Option(name: .long, help: "With --rebuild-rollups: end of the range, exclusive (epoch ms or RFC 3339). Default: no end.")
    var to: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func run() async throws {
        // Everything that touches the (large) configuration value happens in synchronous code:
        // kept in this async function's frame, it crashed a debug build (Swift 6.3) on release.
        guard let group = try prepare() else { return }
        try await group.run()
        Logger(label: "vigild").info("vigild stopped")
    }

    /// Loads the configuration and either does a one-shot job (--check-config,
    /// --rebuild-rollups; returns nil) or assembles the daemon.
    func prepare() throws -> ServiceGroup? {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ProgramError(.usage, "--log-level: '\(logLevel)' is not a log level")
        }
        let cfg = try loadConfig()
        _ = try Self.configErrorsAreUsage { try Daemon.calendar(cfg) }  // an unknown site.timezone exits 2
        if (from != nil || to != nil) && !rebuildRollups {
            throw ProgramError(.usage, "--from and --to go with --rebuild-rollups")
        }
        if seal {
            guard !rebuildRollups else { throw ProgramError(.usage, "--seal and --rebuild-rollups are separate runs") }
            let t0 = Date()
            var lastReport = t0
            let result = try Daemon.seal(config: cfg) { pass in
                if Date().timeIntervalSince(lastReport) >= 5 {
                    lastReport = Date()
                    FileHandle.standardError.write(Data("vigild --seal: sealing (\(pass.readings) readings in the last transaction)\n".utf8))
                }
            }
            let perReading = result.totals.readings > 0 ? Double(result.totals.bytes) / Double(result.totals.readings) : 0
            print("sealed \(result.pass.readings) readings into \(result.pass.chunks) chunks (\(result.pass.merges) merged into existing ones) in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s; "
                  + "sealed history: \(result.totals.readings) readings in \(result.totals.chunks) chunks, \(result.totals.bytes) bytes (\(String(format: "%.3f", perReading)) bytes/reading)"
                  + (result.released > 0 ? "; gave \(result.released) free bytes back to the file system" : ""))
            return nil
        }
        if rebuildRollups {
            let start = try from.map { try Self.time($0, flag: "--from") } ?? 0
            let end = try to.map { try Self.time($0, flag: "--to") } ?? Int64.max
            guard start < end else { throw ProgramError(.usage, "--from must be before --to") }
            let t0 = Date()
            let result = try Daemon.rebuildRollups(config: cfg, from: start, to: end)
            print("rebuilt rollups: \(result.days) series-days from \(result.readings) raw readings in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s")
            return nil
        }
        if checkConfig {
            try Self.configErrorsAreUsage { _ = try Daemon.httpServer(cfg) }  // loads the TLS files
            print("configuration ok: mqtt.url=\(cfg.mqttURL) storage.db=\(cfg.storageDB) http.listen=\(cfg.httpListen) subscriptions=\(cfg.subscriptionFilters) templates=\(cfg.mqttTopicTemplates)")
            return nil
        }
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        return try Self.configErrorsAreUsage {
            try Daemon.assemble(config: cfg, environment: ProcessInfo.processInfo.environment, logger: Logger(label: "vigild"))
        }
    }

    /// A configuration value that turns out unusable (a PEM file that does not load) exits 2
    /// naming its key, like a malformed one.
    static func configErrorsAreUsage<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as VigilConfig.Error {
            throw ProgramError(.usage, "configuration error: \(error)")
        }
    }

    static func time(_ s: String, flag: String) throws -> Int64 {
        guard let t = Timestamp.millis(query: s) else {
            throw ProgramError(.usage, "\(flag): '\(s)' is neither epoch milliseconds nor an RFC 3339 time")
        }
        return t
    }

    func loadConfig() throws -> VigilConfig {
        let env = ProcessInfo.processInfo.environment
        var path = config
        if path == nil {
            path = ["config/vigil.toml", "/etc/vigil/vigil.toml"].first { FileManager.default.fileExists(atPath: $0) }
        }
        var text: String?
        if let path {
            // FileHandle rather than String(contentsOfFile:), which fails on /dev/null and pipes.
            guard let handle = FileHandle(forReadingAtPath: path),
                  let s = String(validating: handle.readDataToEndOfFile(), as: UTF8.self) else {
                throw ProgramError(.usage, "--config: cannot read '\(path)' as UTF-8 text")
            }
            text = s
        }
        do {
            var cfg = try VigilConfig.load(fileText: text, fileName: path ?? "(defaults)", environment: env)
            if let mqttURL { try cfg.set("mqtt.url", .string(mqttURL), from: .flag("--mqtt-url")) }
            if let db { try cfg.set("storage.db", .string(db), from: .flag("--db")) }
            if let http { try cfg.set("http.listen", .string(http), from: .flag("--http")) }
            // Under systemd (StateDirectory=vigil) a relative database path lives in the state directory.
            if !cfg.storageDB.hasPrefix("/"), let state = env["STATE_DIRECTORY"]?.split(separator: ":").first {
                cfg.storageDB = "\(state)/\(cfg.storageDB)"
            }
            return cfg
        } catch {
            throw ProgramError(.usage, "configuration error: \(error)")
        }
    }
}
