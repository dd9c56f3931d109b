// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Tessera", targets: ["Tessera"]),
        .executable(name: "tessera-demo", targets: ["TesseraDemo"]),
        .executable(name: "tessera-bench", targets: ["TesseraBench"]),
    ],
    targets: [
        // OpenBLAS (cblas.h) and LAPACKE (lapacke.h) from Debian's libopenblas-dev / liblapacke-dev.
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        .target(name: "Tensor", dependencies: ["CBLAS"]),
        .target(name: "Autograd", dependencies: ["Tensor"]),
        .target(name: "Tessera", dependencies: ["Tensor", "Autograd"]),
        .executableTarget(name: "TesseraDemo", dependencies: ["Tessera"]),
        .executableTarget(name: "TesseraBench", dependencies: ["Tessera", "CBLAS"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "AutogradTests", dependencies: ["Autograd"]),
    ]
)
