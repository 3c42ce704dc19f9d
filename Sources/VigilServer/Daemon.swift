public import Logging
public import VigilCore
import Hummingbird
public import HummingbirdCore
import HummingbirdTLS
public import ServiceLifecycle
import UnixSignals
public import VigilStore
import VigilMQTT
import Foundation

/// Assembles and runs `vigild`: storage, the MQTT gateway and the HTTP API in one ServiceGroup.
/// SIGTERM/SIGINT stop the HTTP server first, then systemd notification, then the gateway (which
/// journals the message in hand and applies the whole journal to SQLite).
public enum Daemon {
    /// Builds the daemon's services; `run()` on the result runs it until SIGTERM/SIGINT.
    /// Synchronous on purpose: the configuration and the many temporaries stay off async frames
    /// (a debug build crashed with them there).
    public static func assemble(config: VigilConfig, environment: [String: String], logger: Logger) throws -> ServiceGroup {
        try ensureParentDirectory(of: config.storageDB)
        if let v = Schema.versions(path: config.storageDB), v.stored > 0, v.stored < v.current {
            // A migration may rewrite the rows not sealed yet (schema 15): tell systemd to wait
            // longer than its start timeout for READY (one message: sd_notify's extension lasts
            // as long as it says).
            logger.notice("migrating the database", metadata: ["from": "\(v.stored)", "to": "\(v.current)"])
            SystemdNotifier(environment: environment).notify(
                "EXTEND_TIMEOUT_USEC=\(Self.migrationTimeoutSeconds * 1_000_000)\nSTATUS=migrating the database from schema \(v.stored) to \(v.current)")
        }
        let writer = try openWriter(config)
        let reader = try StoreReader(path: config.storageDB)
        logger.info("storage open", metadata: ["db.path": "\(config.storageDB)", "site.timezone": "\(writer.calendar.timeZone)"])
        if let recut = writer.recutDays, recut.days > 0 {
            logger.notice("day rollups cut again on the plant's days (site.timezone changed)",
                          metadata: ["from": "\(recut.from)", "to": "\(recut.to)", "series_days": "\(recut.days)"])
        }

        guard let broker = BrokerURL(config.mqttURL) else { throw VigilConfig.Error(source: nil, key: "mqtt.url", message: "invalid") }
        let metrics = IngestMetrics()
        let decoder = PayloadDecoder(templates: config.mqttTopicTemplates, maxPayloadBytes: config.ingestMaxPayloadBytes,
                                     maxFutureMillis: Int64(config.ingestMaxFutureSeconds) * 1000)
        var journal = IngestBuffer.Options()
        journal.syncJournal = config.ingestDurability == .power
        journal.schedule = config.ingestCommitSchedule
        let buffer = try IngestBuffer(journalPrefix: config.storageDB + "-ingest", writer: writer, options: journal) { error in
            logger.error("storage commit failed; retrying (readings stay in the journal)", metadata: ["error": "\(error)"])
        }
        let recovered = try buffer.recover()
        if recovered > 0 { logger.notice("recovered readings from the ingest journal", metadata: ["store.readings": "\(recovered)"]) }
        let ingestor = Ingestor(decoder: decoder, buffer: buffer, metrics: metrics, logger: logger, leavesSparkplug: config.sparkplugEnabled)
        // The first session also publishes (retained health); /healthz reports on all of them.
        func options(_ id: String, will: MQTTClient.Options.Will? = nil) -> MQTTClient.Options {
            .init(host: broker.host, port: broker.port, clientID: id, cleanSession: false,
                  username: config.mqttUsername.isEmpty ? nil : config.mqttUsername,
                  password: config.mqttPassword.isEmpty ? nil : config.mqttPassword,
                  caFile: broker.scheme == "mqtts" ? (config.mqttCAFile.isEmpty ? "/etc/ssl/certs/ca-certificates.crt" : config.mqttCAFile) : nil,
                  certFile: config.mqttCertFile.isEmpty ? nil : config.mqttCertFile,
                  keyFile: config.mqttKeyFile.isEmpty ? nil : config.mqttKeyFile,
                  keepAliveSeconds: Int32(config.mqttKeepAliveSeconds), will: will)
        }
        let clients = try IngestService.clientIDs(config.mqttClientID, sessions: config.ingestSessions).map { id in
            try MQTTClient(options(id), onMessage: { ingestor.handle($0) }, onEvent: IngestService.logEvents(logger))
        }
        // The Sparkplug host has a session of its own (its Will is its STATE), after the gateway's.
        let sparkplug = config.sparkplugEnabled ? try SparkplugService(config: config, ingestor: ingestor, writer: writer, logger: logger) : nil
        var sparkplugClients: [MQTTClient] = []
        if let host = sparkplug {
            let client = try MQTTClient(options(config.mqttClientID + "-sparkplug", will: host.will),
                                        onMessage: { host.handle($0) }, onEvent: { host.connectionChanged($0) })
            host.attach(client)
            sparkplugClients = [client]
        }
        let sessions = MQTTSessions(clients + sparkplugClients)
        let ingest = IngestService(clients: clients, ingestor: ingestor,
                                   topics: IngestService.filters(config.subscriptionFilters, sessions: config.ingestSessions, clientID: config.mqttClientID),
                                   logger: logger)
        let rollups = RollupService(writer: writer, metrics: metrics, rawDays: config.retentionRawDays,
                                    minuteDays: config.retentionMinuteDays, logger: logger)

        let upstream = config.upstreamClickHouse.isEmpty ? nil : try UpstreamService(
            writer: writer, reader: reader, site: config.upstreamSite, sinks: config.upstreamClickHouse,
            backfillDays: config.upstreamBackfillDays, environment: environment, logger: logger)
        let condition = DaemonCondition(
            databasePath: config.storageDB,
            limits: .init(minFreeBytes: Int64(config.storageMinFreeMB) << 20, maxRollupLagMillis: Int64(config.rollupMaxLagSeconds) * 1000,
                          maxUpstreamLagMillis: Int64(config.upstreamMaxLagSeconds) * 1000),
            metrics: metrics, buffer: buffer, mqtt: sessions, rollups: rollups, upstream: upstream)
        let (httpRunningStream, httpRunning) = AsyncStream<Void>.makeStream()
        let systemd = SystemdService(
            environment: environment, metrics: metrics, buffer: buffer, mqtt: sessions, condition: condition,
            httpReady: { for await _ in httpRunningStream { break } }, logger: logger)

        let health = HealthService(writer: writer, publisher: sessions.publisher, settings: .init(config: config), logger: logger,
                                   offline: { sparkplug?.offlineMachines() ?? [:] })
        sparkplug?.whenOffline { health.nudge() }
        var upstreamAcknowledged: (@Sendable () -> Int64?)?
        if let upstream { upstreamAcknowledged = { upstream.acknowledged(.event) } }
        let notify = try NotifyService(writer: writer, webhooks: config.notifyWebhooks, condition: condition,
                                       keepDays: config.notifyKeepDays, upstreamAcknowledged: upstreamAcknowledged, logger: logger)

        let router = Router()
        router.add(middleware: MethodCheck())
        router.add(middleware: AccessControl(readerTokens: config.httpReaderTokens, adminTokens: config.httpAdminTokens))
        router.add(middleware: GzipMiddleware())
        let api = APIRoutes(reader: reader, metrics: metrics, buffer: buffer, mqtt: sessions, rollups: rollups, fleet: writer.fleet,
                            condition: condition, notify: notify, upstream: upstream, sparkplug: sparkplug,
                            sensorRules: config.sensorRules, writer: writer)
        api.register(on: router)
        HealthRoutes(reader: reader, health: health, api: api).register(on: router)
        SensorRoutes(reader: reader, writer: writer, rules: config.sensorRules, api: api).register(on: router)
        guard let listen = HostPort(config.httpListen) else { throw VigilConfig.Error(source: nil, key: "http.listen", message: "invalid") }
        if config.httpReaderTokens.isEmpty && config.httpAdminTokens.isEmpty && !["127.0.0.1", "localhost", "::1"].contains(listen.host) {
            logger.warning("the API listens beyond loopback without access control; set http.admin_tokens / http.reader_tokens",
                           metadata: ["http.address": "\(config.httpListen)"])
        }
        let app = Application(
            router: router,
            server: try httpServer(config),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "vigild"),
            onServerRunning: { channel in
                httpRunning.yield()
                logger.info("http listening", metadata: ["http.address": "\(channel.localAddress.map { "\($0)" } ?? config.httpListen)"])
            },
            logger: logger)

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: ingest)]
        // After the gateway: started once its journal runs, stopped before the journal is flushed.
        if let sparkplug { services.append(.init(service: sparkplug)) }
        services += [.init(service: rollups), .init(service: health), .init(service: notify)]
        if let upstream { services.append(.init(service: upstream)) }
        services += [.init(service: systemd), .init(service: app)]
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        return group
    }

    /// HTTP/1.1, or HTTPS when `http.tls_certificate` and `http.tls_key` are set. A file that
    /// cannot be loaded is a configuration error naming its key.
    public static func httpServer(_ config: VigilConfig) throws -> HTTPServerBuilder {
        guard !config.httpTLSCertificate.isEmpty else { return .http1() }
        func load<T>(_ key: String, _ path: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch {
                throw VigilConfig.Error(source: nil, key: key, message: "cannot load PEM file '\(path)': \(error)")
            }
        }
        let chain = try load("http.tls_certificate", config.httpTLSCertificate) { try NIOSSLCertificate.fromPEMFile(config.httpTLSCertificate) }
        let key = try load("http.tls_key", config.httpTLSKey) { try NIOSSLPrivateKey(file: config.httpTLSKey, format: .pem) }
        let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        return try .tls(.http1(), tlsConfiguration: tls)
    }

    /// `vigild --rebuild-rollups`: recomputes rollups from raw in batch.
    public static func rebuildRollups(config: VigilConfig, from: Int64, to: Int64) throws -> (days: Int, readings: Int) {
        let r = try openWriter(config).rebuildRollups(from: from, to: to)
        return (r.days, r.readings)
    }

    /// `vigild --seal`: seals every span that is sealable now, one bounded transaction at a time
    /// (safe beside a running daemon), then gives the freed space back if most of the file is free;
    /// `progress` hears of each transaction.
    public static func seal(config: VigilConfig, progress: (SealPass) -> Void) throws -> (pass: SealPass, totals: ChunkTotals, released: Int) {
        let writer = try openWriter(config)
        let pass = try writer.sealAll(progress: progress)
        let released = try writer.compact()
        return (pass, writer.sealedTotals, released)
    }

    /// How long systemd is asked to wait for READY while the database migrates.
    static let migrationTimeoutSeconds = 3_600

    static func openWriter(_ config: VigilConfig) throws -> StoreWriter {
        try StoreWriter(path: config.storageDB, quarantineLimit: config.ingestQuarantineMaxRows,
                        rollupFlushDelayMillis: Int64(config.rollupFlushDelaySeconds) * 1000,
                        sealAfterMillis: Int64(config.storageSealAfterSeconds) * 1000, syncCommits: config.ingestDurability == .power,
                        upstream: UpstreamService.streams(config.upstreamClickHouse), sensorRules: config.sensorRules,
                        calendar: try calendar(config))
    }

    /// The plant's calendar: `site.timezone` read from the tz database (`$TZDIR`, else
    /// `/usr/share/zoneinfo`, Debian's `tzdata`); an unknown zone is a configuration error.
    public static func calendar(_ config: VigilConfig) throws -> PlantCalendar {
        let name = config.siteTimezone
        let path = PlantCalendar.databasePath(of: name, environment: ProcessInfo.processInfo.environment)
        guard let data = FileManager.default.contents(atPath: path) else {
            if name == "UTC" { return .utc }
            throw VigilConfig.Error(source: nil, key: "site.timezone", message: "unknown time zone '\(name)' (no tz database file \(path); apt-get install tzdata)")
        }
        do { return try PlantCalendar(timeZone: name, tzif: Array(data)) } catch {
            throw VigilConfig.Error(source: nil, key: "site.timezone", message: "'\(name)': \(path) is not a usable tz database file (\(error))")
        }
    }

    static func ensureParentDirectory(of path: String) throws {
        guard let slash = path.lastIndex(of: "/") else { return }
        let dir = String(path[..<slash])
        guard !dir.isEmpty else { return }
        try FileSystem.createDirectories(dir)
    }
}

extension VigilConfig {
    /// `ingest.apply_interval` as the journal's commit times.
    var ingestCommitSchedule: CommitSchedule { CommitSchedule(every: Int64(ingestApplyIntervalSeconds) * 1000) }
}
