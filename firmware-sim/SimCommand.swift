import ArgumentParser
import Synchronization
import VigilCLI
import VigilCore
import VigilMQTT
#if canImport(Glibc)
import Glibc
#endif

@main
struct VigilSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil-sim",
        abstract: "Simulated sensor fleet that publishes over MQTT like device firmware.",
        discussion: "Exit codes: 0 ok, 1 runtime failure (e.g. broker unreachable), 2 usage error.",
        subcommands: [Fleet.self, Load.self, ReplayCSV.self],
        defaultSubcommand: Fleet.self)

    static func main() async { await runMain() }
}

struct BrokerOptions: ParsableArguments {
    @Option(help: "Broker URL, mqtt://host:port or mqtts://host:port.")
    var broker: String = "mqtt://127.0.0.1:1883"

    @Option(help: "Username for the broker.")
    var username: String?

    @Option(help: "Password for the broker.")
    var password: String?

    @Option(name: .customLong("ca-file"), help: "CA bundle for mqtts:// (default: the system bundle).")
    var caFile: String?

    @Option(name: .customLong("topic-prefix"), help: "First topic level(s).")
    var topicPrefix: String = "vigil"

    func publisher(onMessage: @escaping MQTTClient.MessageHandler = { _ in }) throws -> Publisher {
        try Publisher(broker: broker, username: username, password: password, caFile: caFile, onMessage: onMessage)
    }
}

/// Parses `90s`, `90m`, `36h`, `7d` (or plain seconds).
func parseDuration(_ s: String) -> Double? {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
    if let u = s.last, let f = units[u], let n = Double(s.dropLast()), n >= 0 { return n * f }
    if let n = Double(s), n >= 0 { return n }
    return nil
}

