public import VigilAPI
public import VigilHealth
import Dispatch
import Logging
import Synchronization
import VigilCore
import VigilMQTT
import VigilStore

/// Operators' commands to a machine's health (promote, rollback, maintenance, remove): queued to
/// the health thread and applied there between machine updates, so a command is never overwritten
/// by an update that read the machine before it; the caller is answered once it is applied.
extension HealthService {
    /// What an operator asks of a machine's health.
    public enum Command: Sendable {
        case promote(version: Int)
        /// Back to the active version's parent.
        case rollback
        case maintenance(at: Int64, note: String)
        /// Decommission: delete what is stored under the machine and clear its retained topic.
        case remove
    }

    public enum Outcome: Sendable, Equatable {
        case active(version: Int)
        case maintenance(API.MaintenanceEvent)
        case removed(API.RemovedMachine)
    }

    public enum CommandError: Error, Sendable, Equatable {
        case noMachine
        case refused(MachineLifecycle.Refusal)
        /// The service is stopping; the command was not applied.
        case stopped
        /// Applying it failed (e.g. a storage error); nothing was changed.
        case failed(String)
    }

    struct Queued: Sendable {
        var machine: String
        var command: Command
        var reply: @Sendable (Result<Outcome, CommandError>) -> Void
    }

    /// Hands `command` to the health thread and answers once it has been applied, in order with
    /// scoring (the thread applies commands between machine updates).
    public func perform(_ command: Command, machine: String) async throws(CommandError) -> Outcome {
        let result = await withCheckedContinuation { (cont: CheckedContinuation<Result<Outcome, CommandError>, Never>) in
            let queued = Queued(machine: machine, command: command, reply: { cont.resume(returning: $0) })
            let accepted = inbox.withLock { inbox in
                guard !stopping.load(ordering: .relaxed) else { return false }
                inbox.append(queued)
                return true
            }
            if accepted { wake.signal() } else { cont.resume(returning: .failure(.stopped)) }
        }
        return try result.get()
    }

    /// Applies the queued commands, oldest first. Called by the health thread only.
    func applyCommands() {
        while let q = inbox.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
            do {
                q.reply(.success(try apply(q.command, machine: q.machine)))
            } catch let error as CommandError {
                q.reply(.failure(error))
            } catch {
                logger.error("health command failed", metadata: ["machine.id": "\(q.machine)", "error": "\(error)"])
                q.reply(.failure(.failed("\(error)")))
            }
        }
    }

    /// Carries out one command on the calling thread: the health thread, or a test that drives the
    /// service itself (nothing else may call it while the service runs).
    func apply(_ command: Command, machine: String) throws -> Outcome {
        // The round's saves so far go first (a removed machine's must not come back after it).
        try decisions.storage.flush()
        let decided: HealthDecisions<HealthStore>.Command
        switch command {
        case .promote(let version): decided = .promote(version: version)
        case .rollback: decided = .rollback
        case .maintenance(let at, let note): decided = .maintenance(at: at, note: note)
        case .remove:
            let sensors = writer.fleet.snapshot().first { $0.id == machine }?.sensors ?? []
            guard let removed = try writer.removeMachine(machine) else { throw CommandError.noMachine }
            _ = machines.withLock { $0.removeValue(forKey: machine) }
            for topic in sensors.map({ Self.sensorTopic(machine, $0) }) + [Self.healthTopic(machine)] {
                _ = try? publisher?.publish(topic: topic, payload: [], qos: 1, retain: true)
            }
            return .removed(API.RemovedMachine(removed))
        }
        guard writer.fleet.contains(machine) else { throw CommandError.noMachine }
        do {
            let (m, applied) = try decisions.apply(decided, machine: machine, kept: machines.withLock { $0[machine] }, now: SystemClock.wallMillis())
            machines.withLock { $0[machine] = m }
            wake.signal()
            switch applied {
            case .active(let version): return .active(version: version)
            case .maintenance(let at, let note): return .maintenance(API.MaintenanceEvent(machine: machine, at: at, note: note))
            case nil: throw CommandError.failed("the lifecycle gave no answer to \(command)")
            }
        } catch let refusal as MachineLifecycle.Refusal {
            throw CommandError.refused(refusal)
        }
    }
}
