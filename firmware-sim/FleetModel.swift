import VigilCore

extension SplitMix64 {
    /// Standard normal (Box–Muller).
    mutating func gaussian() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

/// One simulated machine: a load cycle drives current, pressure and flow at once; temperatures
/// follow the load with thermal lag; vibration grows with load. Per-machine offsets make every
/// machine a little different.
struct SimMachine {
    static let sensorNames = ["temp", "vib", "current", "pressure", "flow", "rpm", "bearing_temp", "ambient"]
    static let kinds = ["pump", "press", "fan", "compressor"]

    let id: String
    let sensors: [String]
    var rng: SplitMix64
    let phase: Double
    let offset: Double
    var temp: Double
    var bearingTemp: Double
    var seq: Int64 = 0
    /// Nil when wear is off.
    var wear: WearPath?
    var faults: [Fault] = []

    /// Readings are rounded to this step: three decimals, as firmware prints them.
    static let resolution = 0.001
    /// A reading is its nearest double to the three-decimal number, as a device's "%.3f" parses
    /// (`(v / 0.001).rounded() * 0.001` was often an ulp off: 43.974000000000004).
    static func quantized(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }

    /// A sensor's reading-to-reading noise (σ, with the load's own jitter), the range its healthy
    /// values cover over the load cycle, and its transmitter's full scale (a rail value).
    static func scale(of sensor: String) -> (noise: Double, range: Double, fullScale: Double) {
        switch sensor {
        case "temp": (0.2, 20, 150)
        case "vib": (0.2, 2.2, 50)
        case "current": (1.1, 20, 100)
        case "pressure": (0.14, 2.2, 16)
        case "flow": (4.3, 70, 500)
        case "rpm": (3.6, 36, 3000)
        case "bearing_temp": (0.3, 25, 150)
        case "ambient": (0.1, 8, 60)
        default: (1, 4, 100)
        }
    }

    init(index: Int, sensorCount: Int, seed: UInt64) {
        id = "\(Self.kinds[index % Self.kinds.count])-\(index + 1 < 10 ? "0" : "")\(index + 1)"
        sensors = (0..<sensorCount).map { $0 < Self.sensorNames.count ? Self.sensorNames[$0] : "aux\($0)" }
        rng = SplitMix64(seed: seed &+ UInt64(index) &* 0x1000_0001)
        phase = Double.random(in: 0..<(2 * .pi), using: &rng)
        offset = Double.random(in: -1...1, using: &rng)
        temp = 45 + offset
        bearingTemp = 50 + offset
    }

    /// The machine's readings at time `ts` (ms), one step of `dtSeconds` after the previous call.
    /// Wear raises vibration and temperatures (and current a little); active faults then change
    /// or drop readings. A machine that is down after a failure reports nothing.
    mutating func sample(ts: Int64, dtSeconds: Double) -> [(sensor: String, value: Double)] {
        let healthy = sampleHealthy(ts: ts, dtSeconds: dtSeconds)
        if wear?.downUntil != nil { return [] }
        let w = wear?.wear ?? 0
        var out: [(sensor: String, value: Double)] = []
        out.reserveCapacity(healthy.count)
        for (name, v0) in healthy {
            var v: Double? = switch name {
            case "vib": v0 + 4 * w
            case "bearing_temp": v0 + 18 * w
            case "temp": v0 + 4 * w
            case "current": v0 + 3 * w
            default: v0
            }
            for i in faults.indices where v != nil { v = faults[i].apply(sensor: name, ts: ts, value: v!) }
            if let v { out.append((name, Self.quantized(v))) }
        }
        return out
    }

    private mutating func sampleHealthy(ts: Int64, dtSeconds: Double) -> [(sensor: String, value: Double)] {
        let hours = Double(ts) / 3_600_000
        // An 8-hour shift cycle plus a slower daily swing, kept in [0.1, 1].
        let load = min(1, max(0.1, 0.6 + 0.25 * sin(2 * .pi * hours / 8 + phase) + 0.05 * rng.gaussian()))
        let ambient = 22 + 4 * sin(2 * .pi * (hours - 9) / 24) + 0.1 * rng.gaussian()
        // First-order thermal lag (time constant 10 min) toward a load-dependent equilibrium.
        let alpha = 1 - exp(-dtSeconds / 600)
        temp += alpha * ((ambient + 20 + 25 * load + offset) - temp)
        bearingTemp += alpha * ((ambient + 25 + 30 * load + offset) - bearingTemp)
        seq += 1
        return sensors.map { name in
            let v: Double
            switch name {
            case "temp": v = temp + 0.2 * rng.gaussian()
            case "vib": v = max(0, 1.5 + 2.5 * load + 0.1 * offset + 0.15 * rng.gaussian())
            case "current": v = max(0, 8 + 22 * load + 0.3 * rng.gaussian())
            case "pressure": v = 3.5 + 2.5 * load + 0.05 * rng.gaussian()
            case "flow": v = max(0, 40 + 80 * load + 1.5 * rng.gaussian())
            case "rpm": v = 1450 + 40 * load + 3 * rng.gaussian()
            case "bearing_temp": v = bearingTemp + 0.3 * rng.gaussian()
            case "ambient": v = ambient
            default: v = 10 + rng.gaussian()
            }
            return (name, SimMachine.quantized(v))
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
