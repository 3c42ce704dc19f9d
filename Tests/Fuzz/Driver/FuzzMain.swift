import Foundation
import VigilFuzzTargets

#if FUZZING
/// libFuzzer's entry point (built by `scripts/fuzz` with `-sanitize=fuzzer,address -D FUZZING`);
/// `VIGIL_FUZZ_TARGET` names the target.
let target: @Sendable ([UInt8]) -> Void = {
    let name = ProcessInfo.processInfo.environment["VIGIL_FUZZ_TARGET"] ?? ""
    guard let t = FuzzTargets.all[name] else {
        fatalError("VIGIL_FUZZ_TARGET must be one of \(FuzzTargets.all.keys.sorted().joined(separator: ", "))")
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    target(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

/// SwiftPM links an executable's entry point under the target's name; hand it to libFuzzer.
@_cdecl("vigil_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var args = argv
    return runFuzzerDriver(&count, &args) { data, size in fuzzOne(data, size) }
}
#else
/// Without the fuzzer: `vigil-fuzz TARGET FILE|DIR…` runs inputs through a target (to replay a
/// crash a fuzzer found).
@main struct FuzzReplay {
    static func main() throws {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTargets.all[name] else {
            print("usage: vigil-fuzz \(FuzzTargets.all.keys.sorted().joined(separator: "|")) FILE|DIR…")
            exit(2)
        }
        var count = 0
        for path in args.dropFirst() {
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
            let files = isDir.boolValue ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 } : [path]
            for f in files {
                target(Array(try Data(contentsOf: URL(fileURLWithPath: f))))
                count += 1
            }
        }
        print("\(name): \(count) inputs, no failure")
    }
}
#endif
