// swift-tools-version: 6.2
// Coverage-guided fuzzers (libFuzzer, `-sanitize=fuzzer`) for the readers of untrusted bytes.
// A separate package so the main build is unaffected: Sources/ links to the library targets of
// the repository, Targets/<name>/ holds the libFuzzer entry and (linked) the shared fuzz entry
// point that the replay tests also call. Build and run with ops/fuzz/run.
import PackageDescription

let optimized: [SwiftSetting] = [.unsafeFlags(["-O"])]
let entry: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "ChaperoneFuzz",
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib"),
        .systemLibrary(name: "CSpng", pkgConfig: "spng"),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg"),
        .target(name: "CHalf", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "Tensor", dependencies: ["CBLAS", "CHalf"], swiftSettings: optimized),
        .target(name: "Diffusion", dependencies: ["Tensor", "CZlib", "CSpng", "CTurboJPEG"], swiftSettings: optimized),
        .target(name: "OnnxRunner", dependencies: ["Tensor"], swiftSettings: optimized),
        .target(name: "Contracts", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .executableTarget(name: "fuzz-request-decoder", dependencies: ["Contracts"], path: "Targets/request-decoder", swiftSettings: entry),
        .executableTarget(name: "fuzz-safetensors", dependencies: ["Diffusion"], path: "Targets/safetensors", swiftSettings: entry),
        .executableTarget(name: "fuzz-tokenizer", dependencies: ["Diffusion"], path: "Targets/tokenizer", swiftSettings: entry),
        .executableTarget(name: "fuzz-image-decoder", dependencies: ["Diffusion"], path: "Targets/image-decoder", swiftSettings: entry),
        .executableTarget(name: "fuzz-onnx", dependencies: ["OnnxRunner"], path: "Targets/onnx", swiftSettings: entry),
    ]
)
