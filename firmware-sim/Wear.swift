import VigilCore

/// A machine's wear path toward failure: wear = (age / life)^2.5, so it creeps at first and
/// accelerates (bearing wear raising vibration and temperatures, a little extra current). At wear
/// 1 the machine fails and falls silent for `downtime`; then it is repaired (maintenance) and a
/// new life is drawn. Seeded from its own random stream, so enabling wear or faults does not
/// change the healthy signals of a seed.
struct WearPath {
    let lifeRange: ClosedRange<Double> // seconds
    let downtime: Double = 4 * 3600
    var rng: SplitMix64
    var life: Double
    var age: Double
    /// Set while the machine is down after a failure: when it comes back.
    var downUntil: Int64?

    init(lifeRange: ClosedRange<Double>, seed: UInt64) {
        self.lifeRange = lifeRange
        rng = SplitMix64(seed: seed)
        life = Double.random(in: lifeRange, using: &rng)
        // A fleet is not all new: each machine starts somewhere in the first 30 % of its life.
        age = Double.random(in: 0...0.3, using: &rng) * life
    }

    var wear: Double { min(1, pow(age / life, 2.5)) }

    enum Event { case failure, maintenance }

    /// Advances by `dt` seconds at time `ts`; returns an event if one happened.
    mutating func advance(ts: Int64, dt: Double) -> Event? {
        if let until = downUntil {
            guard ts >= until else { return nil }
            downUntil = nil
            age = 0
            life = Double.random(in: lifeRange, using: &rng)
            return .maintenance
        }
        age += dt
        if age >= life {
            downUntil = ts + Int64(downtime * 1000)
            return .failure
        }
        return nil
    }
}

/// An injected fault with its ground truth. Sensor faults change one sensor the way failing
/// instruments do (their size drawn from the sensor's own noise and range, so no two are alike);
/// a process fault changes several sensors together, the way a clogged intake does, and is the
/// machine's problem, not a sensor's.
struct Fault {
    enum Kind: String, CaseIterable {
        case spike
        /// Two to four spikes in a row (a loose connector).
        case spikeBurst = "spike_burst"
        case stuck
        /// Frozen, but toggling by one resolution step (a dead input with a live last bit).
        case stuckWobble = "stuck_wobble"
        /// A dead sensor reading its transmitter's rail or a sentinel (0, −9999, full scale).
        case rail
        case drift
        /// A calibration step: the sensor is suddenly off by a fixed amount.
        case calibration
        /// Short-term variance jumps (EMI, a loose shield) at an unchanged level.
        case noise
        case dropout
        case process

        /// The sensor-fault kind Vigil should report for it (nil: not a sensor fault).
        var expected: String? {
            switch self {
            case .spike, .spikeBurst: "spike"
            case .stuck, .stuckWobble: "stuck"
            case .rail: "out_of_range"
            case .drift, .calibration: "drift"
            case .noise: "noise"
            case .dropout: "dropout"
            case .process: nil
            }
        }
    }

    let kind: Kind
    let sensor: String
    let start: Int64
    let end: Int64
    /// The fault's size in the sensor's units (signed), or its rail value.
    let size: Double
    var rng: SplitMix64
    var stuckValue: Double?

    /// The faulted value of `sensor` at `ts` (nil = no reading), or the value unchanged.
    mutating func apply(sensor name: String, ts: Int64, value: Double) -> Double? {
        guard ts >= start, ts < end else { return value }
        if kind == .process {
            // A clogged intake: flow and pressure fall, current rises, vibration gets rough.
            switch name {
            case "flow": return value * (1 - 0.4 * size)
            case "pressure": return value * (1 - 0.3 * size)
            case "current": return value * (1 + 0.15 * size)
            case "vib": return value * (1 + 0.5 * size)
            default: return value
            }
        }
        guard name == sensor else { return value }
        switch kind {
        case .spike, .spikeBurst:
            return value + size
        case .stuck:
            if stuckValue == nil { stuckValue = value }
            return stuckValue
        case .stuckWobble:
            if stuckValue == nil { stuckValue = value }
            return stuckValue! + (Bool.random(using: &rng) ? SimMachine.resolution : 0)
        case .rail:
            return size
        case .drift:
            return value + size * Double(ts - start) / Double(end - start)
        case .calibration:
            return value + size
        case .noise:
            return value + size * rng.gaussian()
        case .dropout:
            return nil
        case .process:
            return value
        }
    }

