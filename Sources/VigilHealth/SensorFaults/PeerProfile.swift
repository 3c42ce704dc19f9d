/// How one sensor read against the same sensor on the site's other machines (its peers) while its
/// machine was commissioned — for a sensor that measures what they share: an ambient probe (the
/// hall's air), a supply pressure, a line voltage. Such a sensor's relation to its own machine's
/// siblings runs through slow physics (the machine's temperatures follow the air with a lag), so a
/// slow drift of it hides in its own swing there; against its peers it stands out at once, because
/// its difference from their median hardly moved while commissioned.
///
/// Learned only where the peers explain nearly all of its swing (the difference's spread at most
/// `explained` of its own): a sensor that follows its own machine's load (a flow, a current) has
/// no peers. Unit-invariant like `SensorProfile`: an affine change of the sensor's units (the same
/// on every machine) scales offset, spread and swing alike.
public struct PeerProfile: Codable, Sendable, Equatable {
    /// The median and robust spread (1.4826 × MAD) of its minute mean minus the peers' median
    /// minute mean, while commissioned.
    public var offset: Double
    public var spread: Double
    /// The standard deviation of its own minute means while commissioned.
    public var swing: Double
    /// Minutes it was learned from.
    public var minutes: Int

    /// A minute's peers' median needs this many other machines reporting the sensor.
    public static let minimumPeers = 3
    /// Minutes with peers needed to learn (two hours), and the largest share of its swing the
    /// difference from its peers may keep.
    public static let minimumMinutes = 120
    public static let explained = 0.125

    /// The departure from `offset` at which it has left its peers: six spreads, and at least a
    /// quarter of its own commissioned swing (the spread of one commissioning is not all a sensor's
    /// honest disagreement with its peers).
    public var bar: Double { max(6 * spread, swing / 4) }

    /// Learns from the sensor's minute means (`own`) and the peers' medians at the same minutes
    /// (nil where either is missing); nil when there are too few such minutes or its peers do not
    /// explain its swing.
    public static func learn(own: [Double?], peers: [Double?]) -> PeerProfile? {
        var mine: [Double] = [], difference: [Double] = []
        for (x, y) in zip(own, peers) {
            guard let x, let y else { continue }
            mine.append(x)
            difference.append(x - y)
        }
        guard difference.count >= minimumMinutes else { return nil }
        let mean = mine.reduce(0, +) / Double(mine.count)
        let swing = (mine.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(mine.count - 1)).squareRoot()
        let offset = HealthModel.median(difference)
        let spread = 1.4826 * HealthModel.median(difference.map { abs($0 - offset) })
        guard swing > 0, swing.isFinite, spread <= explained * swing else { return nil }
        return PeerProfile(offset: offset, spread: spread, swing: swing, minutes: difference.count)
    }

    /// The peers' median of a minute: nil with fewer than `minimumPeers` values.
    public static func peersMedian(_ values: [Double]) -> Double? {
        values.count >= minimumPeers ? HealthModel.median(values) : nil
    }
}
