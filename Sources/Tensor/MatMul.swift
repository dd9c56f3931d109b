import CBLAS
import Synchronization

/// Matrix products through oneDNN's `dnnl_sgemm` (float32, see ``GEMMBackend``) and OpenBLAS's `cblas_dgemm`.
///
/// Transposed and sliced operands are passed to BLAS as transpose flags and leading dimensions,
/// never copied, whenever one of their two innermost strides is 1. A batch sharing one right-hand
/// matrix (a Linear layer on [B, T, C]) folds into a single GEMM; batches of small products (the
/// heads of attention) run one single-threaded GEMM per core, which is ≈ 5× faster here than
/// threaded OpenBLAS per product (see PERF_NOTES).
extension Tensor {
    /// The matrix product with `torch.matmul` semantics: 1-D operands are promoted to a row or
    /// column and the added axis removed; leading (batch) axes broadcast.
    public func matmul(_ other: Tensor) -> Tensor {
        check(dtype == other.dtype, "matmul",
              "dtypes differ: \(dtype) \(describe(shape)) × \(other.dtype) \(describe(other.shape))")
        check(dtype.isFloatingPoint, "matmul", "expects floating-point tensors, got \(dtype)")
        check(rank >= 1 && other.rank >= 1, "matmul",
              "expects tensors of rank ≥ 1, got \(describe(shape)) × \(describe(other.shape))")
        let a = rank == 1 ? unsqueezed(0) : self
        let b = other.rank == 1 ? other.unsqueezed(1) : other
        check(a.shape[a.rank - 1] == b.shape[b.rank - 2], "matmul",
              "inner dimensions differ: \(describe(shape)) × \(describe(other.shape))")
        let batch = broadcastShapes(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), op: "matmul")
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        let out = Tensor(empty: batch + [m, n], dtype: dtype)
        Tensor.gemm(a.expanded(to: batch + [m, k]), b.expanded(to: batch + [k, n]), into: out, beta: 0)
        // Both added axes are removed at once (a 1-D · 1-D product is 0-d, as in NumPy and PyTorch).
        let added = (rank == 1 ? [out.rank - 2] : []) + (other.rank == 1 ? [out.rank - 1] : [])
        return out.squeezing(axes: added)
    }

    /// `out = a·b + beta·out` for operands already broadcast to [batch…, m, k] × [batch…, k, n];
    /// `out` must be contiguous. `beta = 1` accumulates (gradients). `serial` runs the batch in a
    /// plain loop on the calling thread (for callers that already split work across cores).
    public static func gemm(_ a: Tensor, _ b: Tensor, into out: Tensor, beta: Double, serial: Bool = false) {
        let r = out.rank
        check(out.isContiguous && a.rank == r && b.rank == r, "gemm",
              "expects contiguous output and operands of equal rank")
        let m = out.shape[r - 2], n = out.shape[r - 1], k = a.shape[r - 1]
        let batchShape = Array(out.shape.dropLast(2))
        let batchCount = batchShape.reduce(1, *)
        if out.count == 0 { return }
        if k == 0 {
            if beta == 0 { out.fill(0) } else { out.binaryInPlace(.mul, out.scalarLike(beta)) }
            return
        }
        var a = a, b = b
        var la = BLASOperand(a), lb = BLASOperand(b)
        if la == nil { a = a.contiguous(); la = BLASOperand(a) }
        if lb == nil { b = b.contiguous(); lb = BLASOperand(b) }
        guard let opA = la, let opB = lb else { fail("gemm", "unreachable: contiguous operand has no BLAS layout") }
        let backend = GEMMBackend.current, threads = serial ? 1 : coreCount

        // Fold the batch into M when b is shared across the batch and a's rows are evenly spaced.
        let bShared = b.strides.dropLast(2).allSatisfy { $0 == 0 }
        if batchCount > 1, bShared, !opA.transposed, foldsIntoRows(a, m: m, ld: opA.ld) {
            withBLASThreads(serial: serial) {
                runGEMM(dtype: out.dtype, backend: backend, threads: threads, opA, opB, m: m * batchCount,
                        n: n, k: k, a: a.storage.base, aOffset: a.offset, b: b.storage.base, bOffset: b.offset,
                        c: out.storage.base, cOffset: out.offset, beta: beta)
            }
            return
        }
        let batchStridesA = Array(a.strides.dropLast(2)), batchStridesB = Array(b.strides.dropLast(2))
        func offsets(_ i: Int) -> (Int, Int) {
            var rem = i, oa = a.offset, ob = b.offset
            for d in stride(from: batchShape.count - 1, through: 0, by: -1) {
                let idx = rem % batchShape[d]
                rem /= batchShape[d]
                oa += idx * batchStridesA[d]
                ob += idx * batchStridesB[d]
            }
            return (oa, ob)
        }
        let one = { (i: Int, threads: Int) in
            let (oa, ob) = offsets(i)
            runGEMM(dtype: out.dtype, backend: backend, threads: threads, opA, opB, m: m, n: n, k: k,
                    a: a.storage.base, aOffset: oa, b: b.storage.base, bOffset: ob, c: out.storage.base,
                    cOffset: out.offset + i * m * n, beta: beta)
        }
        if !serial && batchCount >= coreCount && coreCount > 1 && m * n * k <= 8_000_000 {
            forEachItemPerCore(batchCount) { i, _, _ in one(i, 1) }
        } else {
            withBLASThreads(serial: serial) { for i in 0..<batchCount { one(i, threads) } }
        }
    }

    /// OpenBLAS's thread count is process-wide, and a product computed on one thread differs in
    /// its last bits from the same product on two. Regions that switch to one thread per core
    /// hold this lock, and so do threaded products, so that concurrent callers (tests running in
    /// parallel, two models trained at once) never change each other's results.
    static let blasThreadCount = Mutex(())

    /// Runs threaded BLAS work under ``blasThreadCount``; `serial` work runs inside a region that holds it already.
    static func withBLASThreads<R>(serial: Bool = false, _ body: () -> R) -> R {
        _ = blasThreadsConfigured
        return serial ? body() : blasThreadCount.withLock { _ in body() }
    }

    /// OpenBLAS takes ``coreCount`` threads (it would otherwise take every online core, twice
    /// too many for each of two processes of an `mpirun` job on a 2-core machine).
    private static let blasThreadsConfigured: Void = {
        if getenv("OPENBLAS_NUM_THREADS") == nil { openblas_set_num_threads(Int32(coreCount)) }
    }()

    /// Runs `body(core)` once per core, each calling BLAS single-threaded: threaded OpenBLAS inside
    /// concurrent work oversubscribes the cores (≈ 5× slower, see PERF_NOTES).
    static func withSingleThreadedBLASPerCore(_ body: (Int) -> Void) {
        withBLASThreads {
            let saved = openblas_get_num_threads()
            openblas_set_num_threads(1)
            parallelFor(coreCount, body)
            openblas_set_num_threads(saved)
        }
    }

    /// Runs `body(item, core, scratch)` for every item in `0..<count`, the items dealt round-robin to the cores,
    /// each core calling BLAS single-threaded with its own scratch tensor of shape `scratch`.
    static func forEachItemPerCore(_ count: Int, scratch: [Int] = [0], dtype: DType = .float32,
                                   _ body: (_ item: Int, _ core: Int, _ scratch: Tensor) -> Void) {
        withSingleThreadedBLASPerCore { core in
            let buffer = Tensor(empty: scratch, dtype: dtype)
            for item in stride(from: core, to: count, by: coreCount) { body(item, core, buffer) }
        }
    }

    /// Whether the batch axes of `a` step by exactly one m-row block, so [batch…, m, k] is one matrix.
    private static func foldsIntoRows(_ a: Tensor, m: Int, ld: Int) -> Bool {
        var expected = m * ld
        for d in stride(from: a.rank - 3, through: 0, by: -1) {
            if a.shape[d] != 1 && a.strides[d] != expected { return false }
            expected *= a.shape[d]
        }
        return true
    }
}

/// How a strided 2-D matrix is handed to row-major BLAS: as is, or as the transpose of a row-major matrix.
struct BLASOperand: Equatable {
    let transposed: Bool
    let ld: Int

    /// A matrix stored row-major with rows `ld` apart (`transposed`: its transpose is).
    init(transposed: Bool, ld: Int) {
        self.transposed = transposed
        self.ld = ld
    }

    /// The layout of the innermost two axes, or nil when neither inner stride is 1.
    init?(_ t: Tensor) {
        let r = t.rank
        let rows = t.shape[r - 2], cols = t.shape[r - 1]
        let sr = t.strides[r - 2], sc = t.strides[r - 1]
        if (sc == 1 || cols == 1) && (sr >= Swift.max(cols, 1) || rows == 1) {
            transposed = false
            ld = rows == 1 ? Swift.max(cols, 1) : sr
        } else if (sr == 1 || rows == 1) && (sc >= Swift.max(rows, 1) || cols == 1) {
            transposed = true
            ld = cols == 1 ? Swift.max(rows, 1) : sc
        } else {
            return nil
        }
    }
}
