import Synchronization
import VigilCLI
import VigilCore
import VigilMQTT
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT/SIGTERM: the simulator stops sending, waits for acknowledgements and exits.
let stopRequested = Atomic<Bool>(false)

func installStopHandlers() {
    signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
    signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
}

func sleepSeconds(_ s: Double) {
    guard s > 0 else { return }
    usleep(UInt32(min(s, 1) * 1_000_000))
}

/// Publishes at QoS 1 like device firmware: keeps at most `maxInflight` unacknowledged messages,
/// retries while the broker is unreachable, and on `drain` waits until every message is acknowledged.
final class Publisher {
    let client: MQTTClient
    let maxInflight: Int
    private(set) var messages = 0
    private(set) var readings = 0

    /// `onMessage` hears what the publisher subscribes to (`subscribe`), on the MQTT thread.
    init(broker: String, username: String?, password: String?, caFile: String?, maxInflight: Int = 1000,
         onMessage: @escaping MQTTClient.MessageHandler = { _ in }) throws {
        guard let url = BrokerURL(broker) else { throw ProgramError(.usage, "--broker: '\(broker)' is not mqtt://host:port or mqtts://host:port") }
        self.maxInflight = maxInflight
        client = try MQTTClient(.init(
            host: url.host, port: url.port, clientID: "vigil-sim-\(getpid())", cleanSession: false,
            username: username, password: password,
            caFile: url.scheme == "mqtts" ? (caFile ?? "/etc/ssl/certs/ca-certificates.crt") : nil,
            maxInflight: UInt32(maxInflight)), onMessage: onMessage)
        try client.start()
        let deadline = SystemClock.monotonicSeconds() + 15
        while !client.isConnected {
            if SystemClock.monotonicSeconds() > deadline { throw ProgramError(.failure, "cannot connect to broker \(broker) within 15 s") }
            if stopRequested.load(ordering: .relaxed) { return }
            usleep(20_000)
        }
    }

    func send(_ m: EncodedMessage) { send(topic: m.topic, payload: Array(m.payload.utf8), readings: m.readings) }

    func send(topic: String, payload: [UInt8], readings count: Int) {
        while client.inflightCount >= maxInflight && !stopRequested.load(ordering: .relaxed) { usleep(200) }
        while true {
            do {
                try client.publish(topic: topic, payload: payload, qos: 1)
                messages += 1
                readings += count
                return
            } catch {
                // Broker gone: keep the message and retry (the store-and-forward of real firmware).
                if stopRequested.load(ordering: .relaxed) { return }
                usleep(100_000)
            }
        }
    }

    /// Waits until the broker acknowledged everything sent (or `timeout` passes), then disconnects.
    @discardableResult
    func drain(timeout: Double = 30) -> Bool {
        let deadline = SystemClock.monotonicSeconds() + timeout
        while client.inflightCount > 0 && SystemClock.monotonicSeconds() < deadline { usleep(5_000) }
        let clean = client.inflightCount == 0
        client.stop()
        return clean
    }
}
