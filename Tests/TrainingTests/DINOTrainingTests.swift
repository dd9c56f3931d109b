import Autograd
import Foundation
import NN
import Testing
import Tensor
import TestSupport
@testable import Vision
@testable import Training
import Zoo

/// Six whole DINO steps in float64 against PyTorch (scripts/make_training_fixtures.py, written out
/// from main_dino.py): multi-crop BatchNorm grouping, teacher on the global crops, centring and
/// temperature warm-up, AdamW's two groups with the lr/wd schedules, per-parameter clipping, the
/// last layer frozen in epoch 0 and the EMA teacher. Losses, both networks (BatchNorm running
/// statistics included) and the centre must match — with each of the optimisers main_dino.py
/// offers (`make_training_fixtures.py --optimizer sgd|lars`).
@Test(arguments: [OptimizerKind.adamw, .sgd, .lars])
func dinoStepsMatchPyTorch(optimizer: OptimizerKind) throws {
    let fixture = Fixture(optimizer == .adamw
                          ? "dino_steps.safetensors" : "dino_steps_\(optimizer.rawValue).safetensors")
    let config = ResNetConfig(block: .basic, layers: [1, 1, 1, 1], numClasses: 0, width: 4, smallInputStem: true)
    let (epochs, iterationsPerEpoch, batchSize) = (2, 3, 4)
    let recipe = DINORecipe(makeBackbone: { ResNet(config) }, featureDim: 32, outDim: 32, headHidden: 16,
                            headBottleneck: 8, crops: 4,
                            epochs: epochs, iterationsPerEpoch: iterationsPerEpoch, batchSize: batchSize,
                            options: OptimizationOptions(learningRate: 0.256, minLearningRate: 1e-5, warmupEpochs: 1,
                                                         weightDecay: 0.04, weightDecayEnd: 0.4, optimizer: optimizer),
                            teacherMomentum: 0.9, warmupTeacherTemperature: 0.04, teacherTemperature: 0.07,
                            warmupTeacherEpochs: 1)
    for module in [recipe.student, recipe.teacher, recipe.loss] as [Module] { module.to(.float64) }
    try recipe.student.loadStateDict(fixture.state("initial"))
    try recipe.teacher.loadStateDict(fixture.state("initial"))
    let expectedLosses = fixture.t("losses").scalars(as: Double.self)
    let expectedLearningRates = fixture.t("learning_rates").scalars(as: Double.self)
    for step in 0..<(epochs * iterationsPerEpoch) {
        let crops = (0..<4).map { fixture.t("step\(step).crop\($0)") }
        let batch = Batch(views: crops, labels: .zeros([batchSize], dtype: .int64), indices: Array(0..<batchSize))
        let (loss, learningRate) = try recipe.step(batch, iteration: step, epoch: step / iterationsPerEpoch,
                                               iterationsPerEpoch: iterationsPerEpoch)
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

/// The small ResNet of `tessera compare` after a short DINO run, against the same network at
/// random initialisation, by k-NN. Unlike the ViT (below) it gains little at this scale: a random
/// ResNet's features already separate the classes' colours well. The test holds that training
/// does not make its features worse than a random network's beyond this setting's rounding noise.
@Test func shortDINORunAgainstRandomInit() throws {
    try Random.withGenerator(RandomGenerator(seed: 3)) {
        let env = ProcessInfo.processInfo.environment
        let epochs = Int(env["DINO_EPOCHS"] ?? "12")!, n = Int(env["DINO_N"] ?? "1000")!
        let train = Shapes(count: n, seed: 1), test = Shapes(count: 500, seed: 2)
        let normalize = ExperimentData.normalize
        func knnTop1(_ model: Module) throws -> Double { try knnTop1OfShapes(model, train: train, test: test) }
        let augmentation = DINOAugmentation(globalSize: 32, localSize: 16, localCrops: 2, globalScale: 0.4...1,
                                            localScale: 0.1...0.4, normalize: normalize, rotation: 180)
        let loader = DataLoader(train, batchSize: 64, dropLast: true, seed: 1, views: augmentation)
        let config = ResNetConfig(block: .basic, layers: [1, 1, 1, 1], numClasses: 0, width: 12, smallInputStem: true)
        let recipe = DINORecipe(makeBackbone: { ResNet(config) }, featureDim: 96, outDim: 256, headHidden: 512,
                                headBottleneck: 128, crops: 4, epochs: epochs,
                                iterationsPerEpoch: loader.batchCount, batchSize: 64,
                                options: OptimizationOptions(learningRate: 1e-2, minLearningRate: 1e-5, warmupEpochs: 1,
                                                             weightDecay: 0.04, weightDecayEnd: 0.4),
                                teacherMomentum: 0.99, warmupTeacherTemperature: 0.04, teacherTemperature: 0.02,
                                warmupTeacherEpochs: 3)
        let random = ResNet(config)
        let knnRandom = try knnTop1(random)
        // The same random weights once BatchNorm statistics are measured on the training images
        // (training-mode passes, no learning; 40 batches at momentum 0.1 leave 1.5% of the initial
        // 0/1): a trained network is evaluated with measured statistics, an initialised one is not.
        random.train()
        for _ in 0..<4 { _ = try Evaluation.features(of: train, transform: normalize, batchSize: 100) { random($0) } }
        let knnRandomMeasuredBN = try knnTop1(random)
        let start = Date()
        try TrainingLoop(recipe: recipe, loader: loader, options: TrainingOptions(epochs: epochs)).run()
        let knn = try knnTop1(recipe.teacher.backbone)
        print("DINO k-NN \(knn) vs random init \(knnRandom), \(knnRandomMeasuredBN) with measured BatchNorm "
              + "statistics (\(epochs) epochs of \(n), \(Date().timeIntervalSince(start)) s)")
        // Measured: 36.8% against 33.2% at random init and 28.6% with measured BatchNorm
        // statistics; PyTorch in this setting (scripts/dino_shapes_reference.py): 33.0% against
        // 31.6% and 27.4%. Float rounding alone moves such a figure by 1–3 points (Docs/Tutorial.md).
        #expect(knn >= Swift.max(knnRandom, knnRandomMeasuredBN) - 0.02)
    }
}

/// The experiments issue's test: a short DINO run on the built-in data lifts k-NN clearly above
/// the same network at random initialisation (the teacher before its first step). The network
/// and recipe are the ViT of `tessera compare` (patch 8, width 96, depth 4; 552 steps of 64
/// images). Measured: 30.6% against 21.2% at random init; with `DINO_SEED` 4 and 5 (other
/// weights, crops and order) 29.4% against 20.2% and 29.2% against 20.6%. PyTorch with timm's
/// ViT in this setting (`dino_shapes_reference.py --arch vit`): 32.4% against 19.6%.
///
/// The same teacher then runs DINO's three downstream protocols on the small sets in their real
/// layouts (``dinoFeaturesBeatRandomInitOnTheDownstreamProtocols``), against its random-init snapshot.
@Test func shortDINORunLiftsViTKNNAboveRandomInit() throws {
    let env = ProcessInfo.processInfo.environment
    try Random.withGenerator(RandomGenerator(seed: UInt64(env["DINO_SEED"] ?? "3")!)) {
        let epochs = Int(env["DINO_EPOCHS"] ?? "12")!, n = Int(env["DINO_N"] ?? "3000")!
        let train = Shapes(count: n, seed: 1), test = Shapes(count: 500, seed: 2)
        let normalize = ExperimentData.normalize
        let augmentation = DINOAugmentation(globalSize: 32, localSize: 16, localCrops: 2, globalScale: 0.4...1,
                                            localScale: 0.1...0.4, normalize: normalize, rotation: 180)
        let loader = DataLoader(train, batchSize: 64, dropLast: true, seed: UInt64(env["DINO_SEED"] ?? "1")!,
                                views: augmentation)
        let config = ViTConfig(imageSize: 32, patchSize: 8, embedDim: 96, depth: 4, numHeads: 3, mlpRatio: 2,
                               numClasses: 0)
        let recipe = DINORecipe(makeBackbone: { VisionTransformer(config) }, featureDim: 96, outDim: 256,
                                headHidden: 512, headBottleneck: 128, crops: 4, epochs: epochs,
                                iterationsPerEpoch: loader.batchCount, batchSize: 64,
                                options: OptimizationOptions(learningRate: 1e-2, minLearningRate: 1e-5, warmupEpochs: 1,
                                                             weightDecay: 0.04, weightDecayEnd: 0.4),
                                teacherMomentum: 0.99, warmupTeacherTemperature: 0.04, teacherTemperature: 0.02,
                                warmupTeacherEpochs: 4)
        func knnTop1(_ model: Module) throws -> Double { try knnTop1OfShapes(model, train: train, test: test) }
        let knnRandom = try knnTop1(recipe.teacher.backbone)
        let random = VisionTransformer(config)
        try random.loadStateDict(recipe.teacher.backbone.stateDict().mapValues { $0.copy() })
        let start = Date()
        try TrainingLoop(recipe: recipe, loader: loader, options: TrainingOptions(epochs: epochs)).run()
        let knn = try knnTop1(recipe.teacher.backbone)
        print("ViT DINO k-NN \(knn) vs random init \(knnRandom) "
              + "(\(epochs) epochs of \(n), \(Date().timeIntervalSince(start)) s)")
        #expect(knn >= knnRandom + 0.05)
        guard let dino = recipe.teacher.backbone as? VisionTransformer else {
            Issue.record("the teacher's backbone is not a ViT")
            return
        }
        try dinoFeaturesBeatRandomInitOnTheDownstreamProtocols(dino: dino, random: random)
    }
}

/// Issue 18's end-to-end runs, on the teacher of the short DINO run above and its random
/// initialisation (same architecture, same weights before training), each protocol through the
/// folders and files a real benchmark would use:
/// - retrieval: the Shapes benchmark in revisitop's layout (12 database images per class, 20
///   clutter-only junk images, 2 queries per class), Medium mAP;
/// - copy detection: the Copydays-style set from the committed photographs (20 originals, 400
///   edited queries) with Shapes distractors and whitening, at the model's 32 pixels: the
///   strong-edit mAP (the block DINO reports) and the mean over all edited blocks;
/// - video segmentation: moving-Shapes videos in DAVIS's layout (4 × 20 frames of 64²), J&F-Mean.
/// Measured (AVX-512 machine, seed 3): retrieval 19.2 against 15.6; copy detection strong 56.3
/// against 42.0, all edits 85.4 against 78.7; video J&F 51.6 against 43.4. Copy detection is the
/// fragile one: at 64 pixels (twice the training size) the strong block goes to the random ViT in
/// two of three drawings of the set (`tessera export --seed`), though the mean over all edits
/// stays DINO's (86.7–87.7 against 81.2–83.2).
func dinoFeaturesBeatRandomInitOnTheDownstreamProtocols(dino: VisionTransformer, random: VisionTransformer) throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-dino-eval-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    let shapesNormalize = ExperimentData.normalize
    for model in [dino, random] { model.eval() }
    let retrieval = try Retrieval.Benchmark.writeShapes(to: folder.appendingPathComponent("retrieval"), imageSize: 32)
    let retrievalMAP = try [dino, random].map { vit in
        try retrieval.evaluate(imageSize: 32, patchSize: 8, normalize: shapesNormalize) { vit($0) }
            .scores[.medium]!.meanAveragePrecision
    }
    let photos = ["chelsea.png", "china.jpg", "coffee.png", "flower.jpg", "rocket.jpg"].map {  // as the CLI lists them
        fixturesDirectory.appendingPathComponent("images").appendingPathComponent($0)
    }
    let copies = try CopyDetection.Benchmark.writeSmallSet(photographs: photos, to: folder.appendingPathComponent("cd"))
    let copyBenchmark = try CopyDetection.Benchmark(folder: copies.benchmark)
    let copyResults = try [dino, random].map { vit in
        try copyBenchmark.evaluate(imageSize: 32, normalize: shapesNormalize, distractors: copies.distractors,
                                   whitening: copies.whitening) { vit.forwardFeatures($0) }.blocks
    }
    let copyMAP = copyResults.map { $0.first { $0.block == "strong" }!.meanAveragePrecision }
    let editedMAP = copyResults.map { blocks in
        blocks.dropFirst().map(\.meanAveragePrecision).reduce(0, +) / Double(blocks.count - 1)
    }
    let videos = try VideoSegmentation.Benchmark.writeMovingShapes(to: folder.appendingPathComponent("davis"),
                                                                   videos: 4, frames: 20, imageSize: 64)
    let jAndF = try [dino, random].map { vit in
        try videos.evaluate(patchSize: 8, parameters: .init(shorterSide: 64), normalize: shapesNormalize) {
            vit.forwardFeatures($0)
        }.summary.jAndFMean
    }
    print("downstream, DINO vs random init: retrieval Medium mAP \(retrievalMAP[0]) vs \(retrievalMAP[1]); "
          + "copy detection strong mAP \(copyMAP[0]) vs \(copyMAP[1]), all edits \(editedMAP[0]) vs "
          + "\(editedMAP[1]); video J&F \(jAndF[0]) vs \(jAndF[1])")
    #expect(retrievalMAP[0] > retrievalMAP[1], "retrieval mAP \(retrievalMAP)")
    #expect(copyMAP[0] > copyMAP[1], "copy detection strong mAP \(copyMAP)")
    #expect(editedMAP[0] > editedMAP[1], "copy detection mAP over the edited blocks \(editedMAP)")
    #expect(jAndF[0] > jAndF[1], "video J&F \(jAndF)")
}

/// Weighted k-NN top-1 (DINO's eval_knn) of a model's features of Shapes test images.
func knnTop1OfShapes(_ model: Module, train: Shapes, test: Shapes) throws -> Double {
    model.eval()
    let normalize = ExperimentData.normalize
    return Evaluation.knn(train: try Evaluation.features(of: train, transform: normalize) { model($0) },
                          test: try Evaluation.features(of: test, transform: normalize) { model($0) }, classes: 10).top1
}
