import CMalloc

/// What the C allocator holds for the process (glibc `mallinfo2`): bytes handed out and still
/// in use, and bytes freed but kept in its arenas (fragmentation or reuse pool). RSS minus these
/// is code, stacks and mapped files. Reported on `/metrics` so a soak run can tell a leak (in-use
/// grows) from allocator retention (free grows) from the database's own caches.
struct ProcessMemory: Sendable {
    var heapInUse: Int
    var heapFree: Int

    static func now() -> ProcessMemory {
        let info = mallinfo2()
        return ProcessMemory(heapInUse: Int(info.uordblks + info.hblkhd), heapFree: Int(info.fordblks))
    }
}
