// swift-tools-version:6.2
import PackageDescription

/// House style: Swift 6 mode, strict concurrency, explicit existentials, internal imports.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigild", targets: ["vigild"]),
        .executable(name: "vigil", targets: ["vigil"]),
        .executable(name: "vigil-sim", targets: ["vigil-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Only for the client generated from our OpenAPI document (IntegrationTests/GeneratedClient).
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/apple/swift-openapi-urlsession.git", from: "1.4.0"),
    ],
    targets: [
        // System libraries (Debian: libmosquitto-dev, libsqlite3-dev).
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMalloc"),

        // Pure logic: no I/O.
        .target(name: "VigilCore", swiftSettings: strict),
        .target(name: "VigilAPI", dependencies: ["VigilCore"], swiftSettings: strict),
        .target(name: "VigilRollup", dependencies: ["VigilCore"], swiftSettings: strict),
        .target(name: "VigilHealth", dependencies: ["VigilCore"], swiftSettings: strict),
        .target(name: "VigilCodec", dependencies: ["CZlib"], swiftSettings: strict),

        // I/O adapters.
        .target(name: "VigilStore", dependencies: ["VigilCore", "VigilRollup", "VigilCodec", "CSQLite"], swiftSettings: strict),
        .target(name: "VigilMQTT", dependencies: ["CMosquitto"], swiftSettings: strict),

        // The daemon's services and HTTP API.
        .target(
            name: "VigilServer",
            dependencies: [
                "VigilCore", "VigilAPI", "VigilRollup", "VigilHealth", "VigilStore", "VigilCodec", "VigilMQTT", "CZlib", "CMalloc",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        // Shared entry-point plumbing for the three programs (exit codes of SPEC §1).
        .target(
            name: "VigilCLI",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),

        // Programs.
        .executableTarget(
            name: "vigild",
            dependencies: [
                "VigilServer", "VigilStore", "VigilCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "vigil",
            dependencies: ["VigilCore", "VigilAPI", "VigilHealth", "VigilCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "vigil-sim",
            dependencies: ["VigilCore", "VigilHealth", "VigilMQTT", "VigilCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "firmware-sim",
            swiftSettings: strict
        ),

        // Fuzzing (scripts/fuzz): the targets, and a driver that is libFuzzer's entry point when
        // built with -sanitize=fuzzer,address -D FUZZING and a corpus replayer otherwise.
        .target(name: "VigilFuzzTargets", dependencies: ["VigilCore"], path: "Tests/Fuzz/Targets", swiftSettings: strict),
        .executableTarget(name: "vigil-fuzz", dependencies: ["VigilFuzzTargets"], path: "Tests/Fuzz/Driver", swiftSettings: strict),

        // Benchmark programs (print figures; not tests).
        .executableTarget(
            name: "vigil-bench-decode",
            dependencies: ["VigilCore", "VigilStore"],
            path: "Benchmarks/decode",
            swiftSettings: strict
        ),

        .executableTarget(
            name: "vigil-bench-health",
            dependencies: ["VigilHealth", "VigilCore", "VigilRollup"],
            path: "Benchmarks/health-scoring",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "vigil-bench-store",
            dependencies: ["VigilCore", "CSQLite"],
            path: "Benchmarks/store",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "vigil-bench-codec",
            dependencies: ["VigilCodec", "VigilRollup", "VigilCore"],
            path: "Benchmarks/codec",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "vigil-bench-rollup",
            dependencies: ["VigilRollup", "VigilCore", "CSQLite"],
            path: "Benchmarks/rollup",
            exclude: ["duckdb_peer.py"],
            swiftSettings: strict
        ),

        // Tests mirror targets; IntegrationTests drive the built programs against a real broker.
        .testTarget(name: "VigilCoreTests", dependencies: ["VigilCore", "VigilFuzzTargets"], swiftSettings: strict),
        .testTarget(name: "VigilAPITests", dependencies: ["VigilAPI", "VigilCore"], swiftSettings: strict),
        .testTarget(name: "VigilHealthTests", dependencies: ["VigilHealth", "VigilCore"], swiftSettings: strict),
        .testTarget(name: "VigilCodecTests", dependencies: ["VigilCodec", "VigilCore"], swiftSettings: strict),
        .testTarget(name: "VigilRollupTests", dependencies: ["VigilRollup", "VigilCore"], swiftSettings: strict),
        .testTarget(name: "VigilStoreTests", dependencies: ["VigilStore", "VigilRollup", "VigilCodec", "VigilCore"], swiftSettings: strict),
        .testTarget(name: "VigilServerTests", dependencies: ["VigilServer", "VigilStore", "VigilHealth", "VigilAPI", "VigilCore"], swiftSettings: strict),
        .testTarget(name: "IntegrationTests", dependencies: [
                        "VigilCore", "VigilAPI", "VigilStore", "VigilServer",
                        .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                        .product(name: "OpenAPIURLSession", package: "swift-openapi-urlsession"),
                    ], exclude: ["sparkplug", "contract", "GeneratedClient/openapi.json", "GeneratedClient/openapi-generator-config.yaml"],
                    swiftSettings: strict),
    ]
)
