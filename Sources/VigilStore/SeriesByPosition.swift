public import VigilCore

/// Each machine's series in the order its last message named them. A device sends the same
/// sensors in the same order message after message (a line-protocol line is one machine and its
/// eight sensors), so the series of a reading is found by comparing its sensor with the one at its
/// position in the machine's last message: one lookup of the machine a message instead of hashing
/// both names for every reading. A miss is answered by the caller (its dictionary) and noted.
///
/// A position counts the changes of series within a run of one machine's readings, so a batch of
/// one series stays at position 0, and a run that comes back to its first sensor (a batch of
/// multi-sensor ticks) starts over at 0. Positions beyond `maxPositions` are not noted.
struct SeriesByPosition<ID: Sendable>: Sendable {
    static var maxPositions: Int { 64 }
    private var machines: [String: [(sensor: String, id: ID)]] = [:]

    /// The series of each of `readings`, in order; `resolve` answers the ones not found by position.
    mutating func ids<E: Error>(of readings: [Reading], resolve: (Reading) throws(E) -> ID) throws(E) -> [ID] {
        var out: [ID] = []
        out.reserveCapacity(readings.count)
        var machine: String?
        var sensor = ""
        var known: [(sensor: String, id: ID)] = []
        var position = -1
        for r in readings {
            if r.machine != machine {
                // A new run of a machine: its positions start over (misses were noted as they came).
                machine = r.machine
                known = machines[r.machine] ?? []
                position = -1
            } else if r.sensor == sensor, let last = out.last {
                out.append(last)
                continue
            }
            sensor = r.sensor
            position += 1
            if position > 0, !known.isEmpty, known[0].sensor == r.sensor { position = 0 }
            if position < known.count, known[position].sensor == r.sensor {
                out.append(known[position].id)
                continue
            }
            let id = try resolve(r)
            out.append(id)
            if position < known.count {
                known[position] = (r.sensor, id)
            } else if position == known.count, position < Self.maxPositions {
                known.append((r.sensor, id))
            } else {
                continue
            }
            machines[r.machine] = known
        }
        return out
    }

    /// Forgets a machine (its series were removed).
    mutating func forget(machine: String) { machines[machine] = nil }
}
