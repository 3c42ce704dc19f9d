import Foundation
import Testing
import VigilCore
@testable import VigilHealth

/// A deterministic generator for test tables (no dependency on VigilCore).
struct Noise {
    var state: UInt64
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53) * 2 - 1
    }
}

/// Four correlated sensors of a pump: flow follows load, current follows flow, temperature lags.
func pumpTable(rows: Int, seed: UInt64, fault: (Int) -> (sensor: Int, offset: Double)? = { _ in nil }) -> SensorTable {
    var noise = Noise(state: seed)
    var table = SensorTable(sensors: ["flow", "current", "pressure", "temp"], timestamps: [], rows: [])
    var temp = 60.0
    for t in 0..<rows {
        let load = 0.7 + 0.2 * sin(Double(t) / 50)
        var r = [100 * load + noise.next(), 10 * load + 0.1 * noise.next(), 4 + 2 * load + 0.05 * noise.next(), 0]
        temp += 0.05 * (50 + 20 * load - temp)
        r[3] = temp + 0.2 * noise.next()
        if let f = fault(t) { r[f.sensor] += f.offset }
        table.timestamps.append(String(1_700_000_000 + t))
        table.rows.append(r)
    }
    return table
}

@Suite struct HealthModelTests {
    @Test func normalRowsAreHealthyAndAFaultAlarmsWithItsSensorFirst() throws {
        let table = pumpTable(rows: 1200, seed: 1) { t in t >= 900 ? (1, 6.0) : nil } // current +6 A (≈ 4σ of its load swing) from row 900
        let model = try HealthModel.train(sensors: table.sensors, rows: Array(table.rows[..<400]))
        var scorer = HealthScorer(model: model)
        var scores: [HealthScore] = []
        for r in table.rows { scores.append(scorer.score(r)) }
        let normal = scores[400..<900]
        #expect(normal.allSatisfy { $0.status != .alarm }, "false alarm at \(normal.firstIndex { $0.status == .alarm } ?? -1)")
        #expect(normal.map(\.health).min()! > 60)
        let faulty = scores[920...]
        #expect(faulty.allSatisfy { $0.status == .alarm && $0.health <= 50 })
        #expect(faulty.allSatisfy { $0.contributors.first?.sensor == "current" && $0.contributors[0].share > 0.5 })
        #expect(scores.allSatisfy { (0...100).contains($0.health) && abs($0.anomalyScore - (1 - $0.health / 100)) < 1e-12 })
    }

