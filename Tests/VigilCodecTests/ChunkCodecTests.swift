import Foundation
import Testing
import VigilCore
@testable import VigilCodec

extension SplitMix64 {
    mutating func gaussian() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

func roundTrip(_ c: SeriesColumns, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
    let bytes = ChunkCodec.encode(c)
    let d = try ChunkCodec.decode(bytes)
    #expect(d.ts == c.ts, sourceLocation: sourceLocation)
    #expect(d.values.map(\.bitPattern) == c.values.map(\.bitPattern), sourceLocation: sourceLocation)
    #expect(d.seq == c.seq, sourceLocation: sourceLocation)
    #expect(try bytes.withUnsafeBytes { try ChunkCodec.count(of: $0) } == c.count, sourceLocation: sourceLocation)
    return bytes
}

/// Sensor-like data: 1 Hz (with jitter), a slow level plus Gaussian noise, three decimals.
func plantSeries(n: Int, jitterMillis: Int64, noise: Double, seed: UInt64) -> SeriesColumns {
    var rng = SplitMix64(seed: seed)
    var c = SeriesColumns()
    var t: Int64 = 1_764_000_000_000
    for i in 0..<n {
        let level = 45 + 5 * cos(Double(i) / 3600)
        let v = ((level + noise * rng.gaussian()) * 1000).rounded() / 1000
        c.append(ts: t + (jitterMillis > 0 ? Int64.random(in: -jitterMillis...jitterMillis, using: &rng) : 0), value: v, seq: Int64(i + 1))
        t += 1000
    }
    return c
}

@Suite struct ChunkCodecTests {
    @Test func emptyAndTinyChunks() throws {
        _ = try roundTrip(SeriesColumns())
        _ = try roundTrip(SeriesColumns(ts: [5], values: [1.5], seq: [nil]))
        _ = try roundTrip(SeriesColumns(ts: [5, 7], values: [-0.0, 2], seq: [1, nil]))
        _ = try roundTrip(SeriesColumns(ts: [5, 7, 1_000], values: [1, 2, 3], seq: [nil, nil, 9]))
    }

    @Test func plantDataIsSmallAndExact() throws {
        let regular = try roundTrip(plantSeries(n: 21_600, jitterMillis: 0, noise: 0.2, seed: 1))
        // σ = 200 mantissa units: the Gaussian's entropy is log2(200·√(2πe)) ≈ 9.7 bits a value.
        #expect(Double(regular.count * 8) / 21_600 < 10.5)
        let jittered = try roundTrip(plantSeries(n: 21_600, jitterMillis: 20, noise: 0.2, seed: 2))
        #expect(Double(jittered.count * 8) / 21_600 < 10.5 + 7)
    }

    @Test func adversarialDoublesAreBitExact() throws {
        let specials: [Double] = [0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude,
                                  .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .infinity, -.infinity, .nan,
                                  Double(bitPattern: 0x7FF8_0000_0000_0001), 1e308, 1e-308, 0.1, 0.2, 0.30000000000000004,
                                  9_007_199_254_740_993, 9_007_199_254_740_992, -9_007_199_254_740_992, 1e15 + 0.3, 123456.789012,
                                  .pi, -.pi, 1.0 / 3, 5e-324, 2.2250738585072009e-308]
        var rng = SplitMix64(seed: 42)
        for trial in 0..<200 {
            let n = Int.random(in: 1...700, using: &rng)
            var c = SeriesColumns()
            var t = Int64.random(in: -1_000_000_000_000...4_000_000_000_000, using: &rng)
            for _ in 0..<n {
                let v: Double = switch Int.random(in: 0..<6, using: &rng) {
                case 0: specials.randomElement(using: &rng)!
                case 1: Double(bitPattern: rng.next())  // any bits, NaN payloads included
                case 2: (Double.random(in: -1e6...1e6, using: &rng) * 1000).rounded() / 1000
                case 3: Double(Int64.random(in: -1_000_000...1_000_000, using: &rng)) / 10
                case 4: Double.random(in: -1...1, using: &rng)
                default: trial % 2 == 0 ? 21.5 : Double(Int.random(in: -3...3, using: &rng))
                }
                // Timestamps: regular, jittered, huge jumps and wrap-around differences.
                t = t &+ (Int.random(in: 0..<10, using: &rng) == 0 ? Int64.random(in: Int64.min / 4...Int64.max / 4, using: &rng)
                                                                    : 1000 + Int64.random(in: -3...3, using: &rng))
                let s: Int64? = Bool.random(using: &rng) ? Int64.random(in: Int64.min...Int64.max, using: &rng) : nil
                c.append(ts: t, value: v, seq: s)
            }
            _ = try roundTrip(c)
        }
    }

