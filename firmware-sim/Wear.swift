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

/// An injected fault with its ground truth.
struct Fault {
    enum Kind: String, CaseIterable {
        case spike, stuck, drift, dropout, process
    }

    let kind: Kind
    let sensor: String
    let start: Int64
    let end: Int64
    var stuckValue: Double?

    /// The faulted value of `sensor` at `ts` (nil = no reading), or the value unchanged.
    mutating func apply(sensor name: String, ts: Int64, value: Double) -> Double? {
        guard ts >= start, ts < end else { return value }
        switch kind {
        case .spike:
            return name == sensor ? value * 3 + 10 : value
        case .stuck:
            guard name == sensor else { return value }
            if stuckValue == nil { stuckValue = value }
            return stuckValue
        case .drift:
            guard name == sensor else { return value }
            let progress = Double(ts - start) / Double(end - start)
            return value + progress * 0.25 * max(abs(value), 1)
        case .dropout:
            return name == sensor ? nil : value
        case .process:
            // A clogged intake: flow and pressure fall, current rises, vibration gets rough.
            switch name {
            case "flow": return value * 0.6
            case "pressure": return value * 0.7
            case "current": return value * 1.15
            case "vib": return value * 1.5
            default: return value
            }
        }
    }

    /// Draws the faults of one machine over `[from, to)` at `ratePerDay`.
    static func schedule(sensors: [String], from: Int64, to: Int64, ratePerDay: Double, rng: inout SplitMix64) -> [Fault] {
        guard ratePerDay > 0, to > from, !sensors.isEmpty else { return [] }
        var faults: [Fault] = []
        var t = Double(from)
        while true {
            // Exponential gaps between fault starts.
            t += -log(Double.random(in: Double.ulpOfOne..<1, using: &rng)) / ratePerDay * 86_400_000
            guard t < Double(to) else { return faults }
            let kind = Kind.allCases.randomElement(using: &rng)!
            let length: Double = switch kind {
            case .spike: 1_000
            case .stuck: 2 * 3_600_000
            case .drift: 6 * 3_600_000
            case .dropout: 3_600_000
            case .process: 3_600_000
            }
            faults.append(Fault(kind: kind, sensor: kind == .process ? "flow" : sensors.randomElement(using: &rng)!,
                                start: Int64(t), end: Int64(t + length)))
        }
    }
}

/// `--labels FILE.jsonl`: the ground truth, never sent over MQTT. One JSON object per line:
/// `{"type":"wear","machine","ts","wear"}` hourly per machine, `{"type":"failure"|"maintenance",
/// "machine","ts"}`, `{"type":"fault","kind","machine","sensor","start","end"}`.
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
