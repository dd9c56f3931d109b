import Autograd
import Distributed
import Foundation
import NN
import Tensor
import Vision
import Zoo

/// The optimisers of DINO's and MoCo v3's `--optimizer`: AdamW for ViTs; SGD (momentum 0.9)
/// or LARS for ResNets.
public enum OptimizerKind: String, Sendable, CaseIterable {
    case adamw, sgd, lars
}

/// Hyper-parameters shared by the recipes, with the DINO repository's defaults.
public struct OptimizationOptions: Sendable {
    /// Peak learning rate for a batch of 256 (scaled linearly by batch / 256, as DINO does).
    public var learningRate = 5e-4
    public var minLearningRate = 1e-6
    public var warmupEpochs = 10
    public var weightDecay = 0.04
    public var weightDecayEnd = 0.4
    /// Per-parameter gradient clipping (DINO's `clip_grad`); 0 turns it off.
    public var clipGradient = 3.0
    public var labelSmoothing = 0.0
    public var optimizer = OptimizerKind.adamw

    public init(learningRate: Double = 5e-4, minLearningRate: Double = 1e-6, warmupEpochs: Int = 10,
                weightDecay: Double = 0.04, weightDecayEnd: Double = 0.4, clipGradient: Double = 3.0,
                labelSmoothing: Double = 0, optimizer: OptimizerKind = .adamw) {
        (self.learningRate, self.minLearningRate, self.warmupEpochs) = (learningRate, minLearningRate, warmupEpochs)
        (self.weightDecay, self.weightDecayEnd, self.clipGradient, self.labelSmoothing)
            = (weightDecay, weightDecayEnd, clipGradient, labelSmoothing)
        self.optimizer = optimizer
    }

    /// Throws a `ConfigurationError` naming the first setting that breaks its rule.
    public func validate() throws {
        typealias R = ConfigurationError
        try R.require(learningRate.isFinite && learningRate > 0, "lr", learningRate, "must be positive")
        try R.require(minLearningRate.isFinite && minLearningRate >= 0, "min-lr", minLearningRate,
                      "must not be negative")
        try R.require(warmupEpochs >= 0, "warmup-epochs", warmupEpochs, "must not be negative")
        try R.require(weightDecay.isFinite && weightDecay >= 0, "weight-decay", weightDecay, "must not be negative")
        try R.require(weightDecayEnd.isFinite && weightDecayEnd >= 0, "weight-decay-end", weightDecayEnd,
                      "must not be negative")
        try R.require(clipGradient.isFinite && clipGradient >= 0, "clip-grad", clipGradient,
                      "must not be negative (0: off)")
        try R.require((0..<1).contains(labelSmoothing), "label-smoothing", labelSmoothing, "must be in 0 ..< 1")
    }

    /// The chosen optimiser over `groups` (the schedules set its learning rate and weight decay
    /// each step): PyTorch's AdamW, `SGD(momentum=0.9)` as main_dino.py builds it, or LARS.
    func makeOptimizer(_ groups: [ParameterGroup]) -> Optimizer {
        switch optimizer {
        case .adamw: AdamW(groups)
        case .sgd: SGD(groups, momentum: 0.9)
        case .lars: LARS(groups)
        }
    }
}

/// DINO's per-iteration learning-rate (warm-up, then cosine, peak scaled by batch / 256) and
/// weight-decay (cosine) schedules.
struct OptimizationSchedules {
    let learningRates: [Double], weightDecays: [Double], peakLearningRate: Double

    init(_ options: OptimizationOptions, epochs: Int, iterationsPerEpoch: Int, batchSize: Int) {
        peakLearningRate = options.learningRate * Double(batchSize) / 256
        learningRates = Schedule.cosine(base: peakLearningRate, final: options.minLearningRate, epochs: epochs,
                                        iterationsPerEpoch: iterationsPerEpoch,
                                        warmupEpochs: Swift.min(options.warmupEpochs, epochs))
        weightDecays = Schedule.cosine(base: options.weightDecay, final: options.weightDecayEnd, epochs: epochs,
                                       iterationsPerEpoch: iterationsPerEpoch)
    }

