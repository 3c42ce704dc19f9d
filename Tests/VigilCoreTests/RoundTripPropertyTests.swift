import Testing
@testable import VigilCore

/// Property: for random machines, sensors, times and finite values (extremes included), every
/// dialect that carries a timestamp decodes to exactly the readings that were encoded.
@Suite struct RoundTripPropertyTests {
    typealias Rng = SplitMix64

    static let idChars = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")
    static let now: Int64 = 1_764_000_000_000

    static func id(_ rng: inout Rng, maxLength: Int) -> String {
        while true {
            let s = String((0..<Int.random(in: 1...maxLength, using: &rng)).map { _ in idChars.randomElement(using: &rng)! })
            if s != "." && s != ".." { return s }
        }
    }

    static func machine(_ rng: inout Rng) -> String {
        (0..<Int.random(in: 1...3, using: &rng)).map { _ in id(&rng, maxLength: 12) }.joined(separator: "/")
    }

    static func value(_ rng: inout Rng) -> Double {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: return [0, -0.0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, 1e-300, 1e15, 123_456_789_012_345_678].randomElement(using: &rng)!
        case 1: return Double(Int64.random(in: -1_000_000...1_000_000, using: &rng))
        case 2: return Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &rng) & 0xFFEF_FFFF_FFFF_FFFF)  // finite
        default: return Double.random(in: -1e6...1e6, using: &rng)
        }
    }

    @Test(arguments: [PayloadFormat.json, .multi, .batch, .line])
    func encodeThenDecodeIsIdentity(_ format: PayloadFormat) {
        var rng = Rng(seed: 42 &+ UInt64(format.rawValue.utf8.count))
        let decoder = PayloadDecoder()
        for _ in 0..<300 {
            let machine = Self.machine(&rng)
            let sensors = Array(Set((0..<Int.random(in: 1...5, using: &rng)).map { _ in Self.id(&rng, maxLength: 16) }))
            var ts = Int64.random(in: Timestamp.earliestAccepted...Self.now, using: &rng)
            var samples: [Sample] = []
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                samples.append(Sample(ts: ts, seq: Int64.random(in: 0...1_000_000, using: &rng),
                                      values: sensors.map { ($0, Self.value(&rng)) }))
                ts = min(Self.now, ts + Int64.random(in: 1...100_000, using: &rng))
            }
            let expected = samples.flatMap { s in
                s.values.map { Reading(machine: machine, sensor: $0.sensor, ts: s.ts, value: $0.value, seq: format == .line ? nil : s.seq) }
            }
            var decoded: [Reading] = []
            for m in PayloadEncoder.encode(machine: machine, samples: samples, format: format) {
                let d = decoder.decode(topic: m.topic, payload: Array(m.payload.utf8), receivedAt: Self.now)
                #expect(d.rejections.isEmpty, "\(m.payload): \(d.rejections)")
                #expect(d.readings.count == m.readings)
                decoded += d.readings
            }
            // Same values bit for bit (so -0.0 stays -0.0 and extremes survive the text form).
            #expect(decoded.count == expected.count)
            for (a, b) in zip(decoded, expected) {
                #expect(a.machine == b.machine && a.sensor == b.sensor && a.ts == b.ts && a.seq == b.seq
                        && a.value.bitPattern == b.value.bitPattern, "\(a) vs \(b)")
            }
        }
    }

    @Test func scalarRoundTripsValuesAndStampsReceiveTime() {
        var rng = Rng(seed: 7)
        for _ in 0..<500 {
            let v = Self.value(&rng)
            let m = PayloadEncoder.encode(machine: "m", samples: [Sample(ts: 0, values: [("s", v)])], format: .scalar)[0]
            let d = PayloadDecoder().decode(topic: m.topic, payload: Array(m.payload.utf8), receivedAt: Self.now)
            #expect(d.readings.first?.value.bitPattern == v.bitPattern, "\(m.payload)")
            #expect(d.readings.first?.ts == Self.now)
        }
    }
}
