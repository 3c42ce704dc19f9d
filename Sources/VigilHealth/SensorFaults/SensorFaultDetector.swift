public import VigilCore

/// Judges a machine's sensors before the machine: fed every raw reading in time order (and, once a
/// minute, which single sensor — if any — explains the machine's deviation from its siblings), it
/// keeps each sensor `ok`, `suspect` or in `fault`, opening and closing faults with hysteresis, and
/// returns what changed. Pure and deterministic: the daemon, `vigil replay` and the tests drive the
/// same code.
///
/// Each detector works from the sensor's own `SensorProfile`:
/// - `spike`: a reading further from the median of its seven neighbours than `spikeLimit`
///   (a Hampel test, decided three readings later);
/// - `stuck`: the value stays within two resolution steps for `stuckAfter` while a sibling moves;
/// - `dropout`: no reading for `dropoutAfter` while a sibling keeps reporting regularly;
/// - `out_of_range`: more readings in a row outside `validRange` than a spike window holds,
///   entered at once and alone;
/// - `noise`: two windows in a row whose median step exceeds `roughnessLimit`;
/// - `drift`: the machine-level isolation (`HealthScorer.isolation`) names the same sensor alone
///   for `driftAfter` (withdrawn when its siblings turn out to move with it); so does a sensor
///   that has left its peers (`PeerProfile`: the same sensor on the site's other machines).
/// A fault closes once none of its evidence was seen for `clearAfter`; a change several sensors
/// agree on is never a sensor fault (it is the machine's, and health alarms on it).
public struct SensorFaultDetector: Codable, Sendable, Equatable {
    public let sensors: [String]
    /// Nil for a sensor that had too few commissioning readings to be judged.
    public let profiles: [SensorProfile?]
    /// What each sensor's instrument can read, as declared (`SensorMetadata`'s `min`/`max` only:
    /// the config's `[[sensors]]`, a device's birth, an operator); a reading outside is impossible,
    /// and enough of them in a row are `out_of_range` whatever the siblings do. Nil where nothing
    /// is declared, where what it read while commissioned contradicts the declaration, and in
    /// detectors saved before it existed.
    public private(set) var physical: [SensorMetadata?]?
    /// Each sensor's relation to its peers (`learnPeers`), nil where it has none; nil as a whole
    /// when no sensor has peers (a machine alone on its site, `vigil replay`, detectors saved
    /// before peers were judged).
    public private(set) var peers: [PeerProfile?]?
    /// The commissioning window (data time) whose peers' minutes were not all in when the
    /// sensors were profiled (a backlog stores machine by machine): the peers are learned again
    /// from it until they are, or until the machine is scored a day past it.
    public var peerWindow: PeerWindow?

    public struct PeerWindow: Codable, Sendable, Equatable {
        public var from: Int64
        public var to: Int64
    }
    public var settings: Settings
    private(set) public var tracks: [Track]
    /// Faults closed recently (kept `clearAfter`-ish so the scorer can leave them out of the
    /// minutes they covered).
    private(set) public var closed: [ClosedFault] = []
    /// The newest reading time fed.
    private(set) public var through: Int64 = .min
    /// The machine's slow deviation from its reference, followed over `baselineTime`
    /// (standardised, per sensor by name), held while a drift is being judged; and the time of
    /// the scored row it last followed.
    private(set) public var baselineDeviation: [String: Double] = [:]
    private(set) public var baselineAt: Int64 = .min

    public struct Settings: Codable, Sendable, Equatable {
        /// How long (ms) the isolation must name a sensor alone before it is a drift: a drift is
        /// slow, so it is judged in time, whatever the rows' spacing.
        public var driftAfter: Int64 = 3_600_000
        /// Unnamed for this long, a drift closes.
        public var driftClear: Int64 = 1_800_000
        /// A naming streak survives a gap this long.
        public var driftGap: Int64 = 300_000
        /// The time constant (ms) with which the baseline a drift is measured from follows the
        /// machine's slow deviation (a slow change — wear — moves the baseline with it; a drift
        /// outruns it).
        public var baselineTime: Int64 = 8 * 3_600_000
        /// The change since the baseline that names a sensor: its part of the statistic (a share
        /// of the alarm edge) and of the whole change.
        public var driftPart = 0.1
        public var driftShare = 0.5
        public init() {}
    }

    public struct ClosedFault: Codable, Sendable, Equatable {
        public var sensor: Int
        public var fault: SensorFault
        /// When its evidence was last seen, and when it closed.
        public var evidenceUntil: Int64
        public var until: Int64
    }