    /// `options.optimizer` over DINO's two parameter groups of `module` (no decay on biases and
    /// norms) at the peak learning rate, which ``apply(to:iteration:)`` then schedules.
    func makeOptimizer(over module: Module, _ options: OptimizationOptions) -> Optimizer {
        options.makeOptimizer(ParameterGroup.dinoGroups(module, learningRate: peakLearningRate,
                                                        weightDecay: options.weightDecay))
    }

    /// Sets the optimiser's learning rate and the decayed group's weight decay for `iteration`; returns the rate.
    func apply(to optimizer: Optimizer, iteration: Int) -> Double {
        let i = Swift.min(iteration, learningRates.count - 1)
        optimizer.setLearningRate(learningRates[i])
        optimizer.groups[0].weightDecay = weightDecays[i]
        return learningRates[i]
    }
}

/// One descent step on `loss`: backward, gradients averaged across processes, per-parameter
/// clipping (`clip` 0: none) and the optimiser's step.
func descend(_ loss: Variable, optimizer: Optimizer, dataParallel: DistributedDataParallel?, clip: Double) throws {
    optimizer.zeroGrad()
    loss.backward()
    try dataParallel?.synchronizeGradients()
    if clip > 0 { clipGradientsPerParameter(optimizer.parameters, clip: clip) }
    optimizer.step()
}

/// Data parallelism of a student with an EMA teacher (DINO, SiT): batch norms synchronised in
/// both, the student's gradients averaged, the teacher broadcast from rank 0 like the student.
func distributeStudentAndTeacher(student: Module, teacher: Module,
                                 over group: ProcessGroup) throws -> DistributedDataParallel {
    student.synchronizeBatchNorm(over: group)
    teacher.synchronizeBatchNorm(over: group)
    let dataParallel = try DistributedDataParallel(student, group: group)
    try DistributedDataParallel.broadcastState(of: teacher, group: group)
    return dataParallel
}

/// Supervised classification: cross-entropy on the model's logits, AdamW (or `options.optimizer`),
/// cosine schedules.
public final class SupervisedRecipe: TrainingRecipe {
    public let model: Module
    public let optimizer: Optimizer
    let schedules: OptimizationSchedules
    let options: OptimizationOptions
    /// Set by ``distribute(over:)``.
    public private(set) var dataParallel: DistributedDataParallel?
    public var modules: [(name: String, module: Module)] { [("model", model)] }

    public init(model: Module, options: OptimizationOptions, epochs: Int, iterationsPerEpoch: Int, batchSize: Int) {
        self.model = model
        self.options = options
        schedules = OptimizationSchedules(options, epochs: epochs, iterationsPerEpoch: iterationsPerEpoch,
                                          batchSize: batchSize)
        optimizer = schedules.makeOptimizer(over: model, options)
    }

    /// Synchronised batch norms and averaged gradients.
    public func distribute(over group: ProcessGroup) throws {
        model.synchronizeBatchNorm(over: group)
        dataParallel = try DistributedDataParallel(model, group: group)
    }

    public func step(_ batch: Batch, iteration: Int, epoch: Int, iterationsPerEpoch: Int) throws
        -> (loss: Double, learningRate: Double) {
        model.train()
        let lr = schedules.apply(to: optimizer, iteration: iteration)
        let loss = Loss.crossEntropy(model(Variable(batch.images)), labels: batch.labels,
                                     labelSmoothing: options.labelSmoothing)
        try descend(loss, optimizer: optimizer, dataParallel: dataParallel, clip: options.clipGradient)
        return (loss.data.item(), lr)
    }
}

/// DINO self-distillation (Caron et al.) as in the official `main_dino.py`, scaled by its options:
/// student and EMA teacher (backbone + DINO head, multi-crop wrapper), teacher on the global crops
/// only, centring and teacher-temperature warm-up in `DINOLoss`, AdamW (or `options.optimizer`)
/// with learning-rate and weight-decay cosine schedules, per-parameter clipping, the last layer
/// frozen in epoch 0, and teacher momentum following a cosine from `teacherMomentum` to 1.
///
/// With `regionLevel` it is EsViT (Li et al., main_esvit.py with `--use_dense_prediction`): a
/// second DINO head on the backbone's last-layer tokens (`head_dense`) and `EsViTLoss`, half
/// DINO's view-level loss and half the region-level loss with its own centre.
public final class DINORecipe: TrainingRecipe {
    public let student: MultiCropWrapper
    public let teacher: MultiCropWrapper
    public let loss: DINOLoss
    public let optimizer: Optimizer
    let schedules: OptimizationSchedules
    let momenta: [Double]
    let options: OptimizationOptions
    public let freezeLastLayerEpochs: Int
    /// Set by ``distribute(over:)``.
    public private(set) var dataParallel: DistributedDataParallel?
    public var modules: [(name: String, module: Module)] {
        [("student", student), ("teacher", teacher), ("dino_loss", loss)]
    }

