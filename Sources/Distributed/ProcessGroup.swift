import CMPI
import Dispatch
import Foundation
import Synchronization
import Tensor

/// The reduction of ``ProcessGroup/allReduce(_:_:)`` (named apart from `Tensor`'s `ReduceOp`, which has no mean).
public enum CollectiveOp: Sendable {
    case sum, mean, max, min
}

/// Why a collective failed.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    /// An MPI call returned an error code.
    case mpi(call: String, code: Int32, message: String)
    /// Open MPI could not be loaded or started.
    case unavailable(String)
    /// A tensor a collective cannot take (not contiguous, an unsupported dtype, too large).
    case badTensor(call: String, reason: String)

    public var description: String {
        switch self {
        case .mpi(let call, let code, let message): "\(call) failed with MPI error \(code): \(message)"
        case .unavailable(let message): "MPI is unavailable: \(message)"
        case .badTensor(let call, let reason): "\(call): \(reason)"
        }
    }
}

/// The processes of a data-parallel job and the collectives between them, over MPI.
///
/// ``current()`` is the job this process belongs to: started by `mpirun` (Open MPI sets
/// `OMPI_COMM_WORLD_SIZE`), it initialises MPI once and gives this process's rank; started alone,
/// it is a group of one whose collectives return at once, and libmpi is never loaded.
///
/// Every MPI call runs on one serial communication queue, in the order the calls were made, so
/// that the processes issue their collectives in the same order and the asynchronous forms
/// (``allReduceAsync(_:_:)``) overlap with computation on the caller's thread. MPI runs at
/// `MPI_THREAD_SERIALIZED` with `MPI_ERRORS_RETURN`: a failed call throws ``DistributedError/mpi(call:code:message:)``.
public final class ProcessGroup: @unchecked Sendable {
    /// This process's index in the job, 0 ..< ``size``.
    public let rank: Int
    /// The number of processes.
    public let size: Int
    /// This process's index among the processes on its host.
    public let localRank: Int
    /// The number of processes on this process's host.
    public let localSize: Int
    /// The number of distinct hosts.
    public let hostCount: Int
    private let usesMPI: Bool
    private let queue = DispatchQueue(label: "tessera.distributed.communication", qos: .userInitiated)

    /// Whether the job has more than one process.
    public var isDistributed: Bool { size > 1 }
    /// Whether this is the process that logs and writes checkpoints.
    public var isPrimary: Bool { rank == 0 }

    /// A group of one process.
    public static let single = ProcessGroup()

    private init() {
        (rank, size, localRank, localSize, hostCount, usesMPI) = (0, 1, 0, 1, 1, false)
    }