    /// One sensor's running state.
    public struct Track: Codable, Sendable, Equatable {
        public var lastSeen: Int64?
        /// The last `2·neighbours + 1` readings (oldest first), for the spike test.
        var recentTimes: [Int64] = []
        var recentValues: [Double] = []
        var still = SensorProfile.StillRun()
        /// Absolute steps of the current roughness window, and noisy windows in a row.
        var steps: [Double] = []
        var roughWindows = 0
        var lastRoughness = 0.0
        var lastValue: Double?
        var outside = 0
        var outsideFrom: Int64 = 0
        /// Readings in a row outside its declared physical range (optional only so that detectors
        /// saved before it existed still load).
        var impossible: Int?
        var jumpedOut = false
        /// When this sensor last had a reading far off its neighbours (a spike candidate), and the
        /// candidate waiting for its siblings' verdict.
        var lastOff: Int64 = .min / 2
        var pendingSpike: SensorFault?
        /// Whether a naming streak is on, when it began, and when the sensor last stepped by more
        /// than a spike (a level shift: a drift is gradual).
        var drifting = false
        var driftFrom: Int64 = 0
        var lastShift: Int64 = .min / 2
        /// The times of its level shifts in the last `shiftMemory` of readings (at most
        /// `shiftsKept`): the raw readings run ahead of the scored rows (by up to an hour in a
        /// backlog), so a row asks for the shifts up to its own time, never a later one's (optional
        /// only so that detectors saved before it existed still load).
        var shifts: [Int64]?
        /// The streak began with (or met) a level shift: the sensor stepped rather than crept
        /// (optional only so that detectors saved before it existed still load).
        var stepped: Bool?
        /// The values of the current roughness window (its level), and the level of the last
        /// window that was not rough (nil before the first; optional also so that detectors saved
        /// before it existed still load).
        var levels: [Double] = []
        var smoothLevel: Double?
        /// Its last jump alone (`SensorProfile.jumpLimit`, no sibling stepping with it): when, and
        /// the level it jumped from; nil once it is back there or a sibling stepped with it.
        var jump: Jump?
        /// When the isolation last named it (alone or not).
        var lastNamed: Int64 = .min / 2
        /// Its siblings were found moving with it (the machine's change): no drift is claimed
        /// until it stops standing out.
        var followed = false
        /// Its departure from its peers (minute mean minus their median, less its commissioned
        /// offset) followed over `peerTime`, and the row it last followed (nil without peers).
        var peerDeparture: Double?
        var peerAt: Int64?
        /// Since when, and when last, health found it alone taking its machine out of `ok`, and
        /// when it last left it out for that (`noteAlone`; optional also so that detectors saved
        /// before they existed still load).
        var aloneFrom: Int64?
        var lastAlone: Int64?
        var heldAlone: Int64?
        public var fault: SensorFault?
        /// When the open fault's evidence was last seen.
        var lastBad: Int64 = 0
        public var suspect: SensorFaultKind?

        public var state: SensorState { fault != nil ? .fault : suspect != nil ? .suspect : .ok }

        /// Whether it shifted level within `range` (of data time). Unsure — more shifts since than
        /// were kept — counts as shifted.
        func shifted(in range: ClosedRange<Int64>) -> Bool {
            guard let shifts else { return range.contains(lastShift) }
            if shifts.contains(where: range.contains) { return true }
            return shifts.count == SensorFaultDetector.shiftsKept && shifts[0] > range.upperBound
        }

        mutating func noteShift(at ts: Int64) {
            lastShift = ts
            var kept = (shifts ?? []).filter { ts - $0 <= SensorFaultDetector.shiftMemory }
            if kept.count == SensorFaultDetector.shiftsKept { kept.removeFirst() }
            kept.append(ts)
            shifts = kept
        }

        /// No fault, or one a fault its raw readings show replaces (see `open`).
        var yieldsToRawFault: Bool { fault.map { $0.kind == .spike || $0.kind == .drift } ?? true }
    }

    struct Jump: Codable, Sendable, Equatable {
        var at: Int64
        var from: Double
    }

    /// A fault that opened or closed, decided at `at` (data time).
    public struct Change: Sendable, Equatable {
        public var sensor: String
        public var opened: Bool
        public var fault: SensorFault
        public var at: Int64
    }

    /// How long (ms of readings) and how many level shifts a track remembers: more than the raw
    /// readings can run ahead of the scored rows plus `driftAfter`.
    static let shiftMemory: Int64 = 3 * 3_600_000
    static let shiftsKept = 16

    /// The time constant (ms) over which a sensor's departure from its peers is followed (a
    /// minute's is noisy), and the silence after which it starts afresh.
    static let peerTime: Int64 = 600_000
    static let peerGap: Int64 = 1_800_000

    /// Readings in a row outside the valid range before it is `out_of_range`: one more than a
    /// spike window holds.
    static let outsideReadings = 2 * SensorProfile.neighbours + 2

    public init(sensors: [String], profiles: [SensorProfile?], settings: Settings = .init()) {
        precondition(sensors.count == profiles.count)
        self.sensors = sensors
        self.profiles = profiles
        self.settings = settings
        tracks = Array(repeating: Track(), count: sensors.count)
    }

    /// Learns every sensor's profile from its commissioning readings (`series[i]` in time order).
    public init(sensors: [String], commissioning series: [(times: [Int64], values: [Double])], settings: Settings = .init()) {
        self.init(sensors: sensors, profiles: series.map { SensorProfile.learn(times: $0.times, values: $0.values) }, settings: settings)
    }

