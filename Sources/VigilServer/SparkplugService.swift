public import Logging
public import ServiceLifecycle
public import VigilAPI
public import VigilCore
public import VigilMQTT
public import VigilStore
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
public import Synchronization

/// vigild as a Sparkplug B primary host (`[sparkplug] enabled`, docs/sparkplug.md).
///
/// One MQTT session of its own (not shared: a node's messages must be seen in order by the one
/// holder of its state) with a Will on `spBv1.0/STATE/<host_id>`; after subscribing it publishes
/// the retained STATE online, and offline before a clean stop. Each message goes through the pure
/// `SparkplugHost` on the network thread, its readings and rejections into the ingest journal
/// before the callback returns (as the other dialects, docs/durability.md), then the host's
/// actions are carried out: rebirth commands published, deaths reported at once, sessions saved.
public final class SparkplugService: Service, Sendable {
    let ingestor: Ingestor
    let writer: StoreWriter
    let hostID: String
    let filters: [String]
    let logger: Logger
    /// The host's state: only the MQTT thread and the timer touch it, under this lock.
    private let host: Mutex<SparkplugHost>
    /// Nodes changed since they were last saved (their `seq`).
    private let unsaved = Mutex<Set<SparkplugHost.NodeID>>([])
    private let out = Mutex<MQTTClient?>(nil)
    /// Set before the offline STATE goes out: our own offline message is then not answered.
    private let stopping = Atomic<Bool>(false)
    /// When this connection's STATE messages say the host came online (Will and birth share it).
    let stateTimestamp: Int64
    /// Called when machines went offline by a death certificate (the health service reports them).
    private let onOffline = Mutex<(@Sendable () -> Void)?>(nil)
    public let counters = Counters()

    public final class Counters: Sendable {
        public let messages = Atomic<Int>(0)
        public let historicalReadings = Atomic<Int>(0)
    }

    public init(config: VigilConfig, ingestor: Ingestor, writer: StoreWriter, logger: Logger) throws {
        self.ingestor = ingestor
        self.writer = writer
        hostID = config.sparkplugHostID
        filters = config.sparkplugFilters
        self.logger = logger
        stateTimestamp = SystemClock.wallMillis()
        let nodes = try writer.sparkplugNodes()
        host = Mutex(SparkplugHost(settings: config.sparkplugHost, nodes: nodes))
        if !nodes.isEmpty { logger.info("sparkplug sessions loaded", metadata: ["sparkplug.nodes": "\(nodes.count)"]) }
    }

    /// The Will: STATE offline, retained, QoS 1 (Sparkplug 3.0 host application).
    public var will: MQTTClient.Options.Will {
        .init(topic: SparkplugTopic.state(hostID: hostID), payload: Self.state(online: false, at: stateTimestamp), qos: 1, retain: true)
    }

    static func state(online: Bool, at: Int64) -> [UInt8] { Array("{\"online\":\(online),\"timestamp\":\(at)}".utf8) }

    /// What to call when machines went offline by a death certificate (the health service's nudge).
    public func whenOffline(_ f: @escaping @Sendable () -> Void) { onOffline.withLock { $0 = f } }

    /// The session's client (made with `will` and `handle`/`connectionChanged` as its handlers).
    public func attach(_ client: MQTTClient) { out.withLock { $0 = client } }

    public func connectionChanged(_ event: MQTTClient.Event) {
        switch event {
        case .connected:
            // Subscriptions went out first on the same connection; now say we are here.
            publishState(online: true)
            logger.info("sparkplug host online", metadata: ["sparkplug.host_id": "\(hostID)", "mqtt.filters": "\(filters)"])
        case .connectionRefused(let code): logger.error("sparkplug mqtt connection refused", metadata: ["mqtt.rc": "\(code)"])
        case .disconnected(let code):
            if code != 0 { logger.warning("sparkplug mqtt connection lost; reconnecting", metadata: ["mqtt.rc": "\(code)"]) }
        }
    }

    private func publishState(online: Bool) {
        guard let client = out.withLock({ $0 }) else { return }
        do {
            try client.publish(topic: SparkplugTopic.state(hostID: hostID), payload: Self.state(online: online, at: stateTimestamp), qos: 1, retain: true)
        } catch {
            logger.error("sparkplug STATE publish failed", metadata: ["error": "\(error)"])
        }
    }

