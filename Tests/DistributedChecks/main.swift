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
    let pending = Tensor([Double(r)])
    let broadcastRequest = try group.broadcastAsync(pending, root: 0)
    let (gatheredAsync, gatherRequest) = try group.allGatherAsync(Tensor([Float(r), Float(-r)], shape: [1, 2]))
    try broadcastRequest.wait()
    try gatherRequest.wait()
    try expect(pending.doubles == [0], "asynchronous broadcast gave \(pending.doubles)")
    try expect(gatheredAsync.shape == [n, 2] && gatheredAsync.doubles == (0..<n).flatMap { [Double($0), -Double($0)] },
               "asynchronous all-gather gave \(gatheredAsync.doubles)")
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
    print("collectives ok: rank \(r) of \(n), local \(group.localRank) of \(group.localSize), "
          + "\(group.hostCount) host(s)")
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
    print("mlp ok: rank \(group.rank), \(ddp.buckets.count) buckets, \(group.hostCount) host(s)")
}

/// Shapes in float64, for recipes exact to 1e-10; reading `damaged` throws, as a damaged file would.
struct Float64Shapes: ImageDataset {
    let shapes = Shapes(count: 48, imageSize: 16, seed: 3)
    var damaged: Int?
    /// Reading this sample gives NaN pixels: a loss that becomes NaN on one rank only.
    var poisoned: Int?
    var count: Int { shapes.count }
    var classes: [String] { shapes.classes }
    func image(at index: Int) throws -> Tensor {
        if index == damaged { throw CheckFailure(description: "sample \(index) is damaged (on purpose)") }
        if index == poisoned { return Tensor.full([3, 16, 16], .nan, dtype: .float64) }
        return shapes.image(at: index).converted(to: .float64)
    }
    func label(at index: Int) -> Int { shapes.label(at: index) }
}

/// Kills rank `rank` (SIGKILL) after step `step`, to check that the job ends instead of hanging.
final class Killer: TrainingObserver {
    let rank: Int, step: Int, group: ProcessGroup
    init(rank: Int, step: Int, group: ProcessGroup) { (self.rank, self.step, self.group) = (rank, step, group) }
    func trainingDidStep(_ record: StepRecord, totalSteps: Int) {
        if group.rank == rank && record.step + 1 == step { kill(getpid(), SIGKILL) }
    }
}

/// Two views without randomness: the image and its negative.
struct TwoViews: MultiViewTransform {
    func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> [Tensor] { [image, 1 - image] }
}

/// SiT's six views with a fixed corruption (the left half of each view zeroed), so that every
/// process's masked mean covers as many pixels and two processes must reproduce one.
struct SiTViews: MultiViewTransform {
    func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> [Tensor] {
        let (h, w) = (image.shape[1], image.shape[2])
        let mask = Tensor.concat([Tensor.ones([1, h, w / 2]), Tensor.zeros([1, h, w - w / 2])], axis: 2)
            .converted(to: image.dtype)
        let clean = [image, 1 - image]
        return clean + clean.map { $0 * (1 - mask) } + [mask, mask]
    }
}

