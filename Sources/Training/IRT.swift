import Autograd
import Distributed
import Foundation
import NN
import Tensor
import Vision

/// IRT (El-Nouby et al., "Training Vision Transformers for Image Retrieval"): a backbone whose
/// output (a ViT's class token, a ResNet's pooled features) is the image's descriptor, trained with
/// the contrastive loss on its L2-normalised embeddings (`Loss.contrastive(_:labels:margin:)`,
/// β = 0.5) plus `koLeoWeight` × the KoLeo differential-entropy regulariser
/// (`Loss.koLeo(_:epsilon:)`, 0.7), AdamW (or `options.optimizer`) with the cosine schedules.
/// Batches come class-balanced (`DataLoader.imagesPerClass`, m = 2 in the paper) so that every
/// batch holds positives. Under data parallelism each process computes the loss on its own batch
/// and gradients are averaged (IRT's code does the same; no embeddings cross processes).
public final class IRTRecipe: TrainingRecipe {
    public let model: Module
    public let optimizer: Optimizer
    public let margin: Double
    public let koLeoWeight: Double
    let schedules: OptimizationSchedules
    let options: OptimizationOptions
    /// Set by ``distribute(over:)``.
    public private(set) var dataParallel: DistributedDataParallel?
    public var modules: [(name: String, module: Module)] { [("model", model)] }

    public init(model: Module, options: OptimizationOptions, epochs: Int, iterationsPerEpoch: Int, batchSize: Int,
                margin: Double = 0.5, koLeoWeight: Double = 0.7) throws {
        try options.validate()
        try ConfigurationError.require((-1...1).contains(margin), "margin", margin, "must be a cosine in -1...1")
        try ConfigurationError.require(koLeoWeight.isFinite && koLeoWeight >= 0, "koleo-weight", koLeoWeight,
                                       "must not be negative")
        (self.model, self.options, self.margin, self.koLeoWeight) = (model, options, margin, koLeoWeight)
        schedules = OptimizationSchedules(options, epochs: epochs, iterationsPerEpoch: iterationsPerEpoch,
                                          batchSize: batchSize)
        optimizer = schedules.makeOptimizer(over: model, options)
    }

    /// Synchronised batch norms and averaged gradients.
    public func distribute(over group: ProcessGroup) throws {
        model.synchronizeBatchNorm(over: group)
        dataParallel = try DistributedDataParallel(model, group: group)
    }

    /// The loss of a batch of embeddings [B, D] with their labels.
    public func loss(_ embeddings: Variable, labels: [Int]) -> Variable {
        let contrastive = Loss.contrastive(embeddings, labels: labels, margin: margin)
        return koLeoWeight > 0 ? contrastive + Loss.koLeo(embeddings) * koLeoWeight : contrastive
    }

    public func step(_ batch: Batch, iteration: Int, epoch: Int, iterationsPerEpoch: Int) throws
        -> (loss: Double, learningRate: Double) {
        model.train()
        let lr = schedules.apply(to: optimizer, iteration: iteration)
        let labels = batch.labels.scalars(as: Int64.self).map { Int($0) }
        let loss = loss(model(Variable(batch.images)), labels: labels)
        try descend(loss, optimizer: optimizer, dataParallel: dataParallel, clip: options.clipGradient)
        return (loss.data.item(), lr)
    }
}
