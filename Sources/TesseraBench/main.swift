// Release-mode benchmarks of the Tensor kernels against the machine's own limits: the FMA peak, Tensor.matmul
// (oneDNN and OpenBLAS) against raw cblas_sgemm on the same operands, elementwise ops against memcpy
// bandwidth, softmax and reductions. Prints a Markdown table (see Docs/Benchmarks.md).
//
//   swift run -c release tessera-bench            # full sizes
//   swift run -c release tessera-bench --quick    # fewer repetitions
//   python3 scripts/bench_reference.py > torch.json
//   swift run -c release tessera-bench --torch torch.json   # adds the side-by-side PyTorch table
//   swift run -c release tessera-bench loader FOLDER        # DINO multi-crop loader (scripts/bench_loader.py)
//   swift run -c release tessera-bench models               # only the whole-model rows (ResNet-50, ViT-S/16)
//   swift run -c release tessera-bench layers [--torch F]   # only the layer rows (bench_reference.py --layers)
//   swift run -c release tessera-bench conv-paths           # convolutions: fused loop against per-tap GEMMs
import CBLAS
import CKernels
import Dispatch
import Foundation
import Tessera
#if canImport(Glibc)
import Glibc
#endif

if CommandLine.arguments.count > 2 && CommandLine.arguments[1] == "loader" {
    try loaderBenchmark(folder: CommandLine.arguments[2])
    exit(0)
}

let quick = CommandLine.arguments.contains("--quick")
let repetitions = quick ? 5 : 15
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "models" {
    for (name, ms) in modelBenchmarks() { print("\(name): \(format(ms, 1)) ms") }
    exit(0)
}

/// Median wall time in seconds of `body` after two warm-up runs.
@MainActor func measure(_ body: () -> Void) -> Double { ModelBenchmark.medianSeconds(steps: repetitions, body) }

func format(_ v: Double, _ digits: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    return String((v * scale).rounded() / scale)
}

/// The side-by-side table, with PyTorch's times from the JSON file after `--torch` when given.
func printSideBySide(_ cases: [(String, Double)]) throws {
    var torch: [String: Double] = [:]
    if let i = CommandLine.arguments.firstIndex(of: "--torch"), i + 1 < CommandLine.arguments.count {
        let data = try Data(contentsOf: URL(fileURLWithPath: CommandLine.arguments[i + 1]))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        torch = json?["ms"] as? [String: Double] ?? [:]
    }
    print("\n| case (ms, median) | Tessera | PyTorch | PyTorch time / Tessera time |")
    print("|---|---|---|---|")
    for (name, ms) in cases {
        let reference = torch[name].map { format($0, 2) } ?? "—"
        let ratio = torch[name].map { format($0 / ms, 2) + "×" } ?? "—"
        print("| \(name) | \(format(ms, 2)) | \(reference) | \(ratio) |")
    }
}

var rows: [String] = []
@MainActor func report(_ name: String, _ ours: String, _ reference: String, _ ratio: Double) {
    rows.append("| \(name) | \(ours) | \(reference) | \(format(ratio * 100, 0))% |")
}

if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "layers" {
    try printSideBySide(layerBenchmarks())
    exit(0)
}
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "conv-paths" {
    for row in convolutionPathTable() { print(row) }
    exit(0)
}

let core = String(cString: openblas_get_corename())
print("OpenBLAS core: \(core), BLAS threads: \(openblas_get_num_threads()), cores: \(coreCount), "
      + "kernel level: \(KernelLevel.selected) (CPU: \(KernelLevel.cpu)), float32 GEMM: \(GEMMBackend.selected)")
print("OPENBLAS_CORETYPE=\(String(cString: getenv("OPENBLAS_CORETYPE") ?? strdup("(unset)")))\n")

// MARK: matmul against the FMA peak and raw OpenBLAS sgemm on the same buffers
let peak = KernelLevel.cpu.measuredPeakGFLOPS()
rows.append("| FMA peak, \(coreCount) cores, \(KernelLevel.cpu) (GFLOP/s) | \(format(peak)) | — | — |")
for (m, k, n) in [(2048, 2048, 2048), (1576, 384, 1152), (1576, 384, 1536), (1576, 1536, 384)] {
    let a = Tensor.randn([m, k]), b = Tensor.randn([k, n])
    let c = Tensor.zeros([m, n])
    let flops = 2.0 * Double(m * n * k)
    let raw = measure {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                    a.pointer(as: Float.self), Int32(k), b.pointer(as: Float.self), Int32(n), 0,
                    c.pointer(as: Float.self), Int32(n))
    }
    // Each backend on the same operands; the transposed right operand goes to the library as a flag.
    let bt = Tensor.randn([n, k])
    for backend in GEMMBackend.allCases {
        let ours = backend.run { measure { _ = a.matmul(b) } }
        let oursT = backend.run { measure { _ = a.matmul(bt.transposed()) } }
        let of = "\(format(100 * flops / ours / 1e9 / peak, 0))% of peak"
        report("matmul \(m)×\(k)·\(k)×\(n), \(backend) (GFLOP/s)", "\(format(flops / ours / 1e9)), \(of)",
               format(flops / raw / 1e9) + " (sgemm)", raw / ours)
        report("matmul \(m)×\(k)·(\(n)×\(k))ᵀ, \(backend) (GFLOP/s)", format(flops / oursT / 1e9),
               format(flops / raw / 1e9) + " (sgemm)", raw / oursT)
    }
}

