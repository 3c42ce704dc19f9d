import Testing
import Foundation
import VigilCore
@testable import VigilHealth

/// The sensor judge on synthetic machines: four correlated sensors at 10 s driven by one load,
/// commissioned on a day, then one sensor broken in each way — and a process fault that moves
/// several sensors together, which must never be called a sensor fault.
@Suite struct SensorFaultDetectorTests {
    static let sensors = ["current", "flow", "pressure", "temp"]
    static let step: Int64 = 10_000

    /// The machine's healthy readings at sample `i` (deterministic noise).
    static func healthy(_ i: Int, _ rng: inout SplitMix64) -> [Double] {
        let load = 0.6 + 0.3 * sin(Double(i) * 2 * .pi / 2880)
        func n() -> Double { Double.random(in: -1...1, using: &rng) + Double.random(in: -1...1, using: &rng) }
        let v = [8 + 22 * load + 0.3 * n(), 40 + 80 * load + 1.5 * n(), 3.5 + 2.5 * load + 0.05 * n(), 45 + 10 * load + 0.2 * n()]
        return v.map { ($0 * 1000).rounded() / 1000 }
    }

    static func commissioned(_ transform: (Int, Double) -> Double = { _, x in x }, names: [String] = sensors) -> (SensorFaultDetector, SplitMix64) {
        var rng = SplitMix64(seed: 42)
        var series = [(times: [Int64], values: [Double])](repeating: ([], []), count: names.count)
        for i in 0..<8640 {
            for (j, x) in healthy(i, &rng).enumerated() {
                series[j].times.append(Int64(i) * step)
                series[j].values.append(transform(j, x))
            }
        }
        var d = SensorFaultDetector(sensors: names, commissioning: series)
        _ = d.advance(to: 8640 * step)
        return (d, rng)
    }

    /// Runs `samples` more samples through the detector with `fault` applied (nil = no reading);
    /// returns the changes.
    static func run(_ d: inout SensorFaultDetector, _ rng: inout SplitMix64, samples: Int,
                    fault: (Int, Int, Double) -> Double? = { _, _, x in x }) -> [SensorFaultDetector.Change] {
        var changes: [SensorFaultDetector.Change] = []
        for k in 0..<samples {
            let i = 8640 + k
            for (j, x) in healthy(i, &rng).enumerated() {
                if let v = fault(k, j, x) { changes += d.observe(sensor: j, ts: Int64(i) * step, value: v) }
            }
            changes += d.advance(to: Int64(i) * step)
        }
        return changes
    }

    /// Two drift candidates in one scored row — the sensor the machine's judge names, and another
    /// that left its peers meanwhile (`departed`) — each keep their own streak: a drift of one is
    /// not hidden while the judge names the other (seed 8's ambient probe on a machine wearing out).
    @Test func aSensorThatLeftItsPeersKeepsItsStreakWhileTheJudgeNamesAnother() {
        var (d, _) = Self.commissioned()
        var opened: [String] = []
        for minute in 0..<75 {
            let at = 8640 * Self.step + Int64(minute) * 60_000
            opened += d.noteIsolation(HealthScorer.Isolation(sensor: 0, alone: true, evidence: "named by the judge"),
                                      departed: HealthScorer.Isolation(sensor: 3, alone: true, evidence: "left its peers"), at: at)
                .filter(\.opened).map { "\($0.sensor) \($0.fault.kind) \($0.fault.evidence)" }
        }
        #expect(opened.sorted() == ["current drift named by the judge", "temp drift left its peers"], "\(opened)")
    }

    /// A drifting sensor that steps back (its transmitter recalibrated) is the drift ending, not a
    /// jump to hold once the drift closes: held, it would be the judge's candidate for hours and
    /// hide a sibling that starts drifting next (seed 7's compressor-20: current, then flow).
    @Test func aDriftingSensorSteppingBackIsNotHeldAsAJump() {
        var (d, rng) = Self.commissioned()
        let t0 = 8640 * Self.step
        for minute in 0...61 {
            _ = d.noteIsolation(HealthScorer.Isolation(sensor: 3, alone: true, evidence: "reads 50 where its siblings predict 45"),
                                at: t0 + Int64(minute) * 60_000)
        }
        #expect(d.conditions[3].fault?.kind == .drift)
        // Its readings while drifting (5 above), then back where its siblings put it.
        _ = Self.run(&d, &rng, samples: 200) { k, j, x in j == 3 && k < 100 ? x + 5 : x }
        for minute in 62...100 { _ = d.noteIsolation(nil, at: t0 + Int64(minute) * 60_000) }
        #expect(d.conditions[3].fault == nil, "the drift closes once the judge stops naming it")
        #expect(d.jumpSuspects(before: t0 + 101 * 60_000).isEmpty)
    }

