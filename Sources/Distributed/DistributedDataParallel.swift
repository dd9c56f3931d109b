import Autograd
import Dispatch
import NN
import Tensor

/// Data-parallel training of a module, as PyTorch's `DistributedDataParallel`: every process holds
/// the whole model, trains on its own shard of each batch, and the gradients are averaged over the
/// processes before the optimiser step, so that N processes with batch b take the steps one
/// process takes with batch N·b.
///
/// - At construction, rank 0's parameters and buffers are broadcast to every process.
/// - The parameters that require gradients are grouped into buckets in reverse declaration
///   order (about the order backward produces their gradients): the first holds up to
///   `firstBucketBytes` (1 MB, DDP's default), the others up to `bucketBytes` (25 MB). While
///   `Variable.backward()` runs, each parameter's gradient hook marks it ready;
///   a bucket whose gradients are all final starts its all-reduce on the communication queue
///   (buckets start in index order on every process, so MPI sees the same collectives everywhere)
///   and the rest of the backward pass runs meanwhile.
/// - ``synchronizeGradients()`` — call it after backward, before clipping and the optimiser
///   step — starts the buckets still waiting (those with parameters that got no gradient here),
///   waits for all of them and writes the averaged gradients back. A parameter that received no
///   gradient on any process keeps `grad == nil` (so optimisers skip it, as in one process); one
///   that received it on some processes only averages zeros for the others.
/// - Inside ``noSync(_:)`` backward passes only accumulate, for gradient accumulation.
public final class DistributedDataParallel {
    /// The wrapped module.
    public let module: Module
    public let group: ProcessGroup
    /// The parameters of each bucket, as indices into ``parameters``.
    public let buckets: [[Int]]
    /// The parameters that require gradients, in declaration order.
    public let parameters: [Variable]
    /// When each bucket of the last synchronised step became ready, started and finished, for
    /// measuring how much communication backward hides.
    public private(set) var lastStepTimeline: StepTimeline
    private var timeline: StepTimeline
    private var bucketOfParameter: [ObjectIdentifier: (bucket: Int, index: Int)] = [:]
    private var ready: [[Bool]]
    private var pending: [Int]
    private var nextToStart = 0
    private var inFlight: [(buffer: Tensor, request: CommunicationRequest, used: [Bool])?]
    private var syncing = true
    /// A parameter's gradient became ready twice in one synchronised step.
    private var readyTwice: String?

    /// Wraps `module`; throws if the broadcast of its state fails.
    public init(_ module: Module, group: ProcessGroup, bucketBytes: Int = 25 << 20, firstBucketBytes: Int = 1 << 20)
        throws {
        try ConfigurationError.require(bucketBytes > 0 && firstBucketBytes > 0, "bucketBytes",
                                       min(bucketBytes, firstBucketBytes), "must be positive")
        self.module = module
        self.group = group
        parameters = module.parameters().filter(\.requiresGrad)
        buckets = Self.assignBuckets(parameters, bucketBytes: bucketBytes, firstBucketBytes: firstBucketBytes)
        ready = buckets.map { Array(repeating: false, count: $0.count) }
        pending = buckets.map(\.count)
        inFlight = Array(repeating: nil, count: buckets.count)
        timeline = StepTimeline(buckets: buckets.count)
        lastStepTimeline = timeline
        for (b, bucket) in buckets.enumerated() {
            for (i, p) in bucket.enumerated() { bucketOfParameter[ObjectIdentifier(parameters[p])] = (b, i) }
        }
        try Self.broadcastState(of: module, group: group)
        for p in parameters {
            p.onGradientReady = { [unowned self] variable in self.gradientReady(variable) }
        }
    }

    deinit {
        for p in parameters { p.onGradientReady = nil }
    }

    /// Runs the wrapped module.
    public func callAsFunction(_ x: Variable) -> Variable { module(x) }

    /// Runs `body` (forward and backward passes) without communicating: gradients accumulate
    /// locally, and the next synchronised backward pass averages the sum.
    public func noSync<R>(_ body: () throws -> R) rethrows -> R {
        let saved = syncing
        syncing = false
        defer { syncing = saved }
        return try body()
    }

    /// Broadcasts `module`'s parameters and buffers from rank 0 (DDP's start, and after loading a checkpoint).
    public static func broadcastState(of module: Module, group: ProcessGroup) throws {
        guard group.isDistributed else { return }
        for p in module.parameters() {
            let value = p.data.copy()
            try group.broadcast(value)
            p.data = value
        }
        for (_, buffer) in module.namedBuffers() {
            let value = buffer.value.copy()
            try group.broadcast(value)
            buffer.value = value
        }
    }

