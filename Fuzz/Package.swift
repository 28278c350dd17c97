// swift-tools-version: 6.1
import PackageDescription

// libFuzzer targets, kept out of the main package so `swift build`/`swift test` never need
// the fuzzer runtime. Build (Linux) with tools/reliability/fuzz.sh, which passes
// `-sanitize=fuzzer,address` to every module, the code under test included.
// Each target is its own executable so one builds only what it needs (none pulls in the
// HTTP server's dependency tree: the request decoders are compiled in by symlink).
let package = Package(
    name: "hotmoe-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "hotmoe", path: "..")],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzGGUF", dependencies: ["FuzzDriver", .product(name: "HotMoEKit", package: "hotmoe")]),
        .executableTarget(name: "FuzzProfile", dependencies: ["FuzzDriver", .product(name: "HotMoEKit", package: "hotmoe")]),
        .executableTarget(name: "FuzzTrace", dependencies: ["FuzzDriver", .product(name: "HotMoEKit", package: "hotmoe")]),
        .executableTarget(name: "FuzzTokenizer", dependencies: ["FuzzDriver", .product(name: "HotMoEKit", package: "hotmoe")]),
        .executableTarget(name: "FuzzRequests", dependencies: ["FuzzDriver", .product(name: "HotMoEKit", package: "hotmoe")]),
        .executableTarget(name: "FuzzGrammar", dependencies: ["FuzzDriver", .product(name: "HotMoEKit", package: "hotmoe")]),
        .executableTarget(name: "FuzzSchema", dependencies: ["FuzzDriver", .product(name: "HotMoEKit", package: "hotmoe")]),
        .executableTarget(name: "FuzzTemplate", dependencies: ["FuzzDriver", .product(name: "HotMoEKit", package: "hotmoe")]),
        .executableTarget(name: "FuzzArchConfig", dependencies: ["FuzzDriver", .product(name: "HotMoEKit", package: "hotmoe")]),
    ]
)