    /// `makeBackbone` builds a fresh backbone (called twice: student and teacher); `featureDim` is
    /// its output width. `regionLevel` (EsViT) needs a `DenseFeatureBackbone` whose tokens have that width too.
    public init(makeBackbone: () -> Module, featureDim: Int, outDim: Int = 65536, headHidden: Int = 2048,
                headBottleneck: Int = 256, crops: Int, epochs: Int, iterationsPerEpoch: Int, batchSize: Int,
                options: OptimizationOptions, teacherMomentum: Double = 0.996,
                warmupTeacherTemperature: Double = 0.04, teacherTemperature: Double = 0.04,
                warmupTeacherEpochs: Int = 0, normLastLayer: Bool = true, freezeLastLayerEpochs: Int = 1,
                regionLevel: Bool = false) {
        let makeHead = {
            DINOHead(inDim: featureDim, outDim: outDim, hiddenDim: headHidden, bottleneckDim: headBottleneck,
                     normLastLayer: normLastLayer)
        }
        func makeWrapper() -> MultiCropWrapper {
            MultiCropWrapper(backbone: makeBackbone(), head: makeHead(), headDense: regionLevel ? makeHead() : nil)
        }
        student = makeWrapper()
        teacher = makeWrapper()
        Schedule.startEMA(teacher: teacher, from: student)
        let lossType: DINOLoss.Type = regionLevel ? EsViTLoss.self : DINOLoss.self
        loss = lossType.init(outDim: outDim, crops: crops, warmupTeacherTemperature: warmupTeacherTemperature,
                             teacherTemperature: teacherTemperature, warmupTeacherEpochs: warmupTeacherEpochs,
                             epochs: epochs)
        self.options = options
        self.freezeLastLayerEpochs = freezeLastLayerEpochs
        schedules = OptimizationSchedules(options, epochs: epochs, iterationsPerEpoch: iterationsPerEpoch,
                                          batchSize: batchSize)
        momenta = Schedule.cosine(base: teacherMomentum, final: 1, epochs: epochs,
                                  iterationsPerEpoch: iterationsPerEpoch)
        optimizer = schedules.makeOptimizer(over: student, options)
    }

    /// As main_dino.py: synchronised batch norms in student and teacher, the student's gradients
    /// averaged, the teacher broadcast from rank 0 like the student, the centre averaged over the processes.
    public func distribute(over group: ProcessGroup) throws {
        dataParallel = try distributeStudentAndTeacher(student: student, teacher: teacher, over: group)
        loss.averageOverProcesses = { group.averaged($0) }
    }

    public func step(_ batch: Batch, iteration: Int, epoch: Int, iterationsPerEpoch: Int) throws
        -> (loss: Double, learningRate: Double) {
        student.train()
        teacher.train()
        let lr = schedules.apply(to: optimizer, iteration: iteration)
        let crops = batch.views.map { Variable($0) }
        let value: Variable
        if let regionLoss = loss as? EsViTLoss {
            let t = noGrad { teacher.regionLevel(Array(crops.prefix(2))) }
            let s = student.regionLevel(crops)
            value = regionLoss(studentView: s.view, studentRegion: s.region, studentFeatures: s.tokenFeatures.data,
                               studentTokens: s.tokens, teacherView: t.view.data, teacherRegion: t.region.data,
                               teacherFeatures: t.tokenFeatures.data, epoch: epoch)
        } else {
            let teacherOutput = noGrad { teacher(Array(crops.prefix(2))).data }
            value = loss(student: student(crops), teacher: teacherOutput, epoch: epoch)
        }
        optimizer.zeroGrad()
        value.backward()
        try dataParallel?.synchronizeGradients()
        if options.clipGradient > 0 { clipGradientsPerParameter(optimizer.parameters, clip: options.clipGradient) }
        if epoch < freezeLastLayerEpochs {
            for (name, p) in student.namedParameters() where name.contains("last_layer") { p.grad = nil }
        }
        optimizer.step()
        Schedule.emaUpdate(teacher: teacher, student: student,
                           momentum: momenta[Swift.min(iteration, momenta.count - 1)])
        return (value.data.item(), lr)
    }
}

