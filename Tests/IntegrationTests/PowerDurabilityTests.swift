import Foundation
import Testing
import VigilAPI
import VigilCore

/// `ingest.durability = "power"`: no PUBACK leaves before the journal bytes of its readings were
/// synced (`fdatasync`), seen in the system calls vigild makes (recorded by strace). The same
/// check run on the default mode (`process`, no sync) finds acknowledgements of unsynced bytes,
/// so the check can fail.
@Suite(.serialized) struct PowerDurabilityTests {
    struct Ordering {
        var pubacks = 0
        /// PUBACKs a thread sent while its last journal write had not been covered by a sync of
        /// that segment that began after the write completed.
        var unsynced = 0
        var syncs = 0
        var journalWrites = 0
    }

    /// Reads an `strace -f -e trace=openat,write,sendto,fdatasync` log of vigild, thread by
    /// thread (a PUBACK goes out on the thread whose message callback journaled the record; with
    /// several sessions and group commit another thread's sync may cover it).
    static func ordering(_ trace: String) -> Ordering {
        var journal = Set<Substring>()
        var lastWrite: [Substring: (line: Int, fd: Substring)] = [:]   // per thread: its last journal write, completed at line
        var pendingWrite: [Substring: Substring] = [:]
        var pendingSync: [Substring: (line: Int, fd: Substring)] = [:]
        var syncedFrom: [Substring: Int] = [:]   // per fd: the latest start line of a completed sync
        var o = Ordering()
        func fd(after call: String, in line: Substring) -> Substring? {
            guard let r = line.range(of: call + "(") else { return nil }
            return line[r.upperBound...].prefix { $0.isNumber }
        }
        func covered(_ pid: Substring) -> Bool {
            guard let w = lastWrite[pid] else { return true }
            return (syncedFrom[w.fd] ?? -1) > w.line
        }
        for (n, line) in trace.split(separator: "\n").enumerated() {
            let pid = line.prefix { $0.isNumber }
            if line.contains("openat("), line.contains("-ingest."), let eq = line.range(of: ") = ", options: .backwards) {
                journal.insert(line[eq.upperBound...].prefix { $0.isNumber })
            } else if let f = fd(after: "fdatasync", in: line), journal.contains(f) {
                if line.hasSuffix("= 0") {
                    syncedFrom[f] = max(syncedFrom[f] ?? -1, n)
                    o.syncs += 1
                } else if line.contains("<unfinished") {
                    pendingSync[pid] = (n, f)
                }
            } else if line.contains("<... fdatasync resumed>"), line.hasSuffix("= 0"), let started = pendingSync.removeValue(forKey: pid) {
                syncedFrom[started.fd] = max(syncedFrom[started.fd] ?? -1, started.line)
                o.syncs += 1
            } else if line.contains("<... write resumed>"), let f = pendingWrite.removeValue(forKey: pid) {
                lastWrite[pid] = (n, f)
            } else if let f = fd(after: "write", in: line) ?? fd(after: "sendto", in: line) {
                if journal.contains(f) {
                    o.journalWrites += 1
                    if line.contains("<unfinished") { pendingWrite[pid] = f } else { lastWrite[pid] = (n, f) }
                } else if line.contains(", \"@\\2\\0") || line.contains(", \"@\\2\\1") {  // MQTT PUBACK: 0x40 0x02 id
                    o.pubacks += 1
                    if !covered(pid) { o.unsynced += 1 }
                }
            }
        }
        return o
    }

    func run(durability: String, sessions: Int = 1) async throws -> (Ordering, String) {
        let broker = try TestBroker()
        try await broker.waitReady()
        let dir = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trace = dir + "/strace.txt"
        let daemon = try TestDaemon(broker: broker, environment: ["VIGIL_INGEST_DURABILITY": durability, "VIGIL_INGEST_SESSIONS": "\(sessions)"],
                                    launcher: [try Harness.tool("strace"), "-f", "-qq", "-s", "8", "-e", "trace=openat,write,sendto,fdatasync", "-o", trace])
        try await daemon.waitReady()
        let total = 400
        let sim = try Harness.run(try Harness.product("vigil-sim"), ["load", "--broker", broker.url, "--readings", "\(total)", "--batch", "4",
                                                                      "--machines", "2", "--sensors", "2"])
        #expect(sim.status == 0, "\(sim.stderr)")
        try await Harness.waitUntil("all readings stored", seconds: 30) {
            try await Harness.getJSON(daemon.baseURL + "/healthz", as: API.DaemonStatus.self).readingsStored >= total
        }
        let (_, metrics) = try await Harness.get(daemon.baseURL + "/metrics")
        // strace's child is vigild: stop it (strace ends with it).
        let children = (try? String(contentsOfFile: "/proc/\(daemon.process.pid)/task/\(daemon.process.pid)/children", encoding: .utf8)) ?? ""
        if let vigild = children.split(separator: " ").first.flatMap({ pid_t($0) }) { kill(vigild, SIGTERM) }
        _ = await daemon.terminate(within: 15)
        return (Self.ordering((try? String(contentsOfFile: trace, encoding: .utf8)) ?? ""), String(decoding: metrics, as: UTF8.self))
    }

    @Test func noPubackBeforeItsReadingsAreSynced() async throws {
        let (power, metrics) = try await run(durability: "power")
        #expect(power.pubacks >= 100, "100 messages acknowledged: \(power)")
        #expect(power.unsynced == 0 && power.syncs >= power.pubacks, "\(power)")
        #expect(metrics.contains("vigil_ingest_journal_syncs_total "), "the syncs are counted")
        // The check sees the difference: without the sync, acknowledgements go out for bytes that
        // are only in the page cache.
        let (process, _) = try await run(durability: "process")
        #expect(process.pubacks >= 100 && process.unsynced > process.pubacks / 2 && process.syncs == 0, "\(process)")
    }

    /// Several MQTT sessions on a shared subscription: every PUBACK still follows a sync covering
    /// its thread's record, and concurrent appends share syncs (group commit).
    @Test func groupCommitAcrossSessionsStillSyncsBeforeEveryPuback() async throws {
        let (power, metrics) = try await run(durability: "power", sessions: 4)
        #expect(power.pubacks >= 100, "100 messages acknowledged: \(power)")
        #expect(power.unsynced == 0, "\(power)")
        #expect(metrics.contains("vigil_ingest_journal_syncs_total "))
    }
}
