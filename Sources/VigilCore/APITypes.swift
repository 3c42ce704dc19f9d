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
