import Testing
import VigilCore

/// The Sparkplug B payload codec and the host's session state (docs/sparkplug.md).
@Suite struct SparkplugPayloadTests {
    @Test func roundTripsEveryValueKindAndProperties() throws {
        let p = Sparkplug.Payload(timestamp: 1_700_000_000_000, metrics: [
            .init(name: "bdSeq", datatype: .int64, value: .long(3)),
            .init(name: "Motor 1/Speed", alias: 7, timestamp: 1_700_000_000_001, datatype: .float, value: .float(1.5),
                  properties: [("engUnit", .string("rpm")), ("engLow", .double(0)), ("engHigh", .int(3000))]),
            .init(alias: 8, datatype: .double, value: .double(-2.25), isHistorical: true),
            .init(name: "flag", datatype: .boolean, value: .boolean(true)),
            .init(name: "label", datatype: .string, value: .string("héllo")),
            .init(name: "blob", datatype: .bytes, value: .bytes([0, 255])),
            .init(name: "gone", datatype: .int32, isNull: true),
        ], seq: 255)
        let back = try Sparkplug.Payload.decode(p.encoded())
        #expect(back == p)
        #expect(back.metrics[1].property("engHigh")?.number == 3000)
    }

    /// Random payloads round-trip; every truncation of a valid one is a decode error or a shorter
    /// payload, never a trap.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func randomPayloadsRoundTripAndTruncationsNeverTrap(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<200 {
            var metrics: [Sparkplug.Metric] = []
            for k in 0..<Int(rng.next() % 12) {
                let value: Sparkplug.Value = switch rng.next() % 5 {
                case 0: .int(UInt32(truncatingIfNeeded: rng.next()))
                case 1: .long(rng.next())
                case 2: .float(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x7F7F_FFFF))
                case 3: .double(Double(Int64(bitPattern: rng.next() >> 12)) / 1000)
                default: .boolean(rng.next() % 2 == 0)
                }
                metrics.append(.init(name: rng.next() % 2 == 0 ? "m\(k)" : nil, alias: rng.next() % 3 == 0 ? nil : rng.next() % 1000,
                                     timestamp: rng.next() % 2 == 0 ? rng.next() >> 20 : nil, datatype: .int64, value: value))
            }
            let p = Sparkplug.Payload(timestamp: rng.next() >> 22, metrics: metrics, seq: rng.next() % 256)
            let bytes = p.encoded()
            #expect(try Sparkplug.Payload.decode(bytes) == p)
            for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 7)) {
                _ = try? Sparkplug.Payload.decode(Array(bytes[..<cut]))
            }
        }
    }

    @Test func garbageIsADecodeErrorWithAReason() {
        #expect(throws: Sparkplug.DecodeError.self) { try Sparkplug.Payload.decode([0x12, 0x05, 0x0A]) }  // length past the end
        #expect(throws: Sparkplug.DecodeError.self) { try Sparkplug.Payload.decode([0x0B]) }  // wire type 3 (group)
        #expect(throws: Sparkplug.DecodeError.self) { try Sparkplug.Payload.decode(Array(repeating: 0xFF, count: 11)) }
        #expect(throws: Sparkplug.DecodeError.self) { try Sparkplug.Payload.decode(Array("{\"value\": 1}".utf8)) }
    }

    @Test func topicsAndMachineNames() throws {
        #expect(SparkplugTopic.parse("spBv1.0/Plant A/DDATA/edge1/press 7") == .message(.ddata, group: "Plant A", edge: "edge1", device: "press 7"))
        #expect(SparkplugTopic.parse("spBv1.0/g/NBIRTH/e") == .message(.nbirth, group: "g", edge: "e", device: nil))
        #expect(SparkplugTopic.parse("spBv1.0/STATE/vigil") == .state(hostID: "vigil"))
        #expect(SparkplugTopic.parse("spBv1.0/g/NBIRTH/e/d") == nil)
        #expect(SparkplugTopic.parse("spBv1.0/g/DDATA/e") == nil)
        #expect(SparkplugTopic.parse("vigil/m/s") == nil)
        let t = SparkplugMachineTemplate.default
        #expect(t.machine(group: "Plant A", edge: "edge1", device: "press 7") == "Plant_A/edge1/press_7")
        #expect(t.machine(group: "Plant A", edge: "edge1", device: nil) == "Plant_A/edge1")
        #expect(try SparkplugMachineTemplate("site-{group}/{device}-on-{edge}").machine(group: "g", edge: "e", device: "d") == "site-g/d-on-e")
        #expect(throws: SparkplugMachineTemplate.ParseError.self) { try SparkplugMachineTemplate("{group}/{device}") }
        #expect(throws: SparkplugMachineTemplate.ParseError.self) { try SparkplugMachineTemplate("{edge}/{line}") }
        #expect(Sparkplug.sensorID("Motor 1/Speed") == "Motor_1.Speed")
    }
}