    @Test func healthyDataOpensNoFault() {
        var (d, rng) = Self.commissioned()
        let changes = Self.run(&d, &rng, samples: 8640)
        #expect(changes.isEmpty, "\(changes)")
    }

    @Test func stuckSensorIsFoundAndClears() {
        var (d, rng) = Self.commissioned()
        var frozen: Double?
        let changes = Self.run(&d, &rng, samples: 720) { k, j, x in
            guard j == 3, (100..<460).contains(k) else { return x }
            if frozen == nil { frozen = x }
            return frozen
        }
        let opened = changes.filter(\.opened)
        #expect(opened.map(\.sensor) == ["temp"])
        #expect(opened.first?.fault.kind == .stuck)
        // Within 15 minutes of the freeze.
        #expect((opened.first?.at ?? .max) - (8640 + 100) * Self.step <= 900_000)
        #expect(changes.contains { !$0.opened && $0.sensor == "temp" }, "clears once it moves again")
    }

    @Test func spikeDropoutAndRailAreFound() {
        for (kind, fault) in [
            (SensorFaultKind.spike, { (k: Int, j: Int, x: Double) -> Double? in j == 1 && k == 200 ? x * 3 + 10 : x }),
            (.dropout, { (k: Int, j: Int, x: Double) -> Double? in j == 2 && (200..<400).contains(k) ? nil : x }),
            (.outOfRange, { (k: Int, j: Int, x: Double) -> Double? in j == 0 && (200..<300).contains(k) ? -9999 : x }),
        ] {
            var (d, rng) = Self.commissioned()
            let opened = Self.run(&d, &rng, samples: 600, fault: fault).filter(\.opened)
            #expect(opened.first?.fault.kind == kind, "\(kind): \(opened)")
            #expect(opened.count == 1, "\(kind): \(opened)")
            #expect((opened.first?.at ?? .max) - (8640 + 200) * Self.step <= 300_000, "\(kind) latency")
        }
    }

    @Test func aSensorLeapingOutOfRangeOnAMachineOffItsRangesIsNotARail() {
        // Current leaps far out of its range and jumps about there, on a machine whose temperature
        // left its commissioned values earlier (a process fault on a worn machine): not a
        // sensor's out_of_range …
        var (d, rng) = Self.commissioned()
        var noise = SplitMix64(seed: 4)
        let offRange = Self.run(&d, &rng, samples: 400) { k, j, x in
            j == 3 && k >= 100 ? x + 4 : j == 0 && k >= 200 ? 60 + 10 * Double.random(in: -1...1, using: &noise) : x
        }.filter { $0.opened && $0.fault.kind == .outOfRange }
        #expect(offRange.isEmpty, "\(offRange)")
        // … while a rail on the same machine is; and leaping about on a machine as commissioned is.
        (d, rng) = Self.commissioned()
        let rail = Self.run(&d, &rng, samples: 400) { k, j, x in j == 3 && k >= 100 ? x + 4 : j == 0 && k >= 200 ? -9999 : x }
            .filter { $0.opened && $0.fault.kind == .outOfRange }
        #expect(rail.map(\.sensor) == ["current"], "\(rail)")
        (d, rng) = Self.commissioned()
        let alone = Self.run(&d, &rng, samples: 400) { k, j, x in j == 0 && k >= 200 ? 60 + 10 * Double.random(in: -1...1, using: &noise) : x }
            .filter { $0.opened && $0.fault.kind == .outOfRange }
        #expect(alone.map(\.sensor) == ["current"], "\(alone)")
    }

