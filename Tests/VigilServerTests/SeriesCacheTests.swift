import Testing
import VigilRollup
@testable import VigilServer

/// The series cache's budget counts the heap a chunk really holds (a soak found growth slack of
/// ≈ 50 % that the old count did not see).
@Suite struct SeriesCacheTests {
    @Test func aChunkHoldsWhatItRenderedAndCountsIt() {
        let buckets = (0..<60).map { m in
            Bucket(start: 1_700_000_000_000 + Int64(m) * 60_000,
                   stats: BucketStats(count: 60, sum: 1234.5678 * Double(m + 1), mean: 20.57613 + Double(m), m2: 3.25, min: 17.125, max: 24.0625))
        }
        let chunk = SeriesCache.Chunk(generation: 1, buckets: buckets[...])
        #expect(chunk.starts.count == 60 && chunk.offsets.count == 61 && chunk.offsets.last == chunk.bytes.count)
        // No growth slack is kept, and what is kept is counted.
        #expect(chunk.bytes.capacity < chunk.bytes.count + 64, "\(chunk.bytes.capacity) for \(chunk.bytes.count) bytes")
        #expect(chunk.starts.capacity <= 64 && chunk.offsets.capacity <= 64)
        #expect(chunk.footprint >= chunk.bytes.capacity + (chunk.starts.capacity + chunk.offsets.capacity) * 8)
        // Each bucket is one JSON object followed by a comma.
        let first = String(decoding: chunk.bytes[chunk.offsets[0]..<chunk.offsets[1]], as: UTF8.self)
        #expect(first.hasPrefix("{") && first.hasSuffix("},") && first.contains("\"ts\":1700000000000"), "\(first)")
    }
}
