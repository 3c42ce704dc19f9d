public import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// Exit codes shared by `vigild`, `vigil` and `vigil-sim` (SPEC §1).
public enum ExitStatus: Int32, Sendable {
    case ok = 0
    case failure = 1
    case usage = 2
}

/// A failure that should exit with a given status and a one-line message on stderr.
public struct ProgramError: Error, CustomStringConvertible {
    public var status: ExitStatus
    public var message: String
    public var description: String { message }

    public init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }
}

public func printError(_ message: String) {
    var line = message
    if !line.hasSuffix("\n") { line += "\n" }
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

extension AsyncParsableCommand {
    /// Parses and runs the command: usage errors exit 2 (not ArgumentParser's 64), `ProgramError`
    /// exits with its status, any other error exits 1.
    public static func runMain() async {
        unblockTerminationSignals()
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }  // --help, --version
            printError(fullMessage(for: error))
            Glibc.exit(ExitStatus.usage.rawValue)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var c = command
                try c.run()
            }
        } catch let e as ProgramError {
            printError("\(programName): \(e.message)")
            Glibc.exit(e.status.rawValue)
        } catch let e as ValidationError {
            printError("\(programName): \(e.message)")
            Glibc.exit(ExitStatus.usage.rawValue)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            printError("\(programName): \(error)")
            Glibc.exit(ExitStatus.failure.rawValue)
        }
    }

    static var programName: String { configuration.commandName ?? "\(Self.self)" }
}

/// A parent that spawned us from a thread with SIGTERM/SIGINT blocked (libdispatch workers do)
/// would leave them blocked here too, and the program could not be stopped gracefully. Unblock
/// them before any thread starts, so every later thread inherits the clean mask.
func unblockTerminationSignals() {
    var set = sigset_t()
    sigemptyset(&set)
    for s in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&set, s) }
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}