    /// One message, on the MQTT network thread.
    public func handle(_ message: MQTTMessage) {
        let now = SystemClock.wallMillis()
        if case .state(let id)? = SparkplugTopic.parse(message.topic) {
            // Another client declared this host offline (a stale Will): say again that it is online.
            if id == hostID, !stopping.load(ordering: .relaxed), !String(decoding: message.payload, as: UTF8.self).contains("\"online\":true") {
                publishState(online: true)
            }
            return
        }
        counters.messages.add(1, ordering: .relaxed)
        ingestor.metrics.messages.add(1, ordering: .relaxed)
        ingestor.metrics.lastMessageAt.store(now, ordering: .relaxed)
        let outcome: SparkplugHost.Outcome
        if message.payload.count > ingestor.decoder.maxPayloadBytes {
            var o = SparkplugHost.Outcome()
            o.live.rejections.append(.init(.payloadTooLarge, "\(message.payload.count) bytes > limit \(ingestor.decoder.maxPayloadBytes)"))
            outcome = o
        } else {
            outcome = host.withLock { $0.receive(topic: message.topic, payload: message.payload, receivedAt: now) }
        }
        if !outcome.live.readings.isEmpty || !outcome.live.rejections.isEmpty {  // deaths, commands: nothing to keep
            ingestor.journal(IngestMessage(readings: outcome.live.readings, rejections: outcome.live.rejections, topic: message.topic,
                                           payload: message.payload, receivedAt: now))
        }
        if !outcome.historical.isEmpty {
            ingestor.journal(IngestMessage(readings: outcome.historical, rejections: [], topic: message.topic, payload: [], receivedAt: now, live: false))
            counters.historicalReadings.add(outcome.historical.count, ordering: .relaxed)
        }
        if let id = outcome.node { unsaved.withLock { _ = $0.insert(id) } }
        perform(outcome.actions, sensors: outcome.sensors, now: now)
    }

    private func perform(_ actions: [SparkplugHost.Action], sensors: [SparkplugHost.SensorInfo], now: Int64) {
        var save: [SparkplugHost.NodeID] = []
        var offline = false
        for action in actions {
            switch action {
            case .requestRebirth(let id, let reason):
                logger.notice("sparkplug rebirth requested", metadata: ["sparkplug.node": "\(id)", "reason": "\(reason)"])
                do {
                    try out.withLock { $0 }?.publish(topic: SparkplugTopic.nodeCommand(group: id.group, edge: id.edge),
                                                     payload: SparkplugHost.rebirthCommand(now: now), qos: 0, retain: false)
                } catch {
                    logger.error("sparkplug rebirth command failed", metadata: ["sparkplug.node": "\(id)", "error": "\(error)"])
                }
            case .offline(let machines, let reason):
                logger.notice("sparkplug death", metadata: ["machines": "\(machines)", "reason": "\(reason)"])
                offline = true
            case .save(let id): save.append(id)
            }
        }
        if !save.isEmpty || !sensors.isEmpty { self.save(save, sensors: sensors, now: now) }
        if offline, let f = onOffline.withLock({ $0 }) { f() }
    }

    /// Saves nodes' sessions (and births' sensor metadata); a failure is logged and retried with
    /// the next save of the node (the readings are in the journal either way).
    private func save(_ ids: [SparkplugHost.NodeID], sensors: [SparkplugHost.SensorInfo], now: Int64) {
        let nodes = host.withLock { h in ids.compactMap { id in h.nodes[id].map { (id, $0) } } }
        do {
            try writer.saveSparkplug(nodes: nodes, sensors: sensors, at: now)
            unsaved.withLock { $0.subtract(ids) }
        } catch {
            logger.error("sparkplug session save failed; retrying", metadata: ["error": "\(error)"])
            unsaved.withLock { $0.formUnion(ids) }
        }
    }

    /// Machines offline by a death certificate, with the reason (for presence events).
    public func offlineMachines() -> [String: String] { host.withLock { $0.offlineMachines() } }

