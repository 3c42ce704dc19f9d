import Foundation
import Testing
import VigilCore
@testable import VigilHealth

/// A sensor judged against the same sensor on the site's other machines (its peers): an ambient
/// probe that leaves the others is a drift of that probe; the air of the whole hall changing is
/// nobody's fault; a sensor that follows its own machine's load has no peers.
@Suite struct PeerDriftTests {
    typealias Storage = HealthDecisionsTests.MemoryStorage
    static let base = HealthDecisionsTests.base
    static let machines = ["m1", "m2", "m3", "m4"]
    static let sensors = ["ambient", "current", "flow", "temp"]

    /// Four machines in one hall, a reading every 10 s: the hall's air swings over a 4-hour
    /// "day"; each machine runs its own load cycle; its temperature follows the air and its load.
    /// `drift(machine, minute)` is added to a machine's ambient reading, `hall(minute)` to the air.
    static func readings(minutes: Range<Int>, drift: (String, Int) -> Double = { _, _ in 0 },
                         hall: (Int) -> Double = { _ in 0 }) -> [String: [(sensor: String, ts: Int64, value: Double)]] {
        var out: [String: [(sensor: String, ts: Int64, value: Double)]] = [:]
        for (i, machine) in machines.enumerated() {
            var rng = SplitMix64(seed: UInt64(i + 1))
            var rows: [(sensor: String, ts: Int64, value: Double)] = []
            for m in minutes {
                for k in 0..<6 {
                    let n = { Double.random(in: -1...1, using: &rng) }
                    let air = 20 + 3 * sin(2 * .pi * Double(m) / 240) + hall(m)
                    let load = 0.6 + 0.3 * sin(Double(m) / 7 + Double(i) * 1.3)
                    let values = [air + 0.05 * n() + drift(machine, m), 10 + 20 * load + 0.2 * n(),
                                  40 + 80 * load + n(), air + 20 + 25 * load + 0.1 * n()]
                    for (s, v) in zip(sensors, values) { rows.append((s, base + Int64(m) * 60_000 + Int64(k) * 10_000, v)) }
                }
            }
            out[machine] = rows
        }
        return out
    }

    /// Commissioned on 180 minutes (the peers need two hours), every machine brought up to
    /// `minutes` round by round.
    static func run(_ storage: Storage, minutes: Int) throws -> [HealthDecisions<Storage>.Report] {
        var settings = HealthSettings()
        settings.commissionMinutes = 180
        settings.retrainMinutes = 0
        let d = HealthDecisions(storage: storage, settings: settings)
        var kept: [String: MachineHealth] = [:]
        var reports: [HealthDecisions<Storage>.Report] = []
        for minute in stride(from: 60, through: minutes, by: 60) {
            for machine in machines {
                repeat {
                    let (m, report) = try d.update(machine: machine, kept: kept[machine], through: base + Int64(minute - 1) * 60_000,
                                                   now: base + Int64(minute + 1) * 60_000)
                    kept[machine] = m
                    reports.append(report)
                } while kept[machine]?.behind == true
            }
        }
        return reports
    }

    @Test func anAmbientProbeLeavingItsPeersIsADriftOfThatProbe() throws {
        let storage = Storage()
        // m1's probe creeps up by 4 °C over 200 minutes from minute 300, then is mended.
        storage.readings = Self.readings(minutes: 0..<600) { machine, m in
            machine == "m1" && (300..<500).contains(m) ? 4 * Double(m - 300) / 200 : 0
        }
        let reports = try Self.run(storage, minutes: 600)
        let profiled = reports.flatMap(\.notices).compactMap { if case let .sensorsProfiled(machine, _, _, withPeers, _) = $0 { (machine, withPeers) } else { nil } }
        #expect(profiled.count == 4 && profiled.allSatisfy { $0.1 == 1 }, "only the ambient probe reads like its peers: \(profiled)")

        let faults = storage.events.filter { $0.kind == .sensorFault }
        #expect(faults.count == 1, "\(faults.map { "\($0.machine ?? "") \($0.sensor ?? "") \($0.detail)" })")
        let fault = try #require(faults.first)
        #expect(fault.machine == "m1" && fault.sensor == "ambient" && fault.fault?.kind == .drift)
        #expect(fault.fault?.evidence.contains("left the other machines' ambient") == true, "\(fault.fault?.evidence ?? "")")
        // Found well before the drift ends, and closed once the probe reads with the others again.
        #expect(fault.at < Self.base + 440 * 60_000, "found \((fault.at - Self.base) / 60_000) min in")
        let recovered = storage.events.first { $0.kind == .sensorRecovered && $0.machine == "m1" && $0.sensor == "ambient" }
        #expect(recovered.map { $0.at > Self.base + 500 * 60_000 } == true)
        #expect(!(storage.history["m1"] ?? []).contains { $0.status == .alarm }, "the probe's drift never alarms its machine")
    }

