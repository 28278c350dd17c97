// swift-tools-version: 6.1
import PackageDescription

// Hot paths are compiled without bounds checks in release builds; every fast
// kernel has a checked reference twin that the tests compare against.
let fastSwift: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
]

let package = Package(
    name: "hotmoe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hotmoe", targets: ["hotmoe"]),
        .library(name: "HotMoEKit", targets: ["Engine", "ExpertCache", "GGUF", "HotCache", "Quant", "Tokenizer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.21.0"),
    ],
    targets: [
        // SIMD micro-kernels that Swift cannot express (int8 dot products with runtime dispatch).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Quant", dependencies: ["CKernels"], swiftSettings: fastSwift),
        .target(name: "GGUF", dependencies: ["Quant"]),
        .target(name: "Tokenizer", dependencies: ["GGUF"]),
        // The CUDA driver API and NVRTC through dlopen (no link-time GPU dependency), kernels
        // in CUDA C compiled at run time.
        .target(name: "CUDA"),
        // gpu-check: every kernel against a float64 reference on random data.
        .target(name: "GPUCheck", dependencies: ["CUDA", "Engine", "ExpertCache", "GPULane", "HotCache", "Quant",
                                                 .product(name: "Logging", package: "swift-log")]),
        // Pure value types: telemetry, profile JSON, planner, policies. No model import.
        .target(name: "ExpertCache"),
        .target(
            name: "Engine",
            dependencies: ["GGUF", "Quant", "CKernels", "Tokenizer", "ExpertCache", .product(name: "Logging", package: "swift-log")],
            swiftSettings: fastSwift),
        // Wires the expert cache into the engine's expert seam: hot tier, lanes, telemetry.
        .target(
            name: "HotCache",
            dependencies: ["Engine", "ExpertCache", .product(name: "Logging", package: "swift-log")]),
        // The GPU hot lane: the VRAM expert tier and its CUDA lane behind HotCache's device seam.
        .target(name: "GPULane", dependencies: ["CUDA", "Engine", "ExpertCache", "HotCache", "Quant"]),
        // llama-server's built-in agent tools (--tools): files, search, shell. No server import.
        .target(name: "AgentTools"),
        // OpenAI-compatible server with the hot-cache endpoints and the live perf page.
        .target(
            name: "HotMoEServer",
            dependencies: ["AgentTools", "Engine", "ExpertCache", "HotCache", "Tokenizer", "GGUF",
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "Logging", package: "swift-log")]),
        .executableTarget(
            name: "hotmoe",
            dependencies: [
                "AgentTools", "CUDA", "Engine", "ExpertCache", "GGUF", "GPUCheck", "GPULane", "HotCache", "HotMoEServer", "Quant", "Tokenizer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "QuantTests", dependencies: ["Quant", "CKernels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "Quant"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "GGUF"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ExpertCacheTests", dependencies: ["ExpertCache"]),
        .testTarget(name: "AgentToolsTests", dependencies: ["AgentTools"]),
        .testTarget(name: "CUDATests", dependencies: ["CUDA", "Engine", "ExpertCache", "GPUCheck", "GPULane", "HotCache",
                                                       .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ServerTests", dependencies: ["AgentTools", "HotMoEServer", "Engine", "GGUF", "HotCache", "ExpertCache",
                                                        .product(name: "Hummingbird", package: "hummingbird")]),
        .testTarget(name: "HotCacheTests", dependencies: ["HotCache", "Engine", "ExpertCache", "GGUF", "Quant"]),
        // Hostile GGUF files against the loader and the CLI, crash-safety of state files.
        // The CLI tests run the hotmoe binary that the same build puts next to the test bundle.
        .testTarget(name: "ReliabilityTests", dependencies: ["Engine", "GGUF", "Tokenizer", "ExpertCache"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "GGUF", "Quant", "CKernels", "Tokenizer", "ExpertCache"], resources: [.copy("Golden")]),
    ]
)