struct Fleet: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a fleet of machines at a fixed reading interval until stopped (the default).",
        discussion: """
            Real time by default. With --speedup X simulated time runs X times faster than the wall \
            clock, starting at --start, so a week of history can be published in minutes with its own \
            timestamps (the gateway rejects readings more than 10 minutes in the future, so with \
            --speedup > 1 start in the past). The scalar format carries no timestamp: the gateway \
            stamps it on receipt.
            """)

    @OptionGroup var broker: BrokerOptions

    @Option(help: "Number of machines.")
    var machines: Int = 5

    @Option(help: "Sensors per machine (temp, vib, current, pressure, flow, rpm, bearing_temp, ambient, then aux…).")
    var sensors: Int = 4

    @Option(help: "Seconds of simulated time between readings of a machine.")
    var interval: Double = 1

    @Option(help: "Simulated seconds per wall-clock second.")
    var speedup: Double = 1

    @Option(help: "Timestamp of the first reading, RFC 3339 or epoch ms (default: now).")
    var start: String?

    @Option(help: "Start this far in the past (e.g. 26h), publish that history as fast as the broker takes it, then go on in real time. Excludes --start and --speedup.")
    var backfill: String?

    @Option(help: "Simulated time to cover, e.g. 90m, 7d (default: until stopped).")
    var duration: String?

    @Option(help: "Random seed: the same seed gives the same readings.")
    var seed: UInt64 = 1

    @Option(help: "Payload dialect: scalar, json, multi, batch, line, mixed (machine i uses json, multi, batch, line in turn), or sparkplug (each machine a Sparkplug B edge node: NBIRTH, NDATA of --batch ticks by alias, rebirth on NCMD, NDEATH at the end).")
    var format: String = "json"

    @Option(name: .customLong("sparkplug-group"), help: "The Sparkplug group of --format sparkplug (vigild: [sparkplug] machine = \"{edge}\" keeps the machine ids).")
    var sparkplugGroup: String = "vigil-sim"

    @Option(help: "Probability that a message is sent twice (an MQTT redelivery; storage must count it once).")
    var duplicates: Double = 0

    @Option(help: "Probability that a message is held back and sent after the machine's next one (out of order).")
    var reorder: Double = 0

    @Option(help: "Maximum device clock skew in seconds: each machine's timestamps are off by a fixed amount drawn from ±this.")
    var skew: Double = 0

    @Option(help: "Ticks per message for --format batch.")
    var batch: Int = 10

    @Option(help: "Wear: each machine's life to failure is drawn from this range (e.g. 10d-40d), or 'off'. A failed machine is silent for 4 h, then repaired with a new life.")
    var life: String = "10d-40d"

    @Option(help: "Injected faults per machine per day, one at a time: sensor faults (spike, spike_burst, stuck, stuck_wobble, rail, drift, calibration, noise, dropout) and process faults (several sensors at once); 0 = none.")
    var faults: Double = 0

    @Option(name: .customLong("faults-after"), help: "No injected fault starts before this much simulated time has passed (e.g. 25h: the machines are commissioned on clean data first).")
    var faultsAfter: String?

    @Option(name: .customLong("fault-kinds"), help: "Only these kinds of --faults, comma-separated (e.g. drift,calibration to evaluate drift in numbers); default: all.")
    var faultKinds: String?

    /// The kinds `--fault-kinds` names (all when not given), nil when one is unknown.
    var injectedKinds: [Fault.Kind]? {
        guard let faultKinds else { return Fault.Kind.allCases }
        let kinds = faultKinds.split(separator: ",").map { Fault.Kind(rawValue: String($0)) }
        return kinds.isEmpty || kinds.contains(nil) ? nil : kinds.compactMap { $0 }
    }

    @Option(help: "Write the ground truth (hourly wear, failures, repairs, faults with the sensor-fault kind to expect) to this JSON-lines file. Never sent over MQTT.")
    var labels: String?

    @Flag(help: "Print nothing but the final summary.")
    var quiet = false

    /// The `--life` range in seconds, nil when wear is off.
    var lifeRange: ClosedRange<Double>? {
        guard life != "off" else { return nil }
        let parts = life.split(separator: "-").map(String.init)
        guard parts.count == 2, let a = parseDuration(parts[0]), let b = parseDuration(parts[1]), a > 0, a <= b else { return nil }
        return a...b
    }

    func validate() throws {
        guard life == "off" || lifeRange != nil else { throw ValidationError("--life must be like 10d-40d (shortest-longest) or off") }
        guard faults >= 0 && faults <= 1000 else { throw ValidationError("--faults must be 0...1000 per machine-day") }
        if let faultsAfter, parseDuration(faultsAfter) == nil { throw ValidationError("--faults-after: '\(faultsAfter)' is not like 90m, 26h or 7d") }
        guard injectedKinds != nil else {
            throw ValidationError("--fault-kinds must be a comma-separated list of \(Fault.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard (1...100_000).contains(machines) else { throw ValidationError("--machines must be 1...100000") }
        guard (1...64).contains(sensors) else { throw ValidationError("--sensors must be 1...64") }
        guard interval > 0 else { throw ValidationError("--interval must be > 0") }
        guard speedup > 0 else { throw ValidationError("--speedup must be > 0") }
        guard format == "mixed" || format == "sparkplug" || PayloadFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be scalar, json, multi, batch, line, mixed or sparkplug")
        }
        guard !sparkplugGroup.isEmpty, !sparkplugGroup.contains(where: { "/+#".contains($0) }) else {
            throw ValidationError("--sparkplug-group must be one MQTT topic level")
        }
        guard (0...1).contains(duplicates), (0...1).contains(reorder) else { throw ValidationError("--duplicates and --reorder are probabilities in 0...1") }
        guard skew >= 0 && skew <= 86_400 else { throw ValidationError("--skew must be 0...86400 seconds") }
        guard batch >= 1 else { throw ValidationError("--batch must be >= 1") }
        if let start, Timestamp.millis(query: start) == nil { throw ValidationError("--start: '\(start)' is not RFC 3339 or epoch ms") }
        if let backfill {
            guard parseDuration(backfill) != nil else { throw ValidationError("--backfill: '\(backfill)' is not like 90m, 26h or 7d") }
            guard start == nil, speedup == 1 else { throw ValidationError("--backfill excludes --start and --speedup (it catches up, then runs in real time)") }
        }
        if let duration, parseDuration(duration) == nil { throw ValidationError("--duration: '\(duration)' is not like 90s, 90m, 36h or 7d") }
    }

    func run() throws {
        installStopHandlers()
        // Per machine: its dialect and its clock's skew (ms).
        let mixed: [PayloadFormat] = [.json, .multi, .batch, .line]
        let sparkplug = format == "sparkplug" ? SparkplugNodes(group: sparkplugGroup) : nil
        var nodeSeq = [UInt64](repeating: 0, count: machines)
        let formats = (0..<machines).map { format == "mixed" ? mixed[$0 % mixed.count] : PayloadFormat(rawValue: format) ?? .batch }
        var deviceRNG = SplitMix64(seed: seed ^ 0xDE71_CE)
        let skews = (0..<machines).map { _ in skew > 0 ? Int64(Double.random(in: -skew...skew, using: &deviceRNG) * 1000) : 0 }
        var heldBack = [[EncodedMessage]](repeating: [], count: machines)
        /// Sends like firmware that sometimes repeats itself or lets a message overtake another.
        func send(_ i: Int, _ messages: [EncodedMessage]) {
            for m in messages {
                if reorder > 0 && heldBack[i].isEmpty && Double.random(in: 0..<1, using: &deviceRNG) < reorder {
                    heldBack[i].append(m)
                    continue
                }
                publisher.send(m)
                if duplicates > 0 && Double.random(in: 0..<1, using: &deviceRNG) < duplicates { publisher.send(m) }
                for h in heldBack[i] { publisher.send(h) }
                heldBack[i].removeAll()
            }
        }
        let backfillMillis = backfill.flatMap(parseDuration).map { Int64($0 * 1000) }
        let simStart = start.flatMap(Timestamp.millis(query:)) ?? SystemClock.wallMillis() - (backfillMillis ?? 0)
        let simEnd = duration.flatMap(parseDuration).map { simStart + Int64($0 * 1000) }
        let faultsAfterMillis = faultsAfter.flatMap(parseDuration).map { Int64($0 * 1000) } ?? 0
        let stepMillis = Int64((interval * 1000).rounded())
        let publisher = try broker.publisher(onMessage: { sparkplug?.handle($0) })
        var fleet = (0..<machines).map { SimMachine(index: $0, sensorCount: sensors, seed: seed) }
        if let sparkplug {
            try publisher.client.subscribe(sparkplug.commandFilter, qos: 1)
            for i in fleet.indices {
                let b = sparkplug.birth(node: fleet[i].id, sensors: fleet[i].sensors, seq: &nodeSeq[i], now: simStart)
                publisher.send(topic: b.topic, payload: b.payload, readings: 0)
            }
        }
        let truth = try labels.map { try LabelWriter(path: $0) }
        var faultRNG = SplitMix64(seed: seed ^ 0xFA17_FA17)
        for i in fleet.indices {
            if let lifeRange { fleet[i].wear = WearPath(lifeRange: lifeRange, seed: seed &+ 0x5EED &+ UInt64(i) &* 7919) }
            fleet[i].faults = Fault.schedule(sensors: fleet[i].sensors, from: simStart + faultsAfterMillis, to: simEnd ?? simStart + 365 * 86_400_000,
                                             ratePerDay: faults, kinds: injectedKinds ?? Fault.Kind.allCases,
                                             interval: interval, rng: &faultRNG)
            if skew > 0 { truth?.write([("type", LabelWriter.text("skew")), ("machine", LabelWriter.text(fleet[i].id)), ("ms", String(skews[i]))]) }
            for f in fleet[i].faults {
                truth?.write([("type", LabelWriter.text("fault")), ("kind", LabelWriter.text(f.kind.rawValue)), ("machine", LabelWriter.text(fleet[i].id)),
                               ("sensor", LabelWriter.text(f.sensor)), ("start", String(f.start)), ("end", String(f.end)),
                               ("expect", f.kind.expected.map(LabelWriter.text) ?? "null")])
            }
        }
        if !quiet {
            print("vigil-sim: \(machines) machines × \(sensors) sensors every \(interval)s (speedup \(speedup)), format \(format), broker \(broker.broker)")
        }
        var pending = Array(repeating: [Sample](), count: machines)
        let wallStart = SystemClock.monotonicSeconds()
        var simNow = simStart
        /// A machine's samples as its dialect sends them.
        func flush(_ i: Int) {
            guard let sparkplug else {
                send(i, PayloadEncoder.encode(machine: fleet[i].id, samples: pending[i], format: formats[i], prefix: broker.topicPrefix))
                return
            }
            if sparkplug.rebirthRequested(fleet[i].id) {
                let b = sparkplug.birth(node: fleet[i].id, sensors: fleet[i].sensors, seq: &nodeSeq[i], now: pending[i].first?.ts ?? simNow)
                publisher.send(topic: b.topic, payload: b.payload, readings: 0)
            }
            let d = sparkplug.data(node: fleet[i].id, sensors: fleet[i].sensors, samples: pending[i], seq: &nodeSeq[i],
                                   now: pending[i].last?.ts ?? simNow)
            publisher.send(topic: d.topic, payload: d.payload, readings: d.readings)
        }
        var lastReport = wallStart
        while !stopRequested.load(ordering: .relaxed) {
            if let simEnd, simNow >= simEnd { break }
            if backfillMillis != nil {
                // History as fast as it goes; from the present on, never ahead of the wall clock.
                sleepSeconds(Double(simNow - SystemClock.wallMillis()) / 1000)
            } else {
                // Pace: simulated time may not run ahead of wall time × speedup.
                let due = wallStart + Double(simNow - simStart) / 1000 / speedup
                sleepSeconds(due - SystemClock.monotonicSeconds())
            }
            if stopRequested.load(ordering: .relaxed) { break }
            let hourly = simNow % 3_600_000 < stepMillis
            for i in fleet.indices {
                if let event = fleet[i].wear?.advance(ts: simNow, dt: interval) {
                    truth?.write([("type", LabelWriter.text(event == .failure ? "failure" : "maintenance")),
                                  ("machine", LabelWriter.text(fleet[i].id)), ("ts", String(simNow))])
                }
                if hourly, let w = fleet[i].wear {
                    truth?.write([("type", LabelWriter.text("wear")), ("machine", LabelWriter.text(fleet[i].id)), ("ts", String(simNow)),
                                  ("wear", String(w.downUntil != nil ? 1 : (w.wear * 1e6).rounded() / 1e6))])
                }
                let values = fleet[i].sample(ts: simNow, dtSeconds: interval)
                if values.isEmpty { continue }
                pending[i].append(Sample(ts: simNow + skews[i], seq: fleet[i].seq, values: values))
                if pending[i].count >= (formats[i] == .batch ? batch : 1) {
                    flush(i)
                    pending[i].removeAll(keepingCapacity: true)
                }
            }
            simNow += stepMillis
            if !quiet, SystemClock.monotonicSeconds() - lastReport >= 10 {
                lastReport = SystemClock.monotonicSeconds()
                print("vigil-sim: \(publisher.readings) readings in \(publisher.messages) messages, simulated time \(Timestamp.rfc3339(millis: simNow))")
            }
        }
        for i in fleet.indices {
            if !pending[i].isEmpty { flush(i) }
            for h in heldBack[i] { publisher.send(h) }
            if let sparkplug {
                let d = sparkplug.death(node: fleet[i].id)
                publisher.send(topic: d.topic, payload: d.payload, readings: 0)
            }
        }
        let acked = publisher.drain()
        print("vigil-sim: sent \(publisher.readings) readings in \(publisher.messages) messages\(acked ? ", all acknowledged" : ", some NOT acknowledged")")
        if !acked { throw ProgramError(.failure, "broker did not acknowledge every message") }
    }
}

struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a fixed number of readings as fast as possible (ingest benchmarks).",
        discussion: """
            Readings go round-robin over machines × sensors as JSON batch arrays on vigil/<machine>/<sensor>, one second apart per series, ending now.
            With --format sparkplug: one Sparkplug B edge node (group bench, node load) with a device per machine; an NBIRTH and a DBIRTH per \
            device (aliases, Double metrics s0…), then DDATA of --batch alias-only metrics each (every sensor of the device, --batch / --sensors \
            timestamps), QoS 1, seq wrapping at 256. The births' values count as readings.
            """)

    @OptionGroup var broker: BrokerOptions

    @Option(help: "Total readings to publish.")
    var readings: Int = 100_000

    @Option(help: "Readings per message (1 = single-reading JSON objects).")
    var batch: Int = 100

    @Option(help: "Number of machines.")
    var machines: Int = 10

    @Option(help: "Sensors per machine.")
    var sensors: Int = 4

    @Option(help: "Target readings per second (default: as fast as the broker acknowledges).")
    var rate: Double?

    @Option(help: "Payload dialect: json (batch arrays) or sparkplug (Sparkplug B DDATA).")
    var format: String = "json"

    func validate() throws {
        guard readings >= 1, batch >= 1, machines >= 1, sensors >= 1 else { throw ValidationError("--readings, --batch, --machines and --sensors must be >= 1") }
        guard ["json", "sparkplug"].contains(format) else { throw ValidationError("--format must be json or sparkplug") }
        if let rate, rate <= 0 { throw ValidationError("--rate must be > 0") }
    }

    func run() throws {
        installStopHandlers()
        let publisher = try broker.publisher()
        let series = machines * sensors
        let perSeries = (readings + series - 1) / series
        let startTs = SystemClock.wallMillis() - Int64(perSeries) * 1000
        let t0 = SystemClock.monotonicSeconds()
        var sent = 0
        var step = 0
        if format == "sparkplug" {
            sparkplug(publisher, startTs: startTs, t0: t0)
        }
        while format == "json" && sent < readings && !stopRequested.load(ordering: .relaxed) {
            for s in 0..<series where sent < readings {
                let machine = "load-\(s / sensors)"
                let sensor = "s\(s % sensors)"
                let n = min(batch, readings - sent)
                let objects = (0..<n).map { k in
                    "{\"ts\":\(startTs + Int64(step + k) * 1000),\"value\":\(Double((step + k) % 1000) / 10)}"
                }
                let payload = batch == 1 ? objects[0] : "[" + objects.joined(separator: ",") + "]"
                publisher.send(.init(topic: "\(broker.topicPrefix)/\(machine)/\(sensor)", payload: payload, readings: n))
                sent += n
                if let rate { sleepSeconds(t0 + Double(sent) / rate - SystemClock.monotonicSeconds()) }
            }
            step += batch
        }
        let acked = publisher.drain(timeout: 120)
        let dt = SystemClock.monotonicSeconds() - t0
        print("vigil-sim load: \(publisher.readings) readings in \(publisher.messages) messages in \(String(format3(dt))) s: "
              + "\(Int(Double(publisher.readings) / dt)) readings/s, \(Int(Double(publisher.messages) / dt)) messages/s"
              + (acked ? ", all acknowledged" : ", some NOT acknowledged"))
        if !acked { throw ProgramError(.failure, "broker did not acknowledge every message") }
    }
}