@Suite struct SparkplugHostTests {
    static let t0: Int64 = 1_700_000_000_000

    static func nbirth(seq: UInt64 = 0, bdSeq: UInt64 = 1, metrics: [Sparkplug.Metric] = []) -> [UInt8] {
        Sparkplug.Payload(timestamp: UInt64(t0), metrics: [
            .init(name: "bdSeq", datatype: .int64, value: .long(bdSeq)),
            .init(name: "Node Control/Rebirth", alias: 0, datatype: .boolean, value: .boolean(false)),
        ] + metrics, seq: seq).encoded()
    }

    static func dbirth(seq: UInt64) -> [UInt8] {
        Sparkplug.Payload(timestamp: UInt64(t0), metrics: [
            .init(name: "Temperature", alias: 10, datatype: .float, value: .float(20.5),
                  properties: [("engUnit", .string("°C")), ("engLow", .double(-40)), ("engHigh", .double(150))]),
            .init(name: "Inputs/Count", alias: 11, datatype: .int16, value: .int(UInt32(bitPattern: -3))),
            .init(name: "Serial", alias: 12, datatype: .string, value: .string("SN-1")),
        ], seq: seq).encoded()
    }

    static func ddata(seq: UInt64, ts: Int64, _ metrics: [Sparkplug.Metric]) -> [UInt8] {
        Sparkplug.Payload(timestamp: UInt64(ts), metrics: metrics, seq: seq).encoded()
    }

