import Autograd
import Foundation
import NN
import Tensor
import Vision

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

    public init(learningRate: Double = 5e-4, minLearningRate: Double = 1e-6, warmupEpochs: Int = 10, weightDecay: Double = 0.04,
                weightDecayEnd: Double = 0.4, clipGradient: Double = 3.0, labelSmoothing: Double = 0) {
        (self.learningRate, self.minLearningRate, self.warmupEpochs) = (learningRate, minLearningRate, warmupEpochs)
        (self.weightDecay, self.weightDecayEnd, self.clipGradient, self.labelSmoothing) = (weightDecay, weightDecayEnd, clipGradient, labelSmoothing)
    }
}

/// DINO's per-iteration learning-rate (warm-up, then cosine, peak scaled by batch / 256) and
/// weight-decay (cosine) schedules.
struct OptimizationSchedules {
    let learningRates: [Double], weightDecays: [Double], peakLearningRate: Double

    init(_ options: OptimizationOptions, epochs: Int, iterationsPerEpoch: Int, batchSize: Int) {
        peakLearningRate = options.learningRate * Double(batchSize) / 256
        learningRates = Schedule.cosine(base: peakLearningRate, final: options.minLearningRate, epochs: epochs,
                                        iterationsPerEpoch: iterationsPerEpoch, warmupEpochs: Swift.min(options.warmupEpochs, epochs))
        weightDecays = Schedule.cosine(base: options.weightDecay, final: options.weightDecayEnd, epochs: epochs, iterationsPerEpoch: iterationsPerEpoch)
    }

    /// Sets the optimiser's learning rate and the decayed group's weight decay for `iteration`; returns the rate.
    func apply(to optimizer: Optimizer, iteration: Int) -> Double {
        let i = Swift.min(iteration, learningRates.count - 1)
        optimizer.setLearningRate(learningRates[i])
        optimizer.groups[0].weightDecay = weightDecays[i]
        return learningRates[i]
    }
}

/// Supervised classification: cross-entropy on the model's logits, AdamW, cosine schedules.
public final class SupervisedRecipe: TrainingRecipe {
    public let model: Module
    public let optimizer: Optimizer
    let schedules: OptimizationSchedules
    let options: OptimizationOptions
    public var modules: [(name: String, module: Module)] { [("model", model)] }

    public init(model: Module, options: OptimizationOptions, epochs: Int, iterationsPerEpoch: Int, batchSize: Int) {
        self.model = model
        self.options = options
        schedules = OptimizationSchedules(options, epochs: epochs, iterationsPerEpoch: iterationsPerEpoch, batchSize: batchSize)
        optimizer = AdamW(ParameterGroup.dinoGroups(model, learningRate: schedules.peakLearningRate, weightDecay: options.weightDecay))
    }

    public func step(_ batch: Batch, iteration: Int, epoch: Int, iterationsPerEpoch: Int) -> (loss: Double, learningRate: Double) {
        model.train()
        let lr = schedules.apply(to: optimizer, iteration: iteration)
        let loss = Loss.crossEntropy(model(Variable(batch.images)), labels: batch.labels, labelSmoothing: options.labelSmoothing)
        optimizer.zeroGrad()
        loss.backward()
        if options.clipGradient > 0 { clipGradientsPerParameter(optimizer.parameters, clip: options.clipGradient) }
        optimizer.step()
        return (loss.data.item(), lr)
    }
}

/// DINO self-distillation (Caron et al.) as in the official `main_dino.py`, scaled by its options:
/// student and EMA teacher (backbone + DINO head, multi-crop wrapper), teacher on the global crops
/// only, centring and teacher-temperature warm-up in ``DINOLoss``, AdamW with learning rate and
/// weight-decay cosine schedules, per-parameter clipping, the last layer frozen in epoch 0, and
/// teacher momentum following a cosine from `teacherMomentum` to 1.
public final class DINORecipe: TrainingRecipe {
    public let student: MultiCropWrapper
    public let teacher: MultiCropWrapper
    public let loss: DINOLoss
    public let optimizer: Optimizer
    let schedules: OptimizationSchedules
    let momenta: [Double]
    let options: OptimizationOptions
    public let freezeLastLayerEpochs: Int
    public var modules: [(name: String, module: Module)] { [("student", student), ("teacher", teacher), ("dino_loss", loss)] }

    /// `makeBackbone` builds a fresh backbone (called twice: student and teacher); `featureDim` is its output width.
    public init(makeBackbone: () -> Module, featureDim: Int, outDim: Int = 65536, headHidden: Int = 2048, headBottleneck: Int = 256,
                crops: Int, epochs: Int, iterationsPerEpoch: Int, batchSize: Int, options: OptimizationOptions,
                teacherMomentum: Double = 0.996, warmupTeacherTemperature: Double = 0.04, teacherTemperature: Double = 0.04,
                warmupTeacherEpochs: Int = 0, normLastLayer: Bool = true, freezeLastLayerEpochs: Int = 1) {
        let makeHead = { DINOHead(inDim: featureDim, outDim: outDim, hiddenDim: headHidden, bottleneckDim: headBottleneck, normLastLayer: normLastLayer) }
        student = MultiCropWrapper(backbone: makeBackbone(), head: makeHead())
        teacher = MultiCropWrapper(backbone: makeBackbone(), head: makeHead())
        // The teacher starts as the student and is never trained by gradients.
        try! teacher.loadStateDict(student.stateDict())
        for p in teacher.parameters() { p.setRequiresGrad(false) }
        loss = DINOLoss(outDim: outDim, crops: crops, warmupTeacherTemperature: warmupTeacherTemperature, teacherTemperature: teacherTemperature,
                        warmupTeacherEpochs: warmupTeacherEpochs, epochs: epochs)
        self.options = options
        self.freezeLastLayerEpochs = freezeLastLayerEpochs
        schedules = OptimizationSchedules(options, epochs: epochs, iterationsPerEpoch: iterationsPerEpoch, batchSize: batchSize)
        momenta = Schedule.cosine(base: teacherMomentum, final: 1, epochs: epochs, iterationsPerEpoch: iterationsPerEpoch)
        optimizer = AdamW(ParameterGroup.dinoGroups(student, learningRate: schedules.peakLearningRate, weightDecay: options.weightDecay))
    }

    public func step(_ batch: Batch, iteration: Int, epoch: Int, iterationsPerEpoch: Int) -> (loss: Double, learningRate: Double) {
        student.train()
        teacher.train()
        let lr = schedules.apply(to: optimizer, iteration: iteration)
        let crops = batch.views.map { Variable($0) }
        let teacherOutput = noGrad { teacher(Array(crops.prefix(2))).data }
        let value = loss(student: student(crops), teacher: teacherOutput, epoch: epoch)
        optimizer.zeroGrad()
        value.backward()
        if options.clipGradient > 0 { clipGradientsPerParameter(optimizer.parameters, clip: options.clipGradient) }
        if epoch < freezeLastLayerEpochs {
            for (name, p) in student.namedParameters() where name.contains("last_layer") { p.grad = nil }
        }
        optimizer.step()
        Schedule.emaUpdate(teacher: teacher, student: student, momentum: momenta[Swift.min(iteration, momenta.count - 1)])
        return (value.data.item(), lr)
    }
}