    /// Profiled while the other machines' minutes were not yet in (a backlog stores machine by
    /// machine), a machine learns its peers once they are.
    @Test func peersNotYetStoredAreLearnedOnceTheyAre() throws {
        let storage = Storage()
        let full = Self.readings(minutes: 0..<300)
        storage.readings = full.mapValues { rows in rows.filter { $0.ts < Self.base + 100 * 60_000 } }
        storage.readings["m1"] = full["m1"]
        var settings = HealthSettings()
        settings.commissionMinutes = 180
        let d = HealthDecisions(storage: storage, settings: settings)
        var (m1, _) = try d.update(machine: "m1", kept: nil, through: Self.base + 239 * 60_000, now: Self.base + 241 * 60_000)
        let detector = { try #require(storage.records["m1"]?.sensorDetector.flatMap { CanonicalJSON.decode(SensorFaultDetector.self, $0) }) }
        #expect(try detector().peers == nil && detector().peerWindow != nil, "profiled without its peers' minutes")
        storage.readings = full
        (m1, _) = try d.update(machine: "m1", kept: m1, through: Self.base + 299 * 60_000, now: Self.base + 301 * 60_000)
        #expect(try detector().peers?.compactMap { $0 }.count == 1 && detector().peerWindow == nil)
    }

    @Test func theHallsAirChangingIsNobodysFault() throws {
        let storage = Storage()
        // The hall warms by 4 °C over 200 minutes (every probe and every machine's temperature with it).
        storage.readings = Self.readings(minutes: 0..<600, hall: { m in 4 * Double(min(max(m - 300, 0), 200)) / 200 })
        _ = try Self.run(storage, minutes: 600)
        let faults = storage.events.filter { $0.kind == .sensorFault }
        #expect(faults.isEmpty, "\(faults.map { "\($0.machine ?? "") \($0.sensor ?? "") \($0.detail)" })")
    }

    @Test func peersAreLearnedOnlyWhereTheyExplainTheSensor() {
        let minutes = 0..<240
        let air = minutes.map { 20 + 3 * sin(2 * .pi * Double($0) / 240) }
        // An ambient probe 0.4 °C warmer than the hall's median, a flow following its own load.
        let ambient = PeerProfile.learn(own: air.enumerated().map { $1 + 0.4 + 0.01 * sin(Double($0)) }, peers: air)
        #expect(ambient.map { abs($0.offset - 0.4) < 0.02 && $0.bar >= $0.swing / 4 } == true)
        let flow = PeerProfile.learn(own: minutes.map { 100 + 30 * sin(Double($0) / 7) }, peers: minutes.map { 100 + 30 * sin(Double($0) / 7 + 2) })
        #expect(flow == nil)
        // Too few minutes with peers.
        #expect(PeerProfile.learn(own: Array(air.prefix(100)), peers: Array(air.prefix(100))) == nil)
        // A minute's median needs three peers.
        #expect(PeerProfile.peersMedian([1, 2]) == nil && PeerProfile.peersMedian([1, 5, 2]) == 2)
        // An affine change of units moves offset, spread, swing and bar alike.
        let scaled = PeerProfile.learn(own: air.enumerated().map { 1.8 * ($1 + 0.4 + 0.01 * sin(Double($0))) + 32 },
                                       peers: air.map { 1.8 * $0 + 32 })
        if let a = ambient, let s = scaled { #expect(abs(s.bar - 1.8 * a.bar) < 1e-9 * s.bar && abs(s.offset - 1.8 * a.offset) < 1e-9) }
    }
}
