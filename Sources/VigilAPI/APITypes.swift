public import VigilCore

/// JSON bodies of the HTTP API (SPEC §6), shared by `vigild` (encodes) and `vigil` (decodes).
/// The store and the models keep their own types; the daemon maps them
/// (`Sources/VigilServer/APIBodies.swift`). The health and loss vocabulary comes from VigilCore.
/// Times are epoch milliseconds.
public enum API {
    public struct Machine: Codable, Sendable, Equatable {
        public var id: String
        public var sensors: [String]
        /// Largest reading timestamp of any of its sensors.
        public var lastSeen: Int64
        public var health: Double?
        public var status: HealthStatus?
        /// Readings its devices numbered that never arrived (see `Quality`); 0 without `seq`.
        public var missing: Int64
        /// Its sensors in fault (`GET /api/v1/machines/{id}/sensors`).
        public var faultySensors: Int

        public init(id: String, sensors: [String], lastSeen: Int64, health: Double? = nil, status: HealthStatus? = nil, missing: Int64 = 0,
                    faultySensors: Int = 0) {
            self.id = id
            self.sensors = sensors
            self.lastSeen = lastSeen
            self.health = health
            self.status = status
            self.missing = missing
            self.faultySensors = faultySensors
        }

        enum CodingKeys: String, CodingKey { case id, sensors, lastSeen, health, status, missing, faultySensors }

        /// Writes `health` and `status` as null when absent, as `jsonArray` (the route) does, so the
        /// CLI's `--format json` has the same keys as the API.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(sensors, forKey: .sensors)
            try c.encode(lastSeen, forKey: .lastSeen)
            try c.encode(health, forKey: .health)
            try c.encode(status, forKey: .status)
            try c.encode(missing, forKey: .missing)
            try c.encode(faultySensors, forKey: .faultySensors)
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(id: try c.decode(String.self, forKey: .id), sensors: try c.decode([String].self, forKey: .sensors),
                      lastSeen: try c.decode(Int64.self, forKey: .lastSeen), health: try c.decodeIfPresent(Double.self, forKey: .health),
                      status: try c.decodeIfPresent(HealthStatus.self, forKey: .status),
                      missing: try c.decodeIfPresent(Int64.self, forKey: .missing) ?? 0,  // absent from older daemons
                      faultySensors: try c.decodeIfPresent(Int.self, forKey: .faultySensors) ?? 0)
        }

