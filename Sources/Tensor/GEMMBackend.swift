import CBLAS
import CDNNL

/// The library that computes float32 matrix products: oneDNN (the default) or OpenBLAS.
///
/// OpenBLAS chooses its kernels once, from `OPENBLAS_CORETYPE` when that is set: this project's
/// AVX-512 machines set it to `Haswell`, which halves OpenBLAS's speed there (AVX2 kernels). oneDNN's
/// `dnnl_sgemm` dispatches on the CPU's own ISA flags, so it runs AVX-512 kernels on AVX-512 CPUs and
/// reaches the FMA limit on AVX2 ones (see Docs/Benchmarks.md, "Matrix products"). Float64 products
/// (gradient checks) and LAPACK always use OpenBLAS. The environment variable `TESSERA_GEMM=openblas`
/// selects OpenBLAS for a whole process, and ``run(_:)`` for a block of work (tests, benchmarks).
public enum GEMMBackend: String, CaseIterable, Sendable {
    case oneDNN = "onednn", openBLAS = "openblas"

    /// The process's backend: `TESSERA_GEMM`'s, or oneDNN.
    public static let selected: GEMMBackend =
        System.environment(["TESSERA_GEMM"])["TESSERA_GEMM"].flatMap(GEMMBackend.init(rawValue:)) ?? .oneDNN

    /// The backend products use here: ``selected``, unless ``run(_:)`` bound another.
    @TaskLocal public static var current: GEMMBackend = selected

    /// Runs `body` with this backend's products (on the calling thread and the workers its operations start).
    public func run<R>(_ body: () throws -> R) rethrows -> R {
        try Self.$current.withValue(self, operation: body)
    }

    /// Throws when `TESSERA_GEMM` is set to something that is not a backend's name (it would be ignored).
    public static func checkEnvironment() throws {
        guard let value = System.environment(["TESSERA_GEMM"])["TESSERA_GEMM"],
              GEMMBackend(rawValue: value) == nil else { return }
        throw ConfigurationError(field: "TESSERA_GEMM", value: "'\(value)'",
                                 rule: "must be onednn or openblas (or unset for oneDNN)", source: "environment")
    }
}

/// `c = a·b + beta·c` on row-major operands at the given offsets, on `threads` threads (1 inside regions
/// that already run one product per core).
func runGEMM(dtype: DType, backend: GEMMBackend, threads: Int, _ opA: BLASOperand, _ opB: BLASOperand,
             m: Int, n: Int, k: Int, a: UnsafeMutableRawPointer, aOffset: Int, b: UnsafeMutableRawPointer,
             bOffset: Int, c: UnsafeMutableRawPointer, cOffset: Int, beta: Double) {
    if dtype == .float32 {
        let pa = a.assumingMemoryBound(to: Float.self) + aOffset, pb = b.assumingMemoryBound(to: Float.self) + bOffset
        let pc = c.assumingMemoryBound(to: Float.self) + cOffset
        if backend == .oneDNN {
            // The team size is per calling thread in OpenMP, so set it on every call: the same thread may
            // run threaded products and, later, single-threaded ones inside a per-core region.
            if omp_get_max_threads() != Int32(threads) { omp_set_num_threads(Int32(threads)) }
            let status = dnnl_sgemm(opA.transposed ? 84 : 78, opB.transposed ? 84 : 78,  // "T" / "N"
                                    Int64(m), Int64(n), Int64(k), 1, pa, Int64(opA.ld), pb, Int64(opB.ld),
                                    Float(beta), pc, Int64(n))
            if status == dnnl_success { return }
            // oneDNN refuses only arguments OpenBLAS would refuse too; let OpenBLAS report them.
        }
        cblas_sgemm(CblasRowMajor, opA.transposed ? CblasTrans : CblasNoTrans,
                    opB.transposed ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                    pa, Int32(opA.ld), pb, Int32(opB.ld), Float(beta), pc, Int32(n))
    } else {
        cblas_dgemm(CblasRowMajor, opA.transposed ? CblasTrans : CblasNoTrans,
                    opB.transposed ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                    a.assumingMemoryBound(to: Double.self) + aOffset, Int32(opA.ld),
                    b.assumingMemoryBound(to: Double.self) + bOffset, Int32(opB.ld), beta,
                    c.assumingMemoryBound(to: Double.self) + cOffset, Int32(n))
    }
}
