import Testing
import VigilServer

/// `SystemdNotifier` against real datagram sockets the test binds.
@Suite struct SystemdNotifySocketTests {
    @Test(arguments: [false, true])
    func deliversToPathAndAbstractSockets(abstract: Bool) throws {
        let sock = try NotifySocket(abstract: abstract)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": sock.name])
        #expect(notifier.notify("READY=1\nSTATUS=ok"))
        #expect(sock.receive(within: 1) == "READY=1\nSTATUS=ok")
    }

}
