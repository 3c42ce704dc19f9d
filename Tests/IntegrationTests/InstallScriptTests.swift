import Foundation
import Testing

/// scripts/install into a staging directory (DESTDIR) with the debug binaries: it installs
/// everything, never overwrites an edited config, and uninstall keeps config and data.
@Suite struct InstallScriptTests {
    @Test func installsUpgradesAndUninstalls() throws {
        let repo = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        let dest = try Harness.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dest) }
        let env = ProcessInfo.processInfo.environment.merging(["DESTDIR": dest, "VIGIL_BIN": Harness.productsDirectory]) { $1 }
        let fm = FileManager.default
        let install = try Harness.run("/bin/bash", ["\(repo)/scripts/install"], environment: env)
        #expect(install.status == 0, "\(install.stderr)")
        for f in ["/usr/local/bin/vigild", "/usr/local/bin/vigil", "/usr/local/bin/vigil-sim", "/etc/vigil/vigil.toml",
                  "/etc/systemd/system/vigild.service", "/etc/systemd/system/vigil-sim@.service", "/usr/local/share/doc/vigil/README.md"] {
            #expect(fm.fileExists(atPath: dest + f), "\(f)")
        }
        let config = try String(contentsOfFile: dest + "/etc/vigil/vigil.toml", encoding: .utf8)
        #expect(config.contains("db = \"vigil.sqlite\""))
        // The installed config is valid for the installed daemon.
        let check = try Harness.run(dest + "/usr/local/bin/vigild", ["--config", dest + "/etc/vigil/vigil.toml", "--check-config"])
        #expect(check.status == 0, "\(check.stderr)")

        try (config + "\n# edited by the operator\n").write(toFile: dest + "/etc/vigil/vigil.toml", atomically: true, encoding: .utf8)
        let again = try Harness.run("/bin/bash", ["\(repo)/scripts/install"], environment: env)
        #expect(again.status == 0)
        #expect(try String(contentsOfFile: dest + "/etc/vigil/vigil.toml", encoding: .utf8).contains("edited by the operator"))

        try fm.createDirectory(atPath: dest + "/var/lib/vigil", withIntermediateDirectories: true)
        try "data".write(toFile: dest + "/var/lib/vigil/vigil.sqlite", atomically: true, encoding: .utf8)
        let uninstall = try Harness.run("/bin/bash", ["\(repo)/scripts/install", "--uninstall"], environment: env)
        #expect(uninstall.status == 0)
        #expect(!fm.fileExists(atPath: dest + "/usr/local/bin/vigild"))
        #expect(!fm.fileExists(atPath: dest + "/etc/systemd/system/vigild.service"))
        #expect(fm.fileExists(atPath: dest + "/etc/vigil/vigil.toml"))
        #expect(fm.fileExists(atPath: dest + "/var/lib/vigil/vigil.sqlite"))
        let purge = try Harness.run("/bin/bash", ["\(repo)/scripts/install", "--uninstall", "--purge"], environment: env)
        #expect(purge.status == 0)
        #expect(!fm.fileExists(atPath: dest + "/etc/vigil"))
        #expect(!fm.fileExists(atPath: dest + "/var/lib/vigil"))
    }
}