    /// A declared physical range (config, device, operator): readings beyond what the instrument
    /// can read are the sensor's fault even on a machine off its ranges, where the learned rules
    /// must not call a leap a rail (the test above).
    @Test func aReadingBeyondWhatItsInstrumentCanReadIsOutOfRangeWhateverTheMachineDoes() throws {
        var (d, rng) = Self.commissioned()
        let p = try #require(d.profiles[0])
        let declaration = ["current": SensorMetadata(unit: "A", min: 0, max: p.high + p.span)]
        let first = d.declare(declaration), again = d.declare(declaration)
        #expect(first && !again)
        var noise = SplitMix64(seed: 4)
        let beyond = p.high + 2 * p.span
        let faults = Self.run(&d, &rng, samples: 400) { k, j, x in
            j == 3 && k >= 100 ? x + 4 : j == 0 && k >= 200 ? beyond + 0.2 * p.span * Double.random(in: -1...1, using: &noise) : x
        }.filter { $0.opened && $0.fault.kind == .outOfRange }
        #expect(faults.map(\.sensor) == ["current"], "\(faults)")
        #expect(faults.first?.fault.evidence.contains("outside what it can read (0 to") == true, "\(faults)")
        // A declaration its own commissioned values contradict is not believed for it.
        (d, rng) = Self.commissioned()
        let contradicted = d.declare(["current": SensorMetadata(max: p.low)])
        #expect(!contradicted && d.physical == nil)
    }

    @Test func aSensorThatCreptToTheEdgeAndCrossesItInItsNoiseDidNotJumpOut() {
        // Current creeps (a worn machine) to just inside the edge of its valid range, turns rough
        // and its noise carries it across: not a rail …
        var (d, rng) = Self.commissioned()
        var noise = SplitMix64(seed: 6)
        let crept = Self.run(&d, &rng, samples: 500) { k, j, x in
            guard j == 0, k >= 100 else { return x }
            return k < 300 ? x + Double(k - 100) / 200 * (40 - x) : 44 + 4 * Double.random(in: -1...1, using: &noise)
        }.filter { $0.opened && $0.fault.kind == .outOfRange }
        #expect(crept.isEmpty, "\(crept)")
        // … while a leap from there by more than its whole commissioned span is.
        (d, rng) = Self.commissioned()
        let leapt = Self.run(&d, &rng, samples: 500) { k, j, x in
            guard j == 0, k >= 100 else { return x }
            return k < 300 ? x + Double(k - 100) / 200 * (40 - x) : 100
        }.filter { $0.opened && $0.fault.kind == .outOfRange }
        #expect(leapt.map(\.sensor) == ["current"], "\(leapt)")
    }

    @Test func noisySensorIsFound() {
        var (d, rng) = Self.commissioned()
        var noise = SplitMix64(seed: 9)
        let opened = Self.run(&d, &rng, samples: 600) { k, j, x in
            j == 3 && k >= 200 ? x + 3 * Double.random(in: -1...1, using: &noise) : x
        }.filter(\.opened)
        // Its first rough readings may look like spikes; the lasting fault is noise, on temp alone.
        #expect(opened.last?.fault.kind == .noise, "\(opened)")
        #expect(Set(opened.map(\.sensor)) == ["temp"])
    }

