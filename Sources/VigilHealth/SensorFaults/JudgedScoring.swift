import VigilCore

/// Scoring with the sensors judged first: one scored row (a minute in the daemon, a table row in
/// `vigil replay`) given the machine's sensor-fault detector.
///
/// A sensor in fault during the row is left out of the statistic (the model scores from the
/// others, `HealthScorer.exclude`), its contributor shows the fault instead of a share, and
/// confidence drops with the share of the model's information it carried. A sensor faulty from its
/// raw readings (stuck, spike, dropout, out of range, noise) is not smoothed either, so its faulty
/// values never linger in the machine's state; a drifting one still is (the detector needs to see
/// whether it comes back); so is a sensor that crept away from its siblings while a drift is
/// judged on it (`SensorFaultDetector.driftSuspects`, no contributor: it is not decided yet), and
/// a sensor that has alone kept the machine out of `ok` for half an hour while the rest is `ok`,
/// if it crept there (`HealthScorer.score(_:alone:)`, `SensorFaultDetector.noteAlone`). After
/// scoring, the slow horizon's isolation tells the detector which single sensor, if any, explains
/// the change of the machine's deviation since the detector's baseline on its own (a drift
/// candidate) — or, when none does, whether a sensor has left its peers (`peers`: the median
/// minute mean of each sensor on the site's other machines, by name; `SensorFaultDetector.notePeers`).
public enum JudgedScoring {
    public static func score(_ scorer: inout HealthScorer, row: [Double?], from: Int64, to: Int64, peers: [String: Double] = [:],
                             detector: inout SensorFaultDetector) -> (score: HealthScore, changes: [SensorFaultDetector.Change]) {
        let names = scorer.model.sensors
        var faulty: [Int] = []
        var kinds: [Int: SensorFaultKind] = [:]
        var drifting = Set<Int>()
        var cells = row
        for (d, kind) in detector.faulty(from: from, to: to) {
            guard let j = names.firstIndex(of: detector.sensors[d]) else { continue }
            faulty.append(j)
            kinds[j] = kind
            if kind == .drift { drifting.insert(j) } else if j < cells.count { cells[j] = nil }
        }
        for d in detector.driftSuspects + detector.jumpSuspects(before: to) {
            guard let j = names.firstIndex(of: detector.sensors[d]), kinds[j] == nil else { continue }
            faulty.append(j)
            drifting.insert(j)
        }
        scorer.exclude(faulty)
        var s = scorer.score(cells) { j in detector.index(of: names[j]).map { detector.noteAlone($0, from: from, to: to) } ?? false }
        for j in faulty.sorted() where kinds[j] != nil { s.contributors.append(Contributor(sensor: names[j], share: 0, sensorFault: kinds[j])) }
        // Judged on the change since the baseline (in the scorer's numbering), which moves on while
        // no drift is being judged.
        let deviation = scorer.slowDeviation(drifting: drifting)
        let baseline = detector.baseline(for: names)
        var isolation = scorer.isolation(of: deviation, drifting: drifting, since: baseline, part: baseline == nil ? 0.5 : detector.settings.driftPart,
                                         share: baseline == nil ? 0.75 : detector.settings.driftShare)
        if let i = isolation {
            // Back to the detector's numbering.
            guard let d = detector.index(of: names[i.sensor]) else { return (s, []) }
            isolation!.sensor = d
        }
        // Its peers overrule the machine's own judge: a sensor that reads with them did not drift
        // (the site changed: its relation to its own machine was never seen at this air); one
        // that left them is a candidate of its own (beside the sensor the judge names, if another:
        // a machine wearing out does not hide its ambient probe's drift), unless the judge finds
        // its siblings moving with it (the machine's change reaching it).
        var own: [String: Double] = [:]
        for (j, x) in cells.enumerated() where j < names.count { if let x { own[names[j]] = x } }
        var departed = detector.notePeers(own: own, peers: peers, at: from)
        if let i = isolation, i.alone, detector.readsWithPeers(i.sensor, at: from) { isolation = nil }
        if let d = departed, let i = isolation, i.sensor == d.sensor {
            if i.alone { isolation = d }
            departed = nil
        }
        let changes = detector.noteIsolation(isolation, departed: departed, at: from)
        detector.noteDeviation(deviation, sensors: names, at: from) { scorer.predictedChange(of: $0, given: $1) }
        return (s, changes)
    }
}
