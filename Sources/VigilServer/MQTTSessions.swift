public import VigilMQTT

/// The daemon's MQTT sessions as one connection state (`ingest.sessions` clients share the
/// subscriptions; the first one also publishes). `/healthz`, `/metrics` and systemd's STATUS=
/// read it, so a session that lost the broker while the others receive is reported, not hidden
/// behind the first one's state.
public struct MQTTSessions: Sendable {
    public let clients: [MQTTClient]

    public init(_ clients: [MQTTClient]) {
        precondition(!clients.isEmpty, "at least one MQTT session")
        self.clients = clients
    }

    /// The session that publishes retained health and events.
    public var publisher: MQTTClient { clients[0] }
    public var count: Int { clients.count }
    public var connected: Int { clients.reduce(0) { $0 + ($1.isConnected ? 1 : 0) } }
    /// Connection losses of all sessions.
    public var reconnects: Int { clients.reduce(0) { $0 + $1.reconnects } }
}
