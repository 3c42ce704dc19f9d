import Foundation
import CZlib
import VigilCodec
import Hummingbird
import NIOCore

/// Compresses JSON answers larger than `minimumBytes` with gzip when the client accepts it
/// (`Accept-Encoding: gzip`): a minute series or a long health history shrinks severalfold.
struct GzipMiddleware<Context: RequestContext>: RouterMiddleware {
    var minimumBytes = 1024

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        guard Self.acceptsGzip(request.headers[.acceptEncoding]), response.headers[.contentEncoding] == nil,
              response.headers[.contentType]?.hasPrefix("application/json") == true else { return response }
        let box = Collected()
        try await response.body.write(CollectingWriter(box: box))
        guard box.buffer.readableBytes >= minimumBytes, let zipped = Gzip.compress(box.buffer) else {
            response.body = .init(byteBuffer: box.buffer)
            return response
        }
        response.headers[.contentEncoding] = "gzip"
        response.headers[.vary] = "Accept-Encoding"
        response.headers[.contentLength] = nil
        response.body = .init(byteBuffer: zipped)
        return response
    }

    static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains { part in
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            return fields.first?.lowercased() == "gzip" && !fields.dropFirst().contains { $0.replacingOccurrences(of: " ", with: "") == "q=0" }
        }
    }
}

/// Where `CollectingWriter` leaves the body (the writer itself is consumed by `write`).
private final class Collected: @unchecked Sendable {
    // Safe: written by one `ResponseBody.write` at a time, read after it returned.
    var buffer = ByteBuffer()
}

private struct CollectingWriter: ResponseBodyWriter {
    let box: Collected
    mutating func write(_ buffer: ByteBuffer) async throws {
        var b = buffer
        box.buffer.writeBuffer(&b)
    }
    mutating func write(contentsOf buffers: some Sequence<ByteBuffer>) async throws {
        for b in buffers { try await write(b) }
    }
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

enum Gzip {
    /// `input` as one gzip member (RFC 1952) at zlib's default level; nil if zlib fails.
    static func compress(_ input: ByteBuffer) -> ByteBuffer? {
        compress(Array(input.readableBytesView)).map { ByteBuffer(bytes: $0) }
    }

    /// `bytes` as one gzip member at `level` (1 fastest … 9 smallest); nil if zlib fails.
    static func compress(_ bytes: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) -> [UInt8]? {
        Deflate.compress(bytes, level: level, format: .gzip)
    }
}