    @Test func everyValueModeRoundTrips() throws {
        var rng = SplitMix64(seed: 7)
        // Mostly not decimals: the plain mode.
        let noise = (0..<1_000).map { _ in Double.random(in: 0..<1, using: &rng) }
        let plain = try roundTrip(SeriesColumns(ts: Array(0..<1_000), values: noise, seq: Array(repeating: nil, count: 1_000)))
        #expect(plain.count >= 8_000)
        // Smooth ramps pick the linear predictor, counters the delta predictor; both tiny.
        let ramp = (0..<5_000).map { Double($0) * 0.25 }
        let r = try roundTrip(SeriesColumns(ts: Array(0..<5_000).map { $0 * 1000 }, values: ramp, seq: Array(1...5_000)))
        #expect(r.count < 5_000 / 4)
        // Integers beyond 2^53 and a constant.
        let big = (0..<300).map { _ in Double(Int64.random(in: 1 << 60...1 << 62, using: &rng)) }
        _ = try roundTrip(SeriesColumns(ts: Array(0..<300), values: big, seq: Array(repeating: 3, count: 300)))
        _ = try roundTrip(SeriesColumns(ts: Array(0..<300), values: Array(repeating: 7.125, count: 300), seq: Array(repeating: nil, count: 300)))
    }

    @Test func decodingAppendsAndCanSkipSeq() throws {
        let a = plantSeries(n: 500, jitterMillis: 3, noise: 1, seed: 3)
        let b = plantSeries(n: 300, jitterMillis: 0, noise: 0.01, seed: 4)
        var out = SeriesColumns()
        for c in [a, b] {
            let bytes = ChunkCodec.encode(c)
            try bytes.withUnsafeBytes { try ChunkCodec.decode($0, into: &out, withSeq: false) }
        }
        #expect(out.ts == a.ts + b.ts)
        #expect(out.values == a.values + b.values)
        #expect(out.seq.isEmpty)
    }

    @Test func damagedChunksThrowAndNeverCrash() throws {
        let good = ChunkCodec.encode(plantSeries(n: 2_000, jitterMillis: 5, noise: 0.3, seed: 5))
        var rng = SplitMix64(seed: 9)
        var failures = 0
        for i in 0..<2_000 {
            var bad = good
            switch i % 3 {
            case 0: bad = Array(bad.prefix(Int.random(in: 0..<bad.count, using: &rng)))
            case 1: for _ in 0..<4 { bad[Int.random(in: 0..<bad.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            default: bad = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
            do { _ = try ChunkCodec.decode(bad) } catch { failures += 1 }
        }
        #expect(failures > 600)  // every truncation throws; flipped bits may decode to other numbers
    }
}

@Suite struct ColumnTableTests {
    @Test func tablesRoundTripBitExact() throws {
        var rng = SplitMix64(seed: 3)
        for rows in [0, 1, 2, 3, 1440, 2000] {
            let ints: [[Int64]] = [(0..<rows).map { Int64($0) * 60_000 + 1_709_164_800_000 }, (0..<rows).map { _ in Int64.random(in: 1...60, using: &rng) }]
            let doubles: [[Double]] = [(0..<rows).map { _ in Double.random(in: -1e3...1e3, using: &rng) },
                                       (0..<rows).map { _ in (Double.random(in: 0...100, using: &rng) * 1000).rounded() / 1000 }, []].filter { !$0.isEmpty || rows == 0 }
            let bytes = ColumnTable.encode(integers: ints, doubles: doubles)
            let back = try bytes.withUnsafeBytes { try ColumnTable.decode($0) }
            #expect(back.integers == ints)
            #expect(back.doubles.map { $0.map(\.bitPattern) } == doubles.map { $0.map(\.bitPattern) })
        }
    }
}