    public func index(of sensor: String) -> Int? { sensors.firstIndex(of: sensor) }

    /// Takes the sensors' declared physical ranges (by sensor name); true when they changed. A
    /// declaration the sensor's own commissioned values fall outside is not believed for it.
    @discardableResult
    public mutating func declare(_ metadata: [String: SensorMetadata]) -> Bool {
        let ranges: [SensorMetadata?] = sensors.indices.map { j in
            guard let m = metadata[sensors[j]], m.hasLimits else { return nil }
            let r = SensorMetadata(min: m.min, max: m.max)
            if let p = profiles[j], r.isImpossible(p.low) || r.isImpossible(p.high) { return nil }
            return r
        }
        let new: [SensorMetadata?]? = ranges.allSatisfy { $0 == nil } ? nil : ranges
        guard new != physical else { return false }
        physical = new
        return true
    }

    /// How far to judge next: up to `stepMillis` of data past what was judged, never past a few
    /// seconds ago — nor, while a backlog is still being stored (the last minute whose rollups are
    /// all in, `stored`, lies over 10 minutes behind `now`), past that minute, so readings still
    /// on their way are judged when they are in, not skipped.
    public func nextStep(stored: Int64, now: Int64, stepMillis: Int64) -> Int64 {
        let arrived = now - stored > 10 * 60_000 ? stored + 59_999 : now - 5_000
        return min(arrived, through + stepMillis)
    }

    /// Learns the profiles of every sensor in `readings` (a machine's commissioning readings, in
    /// time order), judged from `from` on.
    public init(commissioning readings: [(sensor: String, ts: Int64, value: Double)], judgedFrom from: Int64, settings: Settings = .init()) {
        let sensors = Array(Set(readings.map(\.sensor))).sorted()
        let index = Dictionary(uniqueKeysWithValues: sensors.enumerated().map { ($1, $0) })
        var series = [(times: [Int64], values: [Double])](repeating: ([], []), count: sensors.count)
        for r in readings {
            series[index[r.sensor]!].times.append(r.ts)
            series[index[r.sensor]!].values.append(r.value)
        }
        self.init(sensors: sensors, commissioning: series, settings: settings)
        _ = advance(to: from)
    }

    /// Feeds a machine's raw readings (in time order) and moves time on to `through`; returns
    /// what changed.
    public mutating func judge(_ readings: [(sensor: String, ts: Int64, value: Double)], through: Int64) -> [Change] {
        var changes: [Change] = []
        for r in readings {
            guard let j = index(of: r.sensor) else { continue }
            changes += observe(sensor: j, ts: r.ts, value: r.value)
        }
        return changes + advance(to: max(self.through, through))
    }

    /// Each sensor's state as the store keeps it (without its newest reading, which the store has
    /// with the series: a state that only moves on is not a change).
    public var conditions: [SensorCondition] {
        sensors.enumerated().map { j, sensor in
            SensorCondition(sensor: sensor, state: tracks[j].state, fault: tracks[j].fault, lastSeen: nil, cadenceMs: profiles[j]?.cadence)
        }
    }

    /// Sensors a drift is being judged on that have crept away from their siblings for a twelfth
    /// of `driftAfter` (5 minutes; named alone all along, no level shift: not yet decided).
    /// Health leaves them out meanwhile, so a sensor that turns out to be drifting never takes its
    /// machine to alarm, and one its siblings turn out to follow (the machine changing) counts
    /// again at once. Not held: a sensor that stepped, or stood out alone for a few minutes only —
    /// a sudden or brief change of one sensor may be the machine's (a valve closing shows on one
    /// SKAB instrument: holding at once took SKAB's F1 from 0.80 to 0.78) — health alarms on it
    /// until it is decided.
    public var driftSuspects: [Int] {
        tracks.indices.filter { j in
            let t = tracks[j]
            return t.drifting && t.stepped != true && t.fault == nil && t.lastNamed - t.driftFrom >= settings.driftAfter / 12
        }
    }

    /// Sensors that jumped alone by more than they ever stepped while commissioned
    /// (`SensorProfile.jumpLimit`: a temperature cannot leap 6 °C in ten seconds; a recalibrated
    /// or knocked transmitter can) before the end of the row `to`, and stay at the new level: held
    /// out of health like `driftSuspects`, at once, while the drift is judged on them — for up to
    /// three times `driftAfter`, until their siblings turn out to move with them, or a fault
    /// opens. A process fault steps several sensors at once; the process anomalies SKAB labels
    /// seldom step one instrument past its commissioned steps alone (a thermocouple, a flow: F1
    /// 0.81 → 0.80), and health still alarms on the rest of the machine.
    public func jumpSuspects(before to: Int64) -> [Int] {
        tracks.indices.filter { j in
            let t = tracks[j]
            guard let jump = t.jump, t.fault == nil, !t.followed else { return false }
            return jump.at < to && to - jump.at <= 3 * settings.driftAfter
        }
    }