    private init(mpiLibrary: String?) throws {
        var error = [CChar](repeating: 0, count: 512)
        guard tessera_mpi_load(mpiLibrary, &error, Int32(error.count)) == 0 else {
            throw DistributedError.unavailable(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) },
                                                      as: UTF8.self))
        }
        var provided: Int32 = 0, rank: Int32 = 0, size: Int32 = 0
        try Self.check("MPI_Init_thread", tessera_mpi_init(&provided))
        try Self.check("MPI_Comm_rank", tessera_mpi_rank(&rank))
        try Self.check("MPI_Comm_size", tessera_mpi_size(&size))
        guard provided >= 2 else {
            throw DistributedError.unavailable("MPI grants thread level \(provided), "
                                               + "Tessera needs MPI_THREAD_SERIALIZED")
        }
        (self.rank, self.size, usesMPI) = (Int(rank), Int(size), true)
        // Open MPI's view of the hosts (the names given to mpirun, so namespaces on one machine
        // count as hosts); otherwise host names, gathered.
        let environment = ProcessInfo.processInfo.environment
        if let local = environment["OMPI_COMM_WORLD_LOCAL_RANK"].flatMap(Int.init),
           let localSize = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) {
            (localRank, self.localSize) = (local, localSize)
        } else {
            var name = [UInt8](repeating: 0, count: 256)
            gethostname(&name, name.count - 1)
            let names = try Self.gatherBytes(name, size: Int(size))
            let mine = names[Int(rank)]
            localRank = names.prefix(Int(rank)).filter { $0 == mine }.count
            localSize = names.filter { $0 == mine }.count
        }
        var leaders = Int64(localRank == 0 ? 1 : 0)
        try Self.check("MPI_Allreduce", tessera_mpi_allreduce(&leaders, 1, TESSERA_MPI_INT64, TESSERA_MPI_SUM))
        hostCount = Int(leaders)
    }

    private static let launched = Mutex<ProcessGroup?>(nil)

    /// The job this process belongs to: MPI's world when started by `mpirun` with more than one
    /// process, else ``single``. MPI is initialised on the first call (`TESSERA_MPI_LIBRARY` names
    /// another libmpi) and finalised at exit; the result is the same for every later call.
    ///
    /// A process that fails while the others may still be waiting in a collective must end the
    /// job with ``abort(code:)`` rather than exit, or the others wait forever.
    public static func current() throws -> ProcessGroup {
        try launched.withLock { group in
            if let group { return group }
            let environment = ProcessInfo.processInfo.environment
            let size = Int(environment["OMPI_COMM_WORLD_SIZE"] ?? "") ?? 1
            let made = size > 1 ? try ProcessGroup(mpiLibrary: environment["TESSERA_MPI_LIBRARY"]) : .single
            // MPI_Finalize when the process exits normally, as mpi4py does: mpirun treats a rank
            // that exits without it as failed. (Failing ranks call abort(code:) instead.)
            if made.usesMPI { atexit { (try? ProcessGroup.current())?.finalize() } }
            group = made
            return made
        }
    }

    // MARK: Collectives

    /// Waits until every process has called it.
    public func barrier() throws {
        guard usesMPI else { return }
        try queue.sync { try Self.check("MPI_Barrier", tessera_mpi_barrier()) }
    }

    /// Overwrites `tensor` (contiguous) on every process with its value on `root`.
    public func broadcast(_ tensor: Tensor, root: Int = 0) throws {
        try broadcastAsync(tensor, root: root).wait()
    }

    /// Starts ``broadcast(_:root:)`` on the communication queue and returns at once; `tensor` must
    /// not be read or written until the request's `wait()` returns.
    public func broadcastAsync(_ tensor: Tensor, root: Int = 0) throws -> CommunicationRequest {
        let (pointer, count, type) = try Self.buffer(tensor, "broadcast")
        try ConfigurationError.require((0..<size).contains(root), "root", root,
                                       "must be a rank of the \(size) processes")
        let box = SendablePointer(pointer.assumingMemoryBound(to: UInt8.self))
        return start(keeping: [tensor.storage]) {
            try Self.check("MPI_Bcast", tessera_mpi_broadcast(box.p, count, type, Int32(root)))
        }
    }

    /// Reduces `tensor` (contiguous) over the processes, in place: afterwards every process holds the
    /// sum (or mean, maximum, minimum) of all processes' values.
    public func allReduce(_ tensor: Tensor, _ op: CollectiveOp = .sum) throws {
        try allReduceAsync(tensor, op).wait()
    }

    /// Starts ``allReduce(_:_:)`` on the communication queue and returns at once; `tensor` must not
    /// be read or written until the request's `wait()` returns.
    public func allReduceAsync(_ tensor: Tensor, _ op: CollectiveOp = .sum) throws -> CommunicationRequest {
        let (pointer, count, type) = try Self.buffer(tensor, "allReduce")
        if op == .mean && !tensor.dtype.isFloatingPoint {
            throw DistributedError.badTensor(call: "allReduce", reason: "a mean needs a floating-point tensor, "
                                                 + "got \(tensor.dtype)")
        }
        let size = size
        let mpiOp: tessera_mpi_op = switch op {
        case .sum, .mean: TESSERA_MPI_SUM
        case .max: TESSERA_MPI_MAX
        case .min: TESSERA_MPI_MIN
        }
        let box = SendablePointer(pointer.assumingMemoryBound(to: UInt8.self))
        return start(keeping: [tensor.storage]) {
            try Self.check("MPI_Allreduce", tessera_mpi_allreduce(box.p, count, type, mpiOp))
            if op == .mean { Self.scale(box.p, count: Int(count), type: type, by: 1 / Double(size)) }
        }
    }

    /// Starts gathering every process's `tensor` along axis 0 in rank order, for tensors of the same
    /// shape and dtype on every process (``allGather(_:)`` also takes differing first dimensions, at
    /// the price of one more exchange). The result must not be read until the request's `wait()` returns.
    public func allGatherAsync(_ tensor: Tensor) throws -> (result: Tensor, request: CommunicationRequest) {
        let local = tensor.contiguous()
        let (send, count, type) = try Self.buffer(local, "allGather")
        let rows = local.rank == 0 ? [size] : [local.shape[0] * size] + Array(local.shape.dropFirst())
        let out = Tensor(empty: rows, dtype: local.dtype)
        guard usesMPI else {
            out.assign(local.reshaped(rows))
            return (out, start(keeping: []) {})
        }
        let (sendBox, receiveBox) = (SendablePointer(send.assumingMemoryBound(to: UInt8.self)),
                                     SendablePointer(out.storage.base.assumingMemoryBound(to: UInt8.self)))
        let counts = [Int32](repeating: count, count: size), displacements = (0..<size).map { Int32($0) * count }
        let request = start(keeping: [local.storage, out.storage]) {
            try Self.check("MPI_Allgatherv", tessera_mpi_allgatherv(sendBox.p, count, receiveBox.p, counts,
                                                                     displacements, type))
        }
        return (out, request)
    }

    /// Runs `body` on the communication queue (at once for a group of one); `storages` stay alive
    /// until it has run.
    private func start(keeping storages: [TensorStorage], _ body: @escaping @Sendable () throws -> Void)
        -> CommunicationRequest {
        let request = CommunicationRequest()
        guard usesMPI else {
            request.complete(nil)
            return request
        }
        queue.async {
            defer { withExtendedLifetime(storages) {} }
            do {
                try body()
                request.complete(nil)
            } catch {
                request.complete(error)
            }
        }
        return request
    }

    /// Every process's `tensor` concatenated along axis 0 in rank order; the tensors may differ in
    /// their first dimension but must agree in the others and in dtype.
    public func allGather(_ tensor: Tensor) throws -> Tensor {
        guard usesMPI else { return tensor }
        let local = tensor.contiguous()
        let (send, sendCount, type) = try Self.buffer(local, "allGather")
        let rowShape = Array(local.shape.dropFirst())
        // Each process's first dimension and a fingerprint of the rest, to refuse mismatches by name.
        let fingerprint = rowShape.reduce(Int64(rowShape.count)) { $0 &* 1_000_003 &+ Int64($1) }
        let dtypeCode = Int64(DType.allCases.firstIndex(of: local.dtype) ?? 0)
        let header = Tensor([Int64(local.rank == 0 ? 1 : local.shape[0]), fingerprint, dtypeCode], shape: [1, 3])
        let (gatheredHeaders, request) = try allGatherAsync(header)
        try request.wait()
        let headers = gatheredHeaders.scalars(as: Int64.self)
        for r in 0..<size where headers[3 * r + 1] != headers[1] || headers[3 * r + 2] != headers[2] {
            throw DistributedError.badTensor(call: "allGather",
                                             reason: "rank \(r)'s tensor differs from rank 0's beyond its first axis "
                                                 + "or in dtype (this rank: \(local.shape) \(local.dtype))")
        }
        let rows = (0..<size).map { Int(headers[3 * $0]) }
        let rowCount = rowShape.reduce(1, *)
        let out = Tensor(empty: [rows.reduce(0, +)] + rowShape, dtype: local.dtype)
        let counts = rows.map { Int32($0 * rowCount) }
        var displacements = [Int32](repeating: 0, count: size)
        for r in 1..<size { displacements[r] = displacements[r - 1] + counts[r - 1] }
        let receive = out.storage.base
        try queue.sync {
            try Self.check("MPI_Allgatherv",
                           tessera_mpi_allgatherv(send, sendCount, receive, counts, displacements, type))
        }
        return local.rank == 0 ? out.reshaped([size]) : out
    }

    /// Ends every process of the job with `code` (MPI_Abort): what a failing rank calls so the
    /// others do not wait for it forever. A group of one exits.
    public func abort(code: Int32 = 1) -> Never {
        if usesMPI { _ = tessera_mpi_abort(code) }
        _exit(code)  // not exit: its MPI_Finalize would wait for the processes MPI_Abort failed to end
    }

    /// MPI_Finalize on the communication queue, after the collectives queued before it.
    private func finalize() {
        queue.sync { _ = tessera_mpi_finalize() }
    }

    // MARK: Helpers

    private static func check(_ call: String, _ code: Int32) throws {
        guard code != 0 else { return }
        var text = [CChar](repeating: 0, count: 512)
        tessera_mpi_error_string(code, &text, Int32(text.count))
        let message = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw DistributedError.mpi(call: call, code: code, message: message)
    }

    private static func buffer(_ tensor: Tensor, _ call: String) throws
        -> (UnsafeMutableRawPointer, Int32, tessera_mpi_type) {
        guard tensor.isContiguous else {
            throw DistributedError.badTensor(call: call,
                                             reason: "needs a contiguous tensor, got strides \(tensor.strides)")
        }
        let type: tessera_mpi_type
        switch tensor.dtype {
        case .float32: type = TESSERA_MPI_FLOAT32
        case .float64: type = TESSERA_MPI_FLOAT64
        case .int64: type = TESSERA_MPI_INT64
        case .int32: type = TESSERA_MPI_INT32
        case .bool: type = TESSERA_MPI_BYTE
        }
        guard tensor.count <= Int(Int32.max) else {
            throw DistributedError.badTensor(call: call, reason: "\(tensor.count) elements exceed MPI's Int32 count")
        }
        let pointer = tensor.storage.base + tensor.offset * tensor.dtype.byteSize
        return (pointer, Int32(tensor.count), type)
    }

    private static func gatherBytes(_ bytes: [UInt8], size: Int) throws -> [[UInt8]] {
        var out = [UInt8](repeating: 0, count: bytes.count * size)
        let counts = [Int32](repeating: Int32(bytes.count), count: size)
        let displacements = (0..<size).map { Int32($0 * bytes.count) }
        try check("MPI_Allgatherv", tessera_mpi_allgatherv(bytes, Int32(bytes.count), &out, counts, displacements,
                                                           TESSERA_MPI_BYTE))
        return (0..<size).map { Array(out[($0 * bytes.count)..<(($0 + 1) * bytes.count)]) }
    }

    private static func scale(_ p: UnsafeMutablePointer<UInt8>, count: Int, type: tessera_mpi_type, by factor: Double) {
        switch type {
        case TESSERA_MPI_FLOAT32:
            let f = UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self), s = Float(factor)
            for i in 0..<count { f[i] *= s }
        case TESSERA_MPI_FLOAT64:
            let d = UnsafeMutableRawPointer(p).assumingMemoryBound(to: Double.self)
            for i in 0..<count { d[i] *= factor }
        default:
            preconditionFailure("mean of a non-float buffer")
        }
    }
}

/// An asynchronous collective's completion: ``wait()`` blocks until it has finished and rethrows its error.
public final class CommunicationRequest: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let state = Mutex<(finished: Bool, error: (any Error)?, finishedAt: UInt64)>((false, nil, 0))

    init() {}

    func complete(_ error: (any Error)?) {
        state.withLock { $0 = (true, error, DispatchTime.now().uptimeNanoseconds) }
        done.signal()
    }

    /// Whether the collective has finished (never blocks).
    public var isFinished: Bool { state.withLock { $0.finished } }
    /// When it finished (`DispatchTime` nanoseconds), 0 while it runs.
    public var finishedAt: UInt64 { state.withLock { $0.finishedAt } }

    /// Blocks until the collective has finished; throws its error.
    public func wait() throws {
        if !isFinished {
            done.wait()
            done.signal()
        }
        if let error = state.withLock({ $0.error }) { throw error }
    }
}
