import VigilCore

/// A sensor table as `vigil replay` reads it: `timestamp,<sensor>,<sensor>…`, one row per time,
/// an empty cell for a missing value. Timestamps pass through as text.
public struct SensorTable: Sendable, Equatable {
    public var sensors: [String]
    public var timestamps: [String]
    public var rows: [[Double?]]

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    public init(sensors: [String], timestamps: [String], rows: [[Double?]]) {
        self.sensors = sensors
        self.timestamps = timestamps
        self.rows = rows
    }

    public static func parse(_ text: String) throws(ParseError) -> SensorTable {
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let header = lines.first else { throw ParseError(line: 1, message: "empty input: expected a header timestamp,<sensor>,…") }
        let names = header.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
        guard names.count >= 2 else { throw ParseError(line: 1, message: "expected a header timestamp,<sensor>,…") }
        let sensors = Array(names.dropFirst())
        guard Set(sensors).count == sensors.count, !sensors.contains("") else {
            throw ParseError(line: 1, message: "sensor names must be unique and non-empty")
        }
        var table = SensorTable(sensors: sensors, timestamps: [], rows: [])
        for (i, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cells.count == names.count else {
                throw ParseError(line: i + 1, message: "\(cells.count) cells; the header has \(names.count)")
            }
            table.timestamps.append(cells[0].trimmingSpaces())
            var row: [Double?] = []
            row.reserveCapacity(sensors.count)
            for (c, cell) in cells.dropFirst().enumerated() {
                let t = cell.trimmingSpaces()
                if t.isEmpty { row.append(nil); continue }
                guard let v = Double(t), v.isFinite else {
                    throw ParseError(line: i + 1, message: "\(sensors[c]): '\(t)' is not a finite number")
                }
                row.append(v)
            }
            table.rows.append(row)
        }
        return table
    }

