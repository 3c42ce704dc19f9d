/// The session state of a Sparkplug B host application (Sparkplug 3.0 chapter "Operational
/// Behavior"), per edge node: the births' aliases and data types, the message sequence `seq`
/// (0–255, wrapping; loss counted by a `SequenceTracker` over the unwrapped numbers), `bdSeq`
/// matched between NBIRTH and NDEATH, and which nodes and devices are online.
///
/// Pure: a message goes in with its receipt time; readings, rejections and actions come out (ask
/// a node for a rebirth, report machines offline, save a node). The service around it does the
/// I/O: it journals the readings, publishes the commands and saves the nodes (docs/sparkplug.md).
public struct SparkplugHost: Sendable {
    public struct Settings: Sendable, Equatable {
        public var machine: SparkplugMachineTemplate = .default
        /// A node is asked for a rebirth at most this often.
        public var rebirthMinIntervalMillis: Int64 = 10_000
        /// How long a `seq` gap may stay open (a reordered message may still fill it), or a device
        /// birth wait for its node's birth, before the node is asked for a rebirth.
        public var reorderTimeoutMillis: Int64 = 5_000
        /// DateTime metrics (epoch ms) become readings.
        public var dateTimeReadings = false
        /// Readings more than this far in the future of their receipt are rejected.
        public var maxFutureMillis: Int64 = 600_000

        public init() {}
    }