    /// Health found sensor `j` alone taking the machine out of `ok` in the row `from..<to` (the
    /// rest of the machine is `ok` without it: `HealthScorer.score(_:alone:)`); returns whether
    /// health leaves it out of the row. One witness is believed for half of `driftAfter` (a change of
    /// one instrument may be the machine's: a valve closing, a pump cavitating on SKAB, over
    /// minutes); past that, a sensor that crept there — no fault open, its siblings not found
    /// moving with it, no step or spike within `driftAfter` — is left out, `suspect` of a drift,
    /// while the judge decides, and counts again as soon as a sibling moves with it or it comes
    /// back. A drifting transmitter takes hours to carry its machine to `alarm`; held, it does not.
    public mutating func noteAlone(_ j: Int, from: Int64, to: Int64) -> Bool {
        guard tracks.indices.contains(j), profiles[j] != nil else { return false }
        var t = tracks[j]
        defer { tracks[j] = t }
        if t.lastAlone.map({ from - $0 > settings.driftGap }) != false { t.aloneFrom = from }
        t.lastAlone = from
        guard t.fault == nil, !t.followed, !t.shifted(in: (to - settings.driftAfter)...to),
              let since = t.aloneFrom, from - since >= settings.driftAfter / 2 else { return false }
        t.heldAlone = from
        t.suspect = .drift
        return true
    }

    /// Learns each sensor's relation to its peers from its commissioning minutes: per sensor name
    /// that other machines have, its minute means and the peers' medians at the same minutes
    /// (`PeerProfile.learn`). Returns whether the peers covered those minutes (a median for nine
    /// in ten of them for every such sensor); if not, what was learned may be short of peers.
    @discardableResult
    public mutating func learnPeers(_ minutes: [String: (own: [Double?], peers: [Double?])]) -> Bool {
        let learned = sensors.map { name in minutes[name].flatMap { PeerProfile.learn(own: $0.own, peers: $0.peers) } }
        peers = learned.allSatisfy { $0 == nil } ? nil : learned
        return minutes.values.allSatisfy { m in
            zip(m.own, m.peers).filter { $0.1 != nil }.count * 10 >= m.own.filter { $0 != nil }.count * 9
        }
    }

    /// After each scored row (`at`): follows every sensor with peers, from its minute mean
    /// (`own`, by sensor name; a sensor left out for a fault its raw readings show is absent) and
    /// its peers' median (`peers`); returns the sensor furthest past its bar (`PeerProfile.bar`),
    /// if any, as a drift candidate standing alone, in this detector's numbering.
    public mutating func notePeers(own: [String: Double], peers medians: [String: Double], at: Int64) -> HealthScorer.Isolation? {
        guard let peers else { return nil }
        var worst: (sensor: Int, excess: Double)?
        for (j, profile) in peers.enumerated() {
            guard let profile, let x = own[sensors[j]], let y = medians[sensors[j]] else { continue }
            let departure = x - y - profile.offset
            let dt = tracks[j].peerAt.map { at - $0 } ?? .max
            if let level = tracks[j].peerDeparture, dt <= Self.peerGap {
                let a = Double(max(0, dt)) / Double(Self.peerTime + max(0, dt))
                tracks[j].peerDeparture = level + a * (departure - level)
            } else {
                tracks[j].peerDeparture = departure
            }
            tracks[j].peerAt = at
            let excess = abs(tracks[j].peerDeparture!) / profile.bar
            if excess >= 1, excess > worst?.excess ?? 0 { worst = (j, excess) }
        }
        guard let j = worst?.sensor, let profile = peers[j], let level = tracks[j].peerDeparture else { return nil }
        let name = sensors[j]
        return HealthScorer.Isolation(sensor: j, alone: true, evidence:
            "left the other machines' \(name): \(Self.number(abs(level))) \(level > 0 ? "above" : "below") its usual difference from their median (\(Self.number(profile.offset)), within \(Self.number(profile.spread)) while commissioned)")
    }

    /// Whether sensor `j` reads with its peers at the row `at` (followed then, within its bar): the
    /// machine's own judge naming it alone saw the site change (the hall's air), not the sensor.
    public func readsWithPeers(_ j: Int, at: Int64) -> Bool {
        guard let profile = peers?[j], tracks[j].peerAt == at, let level = tracks[j].peerDeparture else { return false }
        return abs(level) < profile.bar
    }