    /// Starts the buckets not yet started, waits for every bucket and writes the averaged
    /// gradients to the parameters. Call it once per optimiser step, after backward.
    public func synchronizeGradients() throws {
        guard group.isDistributed else { return resetStep() }
        if let readyTwice {
            // The buckets already started must still complete before anything is reset.
            for case let (_, request, _)? in inFlight { try? request.wait() }
            self.readyTwice = nil
            resetStep()
            throw DistributedError.badTensor(call: "synchronizeGradients", reason: readyTwice)
        }
        timeline.backwardEnded = DispatchTime.now().uptimeNanoseconds
        while nextToStart < buckets.count { try start(nextToStart) }
        // Which parameters got a gradient on any process: those that got none keep none.
        let usedAnywhere = Tensor(inFlight.flatMap { $0!.used.map { $0 ? 1.0 : 0.0 } })
        try group.allReduce(usedAnywhere, .max)
        let used = usedAnywhere.scalars(as: Double.self)
        var flat = 0
        for (b, bucket) in buckets.enumerated() {
            let (buffer, request, _) = inFlight[b]!
            try request.wait()
            timeline.finished[b] = request.finishedAt
            var offset = 0
            for p in bucket.map({ parameters[$0] }) {
                let count = p.data.count
                if used[flat] > 0 {
                    p.grad = buffer.slice(axis: 0, start: offset, end: offset + count).reshaped(p.shape).copy()
                }
                offset += count
                flat += 1
            }
        }
        lastStepTimeline = timeline
        timeline = StepTimeline(buckets: buckets.count)
        resetStep()
    }

    private func resetStep() {
        for b in buckets.indices {
            ready[b] = Array(repeating: false, count: buckets[b].count)
            pending[b] = buckets[b].count
            inFlight[b] = nil
        }
        nextToStart = 0
    }

    private func gradientReady(_ variable: Variable) {
        guard syncing, group.isDistributed, let (b, i) = bucketOfParameter[ObjectIdentifier(variable)] else { return }
        guard !ready[b][i] else {
            readyTwice = "a parameter of shape \(variable.shape) got gradients from two synchronised backward passes "
                + "in one step; call synchronizeGradients() after each, or run the earlier ones inside noSync {}"
            return
        }
        ready[b][i] = true
        pending[b] -= 1
        if pending[b] == 0 { timeline.ready[b] = DispatchTime.now().uptimeNanoseconds }
        // A hook cannot throw: a failed start is rethrown by synchronizeGradients, which retries it.
        while nextToStart < buckets.count && pending[nextToStart] == 0 {
            guard (try? start(nextToStart)) != nil else { return }
        }
    }

    /// Copies bucket `b`'s gradients (zeros for parameters without one) into one buffer and starts its all-reduce.
    private func start(_ b: Int) throws {
        let members = buckets[b].map { parameters[$0] }
        let buffer = Tensor(empty: [members.reduce(0) { $0 + $1.data.count }], dtype: members[0].dtype, zeroed: true)
        var offset = 0, used: [Bool] = []
        for p in members {
            let count = p.data.count
            if let g = p.grad {
                buffer.slice(axis: 0, start: offset, end: offset + count).reshaped(p.shape).assign(g)
            }
            used.append(p.grad != nil)
            offset += count
        }
        timeline.started[b] = DispatchTime.now().uptimeNanoseconds
        inFlight[b] = (buffer, try group.allReduceAsync(buffer, .mean), used)
        nextToStart = b + 1
    }

    /// Buckets of parameter indices in reverse order, each of one dtype and at most its byte cap
    /// (a parameter larger than the cap gets a bucket of its own).
    static func assignBuckets(_ parameters: [Variable], bucketBytes: Int, firstBucketBytes: Int) -> [[Int]] {
        var buckets: [[Int]] = [], current: [Int] = [], bytes = 0
        for index in parameters.indices.reversed() {
            let p = parameters[index], size = p.data.count * p.dtype.byteSize
            let cap = buckets.isEmpty ? firstBucketBytes : bucketBytes
            if !current.isEmpty && (bytes + size > cap || parameters[current[0]].dtype != p.dtype) {
                buckets.append(current)
                (current, bytes) = ([], 0)
            }
            current.append(index)
            bytes += size
        }
        if !current.isEmpty { buckets.append(current) }
        return buckets
    }
}

/// Times (`DispatchTime` nanoseconds, 0 if not reached) of one synchronised step's buckets.
public struct StepTimeline: Sendable {
    /// When the bucket's last gradient became final.
    public var ready: [UInt64]
    /// When its all-reduce started.
    public var started: [UInt64]
    /// When its all-reduce finished.
    public var finished: [UInt64]
    /// When ``DistributedDataParallel/synchronizeGradients()`` was called: the end of backward.
    public var backwardEnded: UInt64 = 0

    init(buckets: Int) {
        ready = Array(repeating: 0, count: buckets)
        started = ready
        finished = ready
    }

    /// The fraction of all-reduce time that ran before backward ended (1: fully hidden).
    public var hiddenFraction: Double {
        var total = 0.0, hidden = 0.0
        for (s, f) in zip(started, finished) where f > s {
            total += Double(f - s)
            hidden += Double(Swift.max(0, Int64(Swift.min(f, backwardEnded)) - Int64(s)))
        }
        return total > 0 ? hidden / total : 0
    }
}