    public struct NodeID: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
        public var group: String
        public var edge: String
        public init(group: String, edge: String) {
            self.group = group
            self.edge = edge
        }
        public var description: String { "\(group)/\(edge)" }
        public static func < (a: NodeID, b: NodeID) -> Bool { (a.group, a.edge) < (b.group, b.edge) }
    }

    /// What a birth said of a metric: its name and data type; `sensor` is nil for the protocol's
    /// own metrics (`bdSeq`, `Node Control/…`, `Device Control/…`), which are not readings.
    public struct MetricInfo: Codable, Sendable, Equatable {
        public var name: String
        public var datatype: UInt32
        public var sensor: String?
    }

    /// A birth's metrics by alias and by name.
    public struct Birth: Codable, Sendable, Equatable {
        public var byAlias: [UInt64: MetricInfo] = [:]
        public var byName: [String: MetricInfo] = [:]
        public var at: Int64 = 0
    }

    public struct Device: Codable, Sendable, Equatable {
        public var online = true
        public var birth = Birth()
        /// Born while its node was not: kept through the node's birth that is expected to follow.
        public var beforeNodeBirth = false
        /// Its birth's `seq`, counted when a node birth that came after it starts the numbering.
        public var birthSeq: UInt8?
    }

    /// One edge node's session. Codable: the daemon saves it so a restart keeps aliases and `seq`.
    public struct Node: Codable, Sendable, Equatable {
        public var bdSeq: UInt64?
        /// An NBIRTH is in force (none, or a death since).
        public var born = false
        public var online = false
        /// When a matching NDEATH took it offline (nil once born again, and for a node that was
        /// never born: silence without a certificate is the presence check's to judge).
        public var deadSince: Int64?
        public var birth = Birth()
        public var devices: [String: Device] = [:]
        /// The last in-order `seq` seen; nil until a birth sets the basis.
        public var lastSeq: UInt8?
        /// Loss accounting over the unwrapped message numbers.
        public var sequence = SequenceTracker()
        public var rebirthWanted: String?
        public var lastRebirthAt: Int64?
        public var gapDeadline: Int64?
        public var deviceBirthWaitingSince: Int64?
        public var lastMessageAt: Int64 = 0
        public var counts = Counts()
    }

    public struct Counts: Codable, Sendable, Equatable {
        public var births = 0
        public var deaths = 0
        public var staleDeaths = 0
        public var rebirthRequests = 0
        public var unknownAliases = 0
        public var nulls = 0
    }

    /// A sensor as a birth describes it: its Sparkplug name, type and engineering unit and range.
    public struct SensorInfo: Sendable, Equatable {
        public var machine: String
        public var sensor: String
        public var name: String
        public var datatype: String
        public var unit: String?
        public var low: Double?
        public var high: Double?

        public init(machine: String, sensor: String, name: String, datatype: String, unit: String?, low: Double?, high: Double?) {
            self.machine = machine
            self.sensor = sensor
            self.name = name
            self.datatype = datatype
            self.unit = unit
            self.low = low
            self.high = high
        }
    }

    public enum Action: Sendable, Equatable {
        /// Publish `NCMD` `Node Control/Rebirth = true` to the node.
        case requestRebirth(NodeID, reason: String)
        /// The machines are offline now (a death certificate): report them at once.
        case offline(machines: [String], reason: String)
        /// Save the node's session (births, deaths).
        case save(NodeID)
    }

    public struct Outcome: Sendable {
        /// Live readings, and what was rejected (quarantined with the message).
        public var live = DecodedMessage()
        /// `is_historical` readings: stored like a backfill, never news of the machine.
        public var historical: [Reading] = []
        public var sensors: [SensorInfo] = []
        public var actions: [Action] = []
        public var nulls = 0
        /// The edge node whose session the message changed (its numbering, at least).
        public var node: NodeID?

        public init() {}
    }

    public let settings: Settings
    public private(set) var nodes: [NodeID: Node]
    let validator: PayloadDecoder

    public init(settings: Settings = .init(), nodes: [NodeID: Node] = [:]) {
        self.settings = settings
        self.nodes = nodes
        validator = PayloadDecoder(templates: [], maxFutureMillis: settings.maxFutureMillis)
    }

    // MARK: messages

    /// Handles one message of the `spBv1.0` namespace (not STATE: that is the service's own).
    public mutating func receive(topic: String, payload: [UInt8], receivedAt now: Int64) -> Outcome {
        var out = Outcome()
        guard case .message(let type, let group, let edge, let device)? = SparkplugTopic.parse(topic) else {
            out.live.rejections.append(.init(.badTopic, "not a Sparkplug B topic (spBv1.0/<group>/<type>/<edge>[/<device>])"))
            return out
        }
        if type == .ncmd || type == .dcmd { return out }  // commands to edge nodes (ours among them)
        let p: Sparkplug.Payload
        do {
            p = try Sparkplug.Payload.decode(payload)
        } catch {
            out.live.rejections.append(.init(.malformedSparkplug, "\(type.rawValue): \(error.description)"))
            return out
        }
        let id = NodeID(group: group, edge: edge)
        var node = nodes[id] ?? Node()
        node.lastMessageAt = now
        switch type {
        case .nbirth: nodeBirth(p, id, &node, now, &out)
        case .ndeath: nodeDeath(p, id, &node, &out)
        case .dbirth: deviceBirth(p, id, device ?? "", &node, now, &out)
        case .ddeath: deviceDeath(p, id, device ?? "", &node, now, &out)
        case .ndata, .ddata: data(p, type, id, device, &node, now, &out)
        case .ncmd, .dcmd: break
        }
        node.counts.nulls += out.nulls
        checkTimers(id, &node, now, &out.actions)
        nodes[id] = node
        out.node = id
        return out
    }

    /// Timers: gaps that did not close and device births still waiting for their node's birth
    /// ask for a rebirth; a rebirth held back by the rate limit goes out when allowed.
    public mutating func tick(now: Int64) -> [Action] {
        var actions: [Action] = []
        for id in nodes.keys.sorted() {
            guard var node = nodes[id] else { continue }
            let before = node
            checkTimers(id, &node, now, &actions)
            if node != before { nodes[id] = node }
        }
        return actions
    }

    /// Machines offline by a death certificate (or never born since one), with the reason.
    public func offlineMachines() -> [String: String] {
        var out: [String: String] = [:]
        for (id, node) in nodes {
            let nodeDead = node.deadSince != nil
            if nodeDead { out[machine(id, nil)] = "death certificate (NDEATH) of edge node \(id)" }
            for (name, d) in node.devices where !d.online || nodeDead {
                out[machine(id, name)] = nodeDead ? "death certificate (NDEATH) of edge node \(id)"
                                                  : "death certificate (DDEATH) of device \(id)/\(name)"
            }
        }
        return out
    }

    public func machine(_ id: NodeID, _ device: String?) -> String {
        settings.machine.machine(group: id.group, edge: id.edge, device: device)
    }

    // MARK: births and deaths

    mutating func nodeBirth(_ p: Sparkplug.Payload, _ id: NodeID, _ node: inout Node, _ now: Int64, _ out: inout Outcome) {
        let machine = machine(id, nil)
        node.bdSeq = p.metrics.first { $0.name == "bdSeq" }.flatMap(Self.unsigned)
        node.born = true
        node.online = true
        node.deadSince = nil
        node.counts.births += 1
        node.rebirthWanted = nil
        node.gapDeadline = nil
        node.deviceBirthWaitingSince = nil
        // Devices must be born again after their node; one born just before (reordered) stays.
        let early = node.devices.filter(\.value.beforeNodeBirth)
        node.devices = early.mapValues { var d = $0; d.beforeNodeBirth = false; return d }
        node.birth = birth(p, machine: machine, now: now, into: &out)
        startSequence(&node, p.seq, now)
        if let start = node.lastSeq {  // the early device births' numbers were received, in order
            for s in early.values.compactMap(\.birthSeq).sorted(by: { $0 &- start < $1 &- start }) {
                observe(&node, UInt64(s), id, now, &out)
            }
        }
        out.actions.append(.save(id))
    }

    mutating func nodeDeath(_ p: Sparkplug.Payload, _ id: NodeID, _ node: inout Node, _ out: inout Outcome) {
        let bdSeq = p.metrics.first { $0.name == "bdSeq" }.flatMap(Self.unsigned)
        if let bdSeq, let current = node.bdSeq, bdSeq != current {
            node.counts.staleDeaths += 1  // the will of an earlier connection: this session lives
            return
        }
        guard node.online || node.born else { return }
        node.counts.deaths += 1
        node.born = false
        node.online = false
        node.deadSince = node.lastMessageAt
        node.birth = Birth()
        node.lastSeq = nil
        node.gapDeadline = nil
        var machines = [machine(id, nil)]
        for name in node.devices.keys.sorted() {
            machines.append(machine(id, name))
            node.devices[name]?.online = false
            node.devices[name]?.birth = Birth()
        }
        out.actions.append(.offline(machines: machines, reason: "death certificate (NDEATH) of edge node \(id)"))
        out.actions.append(.save(id))
    }

    mutating func deviceBirth(_ p: Sparkplug.Payload, _ id: NodeID, _ device: String, _ node: inout Node, _ now: Int64,
                              _ out: inout Outcome) {
        if node.born {
            observe(&node, p.seq, id, now, &out)
        } else if node.deviceBirthWaitingSince == nil {
            node.deviceBirthWaitingSince = now  // its node's birth may be just behind it
        }
        node.counts.births += 1
        let b = birth(p, machine: machine(id, device), now: now, into: &out)
        node.devices[device] = Device(online: true, birth: b, beforeNodeBirth: !node.born, birthSeq: p.seq.flatMap { $0 <= 255 ? UInt8($0) : nil })
        out.actions.append(.save(id))
    }

    mutating func deviceDeath(_ p: Sparkplug.Payload, _ id: NodeID, _ device: String, _ node: inout Node, _ now: Int64,
                              _ out: inout Outcome) {
        if node.born { observe(&node, p.seq, id, now, &out) }
        guard node.devices[device]?.online == true else { return }
        node.counts.deaths += 1
        node.devices[device] = Device(online: false)
        out.actions.append(.offline(machines: [machine(id, device)], reason: "death certificate (DDEATH) of device \(id)/\(device)"))
        out.actions.append(.save(id))
    }

    /// A birth's alias table, and its metrics' values as readings.
    func birth(_ p: Sparkplug.Payload, machine: String, now: Int64, into out: inout Outcome) -> Birth {
        var b = Birth()
        b.at = now
        let target = Target(machine)
        for (n, m) in p.metrics.enumerated() {
            guard let name = m.name, !name.isEmpty else {
                out.live.rejections.append(.init(.malformedSparkplug, "birth metric \(n) has no name"))
                continue
            }
            let isProtocol = name == "bdSeq" || name.hasPrefix("Node Control/") || name.hasPrefix("Device Control/")
            let datatype = m.datatype ?? Self.datatype(of: m.value)
            let info = MetricInfo(name: name, datatype: datatype, sensor: isProtocol ? nil : Sparkplug.sensorID(name))
            if let alias = m.alias { b.byAlias[alias] = info }
            b.byName[name] = info
            guard let sensor = info.sensor else { continue }
            if Self.isNumeric(datatype, dateTime: settings.dateTimeReadings) {
                let range = (low: m.property("engLow")?.number, high: m.property("engHigh")?.number)
                var unit: String?
                if case .string(let u)? = m.property("engUnit") { unit = u }
                out.sensors.append(SensorInfo(machine: machine, sensor: sensor, name: name, datatype: Self.typeName(datatype),
                                              unit: unit, low: range.low, high: range.high))
            }
            if m.value == nil && !m.isNull {
                out.nulls += 1  // a birth may list a metric before it has a value
                continue
            }
            reading(m, info, target, payloadTime: p.timestamp, now: now, place: n, into: &out)
        }
        return b
    }

    // MARK: data

    mutating func data(_ p: Sparkplug.Payload, _ type: SparkplugTopic.MessageType, _ id: NodeID, _ device: String?,
                       _ node: inout Node, _ now: Int64, _ out: inout Outcome) {
        let birth: Birth?
        if !node.born {
            want(&node, id, "\(type.rawValue) from an edge node whose birth vigild has not seen", now, &out.actions)
            birth = nil
        } else if let device {
            if let d = node.devices[device], d.online {
                birth = d.birth
            } else {
                want(&node, id, "DDATA from device \(device) whose birth vigild has not seen", now, &out.actions)
                birth = nil
            }
        } else {
            birth = node.birth
        }
        if node.born { observe(&node, p.seq, id, now, &out) }
        let target = Target(machine(id, device))
        out.live.readings.reserveCapacity(p.metrics.count)
        var unknown = 0
        for n in p.metrics.indices {
            let info = p.metrics[n].name.flatMap { birth?.byName[$0] } ?? p.metrics[n].alias.flatMap { birth?.byAlias[$0] }
            guard let info else {
                unknown += 1
                let m = p.metrics[n]
                let what = m.name.map { "'\($0.prefix(64))'" } ?? m.alias.map { "alias \($0)" } ?? "metric \(n)"
                out.live.rejections.append(.init(.unknownAlias, "\(what): no birth of \(id)\(device.map { "/" + $0 } ?? "") names it"))
                continue
            }
            guard info.sensor != nil else { continue }
            reading(p.metrics[n], info, target, payloadTime: p.timestamp, now: now, place: n, into: &out)
        }
        if unknown > 0 {
            node.counts.unknownAliases += unknown
            if node.born { want(&node, id, "\(unknown) metric(s) of \(type.rawValue) name an alias no birth gave", now, &out.actions) }
        }
        out.live.readings = Self.groupedBySensor(out.live.readings)
    }

    /// The readings of a message one sensor after another (each sensor's in their order): DATA
    /// interleaves a device's sensors per timestamp, and the store and journal work per run of
    /// one series (measured: the interleaved order cost the daemon ≈ 0.5 µs more per reading).
    /// Left as they are with more than 32 sensors in one message.
    static func groupedBySensor(_ readings: [Reading]) -> [Reading] {
        guard readings.count > 2 else { return readings }
        var groups: [(sensor: String, readings: [Reading])] = []
        var last = 0
        for r in readings {
            if last < groups.count, groups[last].sensor == r.sensor {
                groups[last].readings.append(r)
                continue
            }
            if let k = groups.firstIndex(where: { $0.sensor == r.sensor }) {
                last = k
            } else {
                guard groups.count < 32 else { return readings }
                groups.append((r.sensor, []))
                last = groups.count - 1
            }
            groups[last].readings.append(r)
        }
        return groups.count == 1 ? readings : groups.flatMap(\.readings)
    }

    /// The machine a message's metrics go to, checked once per message.
    struct Target {
        let machine: String
        let valid: Bool
        init(_ machine: String) {
            self.machine = machine
            valid = KeyRules.isValidMachine(machine)
        }
    }

    /// One metric's value as a reading, or why not (the checks every dialect makes: valid ids, a
    /// finite value, a timestamp in the accepted window).
    func reading(_ m: borrowing Sparkplug.Metric, _ info: borrowing MetricInfo, _ target: Target, payloadTime: UInt64?, now: Int64, place n: Int,
                 into out: inout Outcome) {
        guard let sensor = info.sensor else { return }
        let datatype = m.datatype ?? info.datatype
        if m.isNull {
            out.nulls += 1
            return
        }
        guard let value = m.value else {
            out.live.rejections.append(.init(.missingValue, "\(info.name.prefix(64)): no value (metric \(n))"))
            return
        }
        let number: Double
        switch Self.number(value, datatype: datatype, dateTime: settings.dateTimeReadings) {
        case .success(let v): number = v
        case .failure(let r):
            out.live.rejections.append(.init(r.reason, "\(info.name.prefix(64)): \(r.detail) (metric \(n))"))
            return
        }
        let ts = (m.timestamp ?? payloadTime).map { Int64(clamping: $0) } ?? now
        let rejection: Rejection? = if !target.valid { .init(.badMachineID, "machine id '\(target.machine.prefix(64))' is invalid") }
            else if !KeyRules.isValidSensor(sensor) { .init(.badSensorID, "sensor id '\(sensor.prefix(64))' is invalid") }
            else if !number.isFinite { .init(.notFinite, "\(sensor): value \(number) is not finite") }
            else { validator.checkTime(ts, receivedAt: now) }
        if let r = rejection {
            out.live.rejections.append(.init(r.reason, r.detail + " (metric \(n))"))
            return
        }
        let reading = Reading(machine: target.machine, sensor: sensor, ts: ts, value: number)
        if m.isHistorical { out.historical.append(reading) } else { out.live.readings.append(reading) }
    }

    // MARK: sequence and rebirth

    /// A birth starts the node's numbering again (a restart of its counter, never loss).
    func startSequence(_ node: inout Node, _ seq: UInt64?, _ now: Int64) {
        guard let seq, seq <= 255 else {
            node.lastSeq = nil
            return
        }
        node.lastSeq = UInt8(seq)
        // Births pass their receipt as the time so a number at or below the highest is a restart.
        node.sequence.observe(seq: node.sequence.highest ?? 0, ts: now)
    }

    /// Accounts a message's `seq` against the node's: a jump opens a gap (missing messages), a
    /// number behind fills one (late) or repeats one (duplicate, e.g. a redelivery).
    mutating func observe(_ node: inout Node, _ seq: UInt64?, _ id: NodeID, _ now: Int64, _ out: inout Outcome) {
        guard let seq else { return }
        guard seq <= 255 else {
            out.live.rejections.append(.init(.malformedSparkplug, "seq \(seq) is out of 0–255"))
            return
        }
        guard let last = node.lastSeq, let highest = node.sequence.highest else {
            startSequence(&node, seq, now)
            return
        }
        let delta = Int64(Int8(bitPattern: UInt8(seq) &- last))
        // Data passes no time (Int64.min): a number at or below the highest that fills no gap is a duplicate.
        if case .gap = node.sequence.observe(seq: highest + delta, ts: .min), node.gapDeadline == nil {
            node.gapDeadline = now + settings.reorderTimeoutMillis
        }
        if delta > 0 { node.lastSeq = UInt8(seq) }
    }

    func checkTimers(_ id: NodeID, _ node: inout Node, _ now: Int64, _ actions: inout [Action]) {
        if let d = node.gapDeadline, now >= d {
            node.gapDeadline = nil
            if !node.sequence.gaps.isEmpty {
                let missing = node.sequence.gaps.reduce(0) { $0 + $1.count }
                want(&node, id, "\(missing) message(s) missing from the seq numbering did not arrive", now, &actions)
            }
        }
        if let since = node.deviceBirthWaitingSince, now - since >= settings.reorderTimeoutMillis {
            node.deviceBirthWaitingSince = nil
            if !node.born { want(&node, id, "a device was born but its edge node's birth never came", now, &actions) }
        }
        if let reason = node.rebirthWanted { want(&node, id, reason, now, &actions) }
    }

    /// Asks for a rebirth now, or as soon as the rate limit allows.
    func want(_ node: inout Node, _ id: NodeID, _ reason: String, _ now: Int64, _ actions: inout [Action]) {
        if let last = node.lastRebirthAt, now - last < settings.rebirthMinIntervalMillis {
            node.rebirthWanted = reason
            return
        }
        node.rebirthWanted = nil
        node.lastRebirthAt = now
        node.counts.rebirthRequests += 1
        actions.append(.requestRebirth(id, reason: reason))
    }

    /// The command that asks an edge node for a rebirth (`Node Control/Rebirth = true`).
    public static func rebirthCommand(now: Int64) -> [UInt8] {
        Sparkplug.Payload(timestamp: UInt64(max(0, now)), metrics: [
            .init(name: "Node Control/Rebirth", timestamp: UInt64(max(0, now)), datatype: .boolean, value: .boolean(true)),
        ]).encoded()
    }

    // MARK: values

    static func unsigned(_ m: Sparkplug.Metric) -> UInt64? {
        switch m.value {
        case .long(let v)?: v
        case .int(let v)?: UInt64(v)
        default: nil
        }
    }

    /// The datatype a value's field implies, for births that leave `datatype` out.
    static func datatype(of value: Sparkplug.Value?) -> UInt32 {
        let t: Sparkplug.DataType = switch value {
        case .int?: .int32
        case .long?: .int64
        case .float?: .float
        case .double?: .double
        case .boolean?: .boolean
        case .string?: .string
        case .bytes?: .bytes
        case .other?, nil: .unknown
        }
        return t.rawValue
    }

    static func typeName(_ datatype: UInt32) -> String { Sparkplug.DataType(rawValue: datatype)?.name ?? "type \(datatype)" }

    static func isNumeric(_ datatype: UInt32, dateTime: Bool) -> Bool {
        switch Sparkplug.DataType(rawValue: datatype) {
        case .int8?, .int16?, .int32?, .int64?, .uint8?, .uint16?, .uint32?, .uint64?, .float?, .double?, .boolean?: true
        case .dateTime?: dateTime
        default: false
        }
    }

    /// A value as a number per its data type: signed types travel in the unsigned fields and are
    /// reinterpreted at their width (Sparkplug 3.0 §6.4.16).
    static func number(_ value: Sparkplug.Value, datatype: UInt32, dateTime: Bool) -> Result<Double, RejectionError> {
        guard let type = Sparkplug.DataType(rawValue: datatype), isNumeric(datatype, dateTime: dateTime) else {
            let name = typeName(datatype)
            let hint = datatype == Sparkplug.DataType.dateTime.rawValue ? " (sparkplug.datetime_readings = true makes it one)" : ""
            return .failure(.init(.unsupportedDatatype, "\(name) is not a reading\(hint)"))
        }
        let bits: UInt64
        switch value {
        case .int(let v): bits = UInt64(v)
        case .long(let v): bits = v
        case .float(let v) where type == .float: return .success(Double(v))
        case .double(let v) where type == .double: return .success(v)
        case .boolean(let v) where type == .boolean: return .success(v ? 1 : 0)
        default: return .failure(.init(.malformedSparkplug, "\(typeName(datatype)) metric carries a value of another kind"))
        }
        switch type {
        case .int8: return .success(Double(Int8(truncatingIfNeeded: bits)))
        case .int16: return .success(Double(Int16(truncatingIfNeeded: bits)))
        case .int32: return .success(Double(Int32(truncatingIfNeeded: bits)))
        case .int64, .dateTime: return .success(Double(Int64(bitPattern: bits)))
        case .uint8: return .success(Double(UInt8(truncatingIfNeeded: bits)))
        case .uint16: return .success(Double(UInt16(truncatingIfNeeded: bits)))
        case .uint32: return .success(Double(UInt32(truncatingIfNeeded: bits)))
        case .uint64: return .success(Double(bits))
        case .boolean: return .success(bits == 0 ? 0 : 1)
        default: return .failure(.init(.malformedSparkplug, "\(typeName(datatype)) metric carries an integer"))
        }
    }
}
