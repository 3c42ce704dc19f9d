import Hummingbird
import Synchronization
import VigilAPI
import VigilCore
import VigilRollup
import VigilStore

/// Minute series as JSON, rendered an hour of one series at a time and shared by every request
/// until that series' minute rollups change.
///
/// Formatting doubles dominates a series answer (≈ 0.65 ms of CPU for a day of minutes), and
/// dashboards ask for the same days over and over. A chunk is valid while the series'
/// `rollup_gen` (bumped in the same transaction as every change to its minute rollups, by this
/// daemon or by `vigild --rebuild-rollups`) equals the generation it was rendered at; the
/// generation is read before the rows, so a chunk is never older than its label. A live series
/// is re-rendered at most once per rollup pass; a stale chunk is never served.
final class SeriesCache: Sendable {
    static let hour: Int64 = 3_600_000

    /// One hour of one series: each bucket's JSON object followed by a comma, back to back.
    struct Chunk: Sendable {
        var generation: Int64
        var starts: [Int64] = []
        /// Where each bucket's object begins in `bytes`, and one more: the end.
        var offsets: [Int] = [0]
        var bytes: [UInt8] = []

        init(generation: Int64, buckets: ArraySlice<Bucket>) {
            self.generation = generation
            bytes.reserveCapacity(buckets.count * 120)
            for b in buckets {
                API.SeriesPoint(ts: b.start, count: b.stats.count, mean: b.stats.mean, min: b.stats.min, max: b.stats.max,
                                sum: b.stats.sum, stddev: b.stats.stddev).appendJSON(to: &bytes)
                bytes.append(UInt8(ascii: ","))
                starts.append(b.start)
                offsets.append(bytes.count)
            }
            // Keep exactly what was written: appending grows an array's capacity up to twice its
            // contents, slack the budget would not see (a soak measured the cache's real heap at
            // ≈ 1.5× what it counted).
            bytes = Self.exact(bytes)
            starts = Self.exact(starts)
            offsets = Self.exact(offsets)
        }

        /// The heap this chunk holds: its three arrays' storage and headers, and its entry in the
        /// cache's dictionary.
        var footprint: Int { bytes.capacity + (starts.capacity + offsets.capacity) * 8 + 3 * 32 + 64 }

        static func exact<T>(_ a: [T]) -> [T] { a.withUnsafeBufferPointer { Array($0) } }

        /// The index of the first bucket starting at or after `t`.
        func index(of t: Int64) -> Int {
            var lo = 0, hi = starts.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if starts[mid] < t { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
    }

    struct Key: Hashable {
        var series: Int64
        var hour: Int64
    }

    private struct Entry {
        var chunk: Chunk
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    let budgetBytes: Int

    init(budgetBytes: Int = 64 << 20) {
        self.budgetBytes = budgetBytes
    }

    /// Counters for /metrics.
    let hits = Atomic<Int>(0)
    let misses = Atomic<Int>(0)
    var bytes: Int { state.withLock { $0.bytes } }

    /// The JSON array of the series' minute buckets in `[from, to)` (bucket starts), oldest
    /// first, at most `limit`; with how many there are and the last one's start. The chunks'
    /// bytes are copied once, into the response buffer.
    func minuteSeries(_ reader: StoreReader, _ extent: SeriesExtent, from: Int64, to: Int64, limit: Int) async throws
        -> (json: ByteBuffer, count: Int, last: Int64?) {
        var parts: [(chunk: Chunk, bytes: Range<Int>)] = []
        var size = 2
        var count = 0
        var last: Int64?
        if let first = extent.first, let final = extent.last {
            let lo = max(from, first), hi = min(to, final + BucketWidth.minute.rawValue)
            var hour = Self.hourStart(lo)
            while hour < hi && count < limit {
                // Up to two days of chunks at a time; the missing ones come from one query.
                let window = Array(stride(from: hour, to: min(hi, hour + 48 * Self.hour), by: Int(Self.hour)))
                var chunks = lookup(series: extent.id, hours: window, generation: extent.generation)
                let missing = chunks.indices.filter { chunks[$0] == nil }
                if let a = missing.first, let b = missing.last {
                    misses.add(missing.count, ordering: .relaxed)
                    let buckets = try await reader.minuteBuckets(seriesID: extent.id, from: window[a], to: window[b] + Self.hour)
                    var i = 0
                    for m in missing {
                        while i < buckets.count && buckets[i].start < window[m] { i += 1 }
                        var j = i
                        while j < buckets.count && buckets[j].start < window[m] + Self.hour { j += 1 }
                        let chunk = Chunk(generation: extent.generation, buckets: buckets[i..<j])
                        insert(Key(series: extent.id, hour: window[m]), chunk)
                        chunks[m] = chunk
                        i = j
                    }
                }
                hits.add(window.count - missing.count, ordering: .relaxed)
                for case let chunk? in chunks where count < limit {
                    let i0 = chunk.index(of: lo)
                    let i1 = min(chunk.index(of: hi), i0 + (limit - count))
                    guard i1 > i0 else { continue }
                    parts.append((chunk, chunk.offsets[i0]..<chunk.offsets[i1]))
                    size += chunk.offsets[i1] - chunk.offsets[i0]
                    count += i1 - i0
                    last = chunk.starts[i1 - 1]
                }
                hour = window[window.count - 1] + Self.hour
            }
        }
        var out = ByteBufferAllocator().buffer(capacity: size)
        out.writeInteger(UInt8(ascii: "["))
        for (i, part) in parts.enumerated() {
            // Each object is followed by a comma; the very last one's is left out.
            let bytes = i == parts.count - 1 ? part.bytes.dropLast() : part.bytes
            _ = part.chunk.bytes.withUnsafeBufferPointer { out.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[bytes]))) }
        }
        out.writeInteger(UInt8(ascii: "]"))
        return (out, count, last)
    }

    /// Forgets every chunk (after a machine is removed: SQLite may give a removed series' id to
    /// a new one, whose generation could repeat the old one's).
    func removeAll() {
        state.withLock { $0 = State() }
    }

    static func hourStart(_ t: Int64) -> Int64 {
        let q = t / hour
        return (t % hour < 0 ? q - 1 : q) * hour
    }

    private func lookup(series: Int64, hours: [Int64], generation: Int64) -> [Chunk?] {
        state.withLock { s in
            s.clock += 1
            return hours.map { h in
                let key = Key(series: series, hour: h)
                guard let e = s.entries[key], e.chunk.generation == generation else { return nil }
                s.entries[key]!.lastUse = s.clock
                return e.chunk
            }
        }
    }

    private func insert(_ key: Key, _ chunk: Chunk) {
        state.withLock { s in
            s.clock += 1
            if let old = s.entries[key] {
                guard old.chunk.generation <= chunk.generation else { return }  // a newer render got here first
                s.bytes -= old.chunk.footprint
            }
            s.entries[key] = Entry(chunk: chunk, lastUse: s.clock)
            s.bytes += chunk.footprint
            guard s.bytes > budgetBytes else { return }
            // Over budget: drop the least recently used until three quarters remain.
            for (k, e) in s.entries.sorted(by: { $0.value.lastUse < $1.value.lastUse }) where s.bytes > budgetBytes / 4 * 3 {
                s.entries[k] = nil
                s.bytes -= e.chunk.footprint
            }
        }
    }
}