    /// A quantised flow transmitter that sat on one code while commissioned, flicking to the next
    /// now and then (and, rarely, by a hair: the smallest step it ever made is 0.02), later sits on
    /// the code boundary and flickers at every reading (SKAB's flow after a valve closed): that is
    /// its resolution, not noise. Noise well beyond its code width still is.
    @Test func aQuantisedSensorFlickeringBetweenTwoCodesIsNotNoisy() {
        let names = ["flow", "temp"]
        var rng = SplitMix64(seed: 5)
        func temp(_ i: Int) -> Double { 45 + 5 * sin(Double(i) / 300) + 0.2 * Double.random(in: -1...1, using: &rng) }
        var series = [(times: [Int64], values: [Double])](repeating: ([], []), count: 2)
        for i in 0..<3000 {
            let flow = i % 15 == 7 ? 33.0 : i % 30 == 20 ? 32.02 : 32.0
            for (j, v) in [flow, temp(i)].enumerated() {
                series[j].times.append(Int64(i) * Self.step)
                series[j].values.append(v)
            }
        }
        var d = SensorFaultDetector(sensors: names, commissioning: series)
        _ = d.advance(to: 3000 * Self.step)
        var noise = SplitMix64(seed: 6)
        var changes: [SensorFaultDetector.Change] = []
        for k in 0..<600 {
            let i = 3000 + k
            // 200 readings of flicker, then 200 of noise 3× the code width, then back to its code.
            let flow = k < 200 ? (k % 2 == 0 ? 32.0 : 33.0) : k < 400 ? 32 + 3 * (Double.random(in: -1...1, using: &noise) + Double.random(in: -1...1, using: &noise)) : 32.0
            changes += d.observe(sensor: 0, ts: Int64(i) * Self.step, value: flow)
            changes += d.observe(sensor: 1, ts: Int64(i) * Self.step, value: temp(i))
            if k == 199 { #expect(changes.isEmpty, "flicker: \(changes)") }
        }
        #expect(changes.filter(\.opened).map(\.fault.kind).contains(.noise), "\(changes)")
    }

    /// A sensor that wandered slowly past everything it read while commissioned (SKAB's sensors,
    /// commissioned on minutes, over hours) and then turns rough where it is, is noisy; one that
    /// roughens as its level moves is the process.
    @Test func noiseIsJudgedAtTheLevelTheSensorHadBeforeItTurnedRough() {
        func run(step: Double) -> [SensorFaultKind] {
            var (d, rng) = Self.commissioned()
            var noise = SplitMix64(seed: 3)
            return Self.run(&d, &rng, samples: 2800) { k, j, x in
                guard j == 3 else { return x }
                let wandered = x + 12 * Double(min(k, 2000)) / 2000
                return k < 2300 ? wandered : wandered + step + 3 * Double.random(in: -1...1, using: &noise)
            }.filter(\.opened).map(\.fault.kind)
        }
        #expect(run(step: 0).contains(.noise))
        #expect(!run(step: 6).contains(.noise))
    }

    @Test func aProcessFaultIsNotASensorFault() {
        // A clogged intake: flow and pressure fall, current rises, all at once and for an hour.
        var (d, rng) = Self.commissioned()
        let changes = Self.run(&d, &rng, samples: 720) { k, j, x in
            guard (200..<560).contains(k) else { return x }
            return [x * 1.15, x * 0.6, x * 0.7, x][j]
        }
        #expect(changes.isEmpty, "\(changes)")
    }

    @Test func decisionsDoNotDependOnUnitsOrOrder() {
        // Per-sensor affine changes of units and a different order of sensors give the same faults.
        let scale = [1.0, -3.6, 100_000, 1.8], shift = [0.0, 500, -2e5, 32]
        let names = Self.sensors.reversed().map { $0 + "_x" }
        func faulted(_ k: Int, _ j: Int, _ x: Double) -> Double? { j == 1 && k == 150 ? x * 3 + 10 : j == 3 && (300..<500).contains(k) ? 47.0 : x }
        var (a, rngA) = Self.commissioned()
        let plain = Self.run(&a, &rngA, samples: 700, fault: faulted).map { "\($0.opened) \($0.sensor) \($0.fault.kind) \($0.at)" }
        var (b, rngB) = Self.commissioned({ j, x in x * scale[j] + shift[j] }, names: Self.sensors)
        let units = Self.run(&b, &rngB, samples: 700) { k, j, x in faulted(k, j, x).map { $0 * scale[j] + shift[j] } }
            .map { "\($0.opened) \($0.sensor) \($0.fault.kind) \($0.at)" }
        #expect(plain == units)
        #expect(!plain.isEmpty)
        _ = names
    }

    @Test func aFaultySensorIsLeftOutOfTheScoreAndNeverAlarmsTheMachine() throws {
        var rng = SplitMix64(seed: 3)
        var rows: [[Double?]] = []
        for i in 0..<600 { rows.append(Self.healthy(i * 6, &rng).map { $0 }) }
        let model = try HealthModel.train(sensors: Self.sensors, rows: rows)
        var plain = HealthScorer(model: model)
        var judged = HealthScorer(model: model)
        var detector = SensorFaultDetector(sensors: Self.sensors, profiles: Array(repeating: nil, count: 4))
        var worstPlain = 100.0, worstJudged = 100.0
        for i in 600..<900 {
            var row: [Double?] = Self.healthy(i * 6, &rng).map { $0 }
            row[3] = row[3]! + 40  // temp reads far off (a broken sensor)
            worstPlain = min(worstPlain, plain.score(row).health)
            judged.exclude([3])
            let s = judged.score(row)
            worstJudged = min(worstJudged, s.health)
            #expect(s.contributors.allSatisfy { $0.sensor != "temp" })
            #expect(s.confidence < 1)
        }
        #expect(worstPlain < 50, "unjudged, the broken sensor alarms the machine")
        #expect(worstJudged > 60, "left out, it does not (\(worstJudged))")
        _ = detector.advance(to: 0)
    }

    /// Minute rows through `vigil replay`'s path (commissioned on the first day), with `change`
    /// applied from the second day on; each row's status and the sensor faults it reports.
    static func replayMinutes(days: Int, _ change: (Int, Int, Double) -> Double) throws -> [(status: String, faults: String)] {
        var rng = SplitMix64(seed: 5)
        var table = SensorTable(sensors: sensors, timestamps: [], rows: [])
        for m in 0..<(days * 1440) {
            // Minute means of the healthy machine (its noise averaged over six readings).
            var sums = [Double](repeating: 0, count: 4)
            for k in 0..<6 { for (j, x) in healthy(m * 6 + k, &rng).enumerated() { sums[j] += x / 6 } }
            table.timestamps.append(String(1_767_225_600_000 + Int64(m) * 60_000))
            table.rows.append(sums.enumerated().map { j, x in m < 1440 ? x : change(m - 1440, j, x) })
        }
        var options = Replay.Options()
        options.commissionRows = 1440
        let csv = try Replay.run(table, options: options).csv
        return csv.split(separator: "\n").dropFirst().map {
            let cells = $0.split(separator: ",", omittingEmptySubsequences: false)
            return (String(cells[4]), String(cells.last ?? ""))
        }
    }

    @Test func aSensorDriftingFromItsSiblingsIsADriftAndSlowWearIsNot() throws {
        // Pressure drifts away from what load predicts for it, by a whole commissioned range in 6 h
        // (and stays there).
        let rows = try Self.replayMinutes(days: 2) { m, j, x in j == 2 && m >= 300 ? x + 2.5 * Double(min(m, 660) - 300) / 360 : x }
        let drift = rows.map(\.faults)
        let during = drift[(1440 + 300)..<(1440 + 660)]
        #expect(during.contains { $0.contains("pressure:drift") }, "found before the drift ends")
        #expect(Set(drift.flatMap { $0.split(separator: ";") }) == ["pressure:drift"], "\(Set(drift))")
        // Left out of health while it is judged and once it is found: never an alarm.
        let alarms = rows.indices.filter { rows[$0].status == "alarm" }.map { $0 - 1440 }
        #expect(alarms.isEmpty, "alarm at minutes \(alarms.prefix(5)) of the drifting day")
        // Wear over three days: temperature and current rise together, slowly, accelerating.
        let wear = try Self.replayMinutes(days: 4) { m, j, x in
            let w = pow(Double(m) / 4320, 2.5)
            return j == 3 ? x + 6 * w : j == 0 ? x + 1 * w : x
        }.map(\.faults)
        #expect(!wear.contains { $0.contains("drift") }, "wear is the machine's: \(Set(wear))")
    }

    @Test func aSensorThatJumpsAloneIsHeldOutOfHealthUntilItsStepIsDecided() throws {
        // Temperature is recalibrated 6 °C off at minute 300 of the second day and stays there: no
        // machine's temperature leaps like that in a minute, and none of its siblings moved.
        let rows = try Self.replayMinutes(days: 2) { m, j, x in j == 3 && m >= 300 ? x + 6 : x }
        let alarms = rows.indices.filter { rows[$0].status == "alarm" }.map { $0 - 1440 }
        #expect(alarms.isEmpty, "alarm at minutes \(alarms.prefix(5)) of the second day")
        #expect(rows.suffix(600).contains { $0.faults.contains("temp:drift") }, "the step is decided a drift of temp")
        // A process change steps several sensors at once: nobody's jump, and health alarms.
        let process = try Self.replayMinutes(days: 2) { m, j, x in
            guard m >= 300, m < 420 else { return x }
            return j == 0 ? x * 1.15 : j == 1 ? x * 0.6 : j == 2 ? x * 0.7 : x
        }
        #expect(process.contains { $0.status == "alarm" })
        #expect(!process.contains { !$0.faults.isEmpty }, "\(Set(process.map(\.faults)))")
    }

    @Test func aSensorIsNamedAloneAcrossALoadSwingSinceTheBaseline() throws {
        // The change since a baseline spans the machine's operating point: here the load's whole
        // swing, low then high. Along the relations, that names no sensor alone; flow leaving what
        // the load predicts for it on the way is named alone (the whole change's statistic is far
        // from commissioning's, which alone kept it from being named); several sensors leaving
        // their relations together (a process change) are not.
        var rng = SplitMix64(seed: 11)
        var rows: [[Double?]] = []
        for m in 0..<1440 {
            var sums = [Double](repeating: 0, count: 4)
            for k in 0..<6 { for (j, x) in Self.healthy(m * 6 + k, &rng).enumerated() { sums[j] += x / 6 } }
            rows.append(sums)
        }
        let model = try HealthModel.train(sensors: Self.sensors, rows: rows)
        func machine(load: Double, flow: Double = 0, current: Double = 0) -> [Double?] {
            [8 + 22 * load + current, 40 + 80 * load + flow, 3.5 + 2.5 * load, 45 + 10 * load]
        }
        func isolation(_ now: [Double?]) -> HealthScorer.Isolation? {
            var scorer = HealthScorer(model: model)
            for _ in 0..<240 { _ = scorer.score(machine(load: 0.35)) }
            let baseline = scorer.slowDeviation()
            for _ in 0..<240 { _ = scorer.score(now) }
            return scorer.isolation(of: scorer.slowDeviation(), since: baseline, part: 0.1, share: 0.5)
        }
        #expect(isolation(machine(load: 0.85)).map(\.alone) != true, "the load's swing is no sensor's")
        let drifted = isolation(machine(load: 0.85, flow: 10))
        #expect(drifted?.sensor == 1 && drifted?.alone == true, "\(String(describing: drifted))")
        #expect(drifted?.evidence.hasSuffix("the other sensors keep to what their siblings predict") == true)
        let process = isolation(machine(load: 0.85, flow: -10, current: 5))
        #expect(process?.alone != true, "\(String(describing: process))")
    }

    @Test func aSlowlyWanderingSensorThatDriftsIsJudgedInItsOwnSpread() throws {
        // An ambient probe follows the day, and the machine's temperature follows it and the
        // load. Health widens the probe's scale by its long-run spread (a day's swing), so it
        // counts for little there; the judge weighs it in its plain spread, where temperature and
        // load pin it down. It drifts by its day's swing in 6 h (and stays there); temperature
        // still follows the true air.
        var rng = SplitMix64(seed: 9)
        var table = SensorTable(sensors: ["current", "flow", "temp", "ambient"], timestamps: [], rows: [])
        for m in 0..<(2 * 1440) {
            var sums = [Double](repeating: 0, count: 4)
            for k in 0..<6 {
                let i = Double(m * 6 + k)
                func n() -> Double { Double.random(in: -1...1, using: &rng) + Double.random(in: -1...1, using: &rng) }
                let load = 0.6 + 0.3 * sin(i * 2 * .pi / 2880), air = 22 + 4 * sin(i * 2 * .pi / 8640)
                let v = [8 + 22 * load + 0.3 * n(), 40 + 80 * load + 1.5 * n(), air + 20 + 25 * load + 0.2 * n(), air + 0.1 * n()]
                for j in 0..<4 { sums[j] += v[j] / 6 }
            }
            let d = m - 1440
            if d >= 300 { sums[3] += 8 * Double(min(d, 660) - 300) / 360 }
            table.timestamps.append(String(1_767_225_600_000 + Int64(m) * 60_000))
            table.rows.append(sums)
        }
        var options = Replay.Options()
        options.commissionRows = 1440
        let faults = try Replay.run(table, options: options).csv.split(separator: "\n").dropFirst()
            .map { String($0.split(separator: ",", omittingEmptySubsequences: false).last ?? "") }
        #expect(faults[(1440 + 300)..<(1440 + 660)].contains("ambient:drift"), "found before the drift ends")
        #expect(Set(faults.flatMap { $0.split(separator: ";") }) == ["ambient:drift"], "\(Set(faults))")
    }

    @Test func aDriftingSensorThatSticksIsReportedStuck() throws {
        // Pressure drifts for 6 h, then freezes at its last value: what its raw readings show
        // replaces the slow horizon's verdict.
        var frozen: Double?
        let rows = try Self.replayMinutes(days: 2) { m, j, x in
            guard j == 2, m >= 300 else { return x }
            if m >= 700 { return frozen! }
            let v = x + 2.5 * Double(min(m, 660) - 300) / 360
            if m == 699 { frozen = v }
            return v
        }.map(\.faults)
        #expect(rows[(1440 + 600)..<(1440 + 700)].contains { $0 == "pressure:drift" })
        #expect(rows[(1440 + 700)...].contains { $0 == "pressure:stuck" }, "\(Set(rows[(1440 + 700)...]))")
    }
}
