import CKernels
import Dispatch

/// The CPU instruction-set levels that Tessera's compute-bound float32 kernels are built for.
///
/// Each kernel of the C target (exp, GELU and its backward, softmax, sums, layer and batch norm,
/// the fused convolution loops) is compiled once per level. Operations use ``current``: the fastest
/// level this CPU runs, unless the environment variable `TESSERA_CPU_LEVEL` names a lower one (as
/// PyTorch reads `ATEN_CPU_CAPABILITY`), or ``run(_:)`` binds another for a block of work — so the
/// AVX2 and baseline paths are tested and benchmarked on an AVX-512 machine too.
///
/// ```swift
/// let y = KernelLevel.avx2.run { x.gelu() }   // the AVX2 kernels, whatever this CPU has beyond them
/// ```
public enum KernelLevel: Int, Comparable, CaseIterable, Sendable, CustomStringConvertible {
    case baseline, avx2, avx512

    /// The highest level this CPU runs.
    public static let cpu = KernelLevel(rawValue: Int(tessera_cpu_level())) ?? .baseline

    /// The process's level: ``cpu``, or the lower level `TESSERA_CPU_LEVEL` names.
    public static let selected: KernelLevel = {
        let requested = Int(tessera_requested_level())
        guard requested >= 0, let level = KernelLevel(rawValue: requested) else { return cpu }
        return min(level, cpu)
    }()

    /// The level operations use here: ``selected``, unless ``run(_:)`` bound another.
    @TaskLocal public static var current: KernelLevel = selected

    /// The levels this CPU runs, lowest first.
    public static var supported: [KernelLevel] { allCases.filter { $0 <= cpu } }

    /// Runs `body` with this level's kernels (on the calling thread and the workers its operations
    /// start). The level must be one this CPU runs (``supported``).
    public func run<R>(_ body: () throws -> R) rethrows -> R {
        requireSupported("KernelLevel.run")
        return try Self.$current.withValue(self, operation: body)
    }

    /// The level's name, as `TESSERA_CPU_LEVEL` spells it.
    public var description: String { String(cString: tessera_level_name(Int32(rawValue))) }

    public static func < (a: KernelLevel, b: KernelLevel) -> Bool { a.rawValue < b.rawValue }

    /// Throws when `TESSERA_CPU_LEVEL` is set to something that is not a level's name (the kernels
    /// then ignore it), so that a command can refuse to run on a misspelt setting.
    public static func checkEnvironment() throws {
        guard tessera_requested_level() == -2 else { return }
        let value = System.environment(["TESSERA_CPU_LEVEL"])["TESSERA_CPU_LEVEL"] ?? ""
        throw ConfigurationError(field: "TESSERA_CPU_LEVEL", value: "'\(value)'",
                                 rule: "must be avx512, avx2 or baseline (or unset for the CPU's own level)",
                                 source: "environment")
    }

    /// The peak floating-point rate of this level's fused multiply-adds on `threads` cores, in GFLOP/s: the bound a
    /// float32 GEMM approaches (best of three runs of about 0.1 s, after one to size them). The work is cut into
    /// 16 pieces per thread so that every core has its share even while the pool is still starting workers.
    public func measuredPeakGFLOPS(threads: Int = coreCount) -> Double {
        requireSupported("KernelLevel.measuredPeakGFLOPS")
        var sink: Float = 0
        let peak = kernels.fma_peak, pieces = 16 * Swift.max(threads, 1), perIteration = Int(peak(1, &sink))
        func rate(_ iterations: Int) -> (gflops: Double, seconds: Double) {
            let start = DispatchTime.now().uptimeNanoseconds
            parallelFor(pieces, threads: threads) { _ in
                var sink: Float = 0  // written by the kernel, so that its work is kept
                _ = peak(iterations, &sink)
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return (Double(pieces * iterations * perIteration) / seconds / 1e9, seconds)
        }
        let probe = rate(1 << 12).seconds
        let iterations = Swift.max(1 << 12, Int(Double(1 << 12) * 0.1 / Swift.max(probe, 1e-6)))
        return (0..<3).map { _ in rate(iterations).gflops }.max()!
    }

    /// Stops with a message naming `caller` when this level is above the CPU's (its kernels cannot run here).
    private func requireSupported(_ caller: String) {
        if self > Self.cpu { fail(caller, "\(self) is above this CPU's level, \(Self.cpu)") }
    }

    /// This level's kernels (levels above ``cpu`` were refused by ``run(_:)``); the package's other modules
    /// call the kernels of their own ops (the optimisers') through it.
    package var kernels: TesseraKernels { Self.tables[rawValue] }

    private static let tables = supported.map { tessera_kernels(Int32($0.rawValue))!.pointee }
}

/// The tables are static data that no one writes.
extension TesseraKernels: @unchecked @retroactive Sendable {}

/// The kernels of the current level: resolve on the calling thread, before work is split across
/// workers (task-local values do not reach the pool's threads).
var currentKernels: TesseraKernels { KernelLevel.current.kernels }