    /// Draws the faults (of `kinds`) of one machine over `[from, to)` at `ratePerDay`, one at a time (a fault
    /// starts at least an hour after the previous one ended), for readings every `interval` s.
    static func schedule(sensors: [String], from: Int64, to: Int64, ratePerDay: Double, kinds: [Kind] = Kind.allCases,
                         interval: Double, rng: inout SplitMix64) -> [Fault] {
        guard ratePerDay > 0, to > from, !sensors.isEmpty, !kinds.isEmpty else { return [] }
        var faults: [Fault] = []
        var t = Double(from)
        let hour = 3_600_000.0
        while true {
            // Exponential gaps between fault starts.
            t += -log(Double.random(in: Double.ulpOfOne..<1, using: &rng)) / ratePerDay * 86_400_000
            guard t < Double(to) else { return faults }
            let kind = kinds.randomElement(using: &rng)!
            let sensor = kind == .process ? "flow" : sensors.randomElement(using: &rng)!
            let scale = SimMachine.scale(of: sensor)
            let sign: Double = Bool.random(using: &rng) ? 1 : -1
            let readings = Double.random(in: 2...4, using: &rng).rounded(.down)
            let (length, size): (Double, Double) = switch kind {
            case .spike: (interval * 1000, sign * Double.random(in: 12...40, using: &rng) * scale.noise)
            case .spikeBurst: (readings * interval * 1000, sign * Double.random(in: 12...40, using: &rng) * scale.noise)
            case .stuck, .stuckWobble: (Double.random(in: 0.5...3, using: &rng) * hour, 0)
            case .rail: (Double.random(in: 0.5...3, using: &rng) * hour,
                         [0, -9999, scale.fullScale].randomElement(using: &rng)!)
            case .drift: (Double.random(in: 4...12, using: &rng) * hour, sign * Double.random(in: 0.5...1.5, using: &rng) * scale.range)
            case .calibration: (Double.random(in: 4...12, using: &rng) * hour, sign * Double.random(in: 0.3...1, using: &rng) * scale.range)
            case .noise: (Double.random(in: 1...3, using: &rng) * hour, Double.random(in: 4...10, using: &rng) * scale.noise)
            case .dropout: (Double.random(in: 1.0 / 3...3, using: &rng) * hour, 0)
            case .process: (Double.random(in: 1...3, using: &rng) * hour, Double.random(in: 0.7...1.3, using: &rng))
            }
            faults.append(Fault(kind: kind, sensor: sensor, start: Int64(t), end: Int64(t + length), size: size,
                                rng: SplitMix64(seed: rng.next())))
            t += length + hour
        }
    }
}

/// `--labels FILE.jsonl`: the ground truth, never sent over MQTT. One JSON object per line:
/// `{"type":"wear","machine","ts","wear"}` hourly per machine, `{"type":"failure"|"maintenance",
/// "machine","ts"}`, `{"type":"fault","kind","machine","sensor","start","end","expect"}` (`expect`: the sensor-fault
/// kind Vigil should report, null for a process fault).
final class LabelWriter {
    private let file: UnsafeMutablePointer<FILE>

    init(path: String) throws {
        guard let f = fopen(path, "w") else { throw ProgramError(.usage, "--labels: cannot write '\(path)'") }
        file = f
    }

    deinit { fclose(file) }

    func write(_ fields: [(String, String)]) {
        let line = "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}\n"
        fputs(line, file)
    }

    static func text(_ s: String) -> String { "\"" + s + "\"" }
}

#if canImport(Glibc)
import Glibc
#endif
import VigilCLI
