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
}

extension TrainCommand {
    /// ViTGAN on the images (labels unused): sample grids of the EMA generator in samples/ every
    /// fifth of the run, and the Fréchet distance of pooled pixels to the test images in the log.
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
        let figures = URL(fileURLWithPath: output).appendingPathComponent("samples")
        try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)
        let loop = TrainingLoop(recipe: recipe, loader: loader, options: options, group: group)
        loop.evaluation = (every: Swift.max(1, epochs / 5), evaluate: { epoch in
            let samples = recipe.samples(reals.shape[0])
            try ImageFile.writePNG(ViTGANRecipe.grid(samples.slice(axis: 0, end: 64)),
                                   to: figures.appendingPathComponent(String(format: "epoch_%04d.png", epoch)))
            let distance = try GenerativeMetrics.frechetDistance(ViTGANRecipe.pooledPixels(samples), realFeatures)
            return ["pixel_fd": distance].merging(recipe.lastLosses) { a, _ in a }
        })
        let history = try run(loop)
        let distances = loop.evaluations.compactMap { $0.metrics["pixel_fd"] }
        if let first = distances.first, let last = distances.last {
            print(String(format: "Fréchet distance of 4×4-pooled pixels to %d test images: %.4f after the first "
                         + "evaluation, %.4f at the end; sample grids in %@", reals.shape[0], first, last,
                         figures.path))
        }
        return history
    }
}
