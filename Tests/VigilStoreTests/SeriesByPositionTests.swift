import Testing
import VigilCore
@testable import VigilStore

@Suite struct SeriesByPositionTests {
    /// Whatever the messages' shapes, every reading gets the series its names say (the dictionary's
    /// answer); a machine that repeats itself is answered by position, without asking.
    @Test func everyReadingGetsItsSeriesAndRepeatsAreNotAsked() throws {
        var rng = SplitMix64(seed: 5)
        var byPosition = SeriesByPosition<Int>()
        var dictionary: [String: Int] = [:]
        var asked = 0
        func ids(_ readings: [Reading]) -> [Int] {
            byPosition.ids(of: readings) { r in
                asked += 1
                return dictionary[r.machine + "|" + r.sensor, default: dictionary.count]
            }
        }
        func note(_ readings: [Reading]) { for r in readings { dictionary[r.machine + "|" + r.sensor] = dictionary[r.machine + "|" + r.sensor] ?? dictionary.count } }
        let sensors = ["temp", "vib", "current", "pressure", "flow", "rpm", "bearing_temp", "ambient"]
        func line(_ machine: String, _ names: [String]) -> [Reading] { names.map { Reading(machine: machine, sensor: $0, ts: 0, value: 0) } }
        // A line-protocol line: asked once per series, then never again.
        for machine in ["a", "b"] { note(line(machine, sensors)) }
        for _ in 0..<3 {
            for machine in ["a", "b"] { #expect(ids(line(machine, sensors)) == line(machine, sensors).map { dictionary[$0.machine + "|" + $0.sensor]! }) }
        }
        #expect(asked == 16, "asked \(asked) times for 16 series")
        // A batch of multi-sensor ticks starts over at its first sensor; a batch of one series stays put.
        asked = 0
        let ticks = (0..<25).flatMap { _ in line("a", Array(sensors.prefix(4))) }
        _ = ids(ticks)
        #expect(ids(ticks) == ticks.map { dictionary[$0.machine + "|" + $0.sensor]! } && asked <= 4)
        let one = line("c", Array(repeating: "s", count: 100))
        note(one)
        asked = 0
        #expect(ids(one) == Array(repeating: dictionary["c|s"]!, count: 100) && asked == 1)
        // Random shapes: sensors dropped, reordered, machines interleaved within a message.
        for _ in 0..<2_000 {
            var readings: [Reading] = []
            for _ in 0..<Int(rng.next() % 12) {
                let machine = ["a", "b", "c", "d"][Int(rng.next() % 4)]
                readings.append(Reading(machine: machine, sensor: sensors[Int(rng.next() % 8)], ts: 0, value: 0))
            }
            note(readings)
            #expect(ids(readings) == readings.map { dictionary[$0.machine + "|" + $0.sensor]! })
        }
        // A forgotten machine's series are asked again.
        byPosition.forget(machine: "a")
        asked = 0
        _ = ids(line("a", sensors))
        #expect(asked == 8)
    }
}
