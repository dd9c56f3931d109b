import CBLAS
import CDNNL
import Synchronization

/// The library that computes float32 matrix products: oneDNN (the default) or OpenBLAS.
///
/// OpenBLAS chooses its kernels once, from `OPENBLAS_CORETYPE` when that is set: this project's
/// AVX-512 machines set it to `Haswell`, which halves OpenBLAS's speed there (AVX2 kernels). oneDNN's
/// `dnnl_sgemm` dispatches on the CPU's own ISA flags, so it runs AVX-512 kernels on AVX-512 CPUs and
/// reaches the FMA limit on AVX2 ones (Docs/Benchmarks.md, "Float32 products through oneDNN"). Float64 products
/// (gradient checks) and LAPACK always use OpenBLAS. The environment variable `TESSERA_GEMM=openblas`
/// selects OpenBLAS for a whole process, and ``run(_:)`` for a block of work (tests, benchmarks).
public enum GEMMBackend: String, CaseIterable, Sendable {
    case oneDNN = "onednn", openBLAS = "openblas"

    /// `TESSERA_GEMM`, when set.
    private static let requested = System.environment(["TESSERA_GEMM"])["TESSERA_GEMM"]

    /// The process's backend: `TESSERA_GEMM`'s, or oneDNN.
    public static let selected: GEMMBackend = requested.flatMap(GEMMBackend.init(rawValue:)) ?? .oneDNN

    /// The backend products use here: ``selected``, unless ``run(_:)`` bound another.
    @TaskLocal public static var current: GEMMBackend = selected

    /// Runs `body` with this backend's products (on the calling thread and the workers its operations start).
    public func run<R>(_ body: () throws -> R) rethrows -> R {
        try Self.$current.withValue(self, operation: body)
    }

    /// Throws when `TESSERA_GEMM` is set to something that is not a backend's name (it would be ignored).
    public static func checkEnvironment() throws {
        guard let value = requested, GEMMBackend(rawValue: value) == nil else { return }
        throw ConfigurationError(field: "TESSERA_GEMM", value: "'\(value)'",
                                 rule: "must be onednn or openblas (or unset for oneDNN)", source: "environment")
    }
}

/// `c = alpha·a·b + beta·c` on row-major operands at the given offsets, on `threads` threads (1 inside regions
/// that already run one product per core); rows of `c` start `ldc` apart (`n` when nil).
func runGEMM(dtype: DType, backend: GEMMBackend, threads: Int, _ opA: BLASOperand, _ opB: BLASOperand,
             m: Int, n: Int, k: Int, alpha: Double = 1, a: UnsafeMutableRawPointer, aOffset: Int,
             b: UnsafeMutableRawPointer, bOffset: Int, c: UnsafeMutableRawPointer, cOffset: Int, ldc: Int? = nil,
             beta: Double) {
    let ldc = ldc ?? n
    if dtype == .float32 {
        let pa = a.assumingMemoryBound(to: Float.self) + aOffset, pb = b.assumingMemoryBound(to: Float.self) + bOffset
        let pc = c.assumingMemoryBound(to: Float.self) + cOffset
        if backend == .oneDNN {
            oneDNNProduct(opA, opB, m: m, n: n, k: k, alpha: Float(alpha), a: pa, b: pb, c: pc, ldc: ldc,
                          beta: Float(beta), threads: threads)
            return
        }
        cblas_sgemm(CblasRowMajor, opA.transposed ? CblasTrans : CblasNoTrans,
                    opB.transposed ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), Float(alpha),
                    pa, Int32(opA.ld), pb, Int32(opB.ld), Float(beta), pc, Int32(ldc))
    } else {
        cblas_dgemm(CblasRowMajor, opA.transposed ? CblasTrans : CblasNoTrans,
                    opB.transposed ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
                    a.assumingMemoryBound(to: Double.self) + aOffset, Int32(opA.ld),
                    b.assumingMemoryBound(to: Double.self) + bOffset, Int32(opB.ld), beta,
                    c.assumingMemoryBound(to: Double.self) + cOffset, Int32(ldc))
    }
}

/// oneDNN's product on `threads` cores without OpenMP's team: `c` cut into blocks of rows (or of columns when it is
/// wider than tall), one single-threaded `dnnl_sgemm` per core on the pool's workers. OpenMP's idle workers spin for
/// about a millisecond after each threaded call (libgomp's default wait policy, read once when it loads), taking
/// their core from the elementwise work that follows: a ViT-S/16 forward ran 11% faster without that spinning.
private func oneDNNProduct(_ opA: BLASOperand, _ opB: BLASOperand, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
                           beta: Float, threads: Int) {
    // Below about a million multiply-adds (≈ 10 µs on one core) a second core costs more than it saves.
    let parts = m * n * k < 1 << 20 ? 1 : Swift.max(1, Swift.min(threads, Swift.max(m, n) / 16))
    let byRows = m >= n, length = byRows ? m : n, block = (length + parts - 1) / parts
    let failed = Mutex(dnnl_success)
    let one = { (part: Int) in
        let start = part * block, size = Swift.min(block, length - start)
        guard size > 0 else { return }
        // The team size is the calling thread's own OpenMP setting: one, so that oneDNN starts no team.
        if omp_get_max_threads() != 1 { omp_set_num_threads(1) }
        // Rows of op(a) start `ld` apart, or 1 apart when a is stored transposed; columns of op(b) the other way.
        let pa = byRows ? a + start * (opA.transposed ? 1 : opA.ld) : a
        let pb = byRows ? b : b + start * (opB.transposed ? opB.ld : 1)
        let status = dnnl_sgemm(opA.transposed ? 84 : 78, opB.transposed ? 84 : 78,  // "T" / "N"
                                Int64(byRows ? size : m), Int64(byRows ? n : size), Int64(k), alpha, pa,
                                Int64(opA.ld), pb, Int64(opB.ld), beta, c + (byRows ? start * ldc : start), Int64(ldc))
        if status != dnnl_success { failed.withLock { $0 = status } }
    }
    parallelFor(parts, threads: threads, one)
    let status = failed.withLock { $0 }
    // The operands' layouts were checked (BLASOperand): oneDNN refuses only invalid dimensions.
    if status != dnnl_success {
        fail("gemm", "oneDNN refused a \(m)×\(k)·\(k)×\(n) product (status \(status.rawValue))")
    }
}
