import Foundation
import Synchronization
import VigilCore
import VigilStore
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Real parts for integration tests: a mosquitto broker on a free loopback port, the built
/// `vigild`, `vigil` and `vigil-sim` programs, and the real `mosquitto_pub` client.
enum Harness {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// The directory holding the built products (next to the test bundle).
    static let productsDirectory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir.deleteLastPathComponent() }
        return dir.path
    }()

    static func product(_ name: String) throws -> String {
        let path = productsDirectory + "/" + name
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Failure("\(path) is missing: run `swift build` before `swift test` (scripts/test does)")
        }
        return path
    }

    static func tool(_ name: String) throws -> String {
        for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        throw Failure("\(name) not found: scripts/test installs it (scripts/deps --test)")
    }

    /// Ports handed out by this test process, from below the kernel's ephemeral range
    /// (32768-60999 here): bind(0) would return a port that any outgoing connection of the
    /// suites running in parallel may take before the test's server binds it.
    private static let nextPort = Mutex(20_000 + Int(getpid() % 1_000) * 12)

    /// A port no other test of this process got, and free a moment ago.
    static func freePort() throws -> Int {
        for _ in 0..<12_000 {
            let port = nextPort.withLock { next -> Int in
                defer { next = next >= 32_000 ? 20_000 : next + 1 }
                return next
            }
            if canBind(port: port) { return port }
        }
        throw Failure("no free port in 20000-32000")
    }

    static func canBind(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Polls `condition` every 50 ms until it holds or `seconds` pass.
    static func waitUntil(_ what: String, seconds: Double = 20, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        if try await condition() { return }
        throw Failure("timed out after \(seconds) s waiting for \(what)")
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program to completion and captures its output.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Output {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let child = try ChildProcess(executable, arguments, environment: environment, stdout: dir + "/out", stderr: dir + "/err")
        let status = child.wait()
        return Output(status: status,
                      stdout: (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? "")
    }

    /// A Python virtual environment under `.build/<name>` with the pinned `requirements` file
    /// installed from PyPI, made once per checkout (again when the file changes); its bin folder.
    static func virtualEnvironment(_ name: String, requirements: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let venv = root + "/.build/" + name
        let wanted = try String(contentsOfFile: requirements, encoding: .utf8)
        if (try? String(contentsOfFile: venv + "/requirements.txt", encoding: .utf8)) != wanted {
            let made = try run(try tool("python3"), ["-m", "venv", "--clear", venv])
            guard made.status == 0 else { throw Failure("python3 -m venv failed: \(made.stderr)") }
            let pip = try run(venv + "/bin/pip", ["install", "-q", "--disable-pip-version-check", "-r", requirements])
            guard pip.status == 0 else { throw Failure("pip install -r \(requirements) failed: \(pip.stderr)") }
            try wanted.write(toFile: venv + "/requirements.txt", atomically: true, encoding: .utf8)
        }
        return venv + "/bin"
    }

    static func tempDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "vigil-it-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// GET that returns the status and body (no throwing on 4xx/5xx).
    static func get(_ url: String) async throws -> (Int, Data) {
        var req = URLRequest(url: URL(string: url)!)
        req.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: req)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    static func getJSON<T: Decodable>(_ url: String, as: T.Type) async throws -> T {
        let (status, data) = try await get(url)
        guard status == 200 else { throw Failure("GET \(url): HTTP \(status) \(String(decoding: data, as: UTF8.self))") }
        return try JSONDecoder().decode(T.self, from: data)
    }
}

/// A mosquitto broker with a temporary config on a free loopback port.
final class TestBroker {
    let port: Int
    let dir: String
    private let process: ChildProcess
    private let ownsDirectory: Bool

    init(extraConfig: String = "", anonymous: Bool = true, port fixedPort: Int? = nil, directory: String? = nil) throws {
        port = try fixedPort ?? Harness.freePort()
        ownsDirectory = directory == nil
        dir = try directory ?? Harness.tempDirectory()
        let conf = """
            listener \(port) 127.0.0.1
            allow_anonymous \(anonymous)
            persistence false
            # The gateway must never lose queued QoS 1 messages to the default 1000-message limit.
            max_queued_messages 1000000
            \(extraConfig)
            """
        try conf.write(toFile: dir + "/mosquitto.conf", atomically: true, encoding: .utf8)
        // Started as root, mosquitto drops to its own user: let it write its persistence file here.
        if getuid() == 0, let pw = getpwnam("mosquitto") {
            chown(dir, pw.pointee.pw_uid, pw.pointee.pw_gid)
        }
        process = try ChildProcess(try Harness.tool("mosquitto"), ["-c", dir + "/mosquitto.conf"],
                                   stdout: dir + "/mosquitto.log", stderr: dir + "/mosquitto.log")
    }

    var url: String { "mqtt://127.0.0.1:\(port)" }

    func waitReady() async throws {
        let port = self.port
        try await Harness.waitUntil("mosquitto on port \(port)", seconds: 10) { Harness.canConnect(port: port) }
    }

    /// Publishes with the real `mosquitto_pub` client at QoS 1.
    func publish(topic: String, _ message: String) throws {
        let out = try Harness.run(try Harness.tool("mosquitto_pub"), ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-t", topic, "-m", message])
        guard out.status == 0 else { throw Harness.Failure("mosquitto_pub failed: \(out.stderr)") }
    }

    /// Stops the broker gracefully (SIGTERM: a persistent broker writes its database).
    func stop() { process.stop() }

    deinit {
        process.stop()
        if ownsDirectory { try? FileManager.default.removeItem(atPath: dir) }
    }
}

/// The built `vigild` with a temporary database and a free HTTP port.
final class TestDaemon {
    let httpPort: Int
    let dir: String
    let process: ChildProcess
    let logPath: String
    private let ownsDirectory: Bool

    /// `dataDirectory`: reuse a database across daemon runs (the caller removes it).
    /// `config`: the TOML file's text (defaults when nil).
    /// `launcher`: a program that runs vigild (e.g. strace with its arguments), vigild's path last.
    init(broker: TestBroker, url: String? = nil, dataDirectory: String? = nil, environment: [String: String] = [:],
         extraArguments: [String] = [], config: String? = nil, launcher: [String] = []) throws {
        httpPort = try Harness.freePort()
        ownsDirectory = dataDirectory == nil
        dir = try dataDirectory ?? Harness.tempDirectory()
        logPath = dir + "/vigild.log"
        let vigild = try Harness.product("vigild")
        process = try ChildProcess(
            launcher.first ?? vigild,
            Array(launcher.dropFirst()) + (launcher.isEmpty ? [] : [vigild]) + ["--config", try Self.config(config ?? "# defaults\n", in: dir), "--mqtt-url", url ?? broker.url, "--db", dir + "/vigil.sqlite",
             "--http", "127.0.0.1:\(httpPort)"] + extraArguments,
            environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("VIGIL_") }.merging(environment) { $1 },
            stdout: logPath, stderr: logPath)
    }

    static func config(_ text: String, in dir: String) throws -> String {
        let path = dir + "/vigil.toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    var baseURL: String { "http://127.0.0.1:\(httpPort)" }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func waitReady() async throws {
        let url = baseURL + "/healthz"
        try await Harness.waitUntil("vigild /healthz with MQTT connected") {
            let (status, data) = try await Harness.get(url)
            return status == 200 && String(decoding: data, as: UTF8.self).contains("\"mqttConnected\":true")
        }
    }

    /// SIGTERM, then the exit status (nil if it did not exit within `seconds`).
    func terminate(within seconds: Double = 10) async -> Int32? {
        process.signal(SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while process.exitStatus() == nil && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return process.exitStatus()
    }

    var databasePath: String { dir + "/vigil.sqlite" }

    /// Crash it: SIGKILL, no chance to flush anything.
    func kill9() {
        process.signal(SIGKILL)
        _ = process.wait()
    }

    deinit {
        process.stop(signal: SIGKILL)
        if ownsDirectory { try? FileManager.default.removeItem(atPath: dir) }
    }
}

/// A child process started with posix_spawn and a clean signal mask. (Foundation's Process spawns
/// from dispatch threads that block SIGTERM, and children such as mosquitto inherit the block and
/// then ignore SIGTERM; its waitUntilExit also spins a core off the main thread.)
final class ChildProcess {
    let pid: pid_t
    private var status: Int32?

    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, stdout: String, stderr: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if stderr == stdout {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attr, argv, env)
        guard rc == 0 else { throw Harness.Failure("posix_spawn \(executable): \(String(cString: strerror(rc)))") }
        pid = child
    }

    func signal(_ sig: Int32) { if status == nil { kill(pid, sig) } }

    /// The exit status if the child has exited (non-blocking); 128+signal if killed by a signal.
    func exitStatus() -> Int32? {
        if status == nil {
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { status = Self.decode(raw) }
        }
        return status
    }

    /// Blocks until the child exits.
    func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        status = Self.decode(raw)
        return status!
    }

    /// Signals the child, waits up to 5 s, then kills it.
    func stop(signal sig: Int32 = SIGTERM) {
        guard exitStatus() == nil else { return }
        kill(pid, sig)
        for _ in 0..<250 where exitStatus() == nil { usleep(20_000) }
        if exitStatus() == nil {
            kill(pid, SIGKILL)
            _ = wait()
        }
    }

    private static func decode(_ raw: Int32) -> Int32 {
        let sig = raw & 0x7F
        return sig == 0 ? (raw >> 8) & 0xFF : 128 + sig
    }
}

extension Harness {
    /// Every reading stored in the database at `path` (rows and sealed chunks), read back the way
    /// the API reads a series: `(series "machine/sensor", ts, seq)` each, by series, oldest first.
    static func storedReadings(_ path: String) async throws -> [(series: String, ts: Int64, seq: Int64?)] {
        let keys = try SQLiteConnection(path: path, readOnly: true).query("SELECT machine, sensor FROM series ORDER BY id") { ($0.text(0), $0.text(1)) }
        let reader = try StoreReader(path: path)
        var out: [(series: String, ts: Int64, seq: Int64?)] = []
        for (machine, sensor) in keys {
            for r in try await reader.rawSeries(machine: machine, sensor: sensor, from: .min, to: .max, limit: .max) ?? [] {
                out.append(("\(machine)/\(sensor)", r.ts, r.seq))
            }
        }
        return out
    }
}
