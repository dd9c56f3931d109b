import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// Loops over the elements of several same-shaped strided operands, one innermost row at a time.
///
/// Adjacent axes that are contiguous in every operand are merged first, so a contiguous tensor
/// (or a contiguous tensor broadcast against a scalar) becomes a single long row and the kernel's
/// inner loop runs over raw pointers with constant strides.
@usableFromInline
struct RowIterator {
    @usableFromInline var shape: [Int]
    @usableFromInline var strides: [[Int]]

    @usableFromInline
    init(shape: [Int], strides: [[Int]]) {
        // Drop size-1 axes, then merge axis i into i+1 where every operand is contiguous across them.
        var dims: [(Int, [Int])] = []
        for axis in shape.indices where shape[axis] != 1 {
            dims.append((shape[axis], strides.map { $0[axis] }))
        }
        var merged: [(Int, [Int])] = []
        for d in dims {
            if let last = merged.last, zip(last.1, d.1).allSatisfy({ $0 == $1 * d.0 }) {
                merged[merged.count - 1] = (last.0 * d.0, d.1)
            } else {
                merged.append(d)
            }
        }
        if merged.isEmpty { merged = [(shape.contains(0) ? 0 : 1, strides.map { _ in 1 })] }
        if shape.contains(0) { merged = [(0, strides.map { _ in 1 })] }
        self.shape = merged.map(\.0)
        self.strides = (0..<strides.count).map { k in merged.map { $0.1[k] } }
    }

    /// Number of innermost rows.
    @usableFromInline var rowCount: Int { shape.dropLast().reduce(1, *) }
    /// Length of each innermost row.
    @usableFromInline var rowLength: Int { shape.last! }
    /// Stride of operand `k` along the innermost row.
    @usableFromInline func innerStride(_ k: Int) -> Int { strides[k].last! }

    /// Calls `body(row, offsets)` for rows `range`, with each operand's offset of the row's start.
    @inlinable
    func forEachRow(in range: Range<Int>, _ body: (_ offsets: UnsafePointer<Int>) -> Void) {
        let outer = shape.count - 1
        let k = strides.count
        withUnsafeTemporaryAllocation(of: Int.self, capacity: k + max(outer, 1)) { buf in
            let offsets = buf.baseAddress!
            let index = offsets + k
            for row in range {
                // Decompose the row number into an index over the outer axes.
                var r = row
                for a in stride(from: outer - 1, through: 0, by: -1) {
                    index[a] = r % shape[a]
                    r /= shape[a]
                }
                for j in 0..<k {
                    var o = 0
                    for a in 0..<outer { o += index[a] * strides[j][a] }
                    offsets[j] = o
                }
                body(offsets)
            }
        }
    }
}

/// Wraps a raw pointer so a `@Sendable` closure may capture it; callers ensure disjoint writes.
public struct SendablePointer<T>: @unchecked Sendable {
    public let p: UnsafeMutablePointer<T>
    @inlinable public init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}

/// Number of cores the kernels (and OpenBLAS) split large work across: `TESSERA_NUM_THREADS` if
/// set; else the cores this process may run on (its CPU affinity), divided among the processes
/// of an `mpirun` job on this host when they were not bound to their own cores.
public let coreCount = System.threadCount(environment: System.environment(
    ["TESSERA_NUM_THREADS", "OMPI_COMM_WORLD_LOCAL_SIZE"]))

enum System {
    static func threadCount(environment: [String: String]) -> Int {
        if let n = environment["TESSERA_NUM_THREADS"].flatMap(Int.init), n > 0 { return n }
        let online = max(1, activeProcessorCount), allowed = max(1, min(online, affinityCount ?? online))
        let local = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
        return allowed == online && local > 1 ? max(1, online / local) : allowed
    }

    /// The values of the named environment variables that are set.
    static func environment(_ names: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for name in names { if let value = getenv(name) { out[name] = String(cString: value) } }
        return out
    }

    static var activeProcessorCount: Int {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 1
        #endif
    }

    /// The number of CPUs in this process's affinity mask (Linux), nil where unknown.
    static var affinityCount: Int? {
        let count = Int(tessera_affinity_cpu_count())
        return count > 0 ? count : nil
    }
}

/// Runs `body` over `0..<count` split into one chunk per core when `count × costPerItem` is large
/// enough to pay for handing work to another core, serially otherwise.
@inlinable
public func parallelChunks(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
    let chunks = min(coreCount, count, count * costPerItem / 32_768)
    if chunks < 2 {
        body(0..<count)
        return
    }
    parallelFor(chunks) { c in body(count * c / chunks..<count * (c + 1) / chunks) }
}

/// Runs `body(i)` for every `i` in `0..<count` on up to `threads` threads — the caller and the workers of
/// CKernels' pool, which stay awake for a moment after each region so that the next one starts without a
/// hand-off — and returns when all have finished. Nested regions, and a region begun while another thread's
/// holds the pool, run serially on their caller.
public func parallelFor(_ count: Int, threads: Int = coreCount, _ body: (Int) -> Void) {
    withoutActuallyEscaping(body) { body in
        var body = body
        withUnsafeMutablePointer(to: &body) { pointer in
            tessera_parallel_for(count, Int32(clamping: threads), { context, index in
                context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(index)
            }, pointer)
        }
    }
}
