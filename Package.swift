// swift-tools-version: 6.1
import PackageDescription

/// Every target that runs numeric code is compiled for AVX2 + FMA (x86-64-v3). Without it, Swift lowers
/// `SIMD.addProduct` to scalar `fmaf` library calls and the kernels run ~100x slower
/// (see docs/PERFORMANCE.md). The binary checks at start-up that the CPU has these features.
let simdFlags: [SwiftSetting] = [
    .unsafeFlags(["-Xcc", "-march=x86-64-v3"]),
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Brigade",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "brigade", targets: ["BrigadeCLI"]),
        .executable(name: "brigade-fuzz", targets: ["BrigadeFuzz"]),
        .library(name: "Brigade", targets: ["Engine"]),
    ],
    traits: [
        .trait(name: "MPI", description: "Pipeline ranks in separate processes over the system's Open MPI (pkg-config ompi-c)"),
        .default(enabledTraits: []),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.11.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: [
        // Layer 1: numeric kernels (SIMD, quantized blocks, threads), and their C variants with intrinsics Swift cannot
        // emit (vpmaddwd, vpdpwssd), chosen at run time from CPUID. The baseline stays x86-64-v3: the VNNI variants
        // carry per-function target attributes and only run where the CPU has them.
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-march=x86-64-v3", "-O3", "-ffp-contract=off"])]
        ),
        .target(name: "Kernels", dependencies: ["CKernels"], swiftSettings: simdFlags),
        // Layer 1: BPE and SentencePiece tokenizers and the Jinja subset used by chat templates. No dependencies.
        .target(name: "Tokenization", swiftSettings: simdFlags),
        .target(name: "ChatTemplates"),
        // Layer 1: context-free grammars over bytes (GBNF, JSON Schema, regular expressions) and the token-level matcher
        // that masks a vocabulary to what a grammar allows next. No dependencies.
        .target(name: "Grammar", swiftSettings: simdFlags),
        // Layer 2: model files (GGUF, safetensors), the Llama stage forward pass, sampling.
        .target(name: "Model", dependencies: ["Kernels", "Tokenization", "ChatTemplates", "Grammar"], swiftSettings: simdFlags),
        // Layer 3: requests, scheduler, KV blocks, engine loop, the executor's Communicator seam.
        .target(name: "Engine", dependencies: ["Model", "Tokenization", "Grammar"], swiftSettings: simdFlags),
        // Layer 4: transports behind the executor's Communicator seam: ranks as threads of one process, or (trait MPI)
        // processes connected by MPI. A plain `swift build` needs no MPI headers.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .target(name: "Transport", dependencies: ["Engine", .target(name: "CMPI", condition: .when(traits: ["MPI"]))]),
        // Layer 5: the supervisor that keeps requests alive across pipeline restarts: the request journal, pipeline
        // launchers (threads of this process, or `mpirun` jobs), and the link and heartbeats between it and the ranks.
        .target(
            name: "Supervisor",
            dependencies: ["Engine", "Transport", .product(name: "Logging", package: "swift-log")]
        ),
        // Layer 5: the OpenAI-compatible HTTP server.
        .target(
            name: "Server",
            dependencies: [
                "Engine", "ChatTemplates", "Grammar",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Layer 6: the command-line interface.
        // Layer 5: pictures of runs: Chrome-trace reading and checking, SVG Gantt and line charts. No dependencies.
        .target(name: "Charts"),
        // Layer 5: the client side of `vllm bench serve` (arrivals, streaming timings, vLLM's metrics). No engine.
        .target(
            name: "ServingBenchmark",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "BrigadeCLI",
            dependencies: [
                "Engine", "Transport", "Supervisor", "Server", "ChatTemplates", "Grammar", "ServingBenchmark", "Charts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: simdFlags
        ),
        // Fuzzing: every parser of untrusted bytes behind one entry point (Tests/FuzzTargetsTests/Corpora holds the corpora), and the
        // libFuzzer driver / corpus replayer built by scripts/fuzz.
        .target(name: "FuzzTargets", dependencies: ["Model", "Tokenization", "ChatTemplates", "Grammar", "Engine", "Transport", "Server"]),
        .executableTarget(name: "BrigadeFuzz", dependencies: ["FuzzTargets"]),
        .testTarget(name: "FuzzTargetsTests", dependencies: ["FuzzTargets"], exclude: ["Corpora"]),
        .testTarget(name: "ChartsTests", dependencies: ["Charts"]),
        .testTarget(name: "ServingBenchmarkTests", dependencies: ["ServingBenchmark", .product(name: "HummingbirdTesting", package: "hummingbird"),
                                                                  .product(name: "Hummingbird", package: "hummingbird")]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"], swiftSettings: simdFlags),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization"], exclude: ["Fixtures"]),
        .testTarget(name: "ChatTemplatesTests", dependencies: ["ChatTemplates"]),
        .testTarget(name: "GrammarTests", dependencies: ["Grammar"], exclude: ["Fixtures"]),
        .testTarget(name: "ModelTests", dependencies: ["Model"], exclude: ["Fixtures"], swiftSettings: simdFlags),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Transport"], swiftSettings: simdFlags),
        .testTarget(name: "TransportTests", dependencies: ["Transport"]),
        .testTarget(name: "SupervisorTests", dependencies: ["Supervisor", "Engine", "Model", "Transport"]),
        .testTarget(
            name: "ServerTests",
            dependencies: ["Server", "Engine", "Transport", .product(name: "HummingbirdTesting", package: "hummingbird")]
        ),
        // Runs the built `brigade` binary as a user would.
        .testTarget(name: "CLITests", dependencies: ["BrigadeCLI", "Charts", "ServingBenchmark"]),
    ],
    swiftLanguageModes: [.v6]
)