extension Load {
    /// The Sparkplug B load: births, then DDATA of `batch` alias-only Double metrics per message.
    func sparkplug(_ publisher: Publisher, startTs: Int64, t0: Double) {
        let ns = "\(SparkplugTopic.namespace)/bench"
        var seq: UInt64 = 0
        func next() -> UInt64 { defer { seq = (seq + 1) % 256 }; return seq }
        let now = UInt64(SystemClock.wallMillis())
        publisher.send(topic: "\(ns)/NBIRTH/load", payload: Sparkplug.Payload(timestamp: now, metrics: [
            .init(name: "bdSeq", datatype: .int64, value: .long(0)),
            .init(name: "Node Control/Rebirth", datatype: .boolean, value: .boolean(false)),
        ], seq: next()).encoded(), readings: 0)
        for m in 0..<machines {
            let metrics = (0..<sensors).map { s in
                Sparkplug.Metric(name: "s\(s)", alias: UInt64(s), timestamp: UInt64(startTs - 1000), datatype: .double, value: .double(0))
            }
            publisher.send(topic: "\(ns)/DBIRTH/load/load-\(m)", payload: Sparkplug.Payload(timestamp: now, metrics: metrics, seq: next()).encoded(),
                           readings: sensors)
        }
        let perMessage = max(1, batch / sensors)  // timestamps per message
        var sent = 0
        var step = 0
        while sent < readings && !stopRequested.load(ordering: .relaxed) {
            for m in 0..<machines where sent < readings {
                var metrics: [Sparkplug.Metric] = []
                metrics.reserveCapacity(perMessage * sensors)
                for k in 0..<perMessage {
                    let ts = UInt64(startTs + Int64(step + k) * 1000)
                    for s in 0..<sensors where sent + metrics.count < readings {
                        metrics.append(.init(alias: UInt64(s), timestamp: ts, value: .double(Double((step + k) % 1000) / 10)))
                    }
                }
                publisher.send(topic: "\(ns)/DDATA/load/load-\(m)", payload: Sparkplug.Payload(timestamp: UInt64(SystemClock.wallMillis()), metrics: metrics,
                                                                                             seq: next()).encoded(), readings: metrics.count)
                sent += metrics.count
                if let rate { sleepSeconds(t0 + Double(sent) / rate - SystemClock.monotonicSeconds()) }
            }
            step += perMessage
        }
    }
}

func format3(_ d: Double) -> String { "\((d * 1000).rounded() / 1000)" }
