import Foundation
public import Hummingbird
public import VigilAPI
public import VigilCore
import VigilStore
import VigilHealth

extension API.Health: ResponseEncodable {}
extension API.HealthPoint: ResponseEncodable {}
extension API.ModelVersion: ResponseEncodable {}
extension API.ActiveVersion: ResponseEncodable {}
extension API.MaintenanceEvent: ResponseEncodable {}
extension API.Quality: ResponseEncodable {}

/// Health, model registry and maintenance routes (SPEC §6).
struct HealthRoutes: Sendable {
    let reader: StoreReader
    let health: HealthService
    let api: APIRoutes

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/machines/:id/health") { _, ctx in try await current(ctx) }
        router.get("/api/v1/machines/:id/health/history") { req, ctx in
            let (points, limit) = try await history(req, ctx)
            var response = try points.response(from: req, context: ctx)
            response.setNextFrom(APIRoutes.nextFrom(count: points.count, limit: limit, last: points.last?.ts, step: 1))
            return response
        }
        router.get("/api/v1/machines/:id/models") { _, ctx in try await models(ctx) }
        router.post("/api/v1/machines/:id/models/:version/promote") { _, ctx in try await promote(ctx) }
        router.post("/api/v1/machines/:id/models/rollback") { _, ctx in try await rollback(ctx) }
        router.post("/api/v1/machines/:id/maintenance") { req, ctx in try await maintenance(req, ctx) }
        router.delete("/api/v1/machines/:id") { _, ctx in try await remove(ctx) }
    }

    func machine(_ ctx: BasicRequestContext) throws -> String { try api.pathID(ctx, "id", valid: KeyRules.isValidMachine) }

    func current(_ ctx: BasicRequestContext) async throws -> API.Health {
        let id = try machine(ctx)
        guard let (r, trainedAt) = try await reader.health(machine: id) else { throw APIError.notFound("no machine \(id)") }
        let scored = r.health != nil
        return API.Health(machine: id, health: r.health, status: r.status, confidence: r.confidence, updatedAt: r.updatedAt,
                          model: r.activeVersion.map { API.Health.ModelRef(version: $0, trainedAt: trainedAt ?? 0) },
                          contributors: r.contributors,
                          commissioningRows: scored ? nil : r.commissioningRows,
                          commissioningNeeded: scored ? nil : health.settings.commissionMinutes)
    }

    func history(_ req: Request, _ ctx: BasicRequestContext) async throws -> (points: [API.HealthPoint], limit: Int) {
        let id = try machine(ctx)
        let q = req.uri.queryParameters
        let from = try api.queryTime(q.get("from"), name: "from") ?? 0
        let to = try api.queryTime(q.get("to"), name: "to") ?? Int64.max
        let limit = try api.queryLimit(q.get("limit"), default: 10_000, max: 100_000)
        guard try await reader.health(machine: id) != nil else { throw APIError.notFound("no machine \(id)") }
        guard from < to else { return ([], limit) }  // an empty range
        return (try await reader.healthHistory(machine: id, from: from, to: to, limit: limit).map(API.HealthPoint.init), limit)
    }

    func models(_ ctx: BasicRequestContext) async throws -> [API.ModelVersion] {
        let id = try machine(ctx)
        guard try await reader.health(machine: id) != nil else { throw APIError.notFound("no machine \(id)") }
        return try await reader.models(machine: id).map(\.info)
    }

    func promote(_ ctx: BasicRequestContext) async throws -> API.ActiveVersion {
        let id = try machine(ctx)
        guard let raw = ctx.parameters.get("version"), let version = Int(raw), version > 0 else {
            throw APIError.badRequest("version must be a positive integer")
        }
        guard case .active(let v) = try await perform(.promote(version: version), machine: id) else { throw Self.unexpected }
        return API.ActiveVersion(machine: id, version: v)
    }

    /// Back to the version the active one replaced (its parent).
    func rollback(_ ctx: BasicRequestContext) async throws -> API.ActiveVersion {
        let id = try machine(ctx)
        guard case .active(let v) = try await perform(.rollback, machine: id) else { throw Self.unexpected }
        return API.ActiveVersion(machine: id, version: v)
    }

    struct MaintenanceBody: Decodable {
        var at: Int64?
        var note: String?
    }

    func maintenance(_ req: Request, _ ctx: BasicRequestContext) async throws -> API.MaintenanceEvent {
        let id = try machine(ctx)
        let bytes = try await req.body.collect(upTo: 64 * 1024)
        var body = MaintenanceBody()
        if bytes.readableBytes > 0 {
            do { body = try JSONDecoder().decode(MaintenanceBody.self, from: Data(bytes.readableBytesView)) } catch {
                throw APIError.badRequest("body must be JSON {\"at\": epoch ms, \"note\": \"…\"} (both optional)")
            }
        }
        if let note = body.note, note.unicodeScalars.count > 4096 { throw APIError.badRequest("note must be at most 4096 characters") }
        let command = HealthService.Command.maintenance(at: body.at ?? SystemClock.wallMillis(), note: body.note ?? "")
        guard case .maintenance(let event) = try await perform(command, machine: id) else { throw Self.unexpected }
        return event
    }

    /// Decommissions a machine (admin): its data, models and retained health topic are removed.
    func remove(_ ctx: BasicRequestContext) async throws -> API.RemovedMachine {
        let id = try machine(ctx)
        guard case .removed(let removed) = try await perform(.remove, machine: id) else { throw Self.unexpected }
        api.seriesCache.removeAll()  // a new series may reuse a removed one's id
        return removed
    }

    static let unexpected = APIError(status: .internalServerError, error: "internal", detail: "unexpected answer from the health service")

    /// Hands the command to the health service (the one writer of a machine's health) and maps
    /// its refusals to HTTP: 404 for what does not exist, 409 for what cannot be done.
    func perform(_ command: HealthService.Command, machine id: String) async throws -> HealthService.Outcome {
        do {
            return try await health.perform(command, machine: id)
        } catch {
            switch error {
            case .noMachine: throw APIError.notFound("no machine \(id)")
            case .refused(.noSuchVersion(let v)): throw APIError.notFound("machine \(id) has no model version \(v)")
            case .refused(.noActiveModel): throw APIError.notFound("machine \(id) has no active model")
            case .refused(let refusal): throw APIError(status: .conflict, error: "no_parent", detail: refusal.description)
            case .stopped: throw APIError(status: .serviceUnavailable, error: "shutting_down", detail: "the health service is stopping")
            case .failed(let why): throw APIError(status: .internalServerError, error: "internal", detail: why)
            }
        }
    }
}

extension API.RemovedMachine: ResponseEncodable {}

extension HealthService.Settings {
    init(config: VigilConfig) {
        self.init()
        commissionMinutes = config.healthCommissionMinutes
        bands = .init(ok: Double(config.healthBandOK), watch: Double(config.healthBandWatch), warning: Double(config.healthBandAlarm),
                      hysteresis: Double(config.healthHysteresis))
        // A minute is final once its readings are committed (`ingest.apply_interval`: at most
        // `minuteCommittedWithin` after it ends) and rolled up (the flush delay after that).
        finalAfterMillis = config.ingestCommitSchedule.minuteCommittedWithin + Int64(config.rollupFlushDelaySeconds) * 1000 + 2_000
        retrainMinutes = config.healthRetrainHours * 60
        retrainWindowMinutes = config.healthRetrainWindowMinutes
        silentAfterMillis = Int64(config.notifySilentAfterSeconds) * 1000
        machineTypes = config.healthMachineTypes.map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            return (pattern: parts[0], type: parts[1])
        }
    }
}

/// Runs blocking SQLite work off the cooperative pool.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { cont in
        DispatchQueue.global().async { cont.resume(with: Result { try body() }) }
    }
}
