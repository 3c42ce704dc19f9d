import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import VigilCLI
import VigilCore

/// A small client for vigild's HTTP API with errors an operator can act on.
struct APIClient {
    let base: String
    let token: String?

    init(url: String?, token: String? = nil) {
        let env = ProcessInfo.processInfo.environment
        let raw = url ?? env["VIGIL_URL"] ?? "http://127.0.0.1:8470"
        base = raw.hasSuffix("/") ? String(raw.dropLast()) : raw
        self.token = token ?? env["VIGIL_TOKEN"]
    }

    /// Percent-encodes one path segment (a machine id's `/` becomes `%2F`).
    static func segment(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~:")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    func get<T: Decodable>(_ path: String, query: [(String, String)] = [], as: T.Type) async throws -> T {
        try await send("GET", path, query: query, body: nil, as: T.self)
    }

    func post<T: Decodable>(_ path: String, body: Data? = nil, as: T.Type) async throws -> T {
        try await send("POST", path, query: [], body: body, as: T.self)
    }

    func delete<T: Decodable>(_ path: String, as: T.Type) async throws -> T {
        try await send("DELETE", path, query: [], body: nil, as: T.self)
    }

    private func send<T: Decodable>(_ method: String, _ path: String, query: [(String, String)], body: Data?, as: T.Type) async throws -> T {
        var comps = URLComponents(string: base + path)
        if !query.isEmpty { comps?.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        guard let url = comps?.url else { throw ProgramError(.usage, "--url: '\(base)' is not a valid URL") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        if let token { request.setValue("Bearer " + token, forHTTPHeaderField: "Authorization") }
        request.timeoutInterval = 15
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw ProgramError(.failure, "cannot reach vigild at \(base) (\(error.localizedDescription)); is it running? Set --url or VIGIL_URL.")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            if let body = try? JSONDecoder().decode(API.ErrorBody.self, from: data) {
                throw ProgramError(.failure, "vigild answered \(status) \(body.error): \(body.detail)")
            }
            throw ProgramError(.failure, "vigild answered HTTP \(status) for \(path)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw ProgramError(.failure, "unexpected response from \(path): \(error)")
        }
    }
}