    @Test func birthsResolveAliasesAndSignedTypes() {
        var host = SparkplugHost()
        var o = host.receive(topic: "spBv1.0/g/NBIRTH/e", payload: Self.nbirth(metrics: [
            .init(name: "Uptime", alias: 1, datatype: .uint32, value: .int(7)),
        ]), receivedAt: Self.t0)
        #expect(o.live.readings == [Reading(machine: "g/e", sensor: "Uptime", ts: Self.t0, value: 7)])  // bdSeq, Node Control: not readings
        o = host.receive(topic: "spBv1.0/g/DBIRTH/e/d", payload: Self.dbirth(seq: 1), receivedAt: Self.t0)
        #expect(o.live.readings.map(\.value) == [20.5, -3])
        #expect(o.live.readings.map(\.sensor) == ["Temperature", "Inputs.Count"])
        #expect(o.live.rejections.map(\.reason) == [.unsupportedDatatype])
        #expect(o.sensors.first == .init(machine: "g/e/d", sensor: "Temperature", name: "Temperature", datatype: "Float", unit: "°C", low: -40, high: 150))
        o = host.receive(topic: "spBv1.0/g/DDATA/e/d", payload: Self.ddata(seq: 2, ts: Self.t0 + 1000, [
            .init(alias: 10, value: .float(21)), .init(alias: 11, value: .int(0xFFFF_FF85)),  // Int16 -123 sign-extended
            .init(alias: 10, timestamp: UInt64(Self.t0 + 500), value: .float(19), isHistorical: true),
            .init(alias: 11, isNull: true),
        ]), receivedAt: Self.t0 + 1000)
        #expect(o.live.readings == [Reading(machine: "g/e/d", sensor: "Temperature", ts: Self.t0 + 1000, value: 21),
                                    Reading(machine: "g/e/d", sensor: "Inputs.Count", ts: Self.t0 + 1000, value: -123)])
        #expect(o.historical == [Reading(machine: "g/e/d", sensor: "Temperature", ts: Self.t0 + 500, value: 19)])
        #expect(o.nulls == 1 && o.actions.isEmpty && o.live.rejections.isEmpty)
        #expect(host.nodes[.init(group: "g", edge: "e")]?.counts.nulls == 1)
    }

    @Test func seqWrapsGapsAreMissingAndAnUnclosedGapAsksForARebirth() {
        var host = SparkplugHost()
        _ = host.receive(topic: "spBv1.0/g/NBIRTH/e", payload: Self.nbirth(seq: 250), receivedAt: Self.t0)
        _ = host.receive(topic: "spBv1.0/g/DBIRTH/e/d", payload: Self.dbirth(seq: 251), receivedAt: Self.t0)
        var now = Self.t0
        for s: UInt64 in [252, 253, 254, 255, 0, 1, 2] {
            now += 100
            let o = host.receive(topic: "spBv1.0/g/DDATA/e/d", payload: Self.ddata(seq: s, ts: now, [.init(alias: 10, value: .float(1))]), receivedAt: now)
            #expect(o.actions.isEmpty && o.live.readings.count == 1)
        }
        let id = SparkplugHost.NodeID(group: "g", edge: "e")
        #expect(host.nodes[id]?.sequence.missing == 0)
        // 3 and 4 dropped; 6 arrives before 5 (reordered) and 5 fills its gap.
        for s: UInt64 in [5, 7, 6] {
            now += 100
            _ = host.receive(topic: "spBv1.0/g/DDATA/e/d", payload: Self.ddata(seq: s, ts: now, [.init(alias: 10, value: .float(1))]), receivedAt: now)
        }
        #expect(host.nodes[id]?.sequence.missing == 2 && host.nodes[id]?.sequence.late == 1)
        // A redelivery is a duplicate, not a restart or a loss.
        _ = host.receive(topic: "spBv1.0/g/DDATA/e/d", payload: Self.ddata(seq: 6, ts: now, [.init(alias: 10, value: .float(1))]), receivedAt: now)
        #expect(host.nodes[id]?.sequence.duplicates == 1)
        #expect(host.tick(now: now + 1000).isEmpty)  // still within the reorder timeout
        let actions = host.tick(now: now + 10_000)
        #expect(actions.count == 1)
        guard case .requestRebirth(id, let reason)? = actions.first else { Issue.record("no rebirth"); return }
        #expect(reason.hasPrefix("2 message(s) missing"))
        // The rebirth restarts the numbering: the gap is closed by it, not counted again.
        _ = host.receive(topic: "spBv1.0/g/NBIRTH/e", payload: Self.nbirth(seq: 0), receivedAt: now + 11_000)
        #expect(host.nodes[id]?.sequence.gaps.isEmpty == true && host.nodes[id]?.sequence.missing == 2)
        #expect(host.nodes[id]?.sequence.restarts == 1)
    }

    @Test func unknownAliasesAreQuarantinedAndAskForOneRebirthAtATime() {
        var host = SparkplugHost()
        let data = Self.ddata(seq: 9, ts: Self.t0, [.init(alias: 10, value: .float(1))])
        var o = host.receive(topic: "spBv1.0/g/DDATA/e/d", payload: data, receivedAt: Self.t0)
        #expect(o.live.readings.isEmpty && o.live.rejections.map(\.reason) == [.unknownAlias])
        #expect(o.actions == [.requestRebirth(.init(group: "g", edge: "e"), reason: "DDATA from an edge node whose birth vigild has not seen")])
        #expect(host.offlineMachines().isEmpty, "never born is not dead: no certificate was given")
        o = host.receive(topic: "spBv1.0/g/DDATA/e/d", payload: data, receivedAt: Self.t0 + 1000)
        #expect(o.actions.isEmpty)  // rate limited
        #expect(host.tick(now: Self.t0 + 10_000).count == 1)  // held back, sent when allowed
        // After the rebirth the same data resolves.
        _ = host.receive(topic: "spBv1.0/g/NBIRTH/e", payload: Self.nbirth(seq: 0), receivedAt: Self.t0 + 11_000)
        _ = host.receive(topic: "spBv1.0/g/DBIRTH/e/d", payload: Self.dbirth(seq: 1), receivedAt: Self.t0 + 11_000)
        o = host.receive(topic: "spBv1.0/g/DDATA/e/d", payload: Self.ddata(seq: 2, ts: Self.t0 + 11_500, [.init(alias: 10, value: .float(1))]),
                         receivedAt: Self.t0 + 11_500)
        #expect(o.live.readings.count == 1 && o.actions.isEmpty)
        // Aliases are per edge node: another node's alias 10 is not this one's.
        o = host.receive(topic: "spBv1.0/g/DDATA/other/d", payload: data, receivedAt: Self.t0 + 12_000)
        #expect(o.live.rejections.map(\.reason) == [.unknownAlias])
    }

    @Test func deathsMatchBdSeqAndTakeMachinesOfflineAtOnce() {
        var host = SparkplugHost()
        _ = host.receive(topic: "spBv1.0/g/NBIRTH/e", payload: Self.nbirth(seq: 0, bdSeq: 4), receivedAt: Self.t0)
        _ = host.receive(topic: "spBv1.0/g/DBIRTH/e/d", payload: Self.dbirth(seq: 1), receivedAt: Self.t0)
        let death = { (bd: UInt64) in Sparkplug.Payload(metrics: [.init(name: "bdSeq", datatype: .int64, value: .long(bd))]).encoded() }
        var o = host.receive(topic: "spBv1.0/g/NDEATH/e", payload: death(3), receivedAt: Self.t0 + 1)  // a stale will
        #expect(o.actions.isEmpty && host.offlineMachines().isEmpty)
        o = host.receive(topic: "spBv1.0/g/NDEATH/e", payload: death(4), receivedAt: Self.t0 + 2)
        #expect(o.actions.first == .offline(machines: ["g/e", "g/e/d"], reason: "death certificate (NDEATH) of edge node g/e"))
        #expect(Set(host.offlineMachines().keys) == ["g/e", "g/e/d"])
        // Data after a death, before a birth: not resolved under stale aliases.
        o = host.receive(topic: "spBv1.0/g/DDATA/e/d", payload: Self.ddata(seq: 2, ts: Self.t0, [.init(alias: 10, value: .float(1))]),
                         receivedAt: Self.t0 + 3)
        #expect(o.live.readings.isEmpty && o.live.rejections.map(\.reason) == [.unknownAlias])
        _ = host.receive(topic: "spBv1.0/g/NBIRTH/e", payload: Self.nbirth(seq: 0, bdSeq: 5), receivedAt: Self.t0 + 4)
        #expect(host.offlineMachines().isEmpty)
        _ = host.receive(topic: "spBv1.0/g/DBIRTH/e/d", payload: Self.dbirth(seq: 1), receivedAt: Self.t0 + 5)
        o = host.receive(topic: "spBv1.0/g/DDEATH/e/d", payload: Sparkplug.Payload(seq: 2).encoded(), receivedAt: Self.t0 + 6)
        #expect(o.actions.first == .offline(machines: ["g/e/d"], reason: "death certificate (DDEATH) of device g/e/d"))
    }

    @Test func aDeviceBirthBeforeItsNodesBirthIsKept() {
        var host = SparkplugHost()
        var o = host.receive(topic: "spBv1.0/g/DBIRTH/e/d", payload: Self.dbirth(seq: 1), receivedAt: Self.t0)
        #expect(o.actions.filter { if case .requestRebirth = $0 { true } else { false } }.isEmpty)
        _ = host.receive(topic: "spBv1.0/g/NBIRTH/e", payload: Self.nbirth(seq: 0), receivedAt: Self.t0 + 10)
        o = host.receive(topic: "spBv1.0/g/DDATA/e/d", payload: Self.ddata(seq: 2, ts: Self.t0 + 20, [.init(alias: 10, value: .float(2))]),
                         receivedAt: Self.t0 + 20)
        #expect(o.live.readings.count == 1 && o.actions.isEmpty)
        #expect(host.tick(now: Self.t0 + 60_000).isEmpty)
        // Without the node's birth, a device birth waits the reorder timeout, then asks.
        _ = host.receive(topic: "spBv1.0/g/DBIRTH/lonely/d", payload: Self.dbirth(seq: 1), receivedAt: Self.t0)
        #expect(host.tick(now: Self.t0 + 6_000).count == 1)
    }

    @Test func malformedPayloadsAndNonReadingsAreRejectedWithReasons() {
        var host = SparkplugHost()
        let o = host.receive(topic: "spBv1.0/g/NDATA/e", payload: [0x12, 0x40, 0x01], receivedAt: Self.t0)
        #expect(o.live.rejections.map(\.reason) == [.malformedSparkplug])
        var dt = SparkplugHost.Settings()
        dt.dateTimeReadings = true
        var withDates = SparkplugHost(settings: dt)
        let birth = Self.nbirth(metrics: [.init(name: "When", alias: 3, datatype: .dateTime, value: .long(UInt64(Self.t0)))])
        #expect(withDates.receive(topic: "spBv1.0/g/NBIRTH/e", payload: birth, receivedAt: Self.t0).live.readings.map(\.value) == [Double(Self.t0)])
        #expect(host.receive(topic: "spBv1.0/g/NBIRTH/e", payload: birth, receivedAt: Self.t0).live.rejections.map(\.reason) == [.unsupportedDatatype])
    }
}
