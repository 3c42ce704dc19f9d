import Foundation
import Testing
import VigilAPI
import VigilCore

@Suite struct APITypesTests {
    @Test func seriesJSONRoundTripsThroughJSONDecoder() throws {
        var rng = SplitMix64(seed: 5)
        let points = (0..<200).map { i in
            API.SeriesPoint(ts: 1_764_000_000_000 + Int64(i) * 60_000, count: i + 1,
                            mean: Double.random(in: -1e6...1e6, using: &rng), min: -1e-300, max: 1.5e300,
                            sum: Double(i) * 0.1, stddev: Double.random(in: 0...1e-5, using: &rng))
        }
        let bytes = API.SeriesPoint.jsonArray(points)
        #expect(try JSONDecoder().decode([API.SeriesPoint].self, from: Data(bytes)) == points)
        #expect(API.SeriesPoint.jsonArray([]) == Array("[]".utf8))
        let overflowed = API.SeriesPoint(ts: 0, count: 2, mean: .infinity, min: 1e308, max: 1.7e308, sum: .infinity, stddev: .nan)
        let text = String(decoding: API.SeriesPoint.jsonArray([overflowed]), as: UTF8.self)
        #expect(text == #"[{"ts":0,"count":2,"mean":null,"min":1e+308,"max":1.7e+308,"sum":null,"stddev":null}]"#)
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [Any])
    }

    @Test func machinesJSONRoundTripsThroughJSONDecoder() throws {
        let machines = [
            API.Machine(id: "plant1/line2/press7", sensors: ["temp", "vib"], lastSeen: 1_764_000_000_000, health: 87.25, status: .ok),
            API.Machine(id: "odd\"id\\\u{1}", sensors: [], lastSeen: 0),
        ]
        let bytes = API.Machine.jsonArray(machines)
        #expect(try JSONDecoder().decode([API.Machine].self, from: Data(bytes)) == machines)
        #expect(API.Machine.jsonArray([]) == Array("[]".utf8))
    }
}
