/// The daemon's configuration (SPEC §9): a TOML file, overridden by `VIGIL_<SECTION>_<KEY>`
/// environment variables, overridden by flags. Unknown keys and bad values are errors that name
/// the key and where it came from.
public struct VigilConfig: Sendable, Equatable {
    // [mqtt]
    public var mqttURL = "mqtt://127.0.0.1:1883"
    public var mqttClientID = "vigild"
    /// Subscription filters; nil = derived from the templates.
    public var mqttTopics: [String]?
    public var mqttTopicTemplates = TopicTemplate.defaults()
    public var mqttUsername = ""
    public var mqttPassword = ""
    public var mqttCAFile = ""
    public var mqttCertFile = ""
    public var mqttKeyFile = ""
    public var mqttKeepAliveSeconds = 30
    // [site]
    /// The plant's time zone (an IANA name, e.g. `Europe/Berlin`): day rollups are its local days.
    public var siteTimezone = "UTC"
    // [storage]
    public var storageDB = "var/vigil.sqlite"
    /// How long after a 6-hour span ends its readings stay rows (cheap late data) before they are
    /// sealed into a compressed chunk.
    public var storageSealAfterSeconds = 3600
    /// Below this much free space on the database's file system the daemon says it is degraded.
    public var storageMinFreeMB = 256
    // [http]
    public var httpListen = "127.0.0.1:8470"
    /// Bearer tokens; when any is set, the API needs one (reader: read routes; admin: all).
    public var httpReaderTokens: [String] = []
    public var httpAdminTokens: [String] = []
    /// PEM files; both set = the API speaks HTTPS only.
    public var httpTLSCertificate = ""
    public var httpTLSKey = ""
    // [ingest]
    public var ingestMaxPayloadBytes = 256 * 1024
    /// When an acknowledged reading is safe: `process` (a crash or kill of vigild) or `power`
    /// (also a power cut: the journal is synced before the PUBACK, SQLite commits are synced).
    public var ingestDurability = Durability.process
    /// MQTT sessions the gateway subscribes with (a shared subscription when more than one):
    /// with `ingest.durability = "power"` their messages share journal syncs (group commit).
    public var ingestSessions = 1
    public var ingestMaxFutureSeconds = 600
    /// Seconds between the SQLite commits of a live trickle of readings, which waits in the
    /// journal meanwhile (`CommitSchedule`: on the wall clock's multiples, 2 s past each; at 60,
    /// once a minute just after it ends); 0 = commit within 50 ms. Every commit rewrites a page
    /// per series it touches: at 1 Hz, 10 writes ~700 bytes a reading, 60 ~200, 0 about 5 KB.
    public var ingestApplyIntervalSeconds = 10
    public var ingestQuarantineMaxRows = 10_000
    // [rollup]
    public var rollupFlushDelaySeconds = 4
    /// Rollups lagging more than this behind the newest data make the daemon say it is degraded.
    public var rollupMaxLagSeconds = 300
    // [retention] (0 = forever)
    public var retentionRawDays = 0
    public var retentionMinuteDays = 0
    // [health]
    public var healthCommissionMinutes = 1440
    // [notify]
    /// `[[notify.webhook]]` tables: where events are POSTed.
    public var notifyWebhooks: [Webhook] = []
    /// A machine with no reading for this long is reported silent (0 = never).
    public var notifySilentAfterSeconds = 900
    /// Events older than this many days are deleted once every webhook has them (0 = never).
    public var notifyKeepDays = 365
    // [upstream] (docs/scale-out.md)
    /// This site's id, added to every row sent upstream.
    public var upstreamSite = ""
    /// `[[upstream.clickhouse]]` tables: the clusters the site streams into.
    public var upstreamClickHouse: [ClickHouseSink] = []
    /// An unsent upstream row older than this makes the daemon say it is degraded.
    public var upstreamMaxLagSeconds = 900
    /// What a new sink is sent of the past: minute rollups, health points and events of this
    /// many days (day rollups, models and maintenance: all that is kept).
    public var upstreamBackfillDays = 1
    public var healthBandOK = 70
    public var healthBandWatch = 60
    public var healthBandAlarm = 50
    public var healthHysteresis = 5
    public var healthRetrainHours = 24
    public var healthRetrainWindowMinutes = 2880
    /// `pattern=type` (pattern: a machine id or `prefix*`).
    public var healthMachineTypes: [String] = []
    /// `[[sensors]]` tables: units, descriptions and physical ranges by machine and sensor glob.
    public var sensorRules: [SensorRule] = []
    // [sparkplug] (docs/sparkplug.md)
    /// Be a Sparkplug B primary host beside the other dialects.
    public var sparkplugEnabled = false
    /// Sparkplug groups to subscribe to; empty = all (`spBv1.0/#`).
    public var sparkplugGroups: [String] = []
    public var sparkplugHostID = "vigil"
    public var sparkplugMachine = SparkplugMachineTemplate.default
    public var sparkplugRebirthMinIntervalSeconds = 10
    public var sparkplugReorderTimeoutSeconds = 5
    /// DateTime metrics become readings (epoch milliseconds as the value).
    public var sparkplugDateTimeReadings = false