    /// Each node's session as the API shows it.
    public func nodes() -> [API.SparkplugNode] {
        host.withLock { h in
            h.nodes.sorted { $0.key < $1.key }.map { id, n in
                let t = n.sequence
                return API.SparkplugNode(
                    group: id.group, edge: id.edge, machine: h.machine(id, nil), online: n.online, bdSeq: n.bdSeq.map { Int64(bitPattern: $0) },
                    lastMessageAt: n.lastMessageAt,
                    messages: LossCounts(missing: t.missing, duplicates: t.duplicates, late: t.late, restarts: t.restarts),
                    births: n.counts.births, deaths: n.counts.deaths, staleDeaths: n.counts.staleDeaths,
                    rebirthRequests: n.counts.rebirthRequests, unknownAliases: n.counts.unknownAliases, nullMetrics: n.counts.nulls,
                    devices: n.devices.sorted { $0.key < $1.key }.map { .init(device: $0.key, machine: h.machine(id, $0.key), online: $0.value.online && n.online) })
            }
        }
    }

    /// The `/metrics` families of the Sparkplug host: (name, help, type, samples).
    func metricFamilies() -> [(String, String, String, [(String, String)])] {
        let nodes = nodes()
        func label(_ n: API.SparkplugNode) -> String {
            "{group=\"\(APIRoutes.labelValue(n.group))\",edge=\"\(APIRoutes.labelValue(n.edge))\"}"
        }
        func perNode(_ value: (API.SparkplugNode) -> Int64) -> [(String, String)] { nodes.map { (label($0), String(value($0))) } }
        return [
            ("vigil_sparkplug_messages_total", "Sparkplug B messages received (all edge nodes).", "counter",
             [("", String(counters.messages.load(ordering: .relaxed)))]),
            ("vigil_sparkplug_node_online", "1 while an edge node is born and not dead.", "gauge", perNode { $0.online ? 1 : 0 }),
            ("vigil_sparkplug_births_total", "NBIRTH and DBIRTH messages of an edge node.", "counter", perNode { Int64($0.births) }),
            ("vigil_sparkplug_deaths_total", "NDEATH (matching bdSeq) and DDEATH messages of an edge node.", "counter", perNode { Int64($0.deaths) }),
            ("vigil_sparkplug_stale_deaths_total", "NDEATHs ignored because their bdSeq was an earlier session's.", "counter", perNode { Int64($0.staleDeaths) }),
            ("vigil_sparkplug_rebirth_requests_total", "Rebirth commands (NCMD Node Control/Rebirth) sent to an edge node.", "counter",
             perNode { Int64($0.rebirthRequests) }),
            ("vigil_sparkplug_unknown_aliases_total", "Metrics no birth named (quarantined as unknown_alias).", "counter", perNode { Int64($0.unknownAliases) }),
            ("vigil_sparkplug_messages_missing", "Messages an edge node numbered (seq) that never arrived.", "gauge", perNode { $0.messages.missing }),
            ("vigil_sparkplug_messages_duplicate_total", "Messages whose seq had arrived already.", "counter", perNode { $0.messages.duplicates }),
            ("vigil_sparkplug_null_metrics_total", "Metrics sent with is_null (counted, not stored).", "counter", perNode { Int64($0.nullMetrics) }),
            ("vigil_sparkplug_historical_readings_total", "Readings of is_historical metrics (stored like a backfill).", "counter",
             [("", String(counters.historicalReadings.load(ordering: .relaxed)))]),
        ]
    }

    public func run() async throws {
        guard let client = out.withLock({ $0 }) else { preconditionFailure("SparkplugService.attach was not called") }
        for f in filters { try client.subscribe(f, qos: 1) }
        try client.start()
        // Timers (reorder timeouts, held-back rebirths) and saving the numbering, every second.
        let timer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let now = SystemClock.wallMillis()
                let actions = host.withLock { $0.tick(now: now) }
                let dirty = unsaved.withLock { s in defer { s.removeAll() }; return Array(s) }
                perform(actions + dirty.map { .save($0) }, sensors: [], now: now)
            }
        }
        try? await gracefulShutdown()
        timer.cancel()
        // A clean stop: say offline (retained) before leaving, then save every session.
        stopping.store(true, ordering: .relaxed)
        publishState(online: false)
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                for _ in 0..<40 where client.inflightCount > 0 { usleep(25_000) }
                client.stop()
                cont.resume()
            }
        }
        let all = host.withLock { Array($0.nodes.keys) }
        save(all, sensors: [], now: SystemClock.wallMillis())
        logger.info("sparkplug host offline", metadata: ["sparkplug.nodes": "\(all.count)"])
    }
}
