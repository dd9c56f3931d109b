import ArgumentParser
import Foundation
import Tessera

/// The options of `tessera train vitgan`.
struct ViTGANArguments: ParsableArguments {
    @Option(help: "vitgan: token width of generator and discriminator.") var ganDim = 96
    @Option(help: "vitgan: generator blocks (the discriminator has as many).") var ganDepth = 2
    @Option(help: "vitgan: patch size (the image size must divide by it).") var ganPatch = 4
    @Option(help: "vitgan: R1 penalty's γ (0: off).") var r1Gamma = 1.0
    @Option(help: "vitgan: bCR weight on real and generated images (0: off).") var bcr = 10.0
    @Option(help: "vitgan: learning rate of both networks (Adam, β = (0, 0.99)).") var ganLr = 0.002
    @Option(help: """
        vitgan: a classifier trained on the same data (the model.safetensors of `tessera train supervised`) \
        whose features give the Fréchet distance and whose softmax the Inception Score, in place of Inception-v3.
        """)
    var fdClassifier: String?
    @Option(help: "vitgan: the classifier's architecture (a registry name).") var fdArch: String?
    @Option(help: "vitgan: the classifier's JSON config, instead of --fd-arch.") var fdConfig: String?

    func validate() throws {
        if fdClassifier == nil && (fdArch != nil || fdConfig != nil) {
            throw ValidationError("--fd-arch and --fd-config describe the --fd-classifier, which is missing")
        }
        if fdClassifier != nil && fdArch == nil && fdConfig == nil {
            throw ValidationError("--fd-classifier needs the classifier's --fd-arch NAME or --fd-config FILE")
        }
    }

    /// The classifier scoring samples, when one was given.
    func scores(classes: Int, imageSize: Int) throws -> ClassifierScores? {
        guard let fdClassifier else { return nil }
        let model = try ModelSpec.load(config: fdConfig, arch: fdArch, classes: classes, imageSize: imageSize)
        try ModelSpec.loadWeights(model, from: URL(fileURLWithPath: fdClassifier))
        guard let classifier = model as? any DenseFeatureBackbone else {
            throw ValidationError("--fd-classifier: \(type(of: model)) has no pooled features to score with; "
                                  + "use a ResNet, ViT or Swin")
        }
        return ClassifierScores(classifier: classifier)
    }
}

extension TrainCommand {
    /// ViTGAN on the images (labels unused): sample grids of the EMA generator in samples/ every
    /// fifth of the run, and the Fréchet distance of pooled pixels to the test images in the log (with
    /// `--fd-classifier`, also the Fréchet distance and Inception Score on that classifier).
    func trainViTGAN(_ train: AnyImageDataset, test: AnyImageDataset, name: String, options: TrainingOptions,
                     group: ProcessGroup,
                     run: (TrainingLoop<AnyImageDataset>) throws -> [StepRecord]) throws -> [StepRecord] {
        guard !group.isDistributed else { throw ValidationError("vitgan trains on one process") }
        var config = ViTGANConfig()
        (config.imageSize, config.patchSize, config.dim, config.heads) = (source.imageSize, gan.ganPatch, gan.ganDim, 4)
        (config.depth, config.discriminatorDepth, config.latentDim, config.mappingDepth) =
            (gan.ganDepth, gan.ganDepth, gan.ganDim, 4)
        (config.pixelFeatures, config.pixelHidden) = (32, 32)
        var ganOptions = ViTGANOptions()
        (ganOptions.r1Gamma, ganOptions.consistencyReal, ganOptions.consistencyFake) = (gan.r1Gamma, gan.bcr, gan.bcr)
        (ganOptions.generatorLearningRate, ganOptions.discriminatorLearningRate) = (gan.ganLr, gan.ganLr)
        let recipe: ViTGANRecipe
        do { recipe = try ViTGANRecipe(config: config, options: ganOptions) } catch let error as ConfigurationError {
            throw ValidationError("\(error)")
        }
        let toUnitRange = Normalize(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        let loader = DataLoader(train, batchSize: batchSize, dropLast: true,
                                transform: Compose([RandomHorizontalFlip(), toUnitRange]))
        print("ViTGAN: \(recipe.generator.parameterCount()) generator and \(recipe.discriminator.parameterCount()) "
              + "discriminator parameters, \(train.count) images of \(name), R1 γ \(gan.r1Gamma), bCR \(gan.bcr)")
        let reals = Tensor.stack(try (0..<Swift.min(256, test.count)).map {
            toUnitRange(try test.image(at: $0), seed: 0)
        })
        let realFeatures = ViTGANRecipe.pooledPixels(reals)
        // The classifier's features of the real test images, and their own Inception Score for scale.
        let reference = try gan.scores(classes: train.classes.count, imageSize: source.imageSize).map { scorer in
            let (features, probabilities) = try scorer.evaluate(reals)
            let score = try GenerativeMetrics.inceptionScore(probabilities: probabilities,
                                                             splits: Swift.min(10, reals.shape[0])).mean
            return (scorer: scorer, features: features, inceptionScore: score)
        }
        let figures = URL(fileURLWithPath: output).appendingPathComponent("samples")
        try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)
        let loop = TrainingLoop(recipe: recipe, loader: loader, options: options, group: group)
        loop.evaluation = (every: Swift.max(1, epochs / 5), evaluate: { epoch in
            let samples = recipe.samples(reals.shape[0])
            try ImageFile.writePNG(ViTGANRecipe.grid(samples.slice(axis: 0, end: 64)),
                                   to: figures.appendingPathComponent(String(format: "epoch_%04d.png", epoch)))
            var metrics = ["pixel_fd": try GenerativeMetrics.frechetDistance(ViTGANRecipe.pooledPixels(samples),
                                                                             realFeatures)]
            if let reference {
                let s = try reference.scorer.scores(generated: samples, referenceFeatures: reference.features)
                (metrics["classifier_fd"], metrics["inception_score"]) = (s.frechetDistance, s.inceptionScore)
            }
            return metrics.merging(recipe.lastLosses) { a, _ in a }
        })
        let history = try run(loop)
        let distances = loop.evaluations.compactMap { $0.metrics["pixel_fd"] }
        if let first = distances.first, let last = distances.last {
            print(String(format: "Fréchet distance of 4×4-pooled pixels to %d test images: %.4f after the first "
                         + "evaluation, %.4f at the end; sample grids in %@", reals.shape[0], first, last,
                         figures.path))
        }
        let classifierDistances = loop.evaluations.compactMap { $0.metrics["classifier_fd"] }
        let inceptionScores = loop.evaluations.compactMap { $0.metrics["inception_score"] }
        if let first = classifierDistances.first, let last = classifierDistances.last, let score = inceptionScores.last,
           let reference {
            print(String(format: "On the classifier's features: Fréchet distance %.4f after the first evaluation, "
                         + "%.4f at the end; Inception Score %.3f at the end (real test images: %.3f)", first, last,
                         score, reference.inceptionScore))
        }
        return history
    }
}
