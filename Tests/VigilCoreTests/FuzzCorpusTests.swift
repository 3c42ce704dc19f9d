import Foundation
import Testing
import VigilFuzzTargets

/// Every input in the fuzz corpus (`Tests/Fuzz/corpus/<target>/`: the seeds, and whatever a fuzzer
/// ever broke, kept as a regression) goes through its target on every test run.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    @Test(arguments: ["payload", "topic", "timestamp", "toml", "sparkplug"])
    func corpusPasses(target name: String) throws {
        let target = try #require(FuzzTargets.all[name])
        let dir = Self.corpus.appendingPathComponent(name)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files.count >= 5, "a seed corpus for \(name)")
        for f in files { target(Array(try Data(contentsOf: dir.appendingPathComponent(f)))) }
    }
}