    /// The sensors whose readings should not be scored at `[from, to)`: those whose fault's
    /// evidence (from its start to the last time it was seen) overlaps it. A sensor that behaves
    /// again is scored again while its fault waits to close; a spike leaves out only its own rows.
    public func faulty(from: Int64, to: Int64) -> [(sensor: Int, kind: SensorFaultKind)] {
        var out: [Int: SensorFaultKind] = [:]
        for c in closed where c.fault.since < to && c.evidenceUntil >= from { out[c.sensor] = c.fault.kind }
        for (j, t) in tracks.enumerated() {
            guard let f = t.fault, f.since < to else { continue }
            // A dropout's evidence is its silence, up to now; a drift's is the isolation naming it
            // after each row, which the next row's start is always past: both hold while open.
            if t.lastBad >= from || f.kind == .dropout || f.kind == .drift { out[j] = f.kind }
        }
        return out.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    // MARK: raw readings

    /// Feeds one reading (in time order across the machine's sensors; an older one is ignored).
    public mutating func observe(sensor j: Int, ts: Int64, value: Double) -> [Change] {
        guard j >= 0, j < tracks.count, value.isFinite, ts >= through else { return [] }
        through = ts
        let previous = tracks[j].lastSeen
        tracks[j].lastSeen = ts
        guard let p = profiles[j] else { return [] }
        var changes: [Change] = []

        // Dropout of this sensor ends (evidence until it is back for `clearAfter`).
        if let previous, ts - previous > p.dropoutAfter, tracks[j].fault?.kind == .dropout { tracks[j].lastBad = ts }
        // Dropouts of siblings, judged on this sensor reporting regularly.
        if let previous, ts - previous <= p.dropoutAfter {
            for k in tracks.indices where k != j {
                guard let q = profiles[k], let seen = tracks[k].lastSeen, previous >= seen else { continue }
                let silent = ts - seen
                if silent > q.dropoutAfter {
                    if tracks[k].fault?.kind == .dropout {
                        tracks[k].lastBad = ts
                    } else {
                        changes += Self.open(&tracks[k], &closed, k, sensors[k], .dropout, since: seen + q.cadence, at: ts, evidence:
                            "no reading for \(Self.duration(silent)) while \(sensors[j]) reports; it never paused for more than \(Self.duration(q.longestGap)) while commissioned (every \(Self.duration(q.cadence)))")
                    }
                } else if tracks[k].fault == nil, silent * 2 > q.dropoutAfter {
                    tracks[k].suspect = .dropout
                }
            }
        }

        // The sensor's track is taken out while it is judged (and put back at the end), so its
        // buffers are never shared and never copied; its siblings are only read.
        var t = Track()
        swap(&t, &tracks[j])
        let name = sensors[j]
        var suspect: SensorFaultKind?
        // Out of range: longer than a spike window in a row (a shorter excursion is a spike burst),
        // entered at once (a rail or sentinel; a slow walk out of range is for drift and health to
        // judge), alone: no sibling outside its own range or stepping at the same time (a change
        // several sensors share is the machine's).
        let declared = physical?[j]
        let impossible = declared?.isImpossible(value) ?? false
        if p.validRange.contains(value) && !impossible {
            t.outside = 0
            t.impossible = nil
        } else {
            t.impossible = impossible ? (t.impossible ?? 0) + 1 : nil
            if t.outside == 0 {
                // From its usual values, or by more than their whole span: a sensor that crept to the
                // edge (a worn machine's vibration) and crosses it in its noise did not jump out.
                t.jumpedOut = t.lastValue.map { last in
                    abs(value - last) > p.spikeLimit && (p.usual ~= last || abs(value - last) > p.span)
                } ?? false
                t.outsideFrom = ts
            }
            t.outside += 1
            suspect = .outOfRange
            if t.fault?.kind == .outOfRange { t.lastBad = ts }
        }
        if let declared, t.impossible == Self.outsideReadings, t.fault?.kind != .outOfRange, t.yieldsToRawFault {
            // Beyond what the instrument can read: the sensor's, whatever its machine does.
            changes += Self.open(&t, &closed, j, name, .outOfRange, since: t.outsideFrom, at: ts, evidence:
                "reads \(Self.number(value)) (\(t.outside) readings in a row), outside what it can read (\(declared.min.map(Self.number) ?? "−∞") to \(declared.max.map(Self.number) ?? "∞"))")
        } else if t.outside == Self.outsideReadings, t.jumpedOut, t.fault?.kind != .outOfRange,
           !tracks.indices.contains(where: { k in
               k != j && (tracks[k].outside > 0 || abs(tracks[k].lastShift - t.outsideFrom) <= Int64(SensorProfile.neighbours + 1) * p.cadence)
           }),
           // A rail or sentinel holds its value; a sensor leaping about out there is believed only
           // on a machine whose other sensors read as commissioned (a process fault roughening a
           // worn machine's vibration leaves its range too, while its siblings have left theirs).
           t.still.from >= t.outsideFrom && t.still.readings >= t.outside - 1 || siblingsAsCommissioned(besides: j) {
            changes += Self.open(&t, &closed, j, name, .outOfRange, since: t.outsideFrom, at: ts, evidence:
                "reads \(Self.number(value)) (\(t.outside) readings in a row); it read \(Self.number(p.low)) to \(Self.number(p.high)) while commissioned")
        }

        // Spike: the reading `neighbours` back, against the median of the seven around it.
        t.recentTimes.append(ts)
        t.recentValues.append(value)
        let width = 2 * SensorProfile.neighbours + 1
        if t.recentValues.count > width {
            t.recentTimes.removeFirst()
            t.recentValues.removeFirst()
        }
        // A candidate from the previous reading is a spike unless a sibling strayed or stepped at
        // the same time (a shock several sensors feel, or a change of the process, is the machine's).
        if let pending = t.pendingSpike {
            t.pendingSpike = nil
            let window = Int64(SensorProfile.neighbours + 1) * p.cadence
            let shared = tracks.indices.contains { k in
                k != j && (abs(tracks[k].lastOff - pending.since) <= window || tracks[k].shifted(in: pending.since - window...pending.since + window))
            }
            if !shared, t.fault == nil || t.fault?.kind == .spike {
                if t.fault == nil { changes += Self.open(&t, &closed, j, name, .spike, since: pending.since, at: ts, evidence: pending.evidence) }
                t.lastBad = ts
            }
        }
        // A jump: a reading past the jump limit from the median of the ones before it is held at
        // once; `neighbours` readings later it stands if those after it stayed there and no sibling
        // stepped or strayed with it (otherwise it was a spike, or the machine's change).
        if let jumpLimit = p.jumpLimit, t.recentValues.count == width {
            let c = SensorProfile.neighbours
            if let jump = t.jump {
                if abs(value - jump.from) < jumpLimit / 2 {
                    t.jump = nil  // back where it was
                } else if jump.at == t.recentTimes[c] {
                    let after = SensorProfile.median(of: Array(t.recentValues[c...])), window = Int64(c + 1) * p.cadence
                    let shared = tracks.indices.contains { k in
                        k != j && (abs(tracks[k].lastOff - jump.at) <= window || tracks[k].shifted(in: jump.at - window...jump.at + window))
                    }
                    if shared || abs(after - jump.from) <= jumpLimit { t.jump = nil }
                }
            }
            if abs(value - t.recentValues[width - 2]) > jumpLimit / 2 {
                let before = SensorProfile.median(of: Array(t.recentValues[(width - 1 - c)..<(width - 1)]))
                // Not while a drift is open on it: a drifting sensor's step is the drift ending (a
                // recalibrated transmitter coming back), and holding it would make it the judge's
                // candidate for hours, hiding a sibling that starts drifting next.
                if abs(value - before) > jumpLimit, t.fault?.kind != .drift { t.jump = Jump(at: ts, from: before) }
            }
        }
        // Only a reading further than the limit from more than half the window can be that far
        // from its median (the median's side holds more than half), so most readings need no median.
        let c = SensorProfile.neighbours, limit = p.spikeLimit
        if t.recentValues.count == width, t.recentValues.reduce(0, { $0 + (abs($1 - t.recentValues[c]) > limit ? 1 : 0) }) > c {
            let median = SensorProfile.median(of: t.recentValues)
            let off = abs(t.recentValues[c] - median)
            // Far off the readings on both sides: a reading that starts a new level (a step, a
            // recalibration) is near those after it, however steep the signal is moving.
            let before = SensorProfile.median(of: Array(t.recentValues[..<c])), after = SensorProfile.median(of: Array(t.recentValues[(c + 1)...]))
            if off > limit, abs(t.recentValues[c] - before) > limit, abs(t.recentValues[c] - after) > limit,
               p.validRange.contains(t.recentValues[c]) || t.outside < Self.outsideReadings {
                let at = t.recentTimes[c]
                t.lastOff = at
                t.pendingSpike = SensorFault(kind: .spike, since: at, evidence:
                    "read \(Self.number(t.recentValues[c])) at \(Timestamp.rfc3339(millis: at)), \(Self.number(off)) off its neighbours (median \(Self.number(median))); it never strayed more than \(Self.number(p.localP999)) while commissioned")
            }
        }

        // Stuck: the still run.
        t.still.add(ts: ts, value: value, tolerance: p.stillTolerance)
        let still = ts - t.still.from
        if still > p.stuckAfter && t.still.readings > p.stuckAfterReadings {
            if t.fault?.kind == .stuck {
                t.lastBad = ts
            } else if t.yieldsToRawFault, siblingMoves(besides: j, at: ts) {
                changes += Self.open(&t, &closed, j, name, .stuck, since: t.still.from, at: ts, evidence:
                    "unchanged at \(Self.number(value)) for \(Self.duration(still)) (\(t.still.readings) readings) while its siblings move; it never stayed for more than \(Self.duration(p.longestStill)) while commissioned")
            }
        } else if still * 2 > p.stuckAfter, t.still.readings * 2 > p.stuckAfterReadings {
            suspect = suspect ?? .stuck
        }

        // Noise: the median step of each window.
        if let last = t.lastValue {
            t.steps.append(abs(value - last))
            if abs(value - last) > p.spikeLimit { t.noteShift(at: ts) }
        }
        t.lastValue = value
        t.levels.append(value)
        if t.steps.count == SensorProfile.stepWindow {
            t.lastRoughness = SensorProfile.median(&t.steps)
            t.steps.removeAll(keepingCapacity: true)
            // Rough at its usual level, or at the level it had before it turned rough (a sensor
            // commissioned on minutes wanders past them over hours): a level that moved as it
            // roughened is the process (cavitation on SKAB) or another fault.
            let level = SensorProfile.median(&t.levels)
            t.levels.removeAll(keepingCapacity: true)
            let rough = t.lastRoughness > p.roughnessLimit
            let steady = p.usual ~= level || t.smoothLevel.map { abs(level - $0) <= t.lastRoughness } == true
            if !rough { t.smoothLevel = level }
            t.roughWindows = rough && steady ? t.roughWindows + 1 : 0
            if t.roughWindows >= 1, t.fault?.kind == .noise { t.lastBad = ts }
            if t.roughWindows == 2, t.yieldsToRawFault {
                let since = ts - Int64(2 * SensorProfile.stepWindow) * p.cadence
                changes += Self.open(&t, &closed, j, name, .noise, since: since, at: ts, evidence:
                    "its median step is \(Self.number(t.lastRoughness)), \(Self.number(t.lastRoughness / max(p.roughness, p.quantum, 1e-300)))× what it was while commissioned (\(Self.number(p.roughness)), at most \(Self.number(p.roughnessMax)))")
            }
        }
        if t.roughWindows == 1 { suspect = suspect ?? .noise }
        if t.drifting || t.heldAlone.map({ ts - $0 <= settings.driftGap }) == true, t.fault == nil { suspect = suspect ?? .drift }
        t.suspect = t.fault == nil ? suspect : nil
        tracks[j] = t
        changes += closeIfBehaved(j, at: ts)
        return changes
    }

    /// Whether every other judged sensor last read one of its usual values.
    private func siblingsAsCommissioned(besides j: Int) -> Bool {
        tracks.indices.allSatisfy { k in
            guard k != j, let q = profiles[k], let x = tracks[k].lastValue else { return true }
            return q.usual ~= x
        }
    }

    /// Whether another judged sensor is moving (its still run is shorter than its own stuck limit)
    /// and reporting: a machine that stopped has every sensor still, and none of them is stuck.
    private func siblingMoves(besides j: Int, at ts: Int64) -> Bool {
        var judged = 0
        for k in tracks.indices where k != j {
            guard let q = profiles[k], let seen = tracks[k].lastSeen else { continue }
            judged += 1
            if ts - seen <= q.dropoutAfter, ts - tracks[k].still.from <= q.stuckAfter, tracks[k].fault == nil { return true }
        }
        return judged == 0
    }

    // MARK: scored rows

    /// After each scored row (a minute in the daemon): the sensor the machine-level isolation
    /// names as explaining most of the change since the baseline (alone, or with its siblings
    /// following), or nil. `at` is the row's time.
    ///
    /// A drift opens once the same sensor was named alone for `driftAfter` (gaps up to `driftGap`
    /// do not break the streak; a level shift of the sensor restarts it: a step is not a drift).
    /// When its siblings are found moving with it, the machine changed (wear, a process fault): a
    /// drift claimed on it is withdrawn, and none is claimed again until it stopped standing out
    /// for four times `driftClear`. `departed` is a second candidate, a sensor that left its peers
    /// while the machine's judge names another (`notePeers`): its streak is its own.
    public mutating func noteIsolation(_ named: HealthScorer.Isolation?, departed: HealthScorer.Isolation? = nil, at: Int64) -> [Change] {
        var changes: [Change] = []
        for j in tracks.indices {
            guard let culprit = [named, departed].lazy.compactMap({ $0 }).first(where: { $0.sensor == j }), profiles[j] != nil else {
                let unnamed = at - tracks[j].lastNamed
                if unnamed > settings.driftGap {
                    tracks[j].drifting = false
                    if tracks[j].suspect == .drift { tracks[j].suspect = nil }
                }
                if tracks[j].followed, unnamed >= 4 * settings.driftClear { tracks[j].followed = false }
                if tracks[j].fault?.kind == .drift, unnamed >= settings.driftClear {
                    changes += Self.close(&tracks[j], &closed, j, sensors[j], at: at)
                }
                continue
            }
            tracks[j].lastNamed = at
            guard culprit.alone, !tracks[j].followed else {
                // The machine's change, not the sensor's.
                if !culprit.alone { tracks[j].followed = true }
                tracks[j].drifting = false
                if tracks[j].suspect == .drift { tracks[j].suspect = nil }
                if tracks[j].fault?.kind == .drift { changes += Self.close(&tracks[j], &closed, j, sensors[j], at: at) }
                continue
            }
            // A level shift during the streak, or within `driftAfter` before it, makes it a step
            // (not yet a drift): the streak starts again.
            if !tracks[j].drifting || tracks[j].shifted(in: tracks[j].driftFrom - settings.driftAfter...at) {
                tracks[j].stepped = (tracks[j].drifting && tracks[j].stepped == true) || tracks[j].shifted(in: at - settings.driftAfter...at)
                tracks[j].drifting = true
                tracks[j].driftFrom = at
            }
            if tracks[j].fault?.kind == .drift { tracks[j].lastBad = max(tracks[j].lastBad, at) }
            if at - tracks[j].driftFrom >= settings.driftAfter, tracks[j].fault == nil || tracks[j].fault?.kind == .spike {
                changes += Self.open(&tracks[j], &closed, j, sensors[j], .drift, since: tracks[j].driftFrom, at: at, evidence: culprit.evidence)
            } else if tracks[j].fault == nil {
                tracks[j].suspect = .drift
            }
        }
        return changes
    }

    /// The baseline in a scorer's sensor order, nil before the first scored row.
    public func baseline(for names: [String]) -> [Double]? {
        guard !baselineDeviation.isEmpty else { return nil }
        return names.map { baselineDeviation[$0] ?? 0 }
    }

    /// After each scored row: moves the baseline toward the machine's slow deviation. A sensor a
    /// drift is being judged on (a streak or an open drift) is measured from before it began: its
    /// baseline moves only by what its siblings' moves predict for it (`predicted(sensor, change)`,
    /// in the order of `names`), so the machine's own slow changes meanwhile — its operating point,
    /// wear — are not taken for the sensor's, nor for its siblings moving with it.
    public mutating func noteDeviation(_ deviation: [Double], sensors names: [String], at: Int64,
                                       predicted: (_ sensor: Int, _ change: [Double]) -> Double) {
        guard names.count == deviation.count else { return }
        defer { baselineAt = at }
        guard !baselineDeviation.isEmpty else {
            for (name, x) in zip(names, deviation) { baselineDeviation[name] = x }
            return
        }
        // A first-order follower over time: the weight of this row grows with the time since the last.
        let dt = Double(max(0, at - baselineAt)), tau = Double(max(1, settings.baselineTime))
        let a = dt / (tau + dt)
        let judged = names.indices.filter { i in
            index(of: names[i]).map { tracks[$0].drifting || tracks[$0].fault?.kind == .drift } ?? false
        }
        var change = names.indices.map { i in
            judged.contains(i) ? 0 : a * (deviation[i] - (baselineDeviation[names[i]] ?? deviation[i]))
        }
        let carried = judged.map { predicted($0, change) }
        for (i, c) in zip(judged, carried) { change[i] = c }
        for (name, c) in zip(names, change) { baselineDeviation[name, default: 0] += c }
    }

    /// Moves time on without readings (a tick): closes faults whose evidence is gone.
    public mutating func advance(to ts: Int64) -> [Change] {
        through = max(through, ts)
        var changes: [Change] = []
        for j in tracks.indices { changes += closeIfBehaved(j, at: ts) }
        closed.removeAll { ts - $0.until > 6 * 3_600_000 }
        return changes
    }

    // MARK: opening and closing

    /// Opens a fault of `kind` on a sensor's track (`j`, `name`): a spike gives way to a lasting
    /// fault of another kind, and a drift (a verdict on the slow horizon) to one its raw readings
    /// show (stuck, dropout, out of range, noise); any other open fault stays.
    private static func open(_ track: inout Track, _ closed: inout [ClosedFault], _ j: Int, _ name: String, _ kind: SensorFaultKind,
                             since: Int64, at: Int64, evidence: String) -> [Change] {
        var changes: [Change] = []
        if let current = track.fault {
            guard current.kind == .spike && kind != .spike || current.kind == .drift && kind != .spike && kind != .drift else { return [] }
            changes += close(&track, &closed, j, name, at: at)
        }
        let fault = SensorFault(kind: kind, since: min(since, at), evidence: evidence)
        track.fault = fault
        track.suspect = nil
        track.lastBad = at
        changes.append(Change(sensor: name, opened: true, fault: fault, at: at))
        return changes
    }

    private static func close(_ track: inout Track, _ closed: inout [ClosedFault], _ j: Int, _ name: String, at: Int64) -> [Change] {
        guard let fault = track.fault else { return [] }
        track.fault = nil
        track.drifting = false
        closed.append(ClosedFault(sensor: j, fault: fault, evidenceUntil: track.lastBad, until: at))
        return [Change(sensor: name, opened: false, fault: fault, at: at)]
    }

    private mutating func closeIfBehaved(_ j: Int, at ts: Int64) -> [Change] {
        guard let fault = tracks[j].fault, fault.kind != .drift, let p = profiles[j] else { return [] }
        // A dropout closes only once the sensor is back; the others once their evidence is old.
        if fault.kind == .dropout, let seen = tracks[j].lastSeen, ts - seen > p.dropoutAfter { return [] }
        guard ts - tracks[j].lastBad >= p.clearAfter else { return [] }
        return Self.close(&tracks[j], &closed, j, sensors[j], at: ts)
    }

    // MARK: text

    static func number(_ x: Double) -> String {
        let a = abs(x)
        let digits = a >= 1000 || x == 0 ? 0 : a >= 100 ? 1 : a >= 1 ? 2 : a >= 0.01 ? 4 : 6
        return Replay.fixed(x, digits)
    }

    static func duration(_ ms: Int64) -> String {
        if ms < 120_000 { return "\(Replay.fixed(Double(ms) / 1000, ms < 10_000 ? 1 : 0)) s" }
        if ms < 7_200_000 { return "\(ms / 60_000) min" }
        return "\(Replay.fixed(Double(ms) / 3_600_000, 1)) h"
    }
}
