import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc

/// ClickHouse servers (Debian's `clickhouse-server`, 18.16) started by hand as a sharded cluster
/// on loopback: each node has its own directory, ports and config, and `remote_servers` names
/// every node as one shard of the cluster `fleet` (no ZooKeeper: DDL is run on each node).
final class TestClickHouseCluster {
    final class Node {
        let dir: String
        let httpPort: Int
        let tcpPort: Int
        let interserverPort: Int
        var process: ChildProcess?

        init(dir: String) throws {
            self.dir = dir
            httpPort = try Harness.freePort()
            tcpPort = try Harness.freePort()
            interserverPort = try Harness.freePort()
        }

        var url: String { "http://127.0.0.1:\(httpPort)" }

        func start() throws {
            process = try ChildProcess(try Harness.tool("clickhouse-server"), ["--config-file=\(dir)/config.xml"],
                                       stdout: dir + "/stdout.log", stderr: dir + "/stdout.log")
        }

        /// Stops the node (SIGKILL: an outage, not a maintenance window); `start` brings it back
        /// with its data.
        func kill() {
            process?.stop(signal: SIGKILL)
            process = nil
        }

        deinit { process?.stop(signal: SIGKILL) }
    }

    static let user = "vigil"
    static let password = "upstream-secret"
    let nodes: [Node]
    private let dir: String

    /// Whether this machine can run the test (`scripts/deps --test` installs the server).
    static var available: Bool { (try? Harness.tool("clickhouse-server")) != nil }

    init(shards: Int) throws {
        let root = try Harness.tempDirectory()
        dir = root
        nodes = try (0..<shards).map { n in
            let d = "\(root)/node\(n)"
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            return try Node(dir: d)
        }
        let shardsXML = nodes.map { "<shard><replica><host>127.0.0.1</host><port>\($0.tcpPort)</port></replica></shard>" }.joined()
        for node in nodes {
            let d = node.dir
            try """
                <?xml version="1.0"?>
                <yandex>
                  <logger><level>warning</level><log>\(d)/server.log</log><errorlog>\(d)/error.log</errorlog><console>0</console></logger>
                  <http_port>\(node.httpPort)</http_port>
                  <tcp_port>\(node.tcpPort)</tcp_port>
                  <interserver_http_port>\(node.interserverPort)</interserver_http_port>
                  <listen_host>127.0.0.1</listen_host>
                  <path>\(d)/data/</path>
                  <tmp_path>\(d)/tmp/</tmp_path>
                  <user_files_path>\(d)/user_files/</user_files_path>
                  <format_schema_path>\(d)/format_schemas/</format_schema_path>
                  <users_config>\(d)/users.xml</users_config>
                  <default_profile>default</default_profile>
                  <default_database>default</default_database>
                  <mark_cache_size>5368709</mark_cache_size>
                  <remote_servers><fleet>\(shardsXML)</fleet></remote_servers>
                </yandex>
                """.write(toFile: d + "/config.xml", atomically: true, encoding: .utf8)
            let networks = "<networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota>"
            try """
                <?xml version="1.0"?>
                <yandex>
                  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
                  <users>
                    <default><password></password>\(networks)</default>
                    <\(Self.user)><password>\(Self.password)</password>\(networks)</\(Self.user)>
                  </users>
                  <quotas><default></default></quotas>
                </yandex>
                """.write(toFile: d + "/users.xml", atomically: true, encoding: .utf8)
            try node.start()
        }
    }

    /// Waits until `node` answers `SELECT 1` (each node after `init`, and after a restart).
    /// 60 s: under the whole suite's load on two cores a node has taken over 30 s to answer. A node
    /// that never does says why (its log's last lines: a port taken meanwhile, a bad config).
    func waitReady(_ node: Node) async throws {
        do {
            try await Harness.waitUntil("clickhouse on port \(node.httpPort)", seconds: 60) { (try? Self.query(node.url, "SELECT 1")) == "1\n" }
        } catch {
            let log = ["error.log", "stdout.log"].compactMap { try? String(contentsOfFile: node.dir + "/" + $0, encoding: .utf8) }.joined()
            throw Harness.Failure("\(error); its logs end:\n" + log.split(separator: "\n").suffix(15).joined(separator: "\n"))
        }
    }

    /// Runs one statement over HTTP as the test's user; the body of the answer, or a failure
    /// with ClickHouse's message.
    @discardableResult
    static func query(_ url: String, _ sql: String, settings: String = "") throws -> String {
        var request = URLRequest(url: URL(string: url + "/?" + settings)!, timeoutInterval: 30)
        request.httpMethod = "POST"
        request.httpBody = Data(sql.utf8)
        request.setValue("Basic " + Data("\(user):\(password)".utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            box.set(data, (response as? HTTPURLResponse)?.statusCode ?? 0, error)
            done.signal()
        }.resume()
        done.wait()
        let (data, status, error) = box.get()
        if let error { throw Harness.Failure("ClickHouse \(url): \(error)") }
        let text = String(decoding: data ?? Data(), as: UTF8.self)
        guard status == 200 else { throw Harness.Failure("ClickHouse \(url) HTTP \(status): \(text.prefix(500))") }
        return text
    }

    /// Runs `;`-separated DDL (one statement per request: the HTTP interface takes one) on every node.
    func runOnEveryNode(_ ddl: String) throws {
        let statements = ddl.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        for node in nodes {
            for s in statements { try Self.query(node.url, s) }
        }
    }

    /// Rows of a `SELECT … FORMAT JSONEachRow`, decoded.
    func rows<T: Decodable>(_ sql: String, via node: Node, as: T.Type) throws -> [T] {
        let text = try Self.query(node.url, sql + " FORMAT JSONEachRow", settings: "output_format_json_quote_64bit_integers=0")
        return try text.split(separator: "\n").map { try JSONDecoder().decode(T.self, from: Data($0.utf8)) }
    }

    deinit {
        for node in nodes { node.kill() }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// What a URLSession completion hands back, across threads.
private final class ResultBox: @unchecked Sendable {
    // Safe: written once by the completion handler before the semaphore is signalled, read after the wait.
    private var value: (Data?, Int, (any Error)?) = (nil, 0, nil)
    func set(_ d: Data?, _ s: Int, _ e: (any Error)?) { value = (d, s, e) }
    func get() -> (Data?, Int, (any Error)?) { value }
}
