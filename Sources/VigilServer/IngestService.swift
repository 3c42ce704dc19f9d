public import Logging
public import ServiceLifecycle
public import VigilMQTT
import Dispatch
import VigilStore

/// Runs the MQTT gateway as a lifecycle service: connects (persistent sessions, QoS 1) the
/// clients whose message handler is the `Ingestor`, subscribes, and on graceful shutdown
/// disconnects and joins their network threads (the messages in hand are journaled first), then
/// applies the whole journal to SQLite before the process exits. Several clients (`ingest.sessions`)
/// share the subscriptions (`$share/…`): the broker hands each message to one of them.
public struct IngestService: Service {
    let clients: [MQTTClient]
    let ingestor: Ingestor
    let topics: [String]
    let logger: Logger

    public init(clients: [MQTTClient], ingestor: Ingestor, topics: [String], logger: Logger) {
        self.clients = clients
        self.ingestor = ingestor
        self.topics = topics
        self.logger = logger
    }

    /// The subscription filters for `sessions` clients of `clientID`: shared beyond one.
    public static func filters(_ topics: [String], sessions: Int, clientID: String) -> [String] {
        let group = String(clientID.map { "/+#".contains($0) ? "_" : $0 })
        return sessions == 1 ? topics : topics.map { "$share/\(group)/\($0)" }
    }

    /// Client ids: the configured one for a single session, `<id>-<n>` for several.
    public static func clientIDs(_ clientID: String, sessions: Int) -> [String] {
        sessions == 1 ? [clientID] : (0..<sessions).map { "\(clientID)-\($0)" }
    }

    public func run() async throws {
        ingestor.buffer.start()
        for client in clients {
            for t in topics { try client.subscribe(t, qos: 1) }
            try client.start()
        }
        try? await gracefulShutdown()
        ingestor.beginStopping()
        logger.info("mqtt disconnecting")
        // mosquitto_loop_stop joins the network thread: do it off the cooperative pool.
        let clients = self.clients
        let buffer = ingestor.buffer
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                for client in clients { client.stop() }
                buffer.stop()  // applies what is pending, so the journal is empty at exit
                cont.resume()
            }
        }
        logger.info("mqtt stopped, ingest buffer flushed", metadata: ["store.readings": "\(buffer.stats.appliedReadings)"])
    }
}

extension IngestService {
    /// Logs connection changes of the gateway's client.
    public static func logEvents(_ logger: Logger) -> MQTTClient.EventHandler {
        { event in
            switch event {
            case .connected: logger.info("mqtt connected")
            case .connectionRefused(let code): logger.error("mqtt connection refused", metadata: ["mqtt.rc": "\(code)"])
            case .disconnected(let code):
                if code != 0 { logger.warning("mqtt connection lost; reconnecting", metadata: ["mqtt.rc": "\(code)"]) }
            }
        }
    }
}
