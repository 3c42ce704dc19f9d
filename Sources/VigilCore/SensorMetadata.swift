/// What is known of a sensor beside its readings: its engineering unit, a description, the
/// physical range the instrument can read and its resolution. Each field is optional; sources
/// are laid over each other (`SensorMetadata.Source`): the configuration's `[[sensors]]` rules,
/// then what the device says (a Sparkplug birth's `engUnit`, `engLow`, `engHigh`), then what an
/// operator set through the API — a later source wins for the fields it sets.
public struct SensorMetadata: Codable, Sendable, Equatable {
    public var unit: String?
    public var description: String?
    /// The lowest and highest value the instrument can read: a reading outside is impossible for
    /// it (stored, counted, and judged a sensor fault).
    public var min: Double?
    public var max: Double?
    /// Its resolution (the smallest step it reports).
    public var step: Double?

    public init(unit: String? = nil, description: String? = nil, min: Double? = nil, max: Double? = nil, step: Double? = nil) {
        self.unit = unit
        self.description = description
        self.min = min
        self.max = max
        self.step = step
    }

    public enum Source: String, Sendable, Codable, CaseIterable, Comparable {
        case config, device, api

        public static func < (a: Source, b: Source) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    public var isEmpty: Bool { self == SensorMetadata() }

    /// These fields, with `other`'s where it sets them.
    public func overlaid(by other: SensorMetadata) -> SensorMetadata {
        SensorMetadata(unit: other.unit ?? unit, description: other.description ?? description, min: other.min ?? min,
                       max: other.max ?? max, step: other.step ?? step)
    }

    /// Whether `value` is outside what the instrument can read.
    @inline(__always)
    public func isImpossible(_ value: Double) -> Bool {
        if let min, value < min { return true }
        if let max, value > max { return true }
        return false
    }

    public var hasLimits: Bool { min != nil || max != nil }

    /// Why these fields cannot be a sensor's, or nil: a range that is empty or not finite, a step
    /// that is not positive, text too long for a label.
    public var problem: String? {
        for (name, v) in [("min", min), ("max", max), ("step", step)] {
            if let v, !v.isFinite { return "\(name) must be a finite number" }
        }
        if let min, let max, min >= max { return "min (\(min)) must be below max (\(max))" }
        if let step, step <= 0 { return "step must be positive" }
        if let unit, unit.isEmpty || unit.unicodeScalars.count > 32 { return "unit must be 1 to 32 characters" }
        if let description, description.unicodeScalars.count > 512 { return "description must be at most 512 characters" }
        return nil
    }

    /// The metadata of `sensor` of `machine`: the configuration's matching rules in order, then each
    /// stored source in order.
    public static func resolve(machine: String, sensor: String, rules: [SensorRule], stored: [Source: SensorMetadata]) -> SensorMetadata {
        var m = SensorMetadata()
        for rule in rules where rule.matches(machine: machine, sensor: sensor) { m = m.overlaid(by: rule.metadata) }
        for source in Source.allCases { if let s = stored[source] { m = m.overlaid(by: s) } }
        return m
    }
}

/// One `[[sensors]]` table: metadata for the sensors whose machine and sensor ids match the globs
/// (`*` any run of characters, `?` one; default `*`).
public struct SensorRule: Sendable, Equatable {
    static let prefix = "sensors["

    public var machine = "*"
    public var sensor = "*"
    public var metadata = SensorMetadata()

    public init(machine: String = "*", sensor: String = "*", metadata: SensorMetadata = .init()) {
        self.machine = machine
        self.sensor = sensor
        self.metadata = metadata
    }

    public func matches(machine m: String, sensor s: String) -> Bool {
        Self.glob(Array(machine.utf8)[...], Array(m.utf8)[...]) && Self.glob(Array(sensor.utf8)[...], Array(s.utf8)[...])
    }

    /// `*` and `?` globbing over bytes (iterative, with one backtrack point: linear in practice).
    static func glob(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
        var pi = p.startIndex, si = s.startIndex
        var star: (p: Int, s: Int)?
        while si < s.endIndex {
            if pi < p.endIndex && (p[pi] == UInt8(ascii: "?") || p[pi] == s[si]) {
                pi += 1
                si += 1
            } else if pi < p.endIndex && p[pi] == UInt8(ascii: "*") {
                star = (pi, si)
                pi += 1
            } else if let st = star {
                pi = st.p + 1
                si = st.s + 1
                star = (st.p, st.s + 1)
            } else {
                return false
            }
        }
        while pi < p.endIndex && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.endIndex
    }

    /// `sensors[N].key`: tables come in order, so N is at most the count so far.
    static func set(_ key: String, _ value: TOMLValue, in rules: inout [SensorRule]) throws(ValueError) {
        guard let (n, field) = arrayTableEntry(key, prefix: prefix, count: rules.count) else {
            throw ValueError(message: "expected [[sensors]] tables with keys machine, sensor, unit, description, min, max, step")
        }
        if n == rules.count { rules.append(SensorRule()) }
        switch field {
        case "machine": rules[n].machine = try value.nonEmptyString()
        case "sensor": rules[n].sensor = try value.nonEmptyString()
        case "unit": rules[n].metadata.unit = try value.nonEmptyString()
        case "description": rules[n].metadata.description = try value.string()
        case "min": rules[n].metadata.min = try value.number()
        case "max": rules[n].metadata.max = try value.number()
        case "step": rules[n].metadata.step = try value.number()
        default:
            throw ValueError(message: "unknown key (known: machine, sensor, unit, description, min, max, step)")
        }
        // Each field on its own here; min below max once the table is complete (`VigilConfig.validate`).
        var alone = SensorMetadata()
        alone.unit = rules[n].metadata.unit
        alone.description = rules[n].metadata.description
        alone.step = rules[n].metadata.step
        if let problem = alone.problem { throw ValueError(message: problem) }
    }
}
