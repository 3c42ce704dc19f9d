public import VigilCore
import Synchronization

/// The `sensor_metadata` table: per sensor and source (`device`: a Sparkplug birth; `api`: an
/// operator's PUT) what is known of it beside its readings. The configuration's `[[sensors]]`
/// rules are laid under them when read (`SensorMetadata.resolve`); the writer keeps the result's
/// physical ranges per series to count readings outside them as they are stored.
enum SensorMetadataSQL {
    static func load(_ db: SQLiteConnection) throws -> [StoreWriter.SeriesName: [SensorMetadata.Source: SensorMetadata]] {
        var out: [StoreWriter.SeriesName: [SensorMetadata.Source: SensorMetadata]] = [:]
        for (name, source, m) in try db.query("SELECT machine, sensor, source, unit, description, min, max, step FROM sensor_metadata", row: { s in
            (StoreWriter.SeriesName(machine: s.text(0), sensor: s.text(1)), SensorMetadata.Source(rawValue: s.text(2)), metadata(s, from: 3))
        }) {
            if let source { out[name, default: [:]][source] = m }
        }
        return out
    }

    static func metadata(_ s: Statement, from i: Int32) -> SensorMetadata {
        SensorMetadata(unit: s.isNull(i) ? nil : s.text(i), description: s.isNull(i + 1) ? nil : s.text(i + 1),
                       min: s.isNull(i + 2) ? nil : s.double(i + 2), max: s.isNull(i + 3) ? nil : s.double(i + 3),
                       step: s.isNull(i + 4) ? nil : s.double(i + 4))
    }

    /// Sets (or, for nil or empty metadata, removes) one source's metadata of a sensor.
    static func save(_ db: SQLiteConnection, machine: String, sensor: String, source: SensorMetadata.Source, _ m: SensorMetadata?, at: Int64) throws {
        guard let m, !m.isEmpty else {
            try db.run("DELETE FROM sensor_metadata WHERE machine = ? AND sensor = ? AND source = ?", [.text(machine), .text(sensor), .text(source.rawValue)])
            return
        }
        func value(_ d: Double?) -> SQLiteValue { d.map { .double($0) } ?? .null }
        func value(_ t: String?) -> SQLiteValue { t.map { .text($0) } ?? .null }
        try db.run("INSERT INTO sensor_metadata(machine, sensor, source, unit, description, min, max, step, updated_at) VALUES(?,?,?,?,?,?,?,?,?) "
                   + "ON CONFLICT(machine, sensor, source) DO UPDATE SET unit = excluded.unit, description = excluded.description, "
                   + "min = excluded.min, max = excluded.max, step = excluded.step, updated_at = excluded.updated_at",
                   [.text(machine), .text(sensor), .text(source.rawValue), value(m.unit), value(m.description), value(m.min), value(m.max),
                    value(m.step), .int(at)])
    }
}

extension StoreWriter {
    /// Sets one source's metadata of sensors (nil or empty: removes it) in one transaction, and
    /// the physical ranges readings are counted against from the next write on.
    public func setSensorMetadata(_ entries: [(machine: String, sensor: String, metadata: SensorMetadata?)], source: SensorMetadata.Source,
                                  at: Int64) throws {
        guard !entries.isEmpty else { return }
        try state.withLock { s in
            try s.db.transaction {
                for e in entries {
                    try SensorMetadataSQL.save(s.db, machine: e.machine, sensor: e.sensor, source: source, e.metadata, at: at)
                    if s.upstreamSensors, let id = try s.db.query("SELECT id FROM series WHERE machine = ? AND sensor = ?",
                                                                   [.text(e.machine), .text(e.sensor)], row: { $0.int(0) }).first {
                        try UpstreamLog.note(s.db, .sensor, series: id, t: 0)
                    }
                }
            }
            for e in entries {
                let name = SeriesName(machine: e.machine, sensor: e.sensor)
                if let m = e.metadata, !m.isEmpty { s.sensorMetadata[name, default: [:]][source] = m } else { s.sensorMetadata[name]?[source] = nil }
            }
            Self.resolveLimits(&s)
        }
    }

    /// The resolved metadata of `sensors` of `machine` (for the sensor judge).
    public func sensorMetadata(machine: String, sensors: [String]) -> [String: SensorMetadata] {
        state.withLock { s in
            var out: [String: SensorMetadata] = [:]
            for sensor in sensors {
                let stored = s.sensorMetadata[SeriesName(machine: machine, sensor: sensor)] ?? [:]
                let m = SensorMetadata.resolve(machine: machine, sensor: sensor, rules: s.sensorRules, stored: stored)
                if !m.isEmpty { out[sensor] = m }
            }
            return out
        }
    }

    /// Readings stored outside their sensor's physical range since the daemon started, per sensor.
    public func impossibleReadings() -> [(machine: String, sensor: String, count: Int64)] {
        state.withLock { s in
            s.impossible.compactMap { id, n in s.seriesNames[id].map { ($0.machine, $0.sensor, n) } }.sorted { ($0.machine, $0.sensor) < ($1.machine, $1.sensor) }
        }
    }

    /// The physical ranges of the series known to this writer (all, or one new series).
    static func resolveLimits(_ s: inout State, series: Int64? = nil) {
        let ids = series.map { [$0] } ?? Array(s.seriesNames.keys)
        for id in ids {
            guard let name = s.seriesNames[id] else { continue }
            let m = SensorMetadata.resolve(machine: name.machine, sensor: name.sensor, rules: s.sensorRules, stored: s.sensorMetadata[name] ?? [:])
            s.limits[id] = m.hasLimits ? m : nil
        }
    }
}

extension StoreReader {
    /// What each source stored for the sensors of `machine` (the route lays the config's rules under it).
    public func sensorMetadata(machine: String) async throws -> [String: [SensorMetadata.Source: SensorMetadata]] {
        try await read { db in
            var out: [String: [SensorMetadata.Source: SensorMetadata]] = [:]
            for (sensor, source, m) in try db.query("SELECT sensor, source, unit, description, min, max, step FROM sensor_metadata WHERE machine = ?",
                                                    [.text(machine)], row: { s in (s.text(0), SensorMetadata.Source(rawValue: s.text(1)), SensorMetadataSQL.metadata(s, from: 2)) }) {
                if let source { out[sensor, default: [:]][source] = m }
            }
            return out
        }
    }

    /// Every sensor of the fleet with its stored metadata (for `vigil_sensor_info`).
    public func allSensors() async throws -> [(machine: String, sensor: String, stored: [SensorMetadata.Source: SensorMetadata])] {
        try await read { db in
            var stored: [String: [String: [SensorMetadata.Source: SensorMetadata]]] = [:]
            for (machine, sensor, source, m) in try db.query("SELECT machine, sensor, source, unit, description, min, max, step FROM sensor_metadata", row: { s in
                (s.text(0), s.text(1), SensorMetadata.Source(rawValue: s.text(2)), SensorMetadataSQL.metadata(s, from: 3))
            }) {
                if let source { stored[machine, default: [:]][sensor, default: [:]][source] = m }
            }
            return try db.query("SELECT machine, sensor FROM series ORDER BY machine, sensor") { s in
                (s.text(0), s.text(1), stored[s.text(0)]?[s.text(1)] ?? [:])
            }
        }
    }
}
