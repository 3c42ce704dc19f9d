internal import CMosquitto
import Synchronization

/// A received message, copied out of libmosquitto's buffers.
public struct MQTTMessage: Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int32
    public var retained: Bool
}

/// A libmosquitto client in threaded mode (`mosquitto_loop_start`): one network thread per client,
/// automatic reconnect with exponential backoff, resubscription on every connect.
///
/// Acknowledgement: in threaded mode libmosquitto queues the PUBACK of a QoS 1 message before it
/// calls `onMessage` but writes it to the socket only after the callback returns. A handler that
/// has durably stored the message when it returns therefore never acknowledges a reading it could
/// lose (docs/durability.md).
public final class MQTTClient: Sendable {
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        public var clientID: String?
        /// false = persistent session: the broker keeps subscriptions and queued QoS 1 messages.
        public var cleanSession: Bool
        public var username: String?
        public var password: String?
        public var caFile: String?
        public var certFile: String?
        public var keyFile: String?
        public var keepAliveSeconds: Int32
        /// QoS 1/2 messages in flight at once when publishing.
        public var maxInflight: UInt32
        /// The message the broker publishes for this client when its connection is lost.
        public var will: Will?

        public struct Will: Sendable {
            public var topic: String
            public var payload: [UInt8]
            public var qos: Int32
            public var retain: Bool
            public init(topic: String, payload: [UInt8], qos: Int32 = 1, retain: Bool = false) {
                self.topic = topic
                self.payload = payload
                self.qos = qos
                self.retain = retain
            }
        }

