import Foundation
import Testing
import VigilCore
@testable import VigilHealth

/// Health must not depend on how a plant's gateways report a sensor: a per-sensor change of units
/// `x → a·x + b` (either sign, ×1e-3…×1e3, any offset), the order and the names of the sensors and
/// the clock change nothing but floating-point rounding.
@Suite struct UnitInvarianceTests {
    /// One scored row, with contributors named as in the original table.
    struct Scored: Equatable {
        var health: Double
        var status: HealthStatus
        var contributors: [Contributor]
    }

    /// Commissions on the first `commission` rows and scores the rest, as `vigil replay` does.
    static func score(_ table: SensorTable, commission: Int) throws -> [Scored] {
        let model = try HealthModel.train(sensors: table.sensors, rows: Array(table.rows[..<commission]))
        var scorer = HealthScorer(model: model)
        return table.rows.enumerated().compactMap { i, row in
            if i < commission {
                _ = scorer.severity(row)
                return nil
            }
            let s = scorer.score(row)
            return Scored(health: s.health, status: s.status, contributors: s.contributors)
        }
    }

    /// The table in other units, columns shuffled and renamed, clock shifted; and the map from
    /// the new names back to the old.
    static func transformed(_ table: SensorTable, seed: UInt64) -> (SensorTable, [String: String]) {
        var noise = Noise(state: seed)
        let p = table.sensors.count
        var rows = table.rows
        for j in 0..<p {
            let column = table.rows.compactMap { $0[j] }
            let spread = max((column.max() ?? 0) - (column.min() ?? 0), 1e-9)
            let a = (noise.next() < 0 ? -1.0 : 1.0) * pow(10, 3 * noise.next())
            let b = 1e4 * noise.next() * spread * abs(a)
            for i in rows.indices { rows[i][j] = table.rows[i][j].map { a * $0 + b } }
        }
        var order = Array(0..<p)
        for i in stride(from: p - 1, to: 0, by: -1) { order.swapAt(i, Int((noise.next() + 1) / 2 * Double(i + 1)) % (i + 1)) }
        let names = (0..<p).map { "s\(Int((noise.next() + 1) * 1e6))_\($0)" }
        let shift = Int64(noise.next() * 1e9)
        let out = SensorTable(sensors: names,
                              timestamps: table.timestamps.map { Int64($0).map { String($0 + shift) } ?? $0 },
                              rows: rows.map { r in order.map { r[$0] } })
        var back: [String: String] = [:]
        for (k, j) in order.enumerated() { back[names[k]] = table.sensors[j] }
        return (out, back)
    }

    static func expectSame(_ original: [Scored], _ changed: [Scored], back: [String: String], _ what: String) {
        #expect(original.count == changed.count)
        var worst = 0.0, statusDiffs = 0, contributorDiffs = 0
        for (o, c) in zip(original, changed) {
            worst = max(worst, abs(o.health - c.health))
            if o.status != c.status { statusDiffs += 1 }
            let renamed = c.contributors.map { Contributor(sensor: back[$0.sensor] ?? $0.sensor, share: $0.share) }
            let sameSensors = renamed.map(\.sensor) == o.contributors.map(\.sensor)
            let sameShares = zip(renamed, o.contributors).allSatisfy { abs($0.share - $1.share) < 1e-6 }
            if !(sameSensors && sameShares) {
                if contributorDiffs == 0 { Issue.record("\(what): first other contributors \(o.contributors) vs \(renamed)") }
                contributorDiffs += 1
            }
        }
        #expect(worst < 1e-6, "\(what): health differs by up to \(worst)")
        #expect(statusDiffs == 0, "\(what): \(statusDiffs) rows with another status")
        #expect(contributorDiffs == 0, "\(what): \(contributorDiffs) rows with other contributors")
    }

    @Test(arguments: 1...6 as ClosedRange<UInt64>)
    func aSimulatedPumpScoresTheSameInAnyUnits(seed: UInt64) throws {
        // A fault in the last third, so alarms and contributors are exercised, not only "ok".
        let offsets = [25.0, 6, 1.5, 6] // several times each sensor's load swing or noise
        let table = pumpTable(rows: 900, seed: 40 + seed) { t in t >= 700 ? (Int(seed % 4), offsets[Int(seed % 4)]) : nil }
        let original = try Self.score(table, commission: 400)
        #expect(original.contains { $0.status == .alarm } && original.contains { $0.status == .ok })
        let (changed, back) = Self.transformed(table, seed: seed)
        Self.expectSame(original, try Self.score(changed, commission: 400), back: back, "pump seed \(seed)")
    }

    /// A sensor that sat still while commissioning and then moves counts the same in any units.
    @Test func aFlatSensorScoresTheSameInAnyUnits() throws {
        var table = pumpTable(rows: 700, seed: 9)
        for i in table.rows.indices { table.rows[i][2] = i < 550 ? 32.0 : 30.5 }
        let original = try Self.score(table, commission: 400)
        #expect(original.last?.status == .alarm && original.last?.contributors.first?.sensor == "pressure")
        for seed in 1...4 as ClosedRange<UInt64> {
            let (changed, back) = Self.transformed(table, seed: seed)
            Self.expectSame(original, try Self.score(changed, commission: 400), back: back, "flat sensor, seed \(seed)")
        }
    }

    /// The public SKAB benchmark (`../shared/benchmarks/skab`, next to this repository), when it is
    /// there: real pump data with real faults.
    static let skab: URL? = {
        var dir = URL(fileURLWithPath: #filePath)
        for _ in 0..<6 {
            dir.deleteLastPathComponent()
            let candidate = dir.appendingPathComponent("shared/benchmarks/skab")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
        }
        return nil
    }()

    static func skabTable(_ file: String) throws -> SensorTable {
        let text = try String(contentsOf: skab!.appendingPathComponent(file), encoding: .utf8)
        var lines = text.split(whereSeparator: \.isNewline)
        let header = lines.removeFirst().split(separator: ";").map(String.init)
        var table = SensorTable(sensors: Array(header[1...8]), timestamps: [], rows: [])
        let format = DateFormatter()
        format.dateFormat = "yyyy-MM-dd HH:mm:ss"
        format.timeZone = TimeZone(identifier: "UTC")
        for line in lines {
            let cells = line.split(separator: ";")
            table.timestamps.append(String(Int64(format.date(from: String(cells[0]))!.timeIntervalSince1970)))
            table.rows.append(cells[1...8].map { Double($0) })
        }
        return table
    }

    @Test(.enabled(if: skab != nil, "SKAB data not found next to the repository (../shared/benchmarks/skab)"),
          arguments: ["valve1/0.csv", "valve2/2.csv", "other/5.csv", "other/14.csv"])
    func skabScoresTheSameInAnyUnits(file: String) throws {
        let table = try Self.skabTable(file)
        let original = try Self.score(table, commission: 400)
        #expect(original.contains { $0.status == .alarm })
        for seed in 1...3 as ClosedRange<UInt64> {
            let (changed, back) = Self.transformed(table, seed: seed &* 7919 &+ UInt64(file.utf8.count))
            Self.expectSame(original, try Self.score(changed, commission: 400), back: back, "\(file), seed \(seed)")
        }
    }
}
