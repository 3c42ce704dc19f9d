import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import VigilCLI
import VigilAPI
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
        try await send("GET", path, query: query, body: nil, as: T.self).value
    }

    /// One page and, when the server cut it short at `limit`, the `from` of the next one.
    func page<T: Decodable>(_ path: String, query: [(String, String)], as: T.Type) async throws -> (value: T, nextFrom: Int64?) {
        try await send("GET", path, query: query, body: nil, as: T.self)
    }

    /// Every page of a paged route (series, health history) from `from` until `to`: follows
    /// `X-Vigil-Next-From` page by page. The end is applied here rather than sent, because the
    /// API refuses an explicit minute range of more than 100,000 buckets while paging by `limit`
    /// is always accepted. `times` gives a page's times in order; `body` gets each page and how
    /// many of its items lie before `to`.
    func pages<Page: Decodable>(_ path: String, query: [(String, String)], from: Int64?, to: Int64?, as: Page.Type,
                                times: (Page) -> [Int64], _ body: (Page, Int) throws -> Void) async throws {
        var cursor = from
        while true {
            var q = query + [("limit", "100000")]
            if let cursor { q.append(("from", String(cursor))) }
            let (page, next) = try await send("GET", path, query: q, body: nil, as: Page.self)
            let ts = times(page)
            let inRange = to.map { end in ts.prefix { $0 < end }.count } ?? ts.count
            try body(page, inRange)
            guard let next, inRange == ts.count else { return }
            cursor = next
        }
    }

    /// Every point of a paged route whose pages are arrays of points (see above).
    func pages<T: Decodable>(_ path: String, query: [(String, String)], from: Int64?, to: Int64?, ts: (T) -> Int64,
                             _ body: ([T]) throws -> Void) async throws {
        try await pages(path, query: query, from: from, to: to, as: [T].self, times: { $0.map(ts) }) { page, n in try body(Array(page.prefix(n))) }
    }

    func post<T: Decodable>(_ path: String, body: Data? = nil, as: T.Type) async throws -> T {
        try await send("POST", path, query: [], body: body, as: T.self).value
    }

    func delete<T: Decodable>(_ path: String, as: T.Type) async throws -> T {
        try await send("DELETE", path, query: [], body: nil, as: T.self).value
    }

    /// The decoded answer and, when the server cut it short, where the next page starts.
    private func send<T: Decodable>(_ method: String, _ path: String, query: [(String, String)], body: Data?, as: T.Type) async throws
        -> (value: T, nextFrom: Int64?) {
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
        let next = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "X-Vigil-Next-From").flatMap { Int64($0) }
        do {
            return (try JSONDecoder().decode(T.self, from: data), next)
        } catch {
            throw ProgramError(.failure, "unexpected response from \(path): \(error)")
        }
    }
}
