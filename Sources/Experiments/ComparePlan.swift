import Autograd
import Foundation
import NN
import Tensor
import Training
import Vision

/// What `tessera compare` will run, timed on this machine in its first seconds: every training run
/// with its steps and measured seconds per step, and the evaluations' feature passes.
struct ComparePlan {
    struct Stage {
        var name: String
        var steps: Int
        var secondsPerStep: Double
        var seconds: Double { Double(steps) * secondsPerStep }
    }

    var stages: [Stage]
    /// Forward passes of the evaluations: test accuracy after each supervised run, and the teacher's
    /// k-NN on training and test images during DINO.
    var evaluationSeconds: Double
    var expectedSeconds: Double { stages.reduce(0) { $0 + $1.seconds } + evaluationSeconds }
}

extension Compare.Run {
    /// Times `timedSteps` steps (after two warm-up steps, which fill the allocator's caches) of each
    /// kind of run on a throw-away copy, and one forward batch of each model; the stages reseed before
    /// they start, so the runs' results do not depend on this.
    func plan(timedSteps: Int = 3) throws -> ComparePlan {
        var stages: [ComparePlan.Stage] = [], evaluation = 0.0
        let fractions = o.supervised.fractions, all = fractions.last ?? 1
        /// A supervised run of `model` on all images, timed; its steps for each of `fractions`.
        func supervised(_ model: Module, isViT: Bool, name: String, fractions: [Double]) throws {
            let (recipe, loader, _) = supervisedSetup(model, isViT: isViT, fraction: all, log: nil)
            let perStep = try secondsPerStep(recipe, loader, timedSteps: timedSteps)
            for fraction in fractions {
                let steps = supervisedSteps(batchCount: supervisedLoader(fraction: fraction).batchCount)
                stages.append(.init(name: "\(name) supervised on \(subsetCount(fraction)) images", steps: steps,
                                    secondsPerStep: perStep))
            }
            evaluation += try forwardSeconds(model) * Double(test.count * fractions.count)
        }
        for isViT in [true, false] {
            try supervised(makeModel(isViT: isViT, classes: classes), isViT: isViT, name: kind(isViT),
                           fractions: fractions)
            let (dino, dinoLoader) = dinoSetup(isViT: isViT)
            stages.append(.init(name: "\(kind(isViT)) DINO", steps: o.dino.epochs * dinoLoader.batchCount,
                                secondsPerStep: try secondsPerStep(dino, dinoLoader, timedSteps: timedSteps)))
            let knnPoints = o.dino.epochs / Swift.max(1, o.dino.epochs / 4) + 1
            evaluation += try forwardSeconds(dino.teacher.backbone) * Double((train.count + test.count) * knnPoints)
        }
        for c in o.compute.vits {
            try supervised(makeViT(c, classes: classes), isViT: true, name: describe(c), fractions: [all])
        }
        for c in o.compute.resnets {
            try supervised(makeResNet(c, classes: classes), isViT: false, name: describe(c), fractions: [all])
        }
        if o.stability.enabled {
            let (recipe, loader) = mocoSetup(frozenPatchProjection: false)
            let perStep = try secondsPerStep(recipe, loader, timedSteps: timedSteps)
            for name in ["learnt", "frozen random"] {
                stages.append(.init(name: "MoCo v3, \(name) patch projection",
                                    steps: o.stability.epochs * loader.batchCount, secondsPerStep: perStep))
            }
            evaluation += try forwardSeconds(recipe.model.baseEncoder) * 2 * Double(o.stability.epochs + 1)
                * Double(loader.dataset.count + test.count)
        }
        return ComparePlan(stages: stages, evaluationSeconds: evaluation)
    }

    /// Seconds per image of a forward batch through `model` in evaluation mode (after one warm-up batch).
    func forwardSeconds(_ model: Module) throws -> Double {
        model.eval()
        let images = Variable(Tensor.zeros([localBatch, 3, o.imageSize, o.imageSize]))
        _ = noGrad { model(images) }
        let start = Date()
        _ = noGrad { model(images) }
        return Date().timeIntervalSince(start) / Double(localBatch)
    }

    /// Median seconds of a step, loading its batch included, over `timedSteps` after two warm-up steps.
    func secondsPerStep<D>(_ recipe: any TrainingRecipe, _ loader: DataLoader<D>, timedSteps: Int) throws -> Double {
        let batches = loader.batches()
        var durations: [Double] = []
        for iteration in 0..<(timedSteps + 2) {
            let start = Date()
            guard let batch = try batches.next() else { break }
            _ = try recipe.step(batch, iteration: iteration, epoch: 0, iterationsPerEpoch: loader.batchCount)
            if iteration >= 2 { durations.append(Date().timeIntervalSince(start)) }
        }
        return durations.isEmpty ? 0 : durations.sorted()[durations.count / 2]
    }
}

/// Forwards every run's reports to the caller's observer and, after each step, tells it which run
/// of the plan is training and how long the whole comparison has left: this run at its measured
/// rate, the runs to come at their timed cost scaled by how the finished runs compared with theirs,
/// and the evaluations still to come.
final class CompareProgress: TrainingObserver {
    let inner: any TrainingObserver
    let plan: ComparePlan
    private var index = -1, runStart = Date(), actualSeconds = 0.0, plannedSeconds = 0.0

    init(inner: any TrainingObserver, plan: ComparePlan) { (self.inner, self.plan) = (inner, plan) }

    var shouldStop: Bool { inner.shouldStop }

    func trainingWillStart(totalSteps: Int, resumingAt step: Int) {
        (index, runStart) = (index + 1, Date())
        inner.trainingWillStart(totalSteps: totalSteps, resumingAt: step)
    }

    func trainingDidStep(_ record: StepRecord, totalSteps: Int) {
        inner.trainingDidStep(record, totalSteps: totalSteps)
        guard plan.stages.indices.contains(index) else { return }
        let stage = plan.stages[index], done = Double(record.step + 1), total = Double(Swift.max(totalSteps, 1))
        // The plan's rate until a few steps have shown this run's own.
        let thisRun = done < 5 ? stage.seconds * (1 - done / total)
            : Date().timeIntervalSince(runStart) / done * (total - done)
        let scale = plannedSeconds > 0 ? actualSeconds / plannedSeconds : 1
        let later = plan.stages[(index + 1)...].reduce(0) { $0 + $1.seconds } * scale
        let evaluations = plan.evaluationSeconds * Double(plan.stages.count - index) / Double(plan.stages.count)
        inner.experimentDidProgress(run: stage.name, index: index, of: plan.stages.count,
                                    secondsLeft: thisRun + later + evaluations)
    }

    func trainingDidEvaluate(_ record: EvaluationRecord) { inner.trainingDidEvaluate(record) }

    func trainingDidEnd(atStep step: Int) {
        inner.trainingDidEnd(atStep: step)
        guard plan.stages.indices.contains(index) else { return }
        actualSeconds += Date().timeIntervalSince(runStart)
        plannedSeconds += plan.stages[index].seconds
    }
}
