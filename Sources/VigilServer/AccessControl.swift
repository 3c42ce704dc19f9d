public import Hummingbird
import VigilCore

/// Bearer-token access control (SPEC §6): with tokens configured, `/api/…` and `/metrics` need
/// `Authorization: Bearer <token>` — a reader or admin token for reads, an admin token for
/// writes (POST). `/healthz` (the daemon's liveness) and the dashboard page stay open; the page
/// itself holds no data and asks for a token when the API does. Tokens are compared in constant
/// time against every configured token, so response timing does not reveal how much of a guess
/// matched.
public struct AccessControl<Context: RequestContext>: RouterMiddleware {
    let readers: [[UInt8]]
    let admins: [[UInt8]]

    public init(readerTokens: [String], adminTokens: [String]) {
        readers = readerTokens.map { Array($0.utf8) }
        admins = adminTokens.map { Array($0.utf8) }
    }

    public var isEnabled: Bool { !readers.isEmpty || !admins.isEmpty }

    enum Role { case none, reader, admin }

    func role(of token: [UInt8]) -> Role {
        var admin = false, reader = false
        for t in admins where Self.constantTimeEqual(t, token) { admin = true }
        for t in readers where Self.constantTimeEqual(t, token) { reader = true }
        return admin ? .admin : reader ? .reader : .none
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard isEnabled, path.hasPrefix("/api/") && path != "/api/v1/openapi.json" || path == "/metrics" else {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError(status: .unauthorized, error: "unauthorized", detail: "this route needs Authorization: Bearer <token>")
        }
        let role = role(of: Array(header.dropFirst("Bearer ".count).utf8))
        switch (role, request.method) {
        case (.none, _):
            throw APIError(status: .unauthorized, error: "unauthorized", detail: "unknown token")
        case (.reader, .get), (.reader, .head), (.admin, _):
            return try await next(request, context)
        case (.reader, _):
            throw APIError(status: .forbidden, error: "forbidden", detail: "this route changes state and needs an admin token")
        }
    }
}
