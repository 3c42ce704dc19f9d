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

    /// Saves nodes' sessions; a birth's sensor metadata is the `device` source's.
    public func saveSparkplug(nodes: [(SparkplugHost.NodeID, SparkplugHost.Node)], sensors: [SparkplugHost.SensorInfo], at: Int64) throws {
        if !nodes.isEmpty {
            let states = nodes.map { ($0.0, CanonicalJSON.encode($0.1)) }
            try withConnection { db in
                try db.transaction {
                    for (id, state) in states {
                        try db.run("INSERT INTO sparkplug_node(grp, edge, state, updated_at) VALUES(?,?,?,?) "
                                   + "ON CONFLICT(grp, edge) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                                   [.text(id.group), .text(id.edge), .text(state), .int(at)])
                    }
                }
            }
        }
        try setSensorMetadata(sensors.map { s in
            (s.machine, s.sensor, SensorMetadata(unit: s.unit, description: "Sparkplug metric '\(s.name)' (\(s.datatype))", min: s.low, max: s.high))
        }, source: .device, at: at)
    }
}
