import Foundation
import Testing
import VigilCore
@testable import VigilHealth

/// One sensor alone taking its machine out of `ok` while the rest of the machine is `ok`: health
/// asks about it (`HealthScorer.score(_:alone:)`), and the detector believes the lone witness for
/// half an hour before leaving a sensor that crept there out (`SensorFaultDetector.noteAlone`).
@Suite struct LoneWitnessTests {
    typealias Machine = SensorFaultDetectorTests

    static func model() throws -> HealthModel {
        var rng = SplitMix64(seed: 3)
        var rows: [[Double?]] = []
        for i in 0..<600 { rows.append(Machine.healthy(i * 6, &rng).map { $0 }) }
        return try HealthModel.train(sensors: Machine.sensors, rows: rows)
    }

    /// Scores 300 rows of the healthy machine with `change` applied (row, sensor, value); the
    /// sensors health asked about, and the worst health with each answer.
    static func score(_ model: HealthModel, hold: Bool, _ change: (Int, Int, Double) -> Double) -> (asked: Set<Int>, worst: Double, held: Set<Int>) {
        var rng = SplitMix64(seed: 4)
        var scorer = HealthScorer(model: model)
        var asked = Set<Int>(), held = Set<Int>()
        var worst = 100.0
        for i in 600..<900 {
            let row: [Double?] = Machine.healthy(i * 6, &rng).enumerated().map { j, x in change(i - 600, j, x) }
            let s = scorer.score(row) { j in
                asked.insert(j)
                return hold
            }
            if let j = scorer.heldAlone { held.insert(j) }
            worst = min(worst, s.health)
        }
        return (asked, worst, held)
    }

    @Test func healthAsksAboutASensorThatAloneTakesTheMachineOutOfOk() throws {
        let model = try Self.model()
        // Flow creeps away from what the load predicts for it (a third of its range in 300 rows).
        let creep: (Int, Int, Double) -> Double = { k, j, x in j == 1 ? x - 0.1 * Double(k) : x }
        let believed = Self.score(model, hold: false, creep)
        #expect(believed.asked == [1], "flow, and only flow, is the lone witness")
        #expect(believed.worst < 50, "believed, it alarms the machine (\(believed.worst))")
        #expect(believed.held.isEmpty)
        let held = Self.score(model, hold: true, creep)
        #expect(held.held == [1])
        #expect(held.worst >= 60, "left out, the rest of the machine is ok (\(held.worst))")
        #expect(held.asked == [1])

        // Two sensors off together: nobody alone, and it alarms.
        let two = Self.score(model, hold: true) { k, j, x in j == 1 ? x - 0.1 * Double(k) : j == 2 ? x + 0.004 * Double(k) : x }
        #expect(two.worst < 50, "\(two.worst)")
    }

    /// A held witness survives a restart, and a health round (each starts a scorer from the
    /// saved state): the state names it and how long the rest has been below `ok`, so the rest
    /// still answers for it from the `watch` edge and the scores go on as in one run (forgotten,
    /// the next row would ask from the stricter `ok` edge again — this fails then).
    @Test func aHeldWitnessIsKeptAcrossARestart() throws {
        let model = try Self.model()
        var rng = SplitMix64(seed: 4)
        let rows: [[Double?]] = (600..<900).map { i in
            Machine.healthy(i * 6, &rng).enumerated().map { j, x in j == 1 ? x - 0.1 * Double(i - 600) : x }
        }
        func run(restartAt cut: Int?) throws -> (scores: [HealthScore], held: [Bool]) {
            var scorer = HealthScorer(model: model)
            var out: [HealthScore] = [], held: [Bool] = []
            for (k, row) in rows.enumerated() {
                if k == cut {
                    let saved = try JSONDecoder().decode(HealthScorer.State.self, from: JSONEncoder().encode(scorer.state))
                    #expect(saved.heldAlone == 1)
                    scorer = HealthScorer(model: model)
                    scorer.state = saved
                }
                out.append(scorer.score(row) { _ in true })
                held.append(scorer.heldAlone == 1)
            }
            return (out, held)
        }
        let straight = try run(restartAt: nil)
        let heldRows = straight.held.indices.filter { straight.held[$0] }
        #expect(heldRows.count > 50)
        for cut in stride(from: heldRows[0] + 1, to: heldRows.last!, by: 10) where straight.held[cut - 1] {
            #expect(try run(restartAt: cut).scores == straight.scores, "restarted at row \(cut)")
        }
    }

    @Test func aCreepingLoneWitnessIsHeldAfterHalfAnHourAndASteppedOneIsNot() {
        var (d, rng) = Machine.commissioned()
        let half = d.settings.driftAfter / 2
        // Readings as commissioned, then minutes in which health finds flow alone.
        _ = Machine.run(&d, &rng, samples: 360)
        let start = (8640 + 360) * Machine.step
        var heldFrom: Int64?
        for m in 0..<45 {
            let from = start + Int64(m) * 60_000
            if d.noteAlone(1, from: from, to: from + 60_000), heldFrom == nil { heldFrom = from - start }
        }
        #expect(heldFrom == half, "believed for half an hour, then held")
        #expect(d.tracks[1].state == .suspect && d.tracks[1].suspect == .drift)
        // A gap longer than a streak survives starts the half hour again.
        let later = start + 45 * 60_000 + d.settings.driftGap + 60_000
        let again = d.noteAlone(1, from: later, to: later + 60_000)
        #expect(!again)

        // A sensor that stepped within `driftAfter` may be the machine's: never held.
        var (e, rng2) = Machine.commissioned()
        _ = Machine.run(&e, &rng2, samples: 360) { k, j, x in j == 3 && k >= 300 ? x + 6 : x }
        var held = false
        for m in 0..<45 {
            let from = start + Int64(m) * 60_000
            held = held || e.noteAlone(3, from: from, to: from + 60_000)
        }
        #expect(!held)
        #expect(e.tracks[3].fault == nil, "not held for its step, not for a fault")
    }
}
