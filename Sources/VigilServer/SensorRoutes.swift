import Foundation
public import Hummingbird
import VigilAPI
public import VigilCore
public import VigilStore

/// A sensor's state and what is known of it (SPEC §6): `GET /api/v1/machines/{id}/sensors` and
/// `PUT /api/v1/machines/{id}/sensors/{sensor}` (admin: the `api` source of its metadata).
struct SensorRoutes: Sendable {
    let reader: StoreReader
    let writer: StoreWriter
    let rules: [SensorRule]
    let api: APIRoutes

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/machines/:id/sensors") { req, ctx in try await sensors(ctx).response(from: req, context: ctx) }
        router.put("/api/v1/machines/:id/sensors/:sensor") { req, ctx in try await set(req, ctx) }
    }

    /// Every sensor of the machine, judged, with its metadata resolved over the sources.
    func sensors(_ ctx: BasicRequestContext) async throws -> [SensorCondition] {
        let id = try api.pathID(ctx, "id", valid: KeyRules.isValidMachine)
        // Readings still waiting for their commit (`ingest.apply_interval`) count too, read first
        // (a commit in between then shows in SQLite's answer): a new sensor is listed at once.
        let waiting = api.buffer.unappliedLatest(machine: id)
        guard var sensors = try await reader.sensorConditions(machine: id) ?? (waiting.isEmpty ? nil : []) else {
            throw APIError.notFound("no machine \(id)")
        }
        // The file's `last_ts` may lag the newest committed reading by under ten minutes (it is
        // written once a window, `LastReadings`): the writer knows it exactly.
        let committed = writer.newestReadings(machine: id)
        for k in sensors.indices {
            for ts in [committed[sensors[k].sensor], waiting[sensors[k].sensor]].compactMap({ $0 }) {
                sensors[k].lastSeen = max(sensors[k].lastSeen ?? .min, ts)
            }
        }
        let known = Set(sensors.map(\.sensor))
        for (sensor, ts) in waiting where !known.contains(sensor) {
            sensors.append(SensorCondition(sensor: sensor, state: .ok, fault: nil, lastSeen: ts, cadenceMs: nil))
        }
        sensors.sort { $0.sensor < $1.sensor }
        let stored = try await reader.sensorMetadata(machine: id)
        for k in sensors.indices {
            sensors[k].metadata = SensorMetadata.resolve(machine: id, sensor: sensors[k].sensor, rules: rules, stored: stored[sensors[k].sensor] ?? [:])
        }
        return sensors
    }

    func set(_ req: Request, _ ctx: BasicRequestContext) async throws -> SensorCondition {
        let id = try api.pathID(ctx, "id", valid: KeyRules.isValidMachine)
        let sensor = try api.pathID(ctx, "sensor", valid: KeyRules.isValidSensor)
        let bytes = try await req.body.collect(upTo: 16 * 1024)
        // The API source's metadata becomes exactly the body: a field left out is no longer set by
        // the API (the config's or the device's shows again).
        let m: SensorMetadata
        do { m = try JSONDecoder().decode(SensorMetadata.self, from: Data(bytes.readableBytesView)) } catch {
            throw APIError.badRequest("body must be JSON {\"unit\", \"description\", \"min\", \"max\", \"step\"} (each optional; min/max/step numbers)")
        }
        if let problem = m.problem { throw APIError.badRequest(problem) }
        guard try await api.knows(machine: id, sensor: sensor) else {
            throw APIError.notFound("no sensor \(sensor) of machine \(id) (metadata for sensors not seen yet: [[sensors]] in the config)")
        }
        try writer.setSensorMetadata([(id, sensor, m)], source: .api, at: SystemClock.wallMillis())
        guard let now = try await sensors(ctx).first(where: { $0.sensor == sensor }) else { throw APIError.notFound("no sensor \(sensor)") }
        return now
    }
}
