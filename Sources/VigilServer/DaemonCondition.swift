import Foundation
import Glibc
import Synchronization
import VigilCore
import VigilMQTT
import VigilStore

/// Why the daemon is not fully well. The raw values are what `/healthz`, the systemd `STATUS=`
/// line and `vigil_daemon_degraded{reason}` show.
public enum DegradedReason: String, Sendable, CaseIterable {
    /// Journal writes or SQLite commits are failing (readings are held, not acknowledged).
    case storageFailing = "storage_failing"
    /// The file system holding the database is nearly full.
    case diskLow = "disk_low"
    /// Not connected to the MQTT broker: nothing is being received.
    case mqttDisconnected = "mqtt_disconnected"
    /// Rollups lag behind the data by more than `rollup.max_lag_seconds`.
    case rollupLag = "rollup_lag"
    /// A row waits to be sent upstream longer than `upstream.max_lag_seconds` (the cluster is
    /// down, refusing or too slow; nothing is lost, the outbox resends).
    case upstreamLag = "upstream_lag"
}

/// What the daemon's condition is judged from: gathered by `DaemonCondition.facts()`, judged by
/// `judge`, which is pure (tested without a daemon).
public struct DaemonFacts: Sendable, Equatable {
    /// The first failure of the current run of failing journal writes or commits (ms), if any.
    public var storageFailingSince: Int64?
    public var lastStorageError: String?
    public var freeBytes: Int64?
    public var databaseBytes: Int64
    /// MQTT sessions connected to the broker, of `mqttSessions` (`ingest.sessions`).
    public var mqttSessionsConnected: Int
    public var mqttSessions: Int
    /// Every session connected.
    public var mqttConnected: Bool { mqttSessionsConnected == mqttSessions }
    public var rollupLagMillis: Int64
    /// How long the oldest row not yet acknowledged upstream has waited (0: none or no upstream).
    public var upstreamLagMillis: Int64

    public init(storageFailingSince: Int64? = nil, lastStorageError: String? = nil, freeBytes: Int64? = nil, databaseBytes: Int64 = 0,
                mqttSessionsConnected: Int = 1, mqttSessions: Int = 1, rollupLagMillis: Int64 = 0, upstreamLagMillis: Int64 = 0) {
        self.upstreamLagMillis = upstreamLagMillis
        self.storageFailingSince = storageFailingSince
        self.lastStorageError = lastStorageError
        self.freeBytes = freeBytes
        self.databaseBytes = databaseBytes
        self.mqttSessionsConnected = mqttSessionsConnected
        self.mqttSessions = mqttSessions
        self.rollupLagMillis = rollupLagMillis
    }
}

public struct DaemonCondition: Sendable {
    public struct Limits: Sendable, Equatable {
        public var minFreeBytes: Int64
        public var maxRollupLagMillis: Int64
        public var maxUpstreamLagMillis: Int64

        public init(minFreeBytes: Int64 = 256 << 20, maxRollupLagMillis: Int64 = 300_000, maxUpstreamLagMillis: Int64 = 900_000) {
            self.maxUpstreamLagMillis = maxUpstreamLagMillis
            self.minFreeBytes = minFreeBytes
            self.maxRollupLagMillis = maxRollupLagMillis
        }
    }

    /// The reasons the daemon is degraded (empty: ok), each with a sentence for a person.
    public static func judge(_ f: DaemonFacts, limits: Limits, now: Int64) -> [(reason: DegradedReason, detail: String)] {
        var out: [(DegradedReason, String)] = []
        if let since = f.storageFailingSince {
            out.append((.storageFailing, "storage writes failing for \(max(0, now - since) / 1000) s (readings are held and not acknowledged; "
                        + "the broker keeps them): \(f.lastStorageError ?? "unknown error")"))
        }
        if let free = f.freeBytes, free < limits.minFreeBytes {
            out.append((.diskLow, "\(free >> 20) MB free on the database's file system (storage.min_free_mb = \(limits.minFreeBytes >> 20))"))
        }
        if f.mqttSessionsConnected == 0 {
            out.append((.mqttDisconnected, "not connected to the MQTT broker; nothing is being received"))
        } else if !f.mqttConnected {
            out.append((.mqttDisconnected, "\(f.mqttSessions - f.mqttSessionsConnected) of \(f.mqttSessions) MQTT sessions not connected "
                        + "(ingest.sessions); the others keep receiving"))
        }
        if f.rollupLagMillis > limits.maxRollupLagMillis {
            out.append((.rollupLag, "rollups lag \(f.rollupLagMillis / 1000) s behind the data (rollup.max_lag_seconds = \(limits.maxRollupLagMillis / 1000))"))
        }
        if f.upstreamLagMillis > limits.maxUpstreamLagMillis {
            out.append((.upstreamLag, "the oldest row not yet sent upstream waits for \(f.upstreamLagMillis / 1000) s (upstream.max_lag_seconds = \(limits.maxUpstreamLagMillis / 1000)); nothing is lost, it is resent"))
        }
        return out
    }

    let databasePath: String
    let limits: Limits
    let metrics: IngestMetrics
    let buffer: IngestBuffer
    let mqtt: MQTTSessions
    let rollups: RollupService
    let upstream: UpstreamService?

    init(databasePath: String, limits: Limits, metrics: IngestMetrics, buffer: IngestBuffer, mqtt: MQTTSessions, rollups: RollupService,
         upstream: UpstreamService? = nil) {
        self.upstream = upstream
        self.databasePath = databasePath
        self.limits = limits
        self.metrics = metrics
        self.buffer = buffer
        self.mqtt = mqtt
        self.rollups = rollups
    }

    /// The facts as they are now.
    public func facts() -> DaemonFacts {
        let stats = buffer.stats
        let journal = metrics.journalFailingSince.load(ordering: .relaxed)
        let since = [journal == 0 ? nil : journal, stats.applyFailingSince].compactMap { $0 }.min()
        return DaemonFacts(storageFailingSince: since, lastStorageError: since == nil ? nil : (metrics.lastJournalError ?? stats.lastApplyError),
                           freeBytes: Self.freeBytes(near: databasePath), databaseBytes: Self.databaseBytes(databasePath),
                           mqttSessionsConnected: mqtt.connected, mqttSessions: mqtt.count, rollupLagMillis: rollups.stats.lagMillis,
                           upstreamLagMillis: upstream?.lagMillis ?? 0)
    }

    /// `/healthz`: the daemon's own state with the reasons it is degraded, if any.
    public func status() -> (facts: DaemonFacts, reasons: [(reason: DegradedReason, detail: String)]) {
        let f = facts()
        return (f, Self.judge(f, limits: limits, now: SystemClock.wallMillis()))
    }

    /// Bytes free for an unprivileged writer on the file system holding `path` (nil if unknown).
    static func freeBytes(near path: String) -> Int64? {
        var s = statvfs()
        let dir = (path as NSString).deletingLastPathComponent
        guard statvfs(dir.isEmpty ? "." : dir, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }

    /// The database file with its WAL and the ingest journal's segments.
    static func databaseBytes(_ path: String) -> Int64 {
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir)) ?? []
        return names.filter { $0.hasPrefix(base) }.reduce(0) { total, name in
            let size = (try? FileManager.default.attributesOfItem(atPath: (dir.isEmpty ? "" : dir + "/") + name))?[.size] as? Int
            return total + Int64(size ?? 0)
        }
    }
}