    @Test func parametersFromAssignmentsNameWhatIsWrong() throws {
        let p = try HealthParameters(assignments: "smoothing=0.05, thresholdFactor=4,")
        var expected = HealthParameters()
        expected.smoothing = 0.05
        expected.thresholdFactor = 4
        #expect(p == expected)
        #expect(try HealthParameters(assignments: "") == HealthParameters())
        for (bad, says) in [("smoothness=0.1", "unknown parameter 'smoothness'"), ("smoothing=0", "smoothing must be in"),
                            ("extraShrinkage=1.5", "extraShrinkage must be in"), ("spreadWindow", "expected name=number"),
                            ("thresholdFactor=nan", "expected name=number")] {
            #expect(throws: HealthParameters.ParameterError.self) { try HealthParameters(assignments: bad) }
            do { _ = try HealthParameters(assignments: bad) } catch { #expect(error.description.contains(says), "\(bad): \(error)") }
        }
        // The parameters reach the model: a higher edge factor gives a proportionally higher edge.
        let table = pumpTable(rows: 600, seed: 3)
        let base = try HealthModel.train(sensors: table.sensors, rows: table.rows, parameters: .init())
        let wider = try HealthModel.train(sensors: table.sensors, rows: table.rows,
                                          parameters: try HealthParameters(assignments: "thresholdFactor=7"))
        #expect(abs(wider.threshold / base.threshold - 2) < 1e-12)
    }

    @Test func alarmAlwaysAgreesWithTheNumberAndDoesNotFlicker() {
        let bands = HealthBands()
        var status = HealthStatus.ok
        var noise = Noise(state: 9)
        var changes = 0
        for t in 0..<20_000 {
            // A health hovering around the alarm edge.
            let h = 50 + 3 * noise.next() + 10 * sin(Double(t) / 2000)
            let next = bands.status(health: h, current: status)
            if next != status { changes += 1 }
            status = next
            if h <= bands.warning { #expect(status == .alarm) }
            if status == .alarm { #expect(h <= bands.warning + bands.hysteresis) }
        }
        #expect(changes < 60, "\(changes) status changes")
    }

    @Test func silentSensorsLowerConfidenceAndNeverReadAsHealthy() throws {
        let table = pumpTable(rows: 700, seed: 2) { t in t >= 500 ? (2, 2.0) : nil }
        let model = try HealthModel.train(sensors: table.sensors, rows: Array(table.rows[..<400]))
        var scorer = HealthScorer(model: model, fullConfidenceRows: 400)
        for r in table.rows[..<600] { _ = scorer.score(r) }
        let before = scorer.score(table.rows[600])
        #expect(before.status == .alarm && before.confidence == 1)
        // The faulty sensor goes silent: its last smoothed value stays, so health stays low.
        var silent: HealthScore?
        for r in table.rows[601...] { silent = scorer.score([r[0], r[1], nil, r[3]]) }
        #expect(silent!.health <= 50)
        #expect(silent!.confidence == 0.75)
    }

    @Test func commissioningConfidenceGrowsWithData() throws {
        let table = pumpTable(rows: 400, seed: 3)
        let small = try HealthModel.train(sensors: table.sensors, rows: Array(table.rows[..<100]))
        var a = HealthScorer(model: small, fullConfidenceRows: 400)
        #expect(abs(a.score(table.rows[200]).confidence - 0.25) < 1e-12)
        #expect(throws: HealthModel.TrainingError.self) { try HealthModel.train(sensors: table.sensors, rows: Array(table.rows[..<10])) }
    }

    @Test func aSensorConstantDuringCommissioningStillScoresFinitely() throws {
        var table = pumpTable(rows: 600, seed: 4)
        for i in 0..<600 { table.rows[i][2] = i < 450 ? 32.0 : 30.0 } // a setpoint that moves once
        let model = try HealthModel.train(sensors: table.sensors, rows: Array(table.rows[..<400]))
        var scorer = HealthScorer(model: model)
        let scores = table.rows.map { scorer.score($0) }
        #expect(scores.allSatisfy { $0.health.isFinite && $0.severity.isFinite })
        #expect(scores[599].status == .alarm && scores[599].contributors.first?.sensor == "pressure")
    }

    @Test func aModelRoundTripsThroughJSONAndScoresIdentically() throws {
        let table = pumpTable(rows: 800, seed: 5) { t in t >= 600 ? (0, 8.0) : nil }
        let model = try HealthModel.train(sensors: table.sensors, rows: Array(table.rows[..<400]))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let loaded = try JSONDecoder().decode(HealthModel.self, from: encoder.encode(model))
        #expect(loaded == model)
        let a = try Replay.run(table, model: model).csv, b = try Replay.run(table, model: loaded).csv
        #expect(a == b)
    }

    @Test func pow2IsAccurate() {
        let s = HealthScorer(model: try! HealthModel.train(sensors: ["a"], rows: (0..<50).map { [Double($0)] }))
        for x in stride(from: -60.0, through: 3, by: 0.37) {
            let want = Foundation.pow(2.0, x)
            #expect(abs(s.pow2(x) - want) <= 1e-13 * want)
        }
        #expect(s.pow2(-2000) == 0)
    }
}

@Suite struct ReplayTests {
    @Test func replayIsCausalAndDeterministic() throws {
        let table = pumpTable(rows: 1000, seed: 6) { t in t >= 700 ? (3, 12.0) : nil }
        let full = try Replay.run(table).csv
        #expect(try Replay.run(table).csv == full)
        let lines = full.split(separator: "\n")
        #expect(lines.count == 1001)
        for k in [401, 650, 999] {
            var prefix = table
            prefix.timestamps = Array(table.timestamps[..<k])
            prefix.rows = Array(table.rows[..<k])
            let part = try Replay.run(prefix).csv.split(separator: "\n")
            #expect(part == Array(lines[..<(k + 1)]), "prefix \(k) differs")
        }
        #expect(lines[1] == "1700000000,,0,,commissioning,,,")
        #expect(lines[0] == Substring(Replay.header))
        // temp jumps 12 (far beyond anything it read while commissioned) from row 700 while nothing
        // else moves: a sensor fault, left out of the score — the machine is not alarmed, and the
        // sensor_faults column says why.
        let last = lines[1000].split(separator: ",", omittingEmptySubsequences: false)
        #expect(last[2] == "0" && last[7] == "temp:out_of_range", "\(lines[1000])")
        // Believed, the same sensor alarms the machine with temp as the cause.
        var trusting = Replay.Options()
        trusting.judgeSensors = false
        let believed = try Replay.run(table, options: trusting).csv.split(separator: "\n")[1000].split(separator: ",", omittingEmptySubsequences: false)
        #expect(believed[2] == "1" && believed[4] == "alarm" && believed[6].hasPrefix("temp:") && believed[7].isEmpty)
    }

    @Test func referenceCommissioningScoresFromTheFirstRow() throws {
        let reference = pumpTable(rows: 500, seed: 7)
        let machine = pumpTable(rows: 50, seed: 8)
        let lines = try Replay.run(machine, reference: reference).csv.split(separator: "\n")
        #expect(lines.count == 51)
        #expect(!lines[1].contains("commissioning"))
    }

    @Test func tablesParseWithMissingCellsAndNameBadLines() throws {
        let t = try SensorTable.parse("timestamp,a,b\r\n1,1.5,\n2,,2e3\n\n")
        #expect(t.sensors == ["a", "b"] && t.rows == [[1.5, nil], [nil, 2000]] && t.timestamps == ["1", "2"])
        #expect(t.rows(for: ["b", "c"]) == [[nil, nil], [2000, nil]])
        for (text, line) in [("timestamp,a\n1,x\n", 2), ("timestamp,a\n1,1\n2,1,3\n", 3), ("timestamp,a,a\n", 1), ("", 1), ("timestamp\n", 1), ("timestamp,a\n1,inf\n", 2)] {
            do {
                _ = try SensorTable.parse(text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.line == line, "\(text): \(error)")
            }
        }
        #expect(Replay.fixed(0.1234565, 6) == "0.123457" || Replay.fixed(0.1234565, 6) == "0.123456")
        #expect(Replay.fixed(-0.0000001, 3) == "0.000")
        #expect(Replay.fixed(100, 2) == "100.00")
        #expect(Replay.fixed(-2.5, 1) == "-2.5")
    }
}

@Suite struct RetrainingTests {
    @Test func pageHinkleyFiresOnAShiftAndNotOnNoise() {
        var ph = PageHinkley(delta: 0.05, lambda: 10)
        var noise = Noise(state: 1)
        var falseFires = 0
        for _ in 0..<5000 where ph.add(0.3 + 0.1 * noise.next()) { falseFires += 1 }
        #expect(falseFires == 0)
        var fired: Int?
        for i in 0..<500 where fired == nil {
            if ph.add(0.8 + 0.1 * noise.next()) { fired = i }
        }
        #expect(fired != nil && fired! < 50, "fired after \(fired ?? -1) shifted rows")
    }

    @Test func gatePromotesAModelOfTheNewRegimeAndRejectsABlindOne() throws {
        // The plant moved to a new operating point: the old model false-alarms on normal rows.
        let old = pumpTable(rows: 400, seed: 11)
        var recent = pumpTable(rows: 600, seed: 12)
        for i in 0..<recent.rows.count { recent.rows[i][2] = recent.rows[i][2].map { $0 + 1.5 } }
        let active = try HealthModel.train(sensors: old.sensors, rows: old.rows)
        let candidate = try HealthModel.train(sensors: recent.sensors, rows: Array(recent.rows[..<480]))
        let heldOut = Array(recent.rows[480...])
        let good = RetrainGate.evaluate(active: active, candidate: candidate, heldOut: heldOut)
        #expect(good.promote, "\(good.reason)")
        #expect(good.metrics["candidateFalseAlarmRate"]! < good.metrics["activeFalseAlarmRate"]!)
        // A candidate trained on wildly noisy rows never alarms and cannot see an injected shift.
        var noisy = recent
        var n = Noise(state: 13)
        for i in 0..<noisy.rows.count { noisy.rows[i] = noisy.rows[i].map { $0.map { $0 * (1 + 0.5 * n.next()) } } }
        let blind = try HealthModel.train(sensors: noisy.sensors, rows: Array(noisy.rows[..<480]))
        let bad = RetrainGate.evaluate(active: candidate, candidate: blind, heldOut: heldOut)
        #expect(!bad.promote && bad.reason.contains("injected shifts"), "\(bad.reason) \(bad.metrics)")
    }
}
