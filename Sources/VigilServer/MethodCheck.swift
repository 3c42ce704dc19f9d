import Foundation
public import Hummingbird

/// Wrong methods answer 405 with `Allow` (RFC 9110 §15.5.6), unknown paths 404 — both with the
/// API's error body. The routes are read from the OpenAPI document the daemon serves, so the
/// document, the router and this check name the same routes (OperatorAPITests compares the first
/// two).
public struct MethodCheck<Context: RequestContext>: RouterMiddleware {
    /// Path templates split into segments (`nil` = a `{parameter}`), with their methods.
    let routes: [(segments: [Substring?], methods: [String])]

    public init() {
        var routes: [(segments: [Substring?], methods: [String])] = []
        if let doc = try? JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any],
           let paths = doc["paths"] as? [String: [String: Any]] {
            for (path, ops) in paths {
                let segments = path.split(separator: "/", omittingEmptySubsequences: false).map { $0.hasPrefix("{") ? nil : $0 }
                routes.append((segments, ops.keys.map { $0.uppercased() }.sorted()))
            }
        }
        self.routes = routes
    }

    /// The methods the path is served with (empty: no such path).
    func methods(of path: String) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        var out: Set<String> = []
        for r in routes where r.segments.count == parts.count {
            if zip(r.segments, parts).allSatisfy({ $0.0 == nil ? !$0.1.isEmpty : $0.0 == $0.1 }) { out.formUnion(r.methods) }
        }
        if out.contains("GET") { out.insert("HEAD") }
        return out.sorted()
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let allowed = methods(of: request.uri.path)
        guard !allowed.contains(request.method.rawValue) else { return try await next(request, context) }
        if allowed.isEmpty {
            throw APIError.notFound("no route \(request.uri.path)")
        }
        throw APIError(status: .methodNotAllowed, error: "method_not_allowed",
                       detail: "\(request.method.rawValue) is not served here; allowed: \(allowed.joined(separator: ", "))",
                       headers: [.allow: allowed.joined(separator: ", ")])
    }
}
