import Testing
import VigilCore

@Suite struct SequenceTrackerTests {
    @Test func gapsLateFillsDuplicatesAndRestarts() {
        var t = SequenceTracker()
        for s: Int64 in 1...5 { #expect(t.observe(seq: s, ts: s * 1000) == .next) }
        #expect(t.observe(seq: 9, ts: 9000) == .gap(3))  // 6, 7, 8 missing
        #expect(t.missing == 3)
        #expect(t.observe(seq: 7, ts: 7000) == .late)  // a late arrival fills the middle
        #expect(t.missing == 2 && t.late == 1 && t.gaps == [6...6, 8...8])
        #expect(t.observe(seq: 7, ts: 7000) == .duplicate)
        #expect(t.observe(seq: 9, ts: 9000) == .duplicate)
        #expect(t.duplicates == 2)
        // The device restarts: its counter begins again, with newer timestamps. Not a loss.
        #expect(t.observe(seq: 1, ts: 20_000) == .restart)
        #expect(t.observe(seq: 2, ts: 21_000) == .next)
        #expect(t.restarts == 1 && t.missing == 2 && t.gaps.isEmpty)
        // A renumbered device (a huge jump) is a restart too.
        #expect(t.observe(seq: 50_000_000_000, ts: 22_000) == .restart)
        #expect(t.missing == 2)
    }

    /// A random numbered stream with drops, redeliveries and reordering: the missing count equals
    /// exactly the numbers that never arrived.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func missingEqualsWhatNeverArrived(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let n: Int64 = 5_000
        var arrivals: [Int64] = []
        for s in 1...n where Int.random(in: 0..<100, using: &rng) >= 3 {  // 3 % dropped
            arrivals.append(s)
            if Int.random(in: 0..<100, using: &rng) < 2 { arrivals.append(s) }  // redelivered
        }
        // Some arrive late, a few places later (not the first: numbering starts where it is first seen).
        for i in stride(from: 10, to: arrivals.count - 5, by: 37) { arrivals.swapAt(i, i + Int.random(in: 1...4, using: &rng)) }
        var t = SequenceTracker()
        for s in arrivals { t.observe(seq: s, ts: s * 1000) }
        let neverArrived = n - Int64(Set(arrivals).count)
        // A drop after the last arrival is not yet visible as a gap.
        let tail = n - (arrivals.max() ?? 0)
        #expect(t.missing == neverArrived - tail)
        #expect(t.duplicates == Int64(arrivals.count - Set(arrivals).count))
        #expect(t.restarts == 0)
    }

    @Test func gapsRoundTripAsText() {
        let gaps: [ClosedRange<Int64>] = [-5 ... -3, 7...7, 10...12]
        let t = SequenceTracker(highest: 20, highestTs: 0, missing: 5, duplicates: 0, late: 0, restarts: 0, gaps: gaps)
        #expect(SequenceTracker.gaps(fromText: t.gapsText) == gaps)
        #expect(SequenceTracker.gaps(fromText: "") == [])
    }
}

@Suite struct GapMinutesTests {
    @Test func missingReadingsLandInTheMinutesTheyWouldHaveFallenIn() {
        // 1 Hz: readings at 0…59 s of minute 0 arrived up to 29 s, then 150 s later: 30…149 s missing
        // (120 readings: 30 in minute 0, 60 in minute 1, 30 in minute 2).
        let parts = SequenceTracker.minutesOfGap(count: 120, from: 29_000, to: 150_000)
        #expect(parts.map(\.minute) == [0, 60_000, 120_000])
        #expect(parts.map(\.missing) == [30, 60, 30])
        // Always exactly the count, whatever the spacing.
        for (n, a, b) in [(1 as Int64, 0 as Int64, 5 as Int64), (7, 0, 1_000_000), (1_000, -90_000, 3_000), (3, 10, 10)] {
            #expect(SequenceTracker.minutesOfGap(count: n, from: a, to: b).reduce(0) { $0 + $1.missing } == n)
        }
    }
}
