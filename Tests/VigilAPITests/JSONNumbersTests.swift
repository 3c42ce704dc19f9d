import Testing
import VigilAPI
import VigilCore

/// The series route writes its numbers without strings; the text must be what `description`
/// wrote before, character for character, so clients see the same bodies.
@Suite struct JSONNumbersTests {
    func text(_ v: Double) -> String {
        var out: [UInt8] = []
        JSONNumbers.append(v, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func text(_ v: Int64) -> String {
        var out: [UInt8] = []
        JSONNumbers.append(v, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func doublesAreWrittenAsTheirDescription() {
        var rng = SplitMix64(seed: 27)
        var values: [Double] = [0, -0.0, 1, -1, 5, 0.1, 0.2, 0.1 + 0.2, 0.001, 0.0001, 0.00009999, 1e-5, 2.5e-5, 123.456,
                                -43.974, 1e14, 999_999_999_999_999, 1e15, 1e15 - 0.5, 9_007_199_254_740_993, 1e16, 1e300,
                                .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, 0.5, 0.05, 10.10, 1e9 + 0.000_000_1]
        for digits in 0...12 {
            for _ in 0..<2_000 {
                // Decimals of every scale, as sensors print them, and their neighbours one ulp away.
                let m = Double(Int64.random(in: -99_999_999_999...99_999_999_999, using: &rng))
                let v = m / [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12][digits]
                values += [v, v.nextUp, v.nextDown]
            }
        }
        for _ in 0..<20_000 {
            values.append(Double(bitPattern: rng.next()))  // any bits: NaNs, infinities, subnormals
            values.append(Double.random(in: -1e6...1e6, using: &rng))
        }
        var mismatches: [String] = []
        for v in values {
            let expected = v.isFinite ? v.description : "null"
            if text(v) != expected { mismatches.append("\(v.bitPattern): \(text(v)) instead of \(expected)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test func integersAreWrittenAsTheirDescription() {
        var rng = SplitMix64(seed: 28)
        for v in [0, 1, -1, 9, 10, -10, .max, .min, 1_764_028_800_000] + (0..<10_000).map({ _ in Int64(bitPattern: rng.next()) >> (rng.next() % 64) }) {
            #expect(text(v) == v.description)
        }
    }
}
