import VigilCore

extension HealthModel {
    /// SHA-256 of the canonical form of training rows: one line per row, the row's time, then
    /// each sensor's value in shortest round-trip form (empty when missing), comma-separated.
    public static func contentHash(sensors: [String], times: [Int64], rows: [[Double?]]) -> String {
        var sha = SHA256()
        sha.update("ts," + sensors.joined(separator: ",") + "\n")
        for (t, r) in zip(times, rows) {
            sha.update(String(t) + "," + r.map { $0.map { "\($0)" } ?? "" }.joined(separator: ",") + "\n")
        }
        return sha.hexDigest()
    }
}