    public init() {}

    /// Where a setting came from, for error messages.
    public enum Source: Sendable, Equatable, CustomStringConvertible {
        case file(String, line: Int)
        case environment(String)
        case flag(String)

        public var description: String {
            switch self {
            case .file(let f, let line): "\(f):\(line)"
            case .environment(let v): "environment variable \(v)"
            case .flag(let f): "flag \(f)"
            }
        }
    }

    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        public var source: Source?
        public var key: String?
        public var message: String

        public init(source: Source?, key: String?, message: String) {
            self.source = source
            self.key = key
            self.message = message
        }

        public var description: String {
            var parts: [String] = []
            if let source { parts.append(source.description) }
            if let key { parts.append("key '\(key)'") }
            parts.append(message)
            return parts.joined(separator: ": ")
        }
    }

    /// Every key, with how to apply a value to it. The table is the schema: anything else is unknown.
    static let keys: [String: @Sendable (inout VigilConfig, TOMLValue) throws(ValueError) -> Void] = [
        "mqtt.url": { c, v throws(ValueError) in c.mqttURL = try v.urlString(schemes: ["mqtt", "mqtts"]) },
        "mqtt.client_id": { c, v throws(ValueError) in c.mqttClientID = try v.nonEmptyString() },
        "mqtt.topics": { c, v throws(ValueError) in c.mqttTopics = try v.stringArray() },
        "mqtt.topic_templates": { c, v throws(ValueError) in
            var templates: [TopicTemplate] = []
            for text in try v.stringArray() {
                do { templates.append(try TopicTemplate(text)) } catch { throw ValueError(message: "\(error)") }
            }
            c.mqttTopicTemplates = templates
        },
        "mqtt.username": { c, v throws(ValueError) in c.mqttUsername = try v.string() },
        "mqtt.password": { c, v throws(ValueError) in c.mqttPassword = try v.string() },
        "mqtt.ca_file": { c, v throws(ValueError) in c.mqttCAFile = try v.string() },
        "mqtt.cert_file": { c, v throws(ValueError) in c.mqttCertFile = try v.string() },
        "mqtt.key_file": { c, v throws(ValueError) in c.mqttKeyFile = try v.string() },
        "mqtt.keepalive_seconds": { c, v throws(ValueError) in c.mqttKeepAliveSeconds = try v.int(in: 5...3600) },
        "site.timezone": { c, v throws(ValueError) in c.siteTimezone = try v.timeZoneName() },
        "storage.db": { c, v throws(ValueError) in c.storageDB = try v.nonEmptyString() },
        "storage.seal_after": { c, v throws(ValueError) in c.storageSealAfterSeconds = try v.duration(in: 0...(30 * 86_400)) },
        "storage.min_free_mb": { c, v throws(ValueError) in c.storageMinFreeMB = try v.int(in: 0...(1 << 30)) },
        "http.listen": { c, v throws(ValueError) in c.httpListen = try v.hostPort() },
        "http.reader_tokens": { c, v throws(ValueError) in c.httpReaderTokens = try v.tokens() },
        "http.admin_tokens": { c, v throws(ValueError) in c.httpAdminTokens = try v.tokens() },
        "http.tls_certificate": { c, v throws(ValueError) in c.httpTLSCertificate = try v.string() },
        "http.tls_key": { c, v throws(ValueError) in c.httpTLSKey = try v.string() },
        "ingest.durability": { c, v throws(ValueError) in
            let text = try v.string()
            guard let d = Durability(rawValue: text) else { throw ValueError(message: "'\(text)' is not process or power") }
            c.ingestDurability = d
        },
        "ingest.sessions": { c, v throws(ValueError) in c.ingestSessions = try v.int(in: 1...16) },
        "ingest.apply_interval": { c, v throws(ValueError) in c.ingestApplyIntervalSeconds = try v.duration(in: 0...120) },
        "ingest.max_payload_bytes": { c, v throws(ValueError) in c.ingestMaxPayloadBytes = try v.int(in: 64...(16 << 20)) },
        "ingest.max_future_seconds": { c, v throws(ValueError) in c.ingestMaxFutureSeconds = try v.int(in: 0...(366 * 86_400)) },
        "ingest.quarantine_max_rows": { c, v throws(ValueError) in c.ingestQuarantineMaxRows = try v.int(in: 10...10_000_000) },
        "rollup.flush_delay_seconds": { c, v throws(ValueError) in c.rollupFlushDelaySeconds = try v.int(in: 0...3600) },
        "rollup.max_lag_seconds": { c, v throws(ValueError) in c.rollupMaxLagSeconds = try v.int(in: 10...(30 * 86_400)) },
        "retention.raw_days": { c, v throws(ValueError) in c.retentionRawDays = try v.int(in: 0...36_500) },
        "retention.minute_days": { c, v throws(ValueError) in c.retentionMinuteDays = try v.int(in: 0...36_500) },
        "notify.keep_days": { c, v throws(ValueError) in c.notifyKeepDays = try v.int(in: 0...36_500) },
        "notify.silent_after_seconds": { c, v throws(ValueError) in c.notifySilentAfterSeconds = try v.int(in: 0...(366 * 86_400)) },
        "upstream.site": { c, v throws(ValueError) in
            let site = try v.nonEmptyString()
            guard KeyRules.isValidMachine(site) else { throw ValueError(message: "'\(site)' is not a valid id (letters, digits, '-', '_', '.', at most 64)") }
            c.upstreamSite = site
        },
        "upstream.max_lag_seconds": { c, v throws(ValueError) in c.upstreamMaxLagSeconds = try v.int(in: 10...(30 * 86_400)) },
        "upstream.backfill_days": { c, v throws(ValueError) in c.upstreamBackfillDays = try v.int(in: 0...36_500) },
        "health.commission_minutes": { c, v throws(ValueError) in c.healthCommissionMinutes = try v.int(in: 10...100_000) },
        "health.band_ok": { c, v throws(ValueError) in c.healthBandOK = try v.int(in: 2...100) },
        "health.band_watch": { c, v throws(ValueError) in c.healthBandWatch = try v.int(in: 1...99) },
        "health.band_alarm": { c, v throws(ValueError) in c.healthBandAlarm = try v.int(in: 1...98) },
        "health.hysteresis": { c, v throws(ValueError) in c.healthHysteresis = try v.int(in: 0...30) },
        "health.retrain_hours": { c, v throws(ValueError) in c.healthRetrainHours = try v.int(in: 0...8760) },
        "health.retrain_window_minutes": { c, v throws(ValueError) in c.healthRetrainWindowMinutes = try v.int(in: 60...525_600) },
        "health.machine_types": { c, v throws(ValueError) in
            guard case .array(let items) = v else { throw ValueError(message: "expected an array of \"pattern=type\" strings") }
            var out: [String] = []
            for item in items {
                let text = try item.string()
                let parts = text.split(separator: "=", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw ValueError(message: "'\(text)' is not pattern=type (e.g. \"pump-*=pump\")")
                }
                out.append(text)
            }
            c.healthMachineTypes = out
        },
        "sparkplug.enabled": { c, v throws(ValueError) in c.sparkplugEnabled = try v.bool() },
        "sparkplug.groups": { c, v throws(ValueError) in
            let groups = try v.stringArray(mayBeEmpty: true)
            for g in groups { try topicLevel(g) }
            c.sparkplugGroups = groups
        },
        "sparkplug.host_id": { c, v throws(ValueError) in c.sparkplugHostID = try topicLevel(try v.nonEmptyString()) },
        "sparkplug.machine": { c, v throws(ValueError) in
            let text = try v.nonEmptyString()
            do { c.sparkplugMachine = try SparkplugMachineTemplate(text) } catch { throw ValueError(message: "\(error)") }
        },
        "sparkplug.rebirth_min_interval": { c, v throws(ValueError) in c.sparkplugRebirthMinIntervalSeconds = try v.duration(in: 1...86_400) },
        "sparkplug.reorder_timeout": { c, v throws(ValueError) in c.sparkplugReorderTimeoutSeconds = try v.duration(in: 1...3600) },
        "sparkplug.datetime_readings": { c, v throws(ValueError) in c.sparkplugDateTimeReadings = try v.bool() },
    ]

    /// A Sparkplug id that is one MQTT topic level.
    @discardableResult
    static func topicLevel(_ s: String) throws(ValueError) -> String {
        guard !s.isEmpty, !s.contains(where: { $0 == "/" || $0 == "+" || $0 == "#" }) else {
            throw ValueError(message: "'\(s)' must be one MQTT topic level (no '/', '+' or '#')")
        }
        return s
    }

    /// The Sparkplug host's settings from `[sparkplug]` and `ingest.max_future_seconds`.
    public var sparkplugHost: SparkplugHost.Settings {
        var s = SparkplugHost.Settings()
        s.machine = sparkplugMachine
        s.rebirthMinIntervalMillis = Int64(sparkplugRebirthMinIntervalSeconds) * 1000
        s.reorderTimeoutMillis = Int64(sparkplugReorderTimeoutSeconds) * 1000
        s.dateTimeReadings = sparkplugDateTimeReadings
        s.maxFutureMillis = Int64(ingestMaxFutureSeconds) * 1000
        return s
    }

    /// What the Sparkplug host subscribes to: every group or the configured ones, and its own STATE.
    public var sparkplugFilters: [String] {
        let ns = SparkplugTopic.namespace
        return (sparkplugGroups.isEmpty ? ["\(ns)/#"] : sparkplugGroups.map { "\(ns)/\($0)/#" }) + [SparkplugTopic.state(hostID: sparkplugHostID)]
    }

    public static var knownKeys: [String] { keys.keys.sorted() }

    /// What the gateway subscribes to: `mqtt.topics`, else one filter per distinct template.
    public var subscriptionFilters: [String] {
        if let mqttTopics { return mqttTopics }
        var seen = Set<String>()
        return mqttTopicTemplates.map(\.subscriptionFilter).filter { seen.insert($0).inserted }
    }

    /// Applies one setting: a key of an array of tables (`[[notify.webhook]]`,
    /// `[[upstream.clickhouse]]`) or of the key table. A bad value names the key.
    public mutating func set(_ key: String, _ value: TOMLValue, from source: Source) throws(Error) {
        let isWebhook = key.hasPrefix(Webhook.prefix), isSink = key.hasPrefix(ClickHouseSink.prefix), isSensor = key.hasPrefix(SensorRule.prefix)
        let apply = Self.keys[key]
        guard isWebhook || isSink || isSensor || apply != nil else {
            throw Error(source: source, key: key, message: "unknown key (known: \(Self.knownKeys.joined(separator: ", ")))")
        }
        do {
            if isWebhook {
                try Webhook.set(key, value, in: &notifyWebhooks)
            } else if isSink {
                try ClickHouseSink.set(key, value, in: &upstreamClickHouse)
            } else if isSensor {
                try SensorRule.set(key, value, in: &sensorRules)
            } else {
                try apply?(&self, value)
            }
        } catch {
            throw Error(source: source, key: key, message: error.message)
        }
    }

    /// Loads a config: file text (may be nil for defaults only), then the environment.
    public static func load(fileText: String?, fileName: String, environment: [String: String]) throws(Error) -> VigilConfig {
        var config = VigilConfig()
        if let fileText {
            let entries: [TOMLEntry]
            do {
                entries = try TOML.parse(fileText)
            } catch {
                throw Error(source: .file(fileName, line: error.line), key: nil, message: error.message)
            }
            for e in entries {
                try config.set(e.path, e.value, from: .file(fileName, line: e.line))
            }
        }
        for (name, raw) in environment.sorted(by: { $0.key < $1.key }) {
            guard name.hasPrefix("VIGIL_"), let key = envKey(name) else { continue }
            try config.set(key, TOML.parseLooseValue(raw), from: .environment(name))
        }
        try config.validate()
        return config
    }

    /// Rules that span keys. Minute rollups must outlive raw rows: a minute recomputed from raw
    /// after its day had absorbed it would count twice.
    public func validate() throws(Error) {
        for (n, hook) in notifyWebhooks.enumerated() where hook.url.isEmpty {
            throw Error(source: nil, key: "\(Webhook.prefix)\(n)].url", message: "every [[notify.webhook]] needs url = \"http(s)://…\"")
        }
        for (n, sink) in upstreamClickHouse.enumerated() where sink.url.isEmpty {
            throw Error(source: nil, key: "\(ClickHouseSink.prefix)\(n)].url", message: "every [[upstream.clickhouse]] needs url = \"http(s)://host:8123\"")
        }
        for (n, rule) in sensorRules.enumerated() {
            if let problem = rule.metadata.problem {
                throw Error(source: nil, key: "\(SensorRule.prefix)\(n)].max", message: problem)
            }
        }
        if !upstreamClickHouse.isEmpty && upstreamSite.isEmpty {
            throw Error(source: nil, key: "upstream.site", message: "streaming upstream needs this site's id (upstream.site = \"plant-a\"), added to every row")
        }
        if !(healthBandOK > healthBandWatch && healthBandWatch > healthBandAlarm) {
            throw Error(source: nil, key: "health.band_watch",
                        message: "band edges must fall: band_ok (\(healthBandOK)) > band_watch (\(healthBandWatch)) > band_alarm (\(healthBandAlarm))")
        }
        if httpTLSCertificate.isEmpty != httpTLSKey.isEmpty {
            let missing = httpTLSCertificate.isEmpty ? "http.tls_certificate" : "http.tls_key"
            throw Error(source: nil, key: missing, message: "HTTPS needs both http.tls_certificate and http.tls_key (PEM files)")
        }
        if retentionMinuteDays > 0 && (retentionRawDays == 0 || retentionRawDays > retentionMinuteDays) {
            throw Error(source: nil, key: "retention.minute_days",
                        message: "\(retentionMinuteDays) keeps minute rollups shorter than raw rows (retention.raw_days = \(retentionRawDays == 0 ? "forever" : String(retentionRawDays))); minute rollups must be kept at least as long")
        }
    }

    /// `VIGIL_MQTT_CLIENT_ID` → `mqtt.client_id`. Variables that name no section are not config
    /// (e.g. `VIGIL_URL` for the CLI), so only known sections are taken.
    static func envKey(_ name: String) -> String? {
        let rest = name.dropFirst("VIGIL_".count).lowercased()
        for section in ["site", "mqtt", "storage", "http", "ingest", "rollup", "retention", "health", "notify", "upstream", "sparkplug"] where rest.hasPrefix(section + "_") {
            return section + "." + rest.dropFirst(section.count + 1)
        }
        return nil
    }
}

