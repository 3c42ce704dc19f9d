/// One sensor reading: the compound key `(machine, sensor, ts)` and a finite value.
public struct Reading: Sendable, Hashable {
    public var machine: String
    public var sensor: String
    /// UTC epoch milliseconds.
    public var ts: Int64
    public var value: Double
    /// The device's sequence number, when it sent one (loss accounting).
    public var seq: Int64?

    public init(machine: String, sensor: String, ts: Int64, value: Double, seq: Int64? = nil) {
        self.machine = machine
        self.sensor = sensor
        self.ts = ts
        self.value = value
        self.seq = seq
    }
}

extension Reading {
    /// One series' readings: `stored` and `newer` (each in time order, one per timestamp) merged
    /// in time order, a newer reading replacing a stored one at its timestamp, the first `limit`.
    public static func merged(_ stored: [Reading], _ newer: [Reading], limit: Int) -> [Reading] {
        var out: [Reading] = []
        out.reserveCapacity(min(limit, stored.count + newer.count))
        var i = 0, j = 0
        while out.count < limit, i < stored.count || j < newer.count {
            if j == newer.count || i < stored.count && stored[i].ts < newer[j].ts {
                out.append(stored[i])
                i += 1
            } else {
                if i < stored.count && stored[i].ts == newer[j].ts { i += 1 }
                out.append(newer[j])
                j += 1
            }
        }
        return out
    }
}

/// Validation of machine and sensor ids (SPEC §2).
public enum KeyRules {
    public static let maxLength = 128

    @inline(__always)
    static func isIDByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// A sensor id: 1–128 chars from `[A-Za-z0-9_.:-]`, not `.` or `..`.
    public static func isValidSensor(_ id: String) -> Bool { isValidID(id, slashes: false) }

    /// A machine id: like a sensor id, plus `/` between non-empty segments (`plant1/line2/press7`),
    /// none of them `.` or `..`.
    public static func isValidMachine(_ id: String) -> Bool { isValidID(id, slashes: true) }

    /// One pass over the bytes (ingest checks every new key): each segment's length and how many
    /// of it are dots. `.` and `..` would read as paths wherever an id becomes part of a URL or
    /// file name.
    @inline(__always)
    private static func isValidID(_ id: String, slashes: Bool) -> Bool {
        let u = id.utf8
        guard !u.isEmpty, u.count <= maxLength else { return false }
        var length = 0, dots = 0
        for b in u {
            if slashes && b == UInt8(ascii: "/") {
                // Empty (a leading or doubled slash) or a dot segment.
                if length == 0 || dots == length && length <= 2 { return false }
                length = 0
                dots = 0
            } else if isIDByte(b) {
                length += 1
                if b == UInt8(ascii: ".") { dots += 1 }
            } else {
                return false
            }
        }
        return length > 0 && !(dots == length && length <= 2)  // nor a trailing slash or dot segment
    }
}
