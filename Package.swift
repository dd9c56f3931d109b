// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Tessera", targets: ["Tessera"]),
        .executable(name: "tessera", targets: ["TesseraCLI"]),
        .executable(name: "tessera-demo", targets: ["TesseraDemo"]),
        .executable(name: "train-vit", targets: ["TrainViT"]),
        .executable(name: "dino-features", targets: ["DINOFeatures"]),
        .executable(name: "attention-maps", targets: ["AttentionMaps"]),
        .executable(name: "tessera-bench", targets: ["TesseraBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // SHA-256 of downloaded checkpoints.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        // `swift package generate-documentation` (the DocC catalog in Sources/Tessera/Tessera.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // OpenBLAS (cblas.h) and LAPACKE (lapacke.h) from Debian's libopenblas-dev / liblapacke-dev.
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // oneDNN (Debian's libdnnl-dev): float32 matrix products on the CPU's own ISA (Tensor/GEMMBackend.swift).
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),
        // zlib (Debian's zlib1g-dev) for gzip-compressed data files.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Cairo (Debian's libcairo2-dev) draws the report's figures: antialiased PNG and SVG, real fonts.
        .systemLibrary(name: "CCairo", path: "Sources/CCairo", providers: [.apt(["libcairo2-dev"])]),
        // Compute-bound float32 kernels compiled per CPU level and dispatched at load time.
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(name: "Tensor", dependencies: ["CBLAS", "CDNNL", "CKernels"]),
        .target(name: "Autograd", dependencies: ["Tensor"]),
        .target(name: "NN", dependencies: ["Tensor", "Autograd", "CKernels"]),
        // libpng / libjpeg(-turbo) behind a C shim that turns their longjmp errors into messages.
        .target(name: "CImageCodecs", path: "Sources/CImageCodecs",
                linkerSettings: [.linkedLibrary("png"), .linkedLibrary("jpeg")]),
        .target(name: "Vision", dependencies: ["Tensor", "CZlib", "CImageCodecs"], resources: [.copy("Resources")]),
        .target(name: "Zoo", dependencies: [
            "Tensor", "Autograd", "NN", "Vision", .product(name: "Crypto", package: "swift-crypto"),
        ], resources: [.copy("Resources")]),
        // Open MPI, loaded at run time (dlopen) by a C shim: MPI's handles are macros Swift cannot import.
        .target(name: "CMPI", path: "Sources/CMPI", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "Distributed", dependencies: ["CMPI", "Tensor", "Autograd", "NN"]),
        .target(name: "Training", dependencies: ["Tensor", "Autograd", "NN", "Vision", "Zoo", "Distributed"]),
        .target(name: "Experiments", dependencies: [
            "CCairo", "Tensor", "Autograd", "NN", "Vision", "Zoo", "Distributed", "Training",
        ]),
        .target(name: "Tessera", dependencies: [
            "Tensor", "Autograd", "NN", "Vision", "Zoo", "Distributed", "Training", "Experiments",
        ]),
        .executableTarget(name: "TesseraCLI", dependencies: [
            "Tessera", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "TesseraDemo", dependencies: ["Tessera"]),
        // Examples a researcher would copy; CI runs each with --tiny (Tests/CLITests/ExampleTests.swift).
        .executableTarget(name: "TrainViT", dependencies: ["Tessera"], path: "Examples/TrainViT"),
        .executableTarget(name: "DINOFeatures", dependencies: ["Tessera"], path: "Examples/DINOFeatures"),
        .executableTarget(name: "AttentionMaps", dependencies: ["Tessera"], path: "Examples/AttentionMaps"),
        .executableTarget(name: "TesseraBench", dependencies: ["Tessera", "Tensor", "CBLAS", "CKernels"]),
        .target(name: "TestSupport", dependencies: ["Tensor", "Autograd"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TestSupport"]),
        .testTarget(name: "AutogradTests", dependencies: ["Autograd", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Vision", "TestSupport"]),
        .testTarget(name: "VisionTests", dependencies: ["Vision", "TestSupport"]),
        .testTarget(name: "ZooTests", dependencies: ["Zoo", "TestSupport"]),
        // Scenarios that `mpirun -np 2` runs for DistributedTests (one process each, results to files).
        .executableTarget(name: "DistributedChecks", dependencies: ["Tessera"], path: "Tests/DistributedChecks"),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "TestSupport", "Tensor"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "TestSupport"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["TesseraCLI", "TestSupport"]),
    ]
)