        public init(host: String, port: Int, clientID: String? = nil, cleanSession: Bool = true,
                    username: String? = nil, password: String? = nil, caFile: String? = nil,
                    certFile: String? = nil, keyFile: String? = nil, keepAliveSeconds: Int32 = 30,
                    maxInflight: UInt32 = 100, will: Will? = nil) {
            self.will = will
            self.host = host
            self.port = port
            self.clientID = clientID
            self.cleanSession = cleanSession
            self.username = username
            self.password = password
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
            self.keepAliveSeconds = keepAliveSeconds
            self.maxInflight = maxInflight
        }
    }

    public enum Event: Sendable {
        case connected
        case connectionRefused(code: Int32)
        case disconnected(code: Int32)
    }

    public typealias MessageHandler = @Sendable (MQTTMessage) -> Void
    public typealias EventHandler = @Sendable (Event) -> Void

    /// The mosquitto handle. libmosquitto is thread-safe for publish/subscribe/disconnect once the
    /// loop thread runs, so the pointer is shared; it is destroyed only in deinit.
    private let mosq: Handle
    private let subscriptions: Mutex<[(String, Int32)]> = Mutex([])
    // Set once at init: a closure kept in a Mutex and read back per message grew a chain of
    // reabstraction thunks in release builds (measured: ~1 ms per message after 20k messages).
    private let onMessage: MessageHandler
    private let onEvent: EventHandler
    private let inflight = Atomic<Int>(0)
    private let connectedFlag = Atomic<Bool>(false)
    private let reconnectCount = Atomic<Int>(0)
    private let options: Options

    private final class Handle: @unchecked Sendable {
        // Safe: libmosquitto's API is thread-safe for the calls we make across threads
        // (publish, subscribe, disconnect) when the threaded loop is used; creation and
        // destruction happen only in MQTTClient's init/deinit.
        let pointer: OpaquePointer
        init(_ p: OpaquePointer) { pointer = p }
    }

    private static let libraryInit: Void = { mosquitto_lib_init() }()

    /// `onMessage` runs on the network thread; the QoS 1 PUBACK is written after it returns.
    public init(_ options: Options, onMessage: @escaping MessageHandler = { _ in }, onEvent: @escaping EventHandler = { _ in })
        throws(MQTTError)
    {
        _ = Self.libraryInit
        self.options = options
        self.onMessage = onMessage
        self.onEvent = onEvent
        // userdata is set just below, once self exists.
        guard let m = mosquitto_new(options.clientID, options.cleanSession, nil) else {
            throw MQTTError(operation: "mosquitto_new", code: MOSQ_ERR_NOMEM.rawValue)
        }
        mosq = Handle(m)
        mosquitto_user_data_set(m, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_connect_callback_set(m, onConnectTrampoline)
        mosquitto_disconnect_callback_set(m, onDisconnectTrampoline)
        mosquitto_message_callback_set(m, onMessageTrampoline)
        mosquitto_publish_callback_set(m, onPublishTrampoline)
        mosquitto_reconnect_delay_set(m, 1, 30, true)
        mosquitto_max_inflight_messages_set(m, options.maxInflight)
        if let u = options.username {
            try mosquittoCall("mosquitto_username_pw_set", mosquitto_username_pw_set(m, u, options.password))
        }
        if let will = options.will {
            let rc = will.payload.withUnsafeBytes { buf in
                mosquitto_will_set(m, will.topic, Int32(buf.count), buf.baseAddress, will.qos, will.retain)
            }
            try mosquittoCall("mosquitto_will_set(\(will.topic))", rc)
        }
        if let ca = options.caFile {
            try mosquittoCall("mosquitto_tls_set(\(ca))", mosquitto_tls_set(m, ca, nil, options.certFile, options.keyFile, nil))
        }
    }

    deinit {
        mosquitto_destroy(mosq.pointer)
    }

    /// Subscribes now if connected and again after every (re)connect.
    public func subscribe(_ filter: String, qos: Int32 = 1) throws(MQTTError) {
        subscriptions.withLock { $0.append((filter, qos)) }
        if connectedFlag.load(ordering: .acquiring) {
            try mosquittoCall("mosquitto_subscribe(\(filter))", mosquitto_subscribe(mosq.pointer, nil, filter, qos))
        }
    }

    /// Starts the network thread and the first connection attempt. If the broker is not reachable
    /// yet, the thread keeps retrying with backoff.
    public func start() throws(MQTTError) {
        let rc = mosquitto_connect_async(mosq.pointer, options.host, Int32(options.port), options.keepAliveSeconds)
        // A refused/unreachable first attempt is retried by the loop; only bad arguments are fatal.
        if rc == MOSQ_ERR_INVAL.rawValue {
            throw MQTTError(operation: "mosquitto_connect_async(\(options.host):\(options.port))", code: rc)
        }
        try mosquittoCall("mosquitto_loop_start", mosquitto_loop_start(mosq.pointer))
    }

    /// Disconnects and joins the network thread. Blocking: call it off the cooperative pool.
    public func stop() {
        mosquitto_disconnect(mosq.pointer)
        mosquitto_loop_stop(mosq.pointer, false)
        connectedFlag.store(false, ordering: .releasing)
    }

    /// Unexpected connection losses since start (each is followed by automatic reconnects).
    public var reconnects: Int { reconnectCount.load(ordering: .relaxed) }

    public var isConnected: Bool { connectedFlag.load(ordering: .acquiring) }

    /// Messages handed to libmosquitto whose PUBACK has not arrived yet.
    public var inflightCount: Int { inflight.load(ordering: .relaxed) }

    /// Queues a message; thread-safe. Returns the message id. A QoS 1/2 message published while the
    /// connection is down stays queued and goes out after the reconnect.
    @discardableResult
    public func publish(topic: String, payload: [UInt8], qos: Int32 = 1, retain: Bool = false) throws(MQTTError) -> Int32 {
        var mid: Int32 = 0
        let rc = payload.withUnsafeBytes { buf in
            mosquitto_publish(mosq.pointer, &mid, topic, Int32(buf.count), buf.baseAddress, qos, retain)
        }
        // For QoS > 0 libmosquitto queues the message before it tries the socket; NO_CONN then means
        // "queued, sent on reconnect" (it is resent with the session), not "dropped".
        if !(qos > 0 && rc == MOSQ_ERR_NO_CONN.rawValue) {
            try mosquittoCall("mosquitto_publish(\(topic))", rc)
        }
        if qos > 0 { inflight.add(1, ordering: .relaxed) }
        return mid
    }

    // MARK: callbacks (network thread)

    func didConnect(_ rc: Int32) {
        if rc != 0 {
            onEvent(.connectionRefused(code: rc))
            return
        }
        connectedFlag.store(true, ordering: .releasing)
        for (filter, qos) in subscriptions.withLock({ $0 }) {
            mosquitto_subscribe(mosq.pointer, nil, filter, qos)
        }
        onEvent(.connected)
    }

    func didDisconnect(_ rc: Int32) {
        let wasConnected = connectedFlag.exchange(false, ordering: .acquiringAndReleasing)
        if wasConnected && rc != 0 { reconnectCount.add(1, ordering: .relaxed) }
        onEvent(.disconnected(code: rc))
    }

    func didReceive(_ message: MQTTMessage) {
        onMessage(message)
    }

    func didPublish(_ mid: Int32) {
        inflight.subtract(1, ordering: .relaxed)
    }
}
