public import Logging
public import ServiceLifecycle
public import VigilStore
public import VigilHealth
public import VigilMQTT
import Dispatch
import Foundation
import Synchronization
import VigilCore
import VigilRollup

/// Runs the health decisions on its own thread: the one writer of every machine's health record,
/// model versions, maintenance and sensors' conditions (it holds the store's `HealthRegistry`).
///
/// The decisions live in `HealthDecisions` (VigilHealth: commissioning, fleet references, the
/// sensors' judge, scoring, retraining through the gate; unit-tested on memory). Every round this
/// service hands it each machine whose next minute is final (never past a minute whose rollups are
/// still pending), keeps each machine's state between rounds, publishes what it reports retained
/// (`vigil-out/health/<machine>`, `vigil-out/sensors/<machine>/<sensor>`) and logs its notices
/// (`HealthPublications.swift`); it reports machines that went silent. Operators' commands
/// (promote, rollback, maintenance, remove) are queued to the same thread and applied between
/// machine updates (`HealthCommands.swift`).
public final class HealthService: Service, Sendable {
    public typealias Settings = HealthSettings

    /// The rest of the store: the fleet, events that are not a machine's health, removing a machine.
    let writer: StoreWriter
    /// The decisions, over the health tables (only this service writes them) and what they read.
    let decisions: HealthDecisions<HealthStore>
    let publisher: MQTTClient?
    let logger: Logger
    var settings: Settings { decisions.settings }
    var registry: HealthRegistry { decisions.storage.registry }
    /// Per machine, what is kept between rounds. Touched by the health thread only (a Mutex
    /// because the class is shared; it is never contended).
    let machines = Mutex<[String: MachineHealth]>([:])
    let inbox = Mutex<[Queued]>([])
    /// Per machine, whether it was last reported silent (loaded from the event log on first use).
    private let presence = Mutex<[String: Bool]?>(nil)
    let stopping = Atomic<Bool>(false)
    let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    /// Machines offline by a death certificate (the Sparkplug host's), with the reason.
    let offline: @Sendable () -> [String: String]

    /// Takes the store's health registry: one health service per store.
    public init(writer: StoreWriter, publisher: MQTTClient?, settings: Settings, logger: Logger,
                offline: @escaping @Sendable () -> [String: String] = { [:] }) {
        guard let registry = writer.healthRegistry() else {
            preconditionFailure("the store's health registry is already held by another health service")
        }
        self.writer = writer
        self.decisions = HealthDecisions(storage: HealthStore(writer: writer, registry: registry), settings: settings)
        self.publisher = publisher
        self.logger = logger
        self.offline = offline
    }

    public func run() async throws {
        DispatchQueue(label: "vigil.health").async {
            while !self.stopping.load(ordering: .relaxed) {
                var behind = false
                do { behind = try self.tick(now: SystemClock.wallMillis()) } catch {
                    self.logger.error("health scoring failed; will retry", metadata: ["error": "\(error)"])
                }
                self.applyCommands()
                // A backlog is worked through without pausing.
                if !behind { _ = self.wake.wait(timeout: .now() + .milliseconds(Int(self.settings.interval * 1000))) }
            }
            self.saveStates()
            // Nobody will apply what is still queued.
            for q in self.inbox.withLock({ inbox in defer { inbox.removeAll() }; return inbox }) { q.reply(.failure(.stopped)) }
            self.done.signal()
        }
        try? await gracefulShutdown()
        stopping.store(true, ordering: .relaxed)
        wake.signal()
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.done.wait()
                cont.resume()
            }
        }
    }

    /// Saves each machine's states where minutes were scored since they were last saved (the
    /// service stops: the next start scores nothing again). Public for tests.
    public func saveStates() {
        for (machine, m) in machines.withLock({ $0 }) {
            do { try decisions.checkpoint(machine: machine, m) } catch {
                logger.error("saving health state failed", metadata: ["machine.id": "\(machine)", "error": "\(error)"])
            }
        }
        do { try decisions.storage.flush() } catch { logger.error("saving health state failed", metadata: ["error": "\(error)"]) }
    }

    /// Something changed that the next round should see now (a death certificate).
    public func nudge() { wake.signal() }

    // MARK: rounds

    /// One round over every machine (cut short when the service is stopping), with queued
    /// commands applied between machines; returns whether a machine has more to do at once (a
    /// backlog being judged in steps). Public for tests, which drive time.
    @discardableResult
    public func tick(now: Int64) throws -> Bool {
        let final = BucketWidth.minute.start(of: now - 60_000 - settings.finalAfterMillis)
        let pending = try writer.earliestPendingMinutes()
        decisions.storage.newRound()
        try notePresence(now: now)
        var behind = false
        var reports: [HealthDecisions<HealthStore>.Report] = []
        let started = SystemClock.wallMillis()
        for machine in writer.fleet.snapshot().map(\.id) {
            // Stopping ends the round between machines (each machine's turn is saved as it ends):
            // a round over a backlog of several machines can take longer than systemd waits.
            guard !stopping.load(ordering: .relaxed) else { break }
            applyCommands()
            guard writer.fleet.contains(machine) else { continue }  // removed meanwhile
            // The round's clock moves on with the wall clock, so whatever a machine registers
            // (a model's createdAt, an event) is stamped after every command applied before it.
            let now = now + max(0, SystemClock.wallMillis() - started)
            // A minute is scored once, so only when every sensor's rollup of it is in: never past
            // a minute still waiting for its rollup (a backlog's pass can end inside a minute).
            let through = pending[machine].map { min(final, $0 - 60_000) } ?? final
            do {
                let (m, report) = try decisions.update(machine: machine, kept: machines.withLock { $0[machine] }, through: through, now: now)
                machines.withLock { $0[machine] = m }
                reports.append(report)
                behind = behind || m.behind
            } catch {
                logger.error("health update failed", metadata: ["machine.id": "\(machine)", "error": "\(error)"])
            }
        }
        // The round's saves in one transaction, before anything of it is published.
        try decisions.storage.flush()
        for report in reports { carryOut(report) }
        return behind
    }

    /// Reports machines that went silent (no reading for `silentAfterMillis`) or came back.
    private func notePresence(now: Int64) throws {
        let offline = offline()
        guard settings.silentAfterMillis > 0 || !offline.isEmpty || presence.withLock({ $0?.values.contains(true) == true }) else { return }
        var known = try presence.withLock { $0 } ?? writer.silentMachines()
        try writer.appendEvents(HealthEvents.presence(lastReceived: writer.fleet.snapshot().map { ($0.id, $0.lastReceived) }, offline: offline,
                                                      known: &known, now: now, silentAfter: settings.silentAfterMillis))
        let updated = known
        presence.withLock { $0 = updated }
    }
}