struct ValueError: Swift.Error {
    var message: String
}

extension TOMLValue {
    /// An array of the raw values of `E`'s cases; an unknown one is named with the known ones.
    func caseArray<E: RawRepresentable & CaseIterable>(of what: String) throws(ValueError) -> [E] where E.RawValue == String {
        guard case .array(let items) = self else { throw ValueError(message: "expected an array of \(what)s") }
        return try items.map { item throws(ValueError) in
            let name = try item.string()
            guard let value = E(rawValue: name) else {
                throw ValueError(message: "'\(name)' is not a known \(what) (known: \(E.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return value
        }
    }

    func httpURL() throws(ValueError) -> String {
        let url = try nonEmptyString()
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw ValueError(message: "'\(url)' is not an http:// or https:// URL") }
        return url
    }

    func string() throws(ValueError) -> String {
        guard case .string(let s) = self else { throw ValueError(message: "expected a string, got \(typeName)") }
        return s
    }

    func bool() throws(ValueError) -> Bool {
        guard case .bool(let b) = self else { throw ValueError(message: "expected true or false, got a \(typeName)") }
        return b
    }

    /// An IANA time zone name's shape (`Europe/Berlin`, `America/Argentina/Buenos_Aires`, `UTC`);
    /// whether the zone exists is found when its tz database file is read.
    func timeZoneName() throws(ValueError) -> String {
        let s = try nonEmptyString()
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard s.count <= 64, parts.allSatisfy({ p in
            !p.isEmpty && p != "." && p != ".." && p.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_+-".contains($0)) }
        }) else { throw ValueError(message: "'\(s)' is not a time zone name (an IANA name such as \"Europe/Berlin\" or \"UTC\")") }
        return s
    }

    func nonEmptyString() throws(ValueError) -> String {
        let s = try string()
        guard !s.isEmpty else { throw ValueError(message: "must not be empty") }
        return s
    }

    /// Seconds, as an integer or a string with a unit: "90s", "30m", "1h", "2d".
    func duration(in range: ClosedRange<Int>) throws(ValueError) -> Int {
        if case .integer = self { return try int(in: range) }
        let s = try string()
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = s.last.flatMap({ units[$0] }), let n = Int(s.dropLast()), n >= 0,
              case let (v, overflow) = n.multipliedReportingOverflow(by: unit), !overflow else {
            throw ValueError(message: "'\(s)' is not a duration (seconds, or a number with s, m, h or d: \"1h\")")
        }
        guard range.contains(v) else { throw ValueError(message: "\(s) is out of range \(range.lowerBound)...\(range.upperBound) seconds") }
        return v
    }

    /// An integer or a float, finite.
    func number() throws(ValueError) -> Double {
        switch self {
        case .integer(let n): return Double(n)
        case .float(let d) where d.isFinite: return d
        default: throw ValueError(message: "expected a finite number, got \(typeName)")
        }
    }

    func int(in range: ClosedRange<Int>) throws(ValueError) -> Int {
        guard case .integer(let n) = self else { throw ValueError(message: "expected an integer, got \(typeName)") }
        guard let v = Int(exactly: n), range.contains(v) else {
            throw ValueError(message: "\(n) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    func stringArray(mayBeEmpty: Bool = false) throws(ValueError) -> [String] {
        guard case .array(let items) = self else { throw ValueError(message: "expected an array of strings, got \(typeName)") }
        var out: [String] = []
        for item in items { out.append(try item.nonEmptyString()) }
        guard mayBeEmpty || !out.isEmpty else { throw ValueError(message: "must not be empty") }
        return out
    }

    /// Bearer tokens: an array (may be empty) of at least 16 printable characters each.
    func tokens() throws(ValueError) -> [String] {
        guard case .array(let items) = self else { throw ValueError(message: "expected an array of token strings, got \(typeName)") }
        var out: [String] = []
        for item in items {
            let t = try item.string()
            guard t.utf8.count >= 16, t.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                throw ValueError(message: "tokens must be at least 16 printable characters without spaces")
            }
            out.append(t)
        }
        return out
    }

    func urlString(schemes: [String]) throws(ValueError) -> String {
        let s = try string()
        guard let endpoint = BrokerURL(s), schemes.contains(endpoint.scheme) else {
            throw ValueError(message: "'\(s)' is not a URL of the form \(schemes.map { "\($0)://host:port" }.joined(separator: " or "))")
        }
        return s
    }

    func hostPort() throws(ValueError) -> String {
        let s = try string()
        guard HostPort(s) != nil else { throw ValueError(message: "'\(s)' is not host:port") }
        return s
    }
}

/// `mqtt://host[:port]` or `mqtts://host[:port]`.
public struct BrokerURL: Sendable, Equatable {
    public var scheme: String
    public var host: String
    public var port: Int

    public init?(_ s: String) {
        let parts = s.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        scheme = String(parts[0])
        let defaultPort: Int
        switch scheme {
        case "mqtt": defaultPort = 1883
        case "mqtts": defaultPort = 8883
        default: return nil
        }
        var rest = String(parts[1])
        if rest.hasSuffix("/") { rest.removeLast() }
        if rest.contains(":") {
            guard let hp = HostPort(rest) else { return nil }
            host = hp.host
            port = hp.port
        } else {
            guard !rest.isEmpty, !rest.contains("/") else { return nil }
            host = rest
            port = defaultPort
        }
    }
}

/// `host:port` (IPv6 as `[::1]:port`).
public struct HostPort: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init?(_ s: String) {
        guard let colon = s.lastIndex(of: ":") else { return nil }
        var h = String(s[..<colon])
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        guard !h.isEmpty, let p = Int(s[s.index(after: colon)...]), (0...65535).contains(p) else { return nil }
        host = h
        port = p
    }
}

/// `<prefix>N].field` of an array of tables: tables come in order, so N is at most `count` (N ==
/// `count` starts the next table). Nil when the key is not of that form.
func arrayTableEntry(_ key: String, prefix: String, count: Int) -> (index: Int, field: Substring)? {
    let rest = key.dropFirst(prefix.count)
    guard let close = rest.firstIndex(of: "]"), let n = Int(rest[..<close]), n <= count,
          rest[rest.index(after: close)...].hasPrefix(".") else { return nil }
    return (n, rest[rest.index(close, offsetBy: 2)...])
}

/// One `[[notify.webhook]]`: every event (or those of `events`, for machines matching `machines`)
/// is POSTed to `url` as JSON, with a bearer token and/or an HMAC-SHA256 signature when set.
public struct Webhook: Sendable, Equatable {
    static let prefix = "notify.webhook["

    public var url = ""
    public var bearerToken = ""
    /// Signs each body: `X-Vigil-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
    public var secret = ""
    /// Event kinds to send (empty: all).
    public var events: [EventKind] = []
    /// Machine ids or `prefix*` patterns (empty: all); daemon events go to every webhook.
    public var machines: [String] = []

    public init(url: String) { self.url = url }

    /// Whether `event` is for this webhook.
    public func wants(_ event: Event) -> Bool {
        guard events.isEmpty || events.contains(event.kind) else { return false }
        guard let machine = event.machine, !machines.isEmpty else { return true }
        return machines.contains { $0.hasSuffix("*") ? machine.hasPrefix($0.dropLast()) : machine == $0 }
    }

    /// `notify.webhook[N].key`: tables come in order, so N is at most the count so far.
    static func set(_ key: String, _ value: TOMLValue, in hooks: inout [Webhook]) throws(ValueError) {
        guard let (n, field) = arrayTableEntry(key, prefix: prefix, count: hooks.count) else {
            throw ValueError(message: "expected [[notify.webhook]] tables with keys url, bearer_token, secret, events, machines")
        }
        if n == hooks.count { hooks.append(Webhook(url: "")) }
        switch field {
        case "url": hooks[n].url = try value.httpURL()
        case "bearer_token": hooks[n].bearerToken = try value.string()
        case "secret": hooks[n].secret = try value.string()
        case "events": hooks[n].events = try value.caseArray(of: "event kind")
        case "machines":
            guard case .array(let items) = value else { throw ValueError(message: "expected an array of machine ids or prefix* patterns") }
            hooks[n].machines = try items.map { item throws(ValueError) in try item.nonEmptyString() }
        default:
            throw ValueError(message: "unknown key (known: url, bearer_token, secret, events, machines)")
        }
    }
}

/// One `[[upstream.clickhouse]]`: a ClickHouse node (HTTP interface) that takes this site's
/// streams into `database`'s tables (`vigil upstream schema clickhouse` prints them).
public struct ClickHouseSink: Sendable, Equatable {
    static let prefix = "upstream.clickhouse["

    public var url = ""
    public var database = "vigil"
    public var user = "default"
    public var password = ""
    /// The environment variable that holds the password (keeps it out of the file).
    public var passwordEnv = ""
    public var tablePrefix = "vigil_"
    public var streams: [UpstreamStream] = UpstreamStream.defaults
    /// Rows per insert at most.
    public var batchRows = 20_000
    /// A stream with fewer rows than a full batch waiting is sent at most this often: fewer,
    /// larger inserts (ClickHouse makes a part per insert; many sites inserting every second
    /// keep it merging).
    public var flushSeconds = 5
    /// gzip the inserts (`Content-Encoding: gzip`, level 1): a few times fewer bytes over a
    /// site's uplink for a little CPU.
    public var compress = true

    public init(url: String) { self.url = url }

    /// The password to send: `password_env`'s variable when set, else `password`.
    public func resolvedPassword(environment: [String: String]) -> String {
        passwordEnv.isEmpty ? password : environment[passwordEnv] ?? ""
    }

    /// The name its cursors are kept under (a sink is its node and database).
    public var cursorName: String { "clickhouse \(url) \(database)" }

    static func set(_ key: String, _ value: TOMLValue, in sinks: inout [ClickHouseSink]) throws(ValueError) {
        let known = "url, database, user, password, password_env, table_prefix, streams, batch_rows, flush_seconds, compress"
        guard let (n, field) = arrayTableEntry(key, prefix: prefix, count: sinks.count) else {
            throw ValueError(message: "expected [[upstream.clickhouse]] tables with keys \(known)")
        }
        if n == sinks.count { sinks.append(ClickHouseSink(url: "")) }
        let identifier: (String) -> Bool = { !$0.isEmpty && $0.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 } }
        switch field {
        case "url":
            let url = try value.httpURL()
            sinks[n].url = url.hasSuffix("/") ? String(url.dropLast()) : url
        case "database":
            let db = try value.nonEmptyString()
            guard identifier(db) else { throw ValueError(message: "'\(db)' is not a database name (letters, digits, '_')") }
            sinks[n].database = db
        case "user": sinks[n].user = try value.nonEmptyString()
        case "password": sinks[n].password = try value.string()
        case "password_env": sinks[n].passwordEnv = try value.string()
        case "table_prefix":
            let p = try value.string()
            guard p.isEmpty || identifier(p) else { throw ValueError(message: "'\(p)' is not a table name prefix (letters, digits, '_')") }
            sinks[n].tablePrefix = p
        case "streams": sinks[n].streams = try value.caseArray(of: "stream")
        case "batch_rows": sinks[n].batchRows = try value.int(in: 1...1_000_000)
        case "flush_seconds": sinks[n].flushSeconds = try value.int(in: 1...3600)
        case "compress": sinks[n].compress = try value.bool()
        default:
            throw ValueError(message: "unknown key (known: \(known))")
        }
    }
}

/// What a reading acknowledged to the broker survives (`ingest.durability`, docs/durability.md).
public enum Durability: String, Sendable, CaseIterable {
    /// A crash, `kill -9` or OOM kill of vigild: the journal write reaches the kernel before the PUBACK.
    case process
    /// Also a power cut or kernel panic: the journal is `fdatasync`ed before the PUBACK and SQLite
    /// commits with `synchronous=FULL`.
    case power
}