    /// This table's rows with columns reordered (and missing ones empty) to `sensors`.
    public func rows(for sensors: [String]) -> [[Double?]] {
        let index = sensors.map { self.sensors.firstIndex(of: $0) }
        return rows.map { r in index.map { $0.flatMap { r[$0] } } }
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self[...]
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// `vigil replay`: the production scoring path over a table, offline. Causal — row t's output
/// depends only on rows ≤ t (a model commissioned on the first N rows is used from row N on) —
/// and deterministic: the same input gives the same bytes.
public enum Replay {
    public static let header = "timestamp,anomaly_score,alarm,health,status,model_version,contributors,sensor_faults"

    public struct Options: Sendable {
        /// Commission on the input's own first N rows (ignored when a model is given).
        public var commissionRows: Int = 400
        public var parameters = HealthParameters()
        public var bands = HealthBands()
        public var modelVersion = 1
        /// Judge the sensors before the machine (`SensorFaultDetector`); off, every sensor is believed.
        public var judgeSensors = true
        public var detectorSettings = SensorFaultDetector.Settings()

        public init() {}
    }

    public struct Result: Sendable {
        public var csv: String
        public var model: HealthModel
        /// The sensors' profiles (nil when sensors were not judged).
        public var detector: SensorFaultDetector?
    }

    /// Scores `input` with `model` if given, else with a model commissioned on `reference` or on
    /// the input's first `commissionRows` rows; the sensors are judged with `detector`'s profiles
    /// if given, else with profiles learned from the same rows as the model. Each row's
    /// `sensor_faults` lists the sensors in fault at that row as `sensor:kind` joined by `;`.
    public static func run(_ input: SensorTable, model given: HealthModel? = nil, detector givenDetector: SensorFaultDetector? = nil,
                           reference: SensorTable? = nil, options: Options = .init()) throws(HealthModel.TrainingError) -> Result {
        let sensors = given?.sensors ?? input.sensors
        let rows = input.rows(for: sensors)
        let times = Self.times(input.timestamps)
        var firstScored = 0
        let model: HealthModel
        var learnedFrom: (rows: [[Double?]], times: [Int64]) = ([], [])
        if let given {
            model = given
        } else if let reference {
            let referenceRows = reference.rows(for: sensors)
            model = try HealthModel.train(sensors: sensors, rows: referenceRows, parameters: options.parameters)
            learnedFrom = (referenceRows, Self.times(reference.timestamps))
        } else {
            firstScored = min(options.commissionRows, rows.count)
            model = try HealthModel.train(sensors: sensors, rows: Array(rows[..<firstScored]), parameters: options.parameters)
            learnedFrom = (Array(rows[..<firstScored]), Array(times[..<firstScored]))
        }
        var detector: SensorFaultDetector?
        if options.judgeSensors {
            detector = givenDetector ?? SensorFaultDetector(sensors: sensors, commissioning: (0..<sensors.count).map { j in
                var t: [Int64] = [], v: [Double] = []
                for (i, r) in learnedFrom.rows.enumerated() { if let x = r[j] { t.append(learnedFrom.times[i]); v.append(x) } }
                return (t, v)
            }, settings: options.detectorSettings)
        }
        let step = times.count > 1 ? max(1, (times.last! - times.first!) / Int64(times.count - 1)) : 1_000
        var scorer = HealthScorer(model: model, bands: options.bands)
        var out = header + "\n"
        for (i, row) in rows.enumerated() {
            let ts = input.timestamps[i]
            if i < firstScored {
                // Commissioning rows warm the smoothing up; they get no score.
                _ = scorer.severity(row)
                out += "\(ts),,0,,commissioning,,,\n"
                continue
            }
            let s: HealthScore
            var faults = ""
            if var d = detector {
                for (j, x) in row.enumerated() {
                    guard let x, let k = d.index(of: sensors[j]) else { continue }
                    _ = d.observe(sensor: k, ts: times[i], value: x)
                }
                s = JudgedScoring.score(&scorer, row: row, from: times[i], to: times[i] + step, detector: &d).score
                _ = d.advance(to: times[i])
                faults = d.tracks.enumerated().compactMap { j, t in t.fault.map { "\(d.sensors[j]):\($0.kind.rawValue)" } }.joined(separator: ";")
                detector = d
            } else {
                s = scorer.score(row)
            }
            let contributors = s.contributors.filter { $0.sensorFault == nil }.map { "\($0.sensor):\(fixed($0.share, 3))" }.joined(separator: ";")
            out += "\(ts),\(fixed(s.anomalyScore, 6)),\(s.status == .alarm ? 1 : 0),\(fixed(s.health, 2)),\(s.status.rawValue),\(options.modelVersion),\(contributors),\(faults)\n"
        }
        return Result(csv: out, model: model, detector: detector)
    }

    /// Row times in epoch ms: epoch numbers or RFC 3339 (a space may stand for `T`); rows whose
    /// time cannot be read are placed a second after the previous row.
    static func times(_ texts: [String]) -> [Int64] {
        var out: [Int64] = []
        out.reserveCapacity(texts.count)
        var previous: Int64 = 0
        for t in texts {
            var ms = Double(t).flatMap(Timestamp.millis(fromEpoch:)) ?? Timestamp.millis(rfc3339: t)
                ?? Timestamp.millis(rfc3339: t + "Z") ?? previous + 1_000
            if ms < previous { ms = previous }
            out.append(ms)
            previous = ms
        }
        return out
    }

    /// `x` with `digits` decimals, locale- and platform-independent.
    public static func fixed(_ x: Double, _ digits: Int) -> String {
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let n = (abs(x) * p).rounded()
        guard n < 9e15 else { return String(x) }
        let whole = Int64(n) / Int64(p), frac = Int64(n) % Int64(p)
        var f = String(frac)
        while f.count < digits { f = "0" + f }
        return (x < 0 && n > 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
    }
}
