import Autograd
import Tensor

/// Layer normalisation over the last axis (`torch.nn.LayerNorm`; keys `weight`, `bias`), with
/// the fused forward and backward kernels. timm's ViTs use `epsilon: 1e-6`.
public final class LayerNorm: Module {
    public let weight: Variable?
    public let bias: Variable?
    public let epsilon: Double

    public init(_ dim: Int, epsilon: Double = 1e-5, affine: Bool = true, dtype: DType = .float32) {
        weight = affine ? .parameter(.ones([dim], dtype: dtype)) : nil
        bias = affine ? .parameter(.zeros([dim], dtype: dtype)) : nil
        self.epsilon = epsilon
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        x.layerNorm(weight: weight, bias: bias, epsilon: epsilon)
    }
}

/// Batch normalisation over axis 1 of [N, C] or [N, C, L] (`BatchNorm1d`) and [N, C, H, W]
/// (`BatchNorm2d`). Keys `weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`.
///
/// Training normalises with the batch statistics (biased variance) and updates the running ones
/// with `momentum` (unbiased variance, as PyTorch); evaluation uses the running statistics.
public class BatchNorm: Module {
    public let weight: Variable?
    public let bias: Variable?
    public let runningMean: Buffer?
    public let runningVar: Buffer?
    public let numBatchesTracked: Buffer?
    public let epsilon: Double
    public let momentum: Double
    let spatialRank: Int
    /// Set for `SyncBatchNorm`: sums a tensor over the processes of a data-parallel job, so that
    /// training normalises with the statistics of the whole batch (set by `synchronizeBatchNorm(over:)`).
    public var sumOverProcesses: ((Tensor) -> Tensor)?

    init(_ features: Int, spatialRank: Int, epsilon: Double, momentum: Double, affine: Bool,
         trackRunningStats: Bool, dtype: DType) {
        weight = affine ? .parameter(.ones([features], dtype: dtype)) : nil
        bias = affine ? .parameter(.zeros([features], dtype: dtype)) : nil
        runningMean = trackRunningStats ? Buffer(.zeros([features], dtype: dtype)) : nil
        runningVar = trackRunningStats ? Buffer(.ones([features], dtype: dtype)) : nil
        numBatchesTracked = trackRunningStats ? Buffer(Tensor(scalar: Int64(0))) : nil
        (self.epsilon, self.momentum, self.spatialRank) = (epsilon, momentum, spatialRank)
    }

    public override func callAsFunction(_ x: Variable) -> Variable { callAsFunction(x, followedByReLU: false) }

    /// The norm, plus `residual` when given, then ReLU when `followedByReLU` (a ResNet's `relu(bn(x))` and
    /// `relu(bn(x) + shortcut)`): a single fused node, except under synchronised batch norm.
    public func callAsFunction(_ x: Variable, adding residual: Variable? = nil, followedByReLU relu: Bool)
        -> Variable {
        let name = String(describing: type(of: self))
        let c = weight?.shape[0] ?? runningMean?.value.shape[0] ?? x.shape[1]
        check(x.rank >= 2 && x.shape[1] == c, name, "expects input [N, \(c), …], got \(describe(x.shape))")
        check(spatialRank == 2 ? x.rank == 4 : x.rank <= 3, name, "wrong input rank: \(describe(x.shape))")
        if !isTraining, let runningMean, let runningVar {
            return x.batchNorm(mean: runningMean.value, variance: runningVar.value, weight: weight, bias: bias,
                               epsilon: epsilon, adding: residual, followedByReLU: relu)
        }
        var count = x.shape[0] * x.shape.dropFirst(2).reduce(1, *)
        let r: (output: Variable, mean: Tensor, variance: Tensor)
        if let sumOverProcesses {
            let synced = x.batchNorm(weight: weight, bias: bias, epsilon: epsilon, sumOverProcesses: sumOverProcesses)
            let sum = residual.map { synced.output + $0 } ?? synced.output  // the separate ops
            (r, count) = ((relu ? sum.relu() : sum, synced.mean, synced.variance), synced.count)
        } else {
            r = x.batchNorm(weight: weight, bias: bias, epsilon: epsilon, adding: residual, followedByReLU: relu)
        }
        check(count > 1, name, "expects more than one value per channel in training, got input \(describe(x.shape))")
        if isTraining, let runningMean, let runningVar, let numBatchesTracked {
            let unbiased = r.variance * (Double(count) / Double(count - 1))
            runningMean.value = runningMean.value * (1 - momentum) + r.mean * momentum
            runningVar.value = runningVar.value * (1 - momentum) + unbiased * momentum
            numBatchesTracked.value = numBatchesTracked.value + 1
        }
        return r.output
    }
}

/// Batch normalisation of [N, C] or [N, C, L] (`torch.nn.BatchNorm1d`).
public final class BatchNorm1d: BatchNorm {
    public init(_ features: Int, epsilon: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, dtype: DType = .float32) {
        super.init(features, spatialRank: 1, epsilon: epsilon, momentum: momentum, affine: affine,
                   trackRunningStats: trackRunningStats, dtype: dtype)
    }
}

/// Batch normalisation of [N, C, H, W] (`torch.nn.BatchNorm2d`).
public final class BatchNorm2d: BatchNorm {
    public init(_ features: Int, epsilon: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, dtype: DType = .float32) {
        super.init(features, spatialRank: 2, epsilon: epsilon, momentum: momentum, affine: affine,
                   trackRunningStats: trackRunningStats, dtype: dtype)
    }
}
