public import Logging
public import ServiceLifecycle
public import VigilMQTT
import Dispatch
import VigilStore

/// Runs the MQTT gateway as a lifecycle service: connects (persistent session, QoS 1) a client
/// whose message handler is the `Ingestor`, subscribes, and on graceful shutdown disconnects and
/// joins the network thread (the message in hand is journaled first), then applies the whole
/// journal to SQLite before the process exits.
public struct IngestService: Service {
    let client: MQTTClient
    let ingestor: Ingestor
    let topics: [String]
    let logger: Logger

    public init(client: MQTTClient, ingestor: Ingestor, topics: [String], logger: Logger) {
        self.client = client
        self.ingestor = ingestor
        self.topics = topics
        self.logger = logger
    }

    public func run() async throws {
        ingestor.buffer.start()
        for t in topics { try client.subscribe(t, qos: 1) }
        try client.start()
        try? await gracefulShutdown()
        ingestor.beginStopping()
        logger.info("mqtt disconnecting")
        // mosquitto_loop_stop joins the network thread: do it off the cooperative pool.
        let client = self.client
        let buffer = ingestor.buffer
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                client.stop()
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