/// MoCo v3 (Chen, Xie and He) as in the official `main_moco.py`: a `MoCoV3Model` (base encoder
/// with its projector, predictor, and a momentum encoder updated by EMA — momentum from `momentum`
/// to 1 on a cosine — before computing the keys), the symmetric contrastive loss
/// ctr(q1, k2) + ctr(q2, k1) with temperature τ; AdamW (or LARS, as for MoCo v3's ResNets) with
/// warm-up and cosine schedules. Biases and 1-D parameters take no weight decay (as moco-v3's LARS
/// and DINO's groups; moco-v3's AdamW decays every parameter).
public final class MoCoV3Recipe: TrainingRecipe {
    public let model: MoCoV3Model
    public let optimizer: Optimizer
    let schedules: OptimizationSchedules
    let momenta: [Double]
    public let temperature: Double
    /// Set by ``distribute(over:)``.
    public private(set) var dataParallel: DistributedDataParallel?
    public var modules: [(name: String, module: Module)] { [("model", model)] }

    public init(model: MoCoV3Model, epochs: Int, iterationsPerEpoch: Int, batchSize: Int, options: OptimizationOptions,
                momentum: Double = 0.99, temperature: Double = 0.2) {
        self.model = model
        self.temperature = temperature
        schedules = OptimizationSchedules(options, epochs: epochs, iterationsPerEpoch: iterationsPerEpoch,
                                          batchSize: batchSize)
        momenta = Schedule.cosine(base: momentum, final: 1, epochs: epochs, iterationsPerEpoch: iterationsPerEpoch)
        // The momentum encoder's parameters take no gradients, so the groups hold the base encoder's
        // and the predictor's.
        optimizer = schedules.makeOptimizer(over: model, options)
    }

    /// As main_moco.py: synchronised batch norms, averaged gradients, and each process's queries
    /// contrasted with the keys of all processes (`concat_all_gather`).
    public func distribute(over group: ProcessGroup) throws {
        model.synchronizeBatchNorm(over: group)
        dataParallel = try DistributedDataParallel(model, group: group)
    }

    public func step(_ batch: Batch, iteration: Int, epoch: Int, iterationsPerEpoch: Int) throws
        -> (loss: Double, learningRate: Double) {
        check(batch.views.count == 2, "MoCoV3Recipe",
              "expects two views per image (MoCoV3Augmentation), got \(batch.views.count)")
        model.train()
        let lr = schedules.apply(to: optimizer, iteration: iteration)
        let (x1, x2) = (Variable(batch.views[0]), Variable(batch.views[1]))
        let (base, predictor, momentumEncoder) = (model.baseEncoder, model.predictor, model.momentumEncoder)
        let q1 = predictor(base(x1)), q2 = predictor(base(x2))
        Schedule.emaUpdate(teacher: momentumEncoder, student: base,
                           momentum: momenta[Swift.min(iteration, momenta.count - 1)])
        var (k1, k2) = noGrad { (momentumEncoder(x1).data, momentumEncoder(x2).data) }
        var firstPositive = 0
        if let group = dataParallel?.group {
            (k1, k2) = (try group.allGather(k1), try group.allGather(k2))
            firstPositive = group.rank * q1.shape[0]
        }
        let loss = MoCoV3.contrastiveLoss(q1, k2, temperature: temperature, firstPositive: firstPositive)
            + MoCoV3.contrastiveLoss(q2, k1, temperature: temperature, firstPositive: firstPositive)
        try descend(loss, optimizer: optimizer, dataParallel: dataParallel, clip: 0)
        return (loss.data.item(), lr)
    }
}
