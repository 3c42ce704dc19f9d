import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket standing in for systemd's `$NOTIFY_SOCKET` (a path, or abstract `@name`).
final class NotifySocket {
    let fd: Int32
    let name: String

    init(abstract: Bool = false) throws {
        let id = UUID().uuidString.prefix(8)
        name = abstract ? "@vigil-notify-\(id)" : NSTemporaryDirectory() + "vigil-notify-\(id).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var path = Array(name.utf8)
        if abstract { path[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.enumerated() { raw[i] = b } }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (abstract ? 0 : 1))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard rc == 0 else { throw NSError(domain: "bind", code: Int(errno)) }
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next datagram, or nil after `seconds`.
    func receive(within seconds: Double) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 { return String(decoding: buf[0..<n], as: UTF8.self) }
        }
        return nil
    }

    /// Datagrams until one contains `needle` (returned), or nil after `seconds`.
    func waitFor(_ needle: String, within seconds: Double) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let m = receive(within: deadline.timeIntervalSinceNow), m.contains(needle) { return m }
        }
        return nil
    }

    deinit {
        close(fd)
        if !name.hasPrefix("@") { unlink(name) }
    }
}
