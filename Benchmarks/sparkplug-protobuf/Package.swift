// swift-tools-version:6.0
// The swift-protobuf peer of the Sparkplug decoder (docs/sparkplug.md "Decoder: hand-written or
// swift-protobuf"): its own package so the product's build does not carry swift-protobuf. The
// generated code is committed (protoc + protoc-gen-swift 1.39.0 on sparkplug_b.proto).
// Run: VIGIL_BENCH_SPARKPLUG_PAYLOAD=/tmp/ddata.bin ../../.build/release/vigil-bench-decode && swift run -c release --package-path . sparkplug-protobuf-bench /tmp/ddata.bin
import PackageDescription

let package = Package(
    name: "sparkplug-protobuf-bench",
    dependencies: [.package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0")],
    targets: [
        .executableTarget(name: "sparkplug-protobuf-bench", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
    ]
)
