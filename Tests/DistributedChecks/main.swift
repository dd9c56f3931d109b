// Scenarios that DistributedTests runs under `mpirun -np 2` and as one process, to compare.
// Each prints one line and exits 0, or prints the failure to standard error and exits 1 (the
// other ranks are then aborted by MPI). Usage: distributed-checks SCENARIO [--name value]…
import Foundation
import Tessera

/// `--name value` pairs after the scenario.
struct Arguments {
    let scenario: String
    let values: [String: String]

    init() {
        let all = Array(CommandLine.arguments.dropFirst())
        scenario = all.first ?? ""
        var values: [String: String] = [:]
        var i = 1
        while i + 1 < all.count {
            values[String(all[i].drop { $0 == "-" })] = all[i + 1]
            i += 2
        }
        self.values = values
    }

    func int(_ name: String, _ fallback: Int) -> Int { values[name].flatMap(Int.init) ?? fallback }
    func string(_ name: String) -> String? { values[name] }
}

struct CheckFailure: Error, CustomStringConvertible { let description: String }

func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw CheckFailure(description: message()) }
}

/// Barrier, broadcast, all-reduce (sum, mean, max, asynchronous), all-gather of equal and varying sizes.
func collectives(_ group: ProcessGroup) throws {
    let (r, n) = (group.rank, group.size)
    try group.barrier()
    let b = Tensor([Double(r + 1), Double(10 * (r + 1))])
    try group.broadcast(b, root: n - 1)
    try expect(b.scalars(as: Double.self) == [Double(n), Double(10 * n)], "broadcast gave \(b.doubles)")
    let s = Tensor([Float(r), 1, Float(r * r)])
    try group.allReduce(s, .sum)
    let sums = (0..<n).reduce(into: [Float](repeating: 0, count: 3)) { acc, k in
        acc[0] += Float(k); acc[1] += 1; acc[2] += Float(k * k)
    }
    try expect(s.scalars(as: Float.self) == sums, "sum gave \(s.doubles), expected \(sums)")
    let m = Tensor([Double(r)])
    try group.allReduce(m, .mean)
    try expect(abs(m.doubles[0] - Double(n - 1) / 2) < 1e-12, "mean gave \(m.doubles)")
    let x = Tensor([Int64(r), -Int64(r)])
    try group.allReduce(x, .max)
    try expect(x.scalars(as: Int64.self) == [Int64(n - 1), 0], "max gave \(x.scalars(as: Int64.self))")
    let big = Tensor.full([1 << 20], Double(r), dtype: .float64)
    let request = try group.allReduceAsync(big, .sum)
    try request.wait()
    try expect(big.doubles.allSatisfy { $0 == Double(n * (n - 1) / 2) }, "asynchronous sum is wrong")
    let rows = Tensor((0..<(3 * (r + 1))).map { Float(100 * r + $0) }, shape: [r + 1, 3])
    let gathered = try group.allGather(rows)
    try expect(gathered.shape == [n * (n + 1) / 2, 3], "varying all-gather has shape \(gathered.shape)")
    let scalars = try group.allGather(Tensor(scalar: Double(r)))
    try expect(scalars.doubles == (0..<n).map(Double.init), "scalar all-gather gave \(scalars.doubles)")
    do {
        _ = try group.allGather(Tensor.zeros([1, r + 2]))
        try expect(!group.isDistributed, "mismatched all-gather did not throw")
    } catch let error as DistributedError {
        try expect("\(error)".contains("beyond its first axis"), "mismatch error reads \(error)")
    }
    print("collectives ok: rank \(r) of \(n), local \(group.localRank) of \(group.localSize), \(group.hostCount) host(s)")
}

/// A float64 MLP with a layer that never gets a gradient, trained with AdamW on a fixed synthetic
/// set: each process takes its DataShard of every step's permutation, gradients are averaged by
/// DDP (`--bucket-bytes` small puts bucket boundaries inside the model), optionally accumulated
/// over two micro-batches with noSync. Rank 0 writes the parameters to `--out`.
final class MLP: Module {
    let fc1 = Linear(6, 16, dtype: .float64), fc2 = Linear(16, 16, dtype: .float64)
    let fc3 = Linear(16, 3, dtype: .float64), unused = Linear(3, 3, dtype: .float64)
    override func callAsFunction(_ x: Variable) -> Variable { fc3(fc2(fc1(x).gelu()).tanh()) }
}

func mlp(_ group: ProcessGroup, _ arguments: Arguments) throws {
    let batch = arguments.int("batch", 8), steps = arguments.int("steps", 6)
    let accumulate = arguments.int("accumulate", 1)
    Random.seed(1)
    let model = MLP()
    let data = Tensor.randn([96, 6], dtype: .float64, generator: RandomGenerator(seed: 7))
    let targets = Tensor.randn([96, 3], dtype: .float64, generator: RandomGenerator(seed: 8))
    let ddp = try DistributedDataParallel(model, group: group, bucketBytes: arguments.int("bucket-bytes", 25 << 20),
                                          firstBucketBytes: arguments.int("bucket-bytes", 1 << 20))
    let optimizer = AdamW([ParameterGroup(model.parameters(), learningRate: 0.01, weightDecay: 0.05)])
    let shard = DataShard(rank: group.rank, count: group.size)
    for step in 0..<steps {
        let order = shard.select(Tensor.randperm(96, generator: RandomGenerator(seed: UInt64(step)))
            .scalars(as: Int64.self).map { Int($0) })
        let indices = Array(order[0..<batch])
        optimizer.zeroGrad()
        let micro = batch / accumulate
        for a in 0..<accumulate {
            let part = Array(indices[(a * micro)..<((a + 1) * micro)])
            let x = Tensor.stack(part.map { data.slice(axis: 0, start: $0, end: $0 + 1).reshaped([6]) })
            let y = Tensor.stack(part.map { targets.slice(axis: 0, start: $0, end: $0 + 1).reshaped([3]) })
            let loss = Loss.meanSquaredError(ddp(Variable(x)), Variable(y)) * (1 / Double(accumulate))
            if a < accumulate - 1 { ddp.noSync { loss.backward() } } else { loss.backward() }
        }
        try ddp.synchronizeGradients()
        try expect(model.unused.weight.grad == nil, "the unused layer got a gradient")
        optimizer.step()
    }
    if group.isPrimary, let out = arguments.string("out") {
        try SafeTensors.write(model.stateDict(), to: URL(fileURLWithPath: out))
    }
    print("mlp ok: rank \(group.rank), \(ddp.buckets.count) buckets")
}

do {
    let arguments = Arguments()
    let group = try ProcessGroup.current()
    switch arguments.scenario {
    case "collectives": try collectives(group)
    case "mlp": try mlp(group, arguments)
    default: throw CheckFailure(description: "unknown scenario '\(arguments.scenario)' (collectives, mlp)")
    }
} catch {
    FileHandle.standardError.write(Data("distributed-checks: \(error)\n".utf8))
    (try? ProcessGroup.current())?.abort(code: 1) ?? exit(1)
}
