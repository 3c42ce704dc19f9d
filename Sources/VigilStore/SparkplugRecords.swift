public import VigilCore

/// The Sparkplug host's sessions (`sparkplug_node`) and the sensor metadata its births carry
/// (`sensor_metadata`). The Sparkplug service is their one writer: a node is saved when a birth
/// or death changes it and with its `seq` every second, so a restart keeps aliases and numbering.
extension StoreWriter {
    public func sparkplugNodes() throws -> [SparkplugHost.NodeID: SparkplugHost.Node] {
        let rows = try withConnection { db in
            try db.query("SELECT grp, edge, state FROM sparkplug_node") { s in
                (SparkplugHost.NodeID(group: s.text(0), edge: s.text(1)), CanonicalJSON.decode(SparkplugHost.Node.self, s.text(2)))
            }
        }
        var out: [SparkplugHost.NodeID: SparkplugHost.Node] = [:]
        for (id, node) in rows { if let node { out[id] = node } }
        return out
    }

    /// Saves nodes' sessions and sensors' metadata in one transaction.
    public func saveSparkplug(nodes: [(SparkplugHost.NodeID, SparkplugHost.Node)], sensors: [SparkplugHost.SensorInfo], at: Int64) throws {
        guard !nodes.isEmpty || !sensors.isEmpty else { return }
        let states = nodes.map { ($0.0, CanonicalJSON.encode($0.1)) }
        try withConnection { db in
            try db.transaction {
                for (id, state) in states {
                    try db.run("INSERT INTO sparkplug_node(grp, edge, state, updated_at) VALUES(?,?,?,?) "
                               + "ON CONFLICT(grp, edge) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                               [.text(id.group), .text(id.edge), .text(state), .int(at)])
                }
                for s in sensors {
                    try db.run("INSERT INTO sensor_metadata(machine, sensor, unit, description, min, max, source, updated_at) "
                               + "VALUES(?,?,?,?,?,?,'sparkplug',?) ON CONFLICT(machine, sensor) DO UPDATE SET unit = excluded.unit, "
                               + "description = excluded.description, min = excluded.min, max = excluded.max, source = excluded.source, "
                               + "updated_at = excluded.updated_at",
                               [.text(s.machine), .text(s.sensor), s.unit.map { .text($0) } ?? .null,
                                .text("Sparkplug metric '\(s.name)' (\(s.datatype))"),
                                s.low.map { .double($0) } ?? .null, s.high.map { .double($0) } ?? .null, .int(at)])
                }
            }
        }
    }
}
