import ArgumentParser
import Synchronization
import VigilCLI
import VigilCore
import VigilHealth
#if canImport(Glibc)
import Glibc
#endif

/// `vigil-sim replay`: publish a recorded CSV as one machine, at its recorded pace or faster.
struct ReplayCSV: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Publish a CSV (timestamp,<sensor>,…) as one machine, at the recorded pace or --speedup times faster.",
        discussion: """
            Timestamps may be epoch seconds or milliseconds, RFC 3339, or 'YYYY-MM-DD HH:MM:SS' (read as \
            UTC). With --start the whole recording is shifted so its first row lands at that time (the \
            gateway rejects readings before 2000 or more than 10 minutes in the future). Empty cells are \
            not sent. One message per row (--format multi or line) or per --batch rows (--format batch).
            """)

    @OptionGroup var broker: BrokerOptions

    @Option(help: "The CSV file.")
    var input: String

    @Option(help: "Machine id to publish as.")
    var machine: String

    @Option(help: "Recorded seconds per wall-clock second (0 = as fast as the broker acknowledges).")
    var speedup: Double = 1

    @Option(help: "Shift the recording so its first row is at this time (RFC 3339 or epoch ms).")
    var start: String?

    @Option(help: "Payload dialect: multi, line or batch.")
    var format: String = "multi"

    @Option(help: "Rows per message for --format batch.")
    var batch: Int = 60

    func validate() throws {
        guard KeyRules.isValidMachine(machine) else { throw ValidationError("--machine: '\(machine)' is not a valid machine id") }
        guard speedup >= 0 else { throw ValidationError("--speedup must be >= 0") }
        guard ["multi", "line", "batch"].contains(format) else { throw ValidationError("--format must be multi, line or batch") }
        guard batch >= 1 else { throw ValidationError("--batch must be >= 1") }
        if let start, Timestamp.millis(query: start) == nil { throw ValidationError("--start: '\(start)' is not RFC 3339 or epoch ms") }
    }

    /// Epoch seconds/ms by magnitude, RFC 3339, or a space-separated UTC date-time.
    static func time(_ s: String) -> Int64? {
        if let n = Int64(s) { return Timestamp.millis(fromEpoch: n) }
        if let d = Double(s) { return Timestamp.millis(fromEpoch: d) }
        if let t = Timestamp.millis(rfc3339: s) { return t }
        return Timestamp.millis(rfc3339: String(s.map { $0 == " " ? "T" : $0 }) + "Z")
    }

    func run() throws {
        installStopHandlers()
        guard let file = fopen(input, "r") else { throw ProgramError(.usage, "--input: cannot read '\(input)'") }
        var text = ""
        var buffer = [CChar](repeating: 0, count: 1 << 16)
        while let line = fgets(&buffer, Int32(buffer.count), file) { text += String(cString: line) }
        fclose(file)
        let table: SensorTable
        do { table = try SensorTable.parse(text) } catch { throw ProgramError(.usage, "--input \(input): \(error.description)") }
        var times: [Int64] = []
        for (i, raw) in table.timestamps.enumerated() {
            guard let t = Self.time(raw) else { throw ProgramError(.usage, "--input \(input): line \(i + 2): '\(raw)' is not a time") }
            times.append(t)
        }
        guard let first = times.first else { throw ProgramError(.usage, "--input \(input): no rows") }
        let shift = start.flatMap(Timestamp.millis(query:)).map { $0 - first } ?? 0
        let fmt = PayloadFormat(rawValue: format)!
        let perMessage = fmt == .batch ? batch : 1
        let publisher = try broker.publisher()
        let t0 = SystemClock.monotonicSeconds()
        var pending: [Sample] = []
        for (i, row) in table.rows.enumerated() where !stopRequested.load(ordering: .relaxed) {
            if speedup > 0 { sleepSeconds(t0 + Double(times[i] - first) / 1000 / speedup - SystemClock.monotonicSeconds()) }
            let values = zip(table.sensors, row).compactMap { s, v in v.map { (sensor: s, value: $0) } }
            if values.isEmpty { continue }
            pending.append(Sample(ts: times[i] + shift, seq: Int64(i + 1), values: values))
            if pending.count >= perMessage {
                for m in PayloadEncoder.encode(machine: machine, samples: pending, format: fmt, prefix: broker.topicPrefix) { publisher.send(m) }
                pending.removeAll(keepingCapacity: true)
            }
        }
        if !pending.isEmpty {
            for m in PayloadEncoder.encode(machine: machine, samples: pending, format: fmt, prefix: broker.topicPrefix) { publisher.send(m) }
        }
        let acked = publisher.drain()
        print("vigil-sim replay: sent \(publisher.readings) readings of \(table.rows.count) rows in \(publisher.messages) messages\(acked ? ", all acknowledged" : ", some NOT acknowledged")")
        if !acked { throw ProgramError(.failure, "broker did not acknowledge every message") }
    }
}
