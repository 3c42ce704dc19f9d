/// JSON bodies of the HTTP API (SPEC §6), shared by `vigild` (encodes) and `vigil` (decodes).
/// Times are epoch milliseconds.
public enum API {
    public struct Machine: Codable, Sendable, Equatable {
        public var id: String
        public var sensors: [String]
        /// Largest reading timestamp of any of its sensors.
        public var lastSeen: Int64
        public var health: Double?
        public var status: String?

        public init(id: String, sensors: [String], lastSeen: Int64, health: Double? = nil, status: String? = nil) {
            self.id = id
            self.sensors = sensors
            self.lastSeen = lastSeen
            self.health = health
            self.status = status
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

        /// A series response as JSON, written directly: Foundation's JSONEncoder spends ≈ 3 µs per
        /// point, which made a day of minutes (1,440 points) miss its 5 ms budget. Same keys and
        /// values as the Codable form; a non-finite statistic (only possible when values near
        /// ±1e308 overflow a sum) is written as null.
        public static func jsonArray(_ points: [SeriesPoint]) -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(points.count * 120 + 2)
            func number(_ x: Double) {
                if x.isFinite { out.append(contentsOf: x.description.utf8) } else { out.append(contentsOf: "null".utf8) }
            }
            out.append(UInt8(ascii: "["))
            for (i, p) in points.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: "{\"ts\":\(p.ts),\"count\":\(p.count),\"mean\":".utf8)
                number(p.mean)
                out.append(contentsOf: ",\"min\":".utf8)
                number(p.min)
                out.append(contentsOf: ",\"max\":".utf8)
                number(p.max)
                out.append(contentsOf: ",\"sum\":".utf8)
                number(p.sum)
                out.append(contentsOf: ",\"stddev\":".utf8)
                number(p.stddev)
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "]"))
            return out
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
    public struct DaemonStatus: Codable, Sendable, Equatable {
        public var status: String
        public var mqttConnected: Bool
        public var messages: Int
        /// Readings made durable and acknowledged.
        public var readingsAccepted: Int
        /// Readings committed to SQLite (queryable).
        public var readingsStored: Int
        public var lastMessageAt: Int64?

        public init(status: String, mqttConnected: Bool, messages: Int, readingsAccepted: Int, readingsStored: Int, lastMessageAt: Int64?) {
            self.status = status
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
