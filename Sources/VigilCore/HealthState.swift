import Foundation

// What health keeps per machine, in the form the store keeps it: the health decisions
// (`VigilHealth`) read and write these through `HealthStorage`, the store persists them.

/// One machine's minute features: the minute means of its sensors, a row per minute, a cell per
/// sensor (nil where the sensor had no reading in that minute).
public struct MinuteFeatures: Sendable, Equatable {
    public var sensors: [String]
    public var times: [Int64]
    public var rows: [[Double?]]
    /// Per row, the share of the minute's numbered readings that arrived: readings in its rollups
    /// over those plus the ones the loss accounting found missing (1 when none are missing).
    public var completeness: [Double] = []

    public init(sensors: [String], times: [Int64], rows: [[Double?]], completeness: [Double] = []) {
        self.sensors = sensors
        self.times = times
        self.rows = rows
        self.completeness = completeness
    }
}

/// A model version as stored: its lineage and its exact body (JSON).
public struct ModelRecord: Sendable, Equatable {
    public var machine: String
    public var info: ModelLineage
    public var body: String

    public init(machine: String, info: ModelLineage, body: String) {
        self.machine = machine
        self.info = info
        self.body = body
    }
}

/// A machine's current health state as stored.
public struct MachineHealthRecord: Sendable, Equatable {
    public var machine: String
    public var activeVersion: Int?
    public var commissionFrom: Int64 = 0
    public var scoredThrough: Int64 = 0
    public var health: Double?
    public var status: HealthStatus?
    public var confidence: Double = 0
    public var updatedAt: Int64?
    public var contributors: [Contributor] = []
    public var scorerState: String?
    public var commissioningRows = 0
    /// The sensor-fault detector (profiles and running state) as canonical JSON; nil until the
    /// machine's sensors were profiled.
    public var sensorDetector: String?
    /// The scored minute `scorerState` and `sensorDetector` belong to. They are most of a
    /// machine's writes, so they are saved with a change (an event, a sensor's state, a new
    /// version), every half hour of scored minutes and when the service stops — not with every
    /// minute; after a crash, the minutes since are scored again from them (docs/health.md
    /// "What is saved").
    public var stateThrough: Int64 = 0

    public init(machine: String) { self.machine = machine }
}

public struct HealthHistoryRow: Sendable, Equatable {
    public var ts: Int64
    public var health: Double
    public var status: HealthStatus
    public var confidence: Double
    public var modelVersion: Int
    public var anomaly: Double

    public init(ts: Int64, health: Double, status: HealthStatus, confidence: Double, modelVersion: Int, anomaly: Double) {
        self.ts = ts
        self.health = health
        self.status = status
        self.confidence = confidence
        self.modelVersion = modelVersion
        self.anomaly = anomaly
    }
}

/// Canonical JSON for what the store keeps as text (model bodies, scorer states, lineage
/// fields): sorted keys, so the same value always gives the same bytes.
public enum CanonicalJSON {
    public static func encode<T: Encodable>(_ value: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return String(decoding: (try? e.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, _ text: String) -> T? {
        try? JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}