/// A recipe (`--recipe supervised|dino|esvit|mocov3|sit`) on a float64 ResNet (batch norms, so SyncBatchNorm
/// matters) or, for MoCo v3 and SiT, a ViT (BatchNorm1d in their projectors), run by the
/// TrainingLoop for two epochs of 48 images; rank 0's checkpoint goes to `--out`.
func recipe(_ group: ProcessGroup, _ arguments: Arguments) throws {
    let batch = arguments.int("batch", 8), name = arguments.string("recipe") ?? "supervised"
    let epochs = 2, global = batch * group.size
    Random.seed(5)
    let resnet = ResNetConfig(block: .basic, layers: [1, 1, 1, 1], numClasses: 0, width: 4, smallInputStem: true)
    let options = OptimizationOptions(learningRate: 0.05, warmupEpochs: 1)
    let views: any MultiViewTransform = name == "sit" ? SiTViews() : TwoViews()
    var loader = DataLoader(Float64Shapes(), batchSize: batch, dropLast: true, views: views)
    loader.shard = group.dataShard
    let (failRank, failAt) = (arguments.int("fail-rank", -1), arguments.int("fail-at", -1))
    if ["throw", "nan"].contains(arguments.string("fail-how")) && group.rank == failRank {
        var data = Float64Shapes()
        let sample = loader.order(epoch: 0)[failAt * batch]
        if arguments.string("fail-how") == "nan" { data.poisoned = sample } else { data.damaged = sample }
        loader = DataLoader(data, batchSize: batch, dropLast: true, views: views, prefetch: 1)
        loader.shard = group.dataShard
    }
    let made: TrainingRecipe
    switch name {
    case "supervised":
        let model = ResNet(ResNetConfig(block: .basic, layers: [1, 1, 1, 1], numClasses: 10, width: 4,
                                        smallInputStem: true)).to(.float64)
        made = SupervisedRecipe(model: model, options: options, epochs: epochs, iterationsPerEpoch: loader.batchCount,
                                batchSize: global)
    case "dino", "esvit":  // EsViT: the region head on the ResNet's 2 × 2 positions, the region centre averaged
        let r = DINORecipe(makeBackbone: { ResNet(resnet).to(.float64) }, featureDim: resnet.featureDim, outDim: 32,
                           headHidden: 16, headBottleneck: 8, crops: 2, epochs: epochs,
                           iterationsPerEpoch: loader.batchCount, batchSize: global, options: options,
                           regionLevel: name == "esvit")
        for module in [r.student, r.teacher, r.loss] as [Module] { module.to(.float64) }
        made = r
    case "mocov3":
        let vit = ViTConfig(imageSize: 16, patchSize: 8, embedDim: 16, depth: 1, numHeads: 2, mlpRatio: 2,
                            numClasses: 0)
        let model = MoCoV3Model(vit: vit, dim: 8, mlpDim: 16).to(.float64)
        made = MoCoV3Recipe(model: model, epochs: epochs, iterationsPerEpoch: loader.batchCount, batchSize: global,
                            options: options)
    case "sit":
        let vit = ViTConfig(imageSize: 16, patchSize: 8, embedDim: 16, depth: 1, numHeads: 2, mlpRatio: 2,
                            numClasses: 0)
        let (student, teacher) = (SiTModel(vit: vit, outDim: 8, hiddenDim: 16).to(.float64),
                                  SiTModel(vit: vit, outDim: 8, hiddenDim: 16).to(.float64))
        // No collate step: its draws differ between one process and two.
        made = try SiTRecipe(student: student, teacher: teacher, sit: SiTOptions(replaceFraction: 0),
                             options: options, epochs: epochs, iterationsPerEpoch: loader.batchCount,
                             batchSize: global)
    default: throw CheckFailure(description: "unknown recipe \(name)")
    }
    let out = arguments.string("out").map { URL(fileURLWithPath: $0) }
    let stopAfter = arguments.int("stop-after", 0)
    let training = TrainingOptions(epochs: epochs, checkpointEvery: arguments.int("checkpoint-every", 0),
                                  checkpoint: out, resume: arguments.string("resume") == "yes",
                                  stopAfter: stopAfter > 0 ? stopAfter : nil)
    let loop = TrainingLoop(recipe: made, loader: loader, options: training, group: group)
    if arguments.string("fail-how") == "kill" { loop.observer = Killer(rank: failRank, step: failAt, group: group) }
    let history = try loop.run()
    print("recipe \(name) ok: rank \(group.rank), \(history.count) steps, losses "
          + history.map { String(format: "%.12f", $0.loss) }.joined(separator: " "))
}

/// Evaluation.features on 13 images (padding: 7 per rank) gathered in data-set order; rank 0 writes them.
func features(_ group: ProcessGroup, _ arguments: Arguments) throws {
    let data = Shapes(count: 13, imageSize: 8, seed: 4)
    let (features, labels) = try Evaluation.features(of: data, batchSize: 3, group: group) {
        $0.mean(axes: [2, 3])
    }
    try expect(features.shape == [13, 3] && labels.shape == [13], "gathered \(features.shape), \(labels.shape)")
    try expect(labels.scalars(as: Int64.self) == (0..<13).map { Int64(data.label(at: $0)) }, "labels out of order")
    if group.isPrimary, let out = arguments.string("out") {
        try SafeTensors.write(["features": features], to: URL(fileURLWithPath: out))
    }
    print("features ok: rank \(group.rank)")
}

do {
    let arguments = Arguments()
    let group = try ProcessGroup.current()
    switch arguments.scenario {
    case "collectives": try collectives(group)
    case "mlp": try mlp(group, arguments)
    case "recipe": try recipe(group, arguments)
    case "features": try features(group, arguments)
    default:
        throw CheckFailure(description: "unknown scenario '\(arguments.scenario)' (collectives, mlp, recipe, features)")
    }
} catch {
    let rank = (try? ProcessGroup.current())?.rank ?? 0
    FileHandle.standardError.write(Data("distributed-checks (rank \(rank)): \(error)\n".utf8))
    // Every rank stops at the same step on a non-finite loss, so they exit normally together;
    // any other failure may leave the others in a collective, so it ends the job.
    if case TrainingError.nonFinite = error { exit(1) }
    (try? ProcessGroup.current())?.abort(code: 1) ?? exit(1)
}