// Attention-shaped batch: 32 images × 6 heads of 197×64 · 64×197.
do {
    let q = Tensor.randn([32, 6, 197, 64]), kt = Tensor.randn([32, 6, 197, 64]).transposed()
    let flops = 2.0 * 32 * 6 * 197 * 197 * 64
    let ours = measure { _ = q.matmul(kt) }
    let out = Tensor.zeros([32 * 6, 197, 197])
    let serial = measure {
        for i in 0..<(32 * 6) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 197, 197, 64, 1,
                        q.pointer(as: Float.self) + i * 197 * 64, 64,
                        kt.storage.base.assumingMemoryBound(to: Float.self) + i * 197 * 64, 64,
                        0, out.pointer(as: Float.self) + i * 197 * 197, 197)
        }
    }
    report("batched q·kᵀ 192×(197×64·64×197) (GFLOP/s)", format(flops / ours / 1e9),
           format(flops / serial / 1e9) + " (sgemm loop)", serial / ours)
}

// MARK: elementwise against memcpy bandwidth (bytes read + written)
let count = 16 << 20
let x = Tensor.randn([count]), y = Tensor.randn([count])
let destination = Tensor.zeros([count])
let copyTime = measure { destination.storage.base.copyMemory(from: x.storage.base, byteCount: count * 4) }
let copyBandwidth = Double(2 * count * 4) / copyTime / 1e9
rows.append("| memcpy 16M floats (GB/s) | \(format(copyBandwidth)) | — | — |")
for (name, arrays, op) in [("add", 3, { _ = x + y }), ("mul", 3, { _ = x * y }), ("add scalar", 2, { _ = x + 1 }),
                           ("exp", 2, { _ = x.exp() }), ("GELU (erf)", 2, { _ = x.gelu() }),
                           ("GELU (tanh)", 2, { _ = x.gelu(approximate: true) }),
                           ("GELU backward", 3, { _ = Tensor.geluBackward(gradient: y, input: x) })]
    as [(String, Int, () -> Void)] {
    let t = measure(op)
    let bandwidth = Double(arrays * count * 4) / t / 1e9
    report("\(name) 16M floats (GB/s, \(format(t * 1000, 2)) ms)", format(bandwidth),
           format(copyBandwidth) + " (memcpy)", bandwidth / copyBandwidth)
}
var inPlace = Tensor.randn([count])
let tIn = measure { inPlace += y }
report("add in place 16M floats (GB/s)", format(Double(3 * count * 4) / tIn / 1e9), format(copyBandwidth) + " (memcpy)",
       Double(3 * count * 4) / tIn / 1e9 / copyBandwidth)

// MARK: reductions and softmax
let tSum = measure { _ = x.sum() }
report("sum 16M floats (GB/s)", format(Double(count * 4) / tSum / 1e9), format(copyBandwidth) + " (memcpy)",
       Double(count * 4) / tSum / 1e9 / copyBandwidth)
let rowsTensor = Tensor.randn([4096, 4096])
let tRows = measure { _ = rowsTensor.mean(axis: 1) }
report("mean over rows 4096×4096 (GB/s)", format(Double(count * 4) / tRows / 1e9), format(copyBandwidth) + " (memcpy)",
       Double(count * 4) / tRows / 1e9 / copyBandwidth)
let tCols = measure { _ = rowsTensor.sum(axis: 0) }
report("sum over columns 4096×4096 (GB/s)", format(Double(count * 4) / tCols / 1e9),
       format(copyBandwidth) + " (memcpy)", Double(count * 4) / tCols / 1e9 / copyBandwidth)
let logits = Tensor.randn([1576, 197])
let tSoftmax = measure { _ = logits.softmax() }
rows.append("| softmax 1576×197 (ms) | \(format(tSoftmax * 1000, 3)) | — | — |")
let attention = Tensor.randn([32, 6, 197, 197])
let tAttention = measure { _ = attention.softmax() }
rows.append("| softmax 32×6×197×197 (ms) | \(format(tAttention * 1000, 2)) | — | — |")

print("| benchmark | Tessera | reference | Tessera / reference |")
print("|---|---|---|---|")
for r in rows { print(r) }

// MARK: side by side with PyTorch (same cases as scripts/bench_reference.py)
let a2048 = Tensor.randn([2048, 2048]), b2048 = Tensor.randn([2048, 2048])
var sideBySide: [(String, Double)] = [
    ("matmul 2048³", measure { _ = a2048.matmul(b2048) } * 1000),
    ("add 16M", measure { _ = x + y } * 1000),
    ("exp 16M", measure { _ = x.exp() } * 1000),
    ("GELU erf 16M", measure { _ = x.gelu() } * 1000),
    ("GELU tanh 16M", measure { _ = x.gelu(approximate: true) } * 1000),
    ("sum 16M", tSum * 1000),
    ("softmax 32×6×197×197", tAttention * 1000),
]
sideBySide += layerBenchmarks() + modelBenchmarks()
try printSideBySide(sideBySide)
