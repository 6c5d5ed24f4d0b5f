// swift-tools-version: 6.2
import PackageDescription

/// The CPU the numeric targets are compiled for. On x86_64 the default is `haswell` (AVX2, FMA,
/// F16C: 8-lane vector code for softmax, norms, activations and the Winograd transforms);
/// `CHAPERONE_TARGET_CPU=x86-64 swift build` makes a build for any x86_64 CPU. `chaperone`
/// refuses to start on a CPU without the instructions its build needs.
#if arch(x86_64)
let targetCPU = Context.environment["CHAPERONE_TARGET_CPU"] ?? "haswell"
#else
let targetCPU = Context.environment["CHAPERONE_TARGET_CPU"] ?? ""
#endif

/// Numeric targets are optimised even in debug builds: the kernels are far too slow at -Onone
/// for parity tests on real shapes, and this keeps one `swift test` build for the whole suite.
let numericSettings: [SwiftSetting] = [.unsafeFlags(["-O"] + (targetCPU.isEmpty ? [] : ["-target-cpu", targetCPU]))]

/// Tells `chaperone` which instructions its numeric code was compiled with, so it can check the
/// CPU before running any of it (`BuildTarget`).
let buildTargetSettings: [SwiftSetting] = targetCPU == "haswell" ? [.define("CHAPERONE_TARGET_HASWELL")] : []

let package = Package(
    name: "Chaperone",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "chaperone", targets: ["chaperone"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        // Tracing: the API (spans, W3C context propagation) and its OpenTelemetry backend, OTLP over HTTP only.
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // MARK: C system libraries (module maps only; wrapped by one Swift target each)
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Image input: libspng for PNG, libjpeg-turbo (its TurboJPEG API) for JPEG.
        .systemLibrary(name: "CSpng", pkgConfig: "spng", providers: [.apt(["libspng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),

        // MARK: Numeric core
        // 16-bit float ↔ float32 conversions (F16C when the CPU has it) for half-precision weights.
        .target(name: "CHalf", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "Tensor", dependencies: ["CBLAS", "CHalf"], swiftSettings: numericSettings),
        .target(name: "Diffusion", dependencies: ["Tensor", "CZlib", "CSpng", "CTurboJPEG"], swiftSettings: numericSettings),
        .target(name: "Guidance", dependencies: [
            "Contracts", "Diffusion", "Tensor",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: numericSettings),
        .target(name: "OnnxRunner", dependencies: ["Tensor"], swiftSettings: numericSettings),
        .target(name: "HarmScoring", dependencies: ["Moderation", "Contracts", "OnnxRunner", "Diffusion", "Tensor"], swiftSettings: numericSettings),

        // MARK: Streaming backbone
        .target(name: "Contracts", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // What to do with a request once it has scores: the policy file, cascades, early abort,
        // escalation and the moderated production loop. No numeric dependency.
        .target(name: "Moderation", dependencies: [
            "Contracts",
            // Spans for each generation try and scoring (a no-op unless the process bootstraps a tracer).
            .product(name: "Tracing", package: "swift-distributed-tracing"),
        ]),
        .target(name: "Kafka", dependencies: [
            "CRdKafka",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "AuditStore", dependencies: [
            "CLibPQ", "Contracts",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Worker", dependencies: [
            "Moderation", "Contracts", "Kafka", "AuditStore",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Configuration", package: "swift-configuration"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
            .product(name: "OTel", package: "swift-otel"),
        ], plugins: ["BuildInfo"]),
        // The git commit a build comes from (`chaperone --version`, `chaperone_build_info`).
        .plugin(name: "BuildInfo", capability: .buildTool()),
        // `chaperone audit serve`: the audit console for analysts and reviewers (web pages over the
        // audit database's views). No numeric dependency.
        .target(name: "Console", dependencies: [
            "AuditStore", "Contracts",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Engine", dependencies: [
            "Worker", "Moderation", "Evaluation", "Contracts", "Diffusion", "Guidance", "HarmScoring", "Tensor",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: numericSettings),
        // `chaperone eval`: metrics, sections and the report over generated images.
        .target(name: "Evaluation", dependencies: ["Moderation", "Contracts", "Diffusion", "Guidance", "HarmScoring", "Tensor"], swiftSettings: numericSettings),
        .executableTarget(name: "chaperone", dependencies: [
            "Engine", "Evaluation", "Console",
            "Worker", "Moderation", "Contracts", "Kafka", "AuditStore", "Diffusion", "Guidance", "HarmScoring", "Tensor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            // `chaperone probe`: an HTTP GET without curl in the image.
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: buildTargetSettings),

        // MARK: Tests
        // What the test targets share: fixture paths and parity tolerances.
        .target(name: "TestSupport", dependencies: ["Tensor"], path: "Tests/TestSupport", swiftSettings: numericSettings),
        .testTarget(name: "TensorTests", dependencies: ["TestSupport", "Tensor"], swiftSettings: numericSettings),
        .testTarget(name: "DiffusionTests", dependencies: ["TestSupport", "Diffusion", "Tensor"], swiftSettings: numericSettings),
        .testTarget(name: "GuidanceTests", dependencies: ["TestSupport", "Guidance", "Contracts", "Diffusion", "Tensor"], swiftSettings: numericSettings),
        .testTarget(name: "OnnxRunnerTests", dependencies: ["TestSupport", "OnnxRunner", "Tensor"], swiftSettings: numericSettings),
        .testTarget(name: "HarmScoringTests", dependencies: ["TestSupport", "HarmScoring", "Moderation", "Contracts", "OnnxRunner", "Diffusion", "Tensor"], swiftSettings: numericSettings),
        .testTarget(name: "ModerationTests", dependencies: ["Moderation", "Contracts"]),
        .testTarget(name: "ContractsTests", dependencies: ["TestSupport", "Contracts"]),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka"]),
        .testTarget(name: "AuditStoreTests", dependencies: ["TestSupport", "AuditStore", "Contracts"]),
        // HTTP tests of every console route and role, and browser tests in headless Chromium.
        .testTarget(name: "ConsoleTests", dependencies: [
            "TestSupport", "Console", "AuditStore", "Contracts",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
        .testTarget(name: "EvaluationTests", dependencies: ["TestSupport", "Evaluation", "Moderation", "Contracts", "HarmScoring", "Diffusion"], swiftSettings: numericSettings),
        .testTarget(name: "EngineTests", dependencies: ["TestSupport", 
            "Engine", "Worker", "Moderation", "Contracts", "AuditStore", "HarmScoring", "Diffusion", "Tensor",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: numericSettings),
        .testTarget(name: "WorkerTests", dependencies: ["TestSupport", 
            "Worker", "Moderation", "Contracts", "AuditStore", "Kafka",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
        ]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "TestSupport", "Kafka", "AuditStore", "Contracts", "Moderation", "Worker",
            // The in-process OTLP/HTTP collector of the tracing test.
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
        // Deployment files (docker/, ops/k8s, dashboards, alerts) checked against the sources; no dependencies.
        .testTarget(name: "DeploymentTests", dependencies: ["TestSupport"]),
        // The real worker with a deterministic generator; test-only, run by IntegrationTests.
        .executableTarget(name: "chaperone-test-worker", dependencies: [
            "Worker", "Moderation", "Contracts", "AuditStore",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/TestWorker"),
    ]
)
