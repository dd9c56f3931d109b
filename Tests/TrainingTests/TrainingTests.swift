import Autograd
import Foundation
import NN
import Testing
import Tensor
import Vision
@testable import Training
import Zoo

@Suite(.serialized) struct TrainingTests {
    let data = Shapes(count: 64, imageSize: 16, seed: 4)

    func temporaryFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("tessera-\(UUID().uuidString)-\(name)")
    }

    /// A small ViT with stochastic depth and dropout, so resuming must restore the random state too.
    func makeRun(checkpoint: URL?, resume: Bool = false, stopAfter: Int? = nil, log: URL? = nil,
                 evaluateEvery: Int? = nil) -> TrainingLoop<Shapes> {
        Random.seed(42)
        var config = ViTConfig(imageSize: 16, patchSize: 4, embedDim: 24, depth: 2, numHeads: 2, mlpRatio: 2,
                               numClasses: 10)
        config.dropPathRate = 0.2
        let model = VisionTransformer(config)
        let loader = DataLoader(data, batchSize: 16, seed: 5,
                                transform: Compose([RandomResizedCrop(16, scale: 0.5...1), RandomHorizontalFlip()]))
        let recipe = SupervisedRecipe(model: model, options: OptimizationOptions(learningRate: 1e-2, warmupEpochs: 1),
                                      epochs: 3, iterationsPerEpoch: loader.batchCount, batchSize: 16)
        let loop = TrainingLoop(recipe: recipe, loader: loader,
                                options: TrainingOptions(epochs: 3, checkpoint: checkpoint, resume: resume, log: log,
                                                         stopAfter: stopAfter))
        if let evaluateEvery {
            // Draws random numbers on purpose: evaluation must not shift the training's random stream.
            loop.evaluation = (evaluateEvery, { epoch in ["epoch": Double(epoch), "noise": Tensor.randn([1]).item()] })
        }
        return loop
    }

    /// Runs under a task-local generator so tests running in parallel cannot draw from it.
    @Test func resumingReproducesTheUninterruptedLossSequenceExactly() throws {
        try Random.withGenerator(RandomGenerator(seed: 0)) { try resumeScenario() }
    }

    func resumeScenario() throws {
        let uninterrupted = try makeRun(checkpoint: nil).run().map(\.loss)
        #expect(uninterrupted.count == 12)
        let file = temporaryFile("resume.safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        let first = try makeRun(checkpoint: file, stopAfter: 5).run()
        #expect(first.count == 5 && FileManager.default.fileExists(atPath: file.path))
        Random.seed(999)  // whatever happened in between, the checkpoint restores the random state
        let resumed = try makeRun(checkpoint: file, resume: true).run().map(\.loss)
        #expect(resumed == uninterrupted)
    }

    @Test func evaluationsRunBetweenEpochsWithoutChangingTrainingAndSurviveResume() throws {
        try Random.withGenerator(RandomGenerator(seed: 0)) {
            let plain = try makeRun(checkpoint: nil).run().map(\.loss)
            let log = temporaryFile("log.jsonl"), file = temporaryFile("evaluated.safetensors")
            defer { for url in [log, file] { try? FileManager.default.removeItem(at: url) } }
            let evaluated = makeRun(checkpoint: nil, log: log, evaluateEvery: 2)
            #expect(try evaluated.run().map(\.loss) == plain)
            // 3 epochs of 4 steps: before training, after epoch 2 and after the last.
            #expect(evaluated.evaluations.map(\.epoch) == [0, 2, 3] && evaluated.evaluations.map(\.step) == [0, 8, 12])
            #expect(evaluated.evaluations.map { $0.metrics["epoch"] } == [0, 2, 3])
            let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 12 + 3 && lines.filter { $0.contains("\"metrics\"") }.count == 3)

            _ = try makeRun(checkpoint: file, stopAfter: 5, evaluateEvery: 2).run()
            let resumed = makeRun(checkpoint: file, resume: true, evaluateEvery: 2)
            #expect(try resumed.run().map(\.loss) == plain)
            #expect(resumed.evaluations.map(\.epoch) == [0, 2, 3])
        }
    }

    /// A recipe whose loss becomes NaN at a given step.
    final class Exploding: TrainingRecipe {
        let model = Linear(3, 2)
        lazy var optimizer: Optimizer = SGD([ParameterGroup(model.parameters(), learningRate: 0.1)])
        let nanAt: Int
        init(nanAt: Int) { self.nanAt = nanAt }
        var modules: [(name: String, module: Module)] { [("model", model)] }
        func step(_ batch: Batch, iteration: Int, epoch: Int, iterationsPerEpoch: Int)
            -> (loss: Double, learningRate: Double) {
            (iteration == nanAt ? .nan : 1.0 / Double(iteration + 1), 0.1)
        }
    }

    @Test func nonFiniteLossStopsAndKeepsTheLastGoodCheckpoint() throws {
        let file = temporaryFile("nan.safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        let loop = TrainingLoop(recipe: Exploding(nanAt: 3), loader: DataLoader(data, batchSize: 8),
                                options: TrainingOptions(epochs: 2, checkpointEvery: 1, checkpoint: file))
        do {
            try loop.run()
            Issue.record("training went on past a NaN loss")
        } catch let error as TrainingError {
            guard case .nonFinite(let step, _, let checkpoint) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(step == 3 && checkpoint == file)
            #expect(error.description.contains("step 3"))
        }
        // The checkpoint on disk is the one written after step 3 of 1-based counting (steps 0…2 done).
        let meta = try SafeTensors.read(file).metadata["tessera.training"]
        #expect(meta?.contains("\"step\":3") == true)
    }

    /// A script's own observer: it sees every step and evaluation, and stopping it through
    /// `shouldStop` checkpoints the run, which then resumes to the uninterrupted losses.
    final class StopAfter: TrainingObserver {
        let limit: Int
        var started: [(total: Int, from: Int)] = [], steps: [Int] = [], evaluated: [Int] = [], ended: [Int] = []
        init(limit: Int) { self.limit = limit }
        func trainingWillStart(totalSteps: Int, resumingAt step: Int) { started.append((totalSteps, step)) }
        func trainingDidStep(_ record: StepRecord, totalSteps: Int) { steps.append(record.step) }
        func trainingDidEvaluate(_ record: EvaluationRecord) { evaluated.append(record.epoch) }
        func trainingDidEnd(atStep step: Int) { ended.append(step) }
        var shouldStop: Bool { steps.count >= limit }
    }

    @Test func aScriptsObserverSeesEveryStepAndCanStopTheRun() throws {
        try Random.withGenerator(RandomGenerator(seed: 0)) {
            let plain = try makeRun(checkpoint: nil).run().map(\.loss)
            let file = temporaryFile("observed.safetensors")
            defer { try? FileManager.default.removeItem(at: file) }
            let observer = StopAfter(limit: 6)
            let loop = makeRun(checkpoint: file, evaluateEvery: 1)
            loop.observer = observer
            do {
                try loop.run()
                Issue.record("the run did not stop when its observer asked")
            } catch TrainingError.interrupted(let step, let checkpoint) {
                #expect(step == 6 && checkpoint == file)
            }
            #expect(observer.started.map(\.total) == [12] && observer.started.map(\.from) == [0])
            #expect(observer.steps == Array(0..<6) && observer.evaluated == [0, 1] && observer.ended == [6])
            let resumed = makeRun(checkpoint: file, resume: true, evaluateEvery: 1)
            let rest = StopAfter(limit: .max)
            resumed.observer = rest
            #expect(try resumed.run().map(\.loss) == plain)
            #expect(rest.started.map(\.from) == [6] && rest.steps == Array(6..<12) && rest.ended == [12])
        }
    }

    @Test func checkpointsAreCompleteSafetensorsFiles() throws {
        let file = temporaryFile("full.safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        try makeRun(checkpoint: file, stopAfter: 2).run()
        let tensors = try SafeTensors.read(file).tensors
        #expect(tensors.keys.contains("model.blocks.1.mlp.fc2.weight"))
        #expect(tensors.keys.contains { $0.hasPrefix("optimizer.state.") })
        #expect(!FileManager.default.fileExists(atPath: file.path + ".tmp"))
    }
}