        /// The fleet overview as JSON, written directly (same keys as the Codable form): with a
        /// thousand machines Foundation's encoder dominated the route.
        public static func jsonArray(_ machines: [Machine]) -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(machines.count * 160 + 2)
            out.append(UInt8(ascii: "["))
            for (i, m) in machines.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: #"{"id":"#.utf8)
                API.appendJSONString(m.id, to: &out)
                out.append(contentsOf: #","sensors":["#.utf8)
                for (k, sensor) in m.sensors.enumerated() {
                    if k > 0 { out.append(UInt8(ascii: ",")) }
                    API.appendJSONString(sensor, to: &out)
                }
                out.append(contentsOf: "],\"lastSeen\":\(m.lastSeen),\"health\":".utf8)
                if let h = m.health, h.isFinite { out.append(contentsOf: h.description.utf8) } else { out.append(contentsOf: "null".utf8) }
                out.append(contentsOf: #","status":"#.utf8)
                if let st = m.status { API.appendJSONString(st.rawValue, to: &out) } else { out.append(contentsOf: "null".utf8) }
                out.append(contentsOf: ",\"missing\":\(m.missing),\"faultySensors\":\(m.faultySensors)}".utf8)
            }
            out.append(UInt8(ascii: "]"))
            return out
        }
    }

    /// A sensor as its machine's sensor-fault detector judges it (`GET /api/v1/machines/{id}/sensors`):
    /// the vocabulary's own type, which writes every key.
    public typealias SensorStatus = SensorCondition

    /// Appends `s` as a JSON string literal (quotes, backslashes and control characters escaped).
    static func appendJSONString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(b)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 15)])
            default:
                out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Raw readings as columns (`format=columns` on the series route): the times and the values in
    /// the same order as the point objects, in about a fifth of their bytes, for reading long ranges.
    public struct SeriesColumns: Codable, Sendable, Equatable {
        public var ts: [Int64]
        public var value: [Double]

        public init(ts: [Int64], value: [Double]) {
            self.ts = ts
            self.value = value
        }

        /// `{"ts":[…],"value":[…]}` written directly (see `SeriesPoint.jsonArray`).
        public static func json(ts: [Int64], values: [Double]) -> [UInt8] {
            precondition(ts.count == values.count, "columns of one length")
            var out: [UInt8] = []
            out.reserveCapacity(ts.count * 24 + 24)
            out.append(contentsOf: #"{"ts":["#.utf8)
            for i in ts.indices {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONNumbers.append(ts[i], to: &out)
            }
            out.append(contentsOf: #"],"value":["#.utf8)
            for i in values.indices {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONNumbers.append(values[i], to: &out)
            }
            out.append(contentsOf: "]}".utf8)
            return out
        }
    }

    /// One series point: a raw reading (`count` 1) or a minute/day bucket.
    public struct SeriesPoint: Codable, Sendable, Equatable {
        public var ts: Int64
        public var count: Int
        public var mean: Double
        public var min: Double
        public var max: Double
        public var sum: Double
        public var stddev: Double
        /// Day points: the plant's local date (`2026-03-29`) and the day's length in ms (23, 24 or
        /// 25 hours across DST changes); absent on raw readings and minutes.
        public var date: String?
        public var lengthMs: Int64?

        public init(ts: Int64, count: Int, mean: Double, min: Double, max: Double, sum: Double, stddev: Double) {
            self.ts = ts
            self.count = count
            self.mean = mean
            self.min = min
            self.max = max
            self.sum = sum
            self.stddev = stddev
        }

        public static func raw(ts: Int64, value: Double) -> SeriesPoint {
            SeriesPoint(ts: ts, count: 1, mean: value, min: value, max: value, sum: value, stddev: 0)
        }

        /// Raw readings as an array of point objects (`raw(ts:value:)` each), written directly.
        public static func rawJSONArray(ts: [Int64], values: [Double]) -> [UInt8] {
            precondition(ts.count == values.count, "columns of one length")
            var out: [UInt8] = []
            out.reserveCapacity(ts.count * 100 + 2)
            out.append(UInt8(ascii: "["))
            for i in ts.indices {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                raw(ts: ts[i], value: values[i]).appendJSON(to: &out)
            }
            out.append(UInt8(ascii: "]"))
            return out
        }

        /// A series response as JSON, written directly: Foundation's JSONEncoder spends ≈ 3 µs per
        /// point, which made a day of minutes (1,440 points) miss its 5 ms budget. Same keys and
        /// values as the Codable form; a non-finite statistic (only possible when values near
        /// ±1e308 overflow a sum) is written as null.
        public static func jsonArray(_ points: [SeriesPoint]) -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(points.count * 120 + 2)
            out.append(UInt8(ascii: "["))
            for (i, p) in points.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                p.appendJSON(to: &out)
            }
            out.append(UInt8(ascii: "]"))
            return out
        }

        /// This point as one JSON object.
        public func appendJSON(to out: inout [UInt8]) {
            func number(_ x: Double) { JSONNumbers.append(x, to: &out) }
            out.append(contentsOf: "{\"ts\":".utf8)
            JSONNumbers.append(ts, to: &out)
            out.append(contentsOf: ",\"count\":".utf8)
            JSONNumbers.append(Int64(count), to: &out)
            out.append(contentsOf: ",\"mean\":".utf8)
            number(mean)
            out.append(contentsOf: ",\"min\":".utf8)
            number(min)
            out.append(contentsOf: ",\"max\":".utf8)
            number(max)
            out.append(contentsOf: ",\"sum\":".utf8)
            number(sum)
            out.append(contentsOf: ",\"stddev\":".utf8)
            number(stddev)
            if let date { out.append(contentsOf: ",\"date\":\"\(date)\"".utf8) }
            if let lengthMs {
                out.append(contentsOf: ",\"lengthMs\":".utf8)
                JSONNumbers.append(Int64(lengthMs), to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// `GET /api/v1/machines/{id}/health` (SPEC §6). `health`/`status` are null while the
    /// machine is still being commissioned (not enough data yet).
    public struct Health: Codable, Sendable, Equatable {
        public struct ModelRef: Codable, Sendable, Equatable {
            public var version: Int
            public var trainedAt: Int64
            public init(version: Int, trainedAt: Int64) {
                self.version = version
                self.trainedAt = trainedAt
            }
        }

        public var machine: String
        public var health: Double?
        public var status: HealthStatus?
        public var confidence: Double
        public var updatedAt: Int64?
        public var model: ModelRef?
        public var contributors: [Contributor]
        /// While commissioning: complete minute rows collected so far, and how many are needed.
        public var commissioningRows: Int?
        public var commissioningNeeded: Int?

        public init(machine: String, health: Double?, status: HealthStatus?, confidence: Double, updatedAt: Int64?, model: ModelRef?,
                    contributors: [Contributor], commissioningRows: Int? = nil, commissioningNeeded: Int? = nil) {
            self.machine = machine
            self.health = health
            self.status = status
            self.confidence = confidence
            self.updatedAt = updatedAt
            self.model = model
            self.contributors = contributors
            self.commissioningRows = commissioningRows
            self.commissioningNeeded = commissioningNeeded
        }
    }

    /// One minute of health history.
    public struct HealthPoint: Codable, Sendable, Equatable {
        public var ts: Int64
        public var health: Double
        public var status: HealthStatus
        public init(ts: Int64, health: Double, status: HealthStatus) {
            self.ts = ts
            self.health = health
            self.status = status
        }
    }

    /// A model version with its lineage.
    public typealias ModelVersion = ModelLineage

    public struct ActiveVersion: Codable, Sendable, Equatable {
        public var machine: String
        public var version: Int
        public init(machine: String, version: Int) {
            self.machine = machine
            self.version = version
        }
    }

    /// Loss accounting from the devices' sequence numbers (`GET /api/v1/machines/{id}/quality`):
    /// per sensor and summed over the machine.
    public struct Quality: Codable, Sendable, Equatable {
        public typealias Counts = LossCounts
        public struct Sensor: Codable, Sendable, Equatable {
            public var sensor: String
            public var highestSeq: Int64?
            public var counts: Counts
            public init(sensor: String, highestSeq: Int64?, counts: Counts) {
                self.sensor = sensor
                self.highestSeq = highestSeq
                self.counts = counts
            }
        }
        /// A minute in which readings went missing (all the machine's sensors together), as far as
        /// the gaps' timestamps tell: the missing readings are placed evenly between the arrivals
        /// around a gap, exact for a regular series.
        public struct Minute: Codable, Sendable, Equatable {
            public var ts: Int64
            public var missing: Int64
            public init(ts: Int64, missing: Int64) {
                self.ts = ts
                self.missing = missing
            }
        }
        public var machine: String
        public var total: Counts
        public var sensors: [Sensor]
        /// Minutes with missing readings in the asked range, oldest first.
        public var minutes: [Minute]
        public init(machine: String, total: Counts, sensors: [Sensor], minutes: [Minute] = []) {
            self.machine = machine
            self.total = total
            self.sensors = sensors
            self.minutes = minutes
        }
    }

    /// What `DELETE /api/v1/machines/{id}` removed.
    public struct RemovedMachine: Codable, Sendable, Equatable {
        public var machine: String
        public var sensors = 0
        public var readings = 0
        public var rollupRows = 0
        public var modelVersions = 0
        public var healthPoints = 0
        public init(machine: String) { self.machine = machine }
    }

    public struct MaintenanceEvent: Codable, Sendable, Equatable {
        public var machine: String
        public var at: Int64
        public var note: String
        public init(machine: String, at: Int64, note: String) {
            self.machine = machine
            self.at = at
            self.note = note
        }
    }

    public struct QuarantineItem: Codable, Sendable, Equatable {
        public var id: Int64
        public var receivedAt: Int64
        public var topic: String
        /// The first 1 KiB of the payload as text when it is UTF-8, else base64 in `payloadBase64`.
        public var payload: String?
        public var payloadBase64: String?
        public var reason: String
        public var detail: String

        public init(id: Int64, receivedAt: Int64, topic: String, payload: String?, payloadBase64: String?, reason: String, detail: String) {
            self.id = id
            self.receivedAt = receivedAt
            self.topic = topic
            self.payload = payload
            self.payloadBase64 = payloadBase64
            self.reason = reason
            self.detail = detail
        }
    }

    /// `GET /healthz`: the daemon's own state, not machine health.
    /// `GET /healthz`: the daemon's own state (not machine health).
    /// One sink's delivery of one stream (`GET /api/v1/upstream`, `vigil upstream status`).
    public struct UpstreamLane: Codable, Sendable, Equatable {
        public var sink: String
        public var url: String
        public var stream: UpstreamStream
        /// The last change (or event id) the sink acknowledged.
        public var cursor: Int64
        /// Rows sent since the daemon started.
        public var sentRows: Int
        /// Failed inserts since the daemon started (each retried with backoff).
        public var failures: Int
        /// Changes not yet acknowledged (recounted every 10 s).
        public var pendingRows: Int64
        /// When the oldest of them happened (epoch ms).
        public var oldestPendingAt: Int64?
        public var lastError: String?

        public init(sink: String, url: String, stream: UpstreamStream, cursor: Int64, sentRows: Int, failures: Int, pendingRows: Int64,
                    oldestPendingAt: Int64?, lastError: String?) {
            self.sink = sink; self.url = url; self.stream = stream; self.cursor = cursor; self.sentRows = sentRows
            self.failures = failures; self.pendingRows = pendingRows; self.oldestPendingAt = oldestPendingAt; self.lastError = lastError
        }
    }

    /// One Sparkplug B edge node's session (`GET /api/v1/sparkplug/nodes`, docs/sparkplug.md).
    public struct SparkplugNode: Codable, Sendable, Equatable {
        public struct Device: Codable, Sendable, Equatable {
            public var device: String
            public var machine: String
            public var online: Bool
            public init(device: String, machine: String, online: Bool) {
                self.device = device; self.machine = machine; self.online = online
            }
        }
        public var group: String
        public var edge: String
        /// The machine of the node's own metrics.
        public var machine: String
        public var online: Bool
        public var bdSeq: Int64?
        public var lastMessageAt: Int64
        /// Loss accounting of the node's messages by their `seq` (messages, not readings).
        public var messages: LossCounts
        public var births: Int
        public var deaths: Int
        /// NDEATHs whose bdSeq was not the session's (an earlier connection's Will): ignored.
        public var staleDeaths: Int
        public var rebirthRequests: Int
        public var unknownAliases: Int
        public var nullMetrics: Int
        public var devices: [Device]

        public init(group: String, edge: String, machine: String, online: Bool, bdSeq: Int64?, lastMessageAt: Int64, messages: LossCounts,
                    births: Int, deaths: Int, staleDeaths: Int, rebirthRequests: Int, unknownAliases: Int, nullMetrics: Int, devices: [Device]) {
            self.group = group; self.edge = edge; self.machine = machine; self.online = online; self.bdSeq = bdSeq
            self.lastMessageAt = lastMessageAt; self.messages = messages; self.births = births; self.deaths = deaths
            self.staleDeaths = staleDeaths; self.rebirthRequests = rebirthRequests; self.unknownAliases = unknownAliases
            self.nullMetrics = nullMetrics; self.devices = devices
        }
    }

    public struct DaemonStatus: Codable, Sendable, Equatable {
        /// Why the daemon is degraded: a code (`storage_failing`, `disk_low`, `mqtt_disconnected`,
        /// `rollup_lag`) and a sentence.
        public struct Reason: Codable, Sendable, Equatable {
            public var reason: String
            public var detail: String
            public init(reason: String, detail: String) {
                self.reason = reason
                self.detail = detail
            }
        }

        /// `ok`, or `degraded` with `reasons`.
        public var status: String
        public var reasons: [Reason] = []
        public var mqttConnected: Bool
        public var messages: Int
        /// Readings made durable and acknowledged.
        public var readingsAccepted: Int
        /// Readings committed to SQLite (`ingest.apply_interval`; the raw series and sensors routes
        /// also read those still waiting in the journal).
        public var readingsStored: Int
        public var lastMessageAt: Int64?
        /// Free bytes on the database's file system, and the bytes of the database, its WAL and
        /// the ingest journal.
        public var storageFreeBytes: Int64?
        public var databaseBytes: Int64 = 0
        /// The plant's time zone (`site.timezone`): its days are the day rollups'.
        public var timezone: String = "UTC"

        public init(status: String, reasons: [Reason] = [], mqttConnected: Bool, messages: Int, readingsAccepted: Int, readingsStored: Int,
                    lastMessageAt: Int64?, storageFreeBytes: Int64? = nil, databaseBytes: Int64 = 0, timezone: String = "UTC") {
            self.timezone = timezone
            self.status = status
            self.reasons = reasons
            self.storageFreeBytes = storageFreeBytes
            self.databaseBytes = databaseBytes
            self.mqttConnected = mqttConnected
            self.messages = messages
            self.readingsAccepted = readingsAccepted
            self.readingsStored = readingsStored
            self.lastMessageAt = lastMessageAt
        }
    }

    public struct ErrorBody: Codable, Sendable, Equatable {
        public var error: String
        public var detail: String

        public init(error: String, detail: String) {
            self.error = error
            self.detail = detail
        }
    }
}
