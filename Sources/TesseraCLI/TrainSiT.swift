import ArgumentParser
import Foundation
import Tessera

/// The options of `tessera train sit`, with SiT's names (`--drop_perc` becomes `--drop-perc`).
struct SiTArguments: ParsableArguments {
    @Option(help: "sit: weight λ of the reconstruction loss (SiT's README advises 5 for small data sets).")
    var lambda = 1.0
    @Option(help: "sit: largest share of an image its GMML corruption covers.") var dropPerc = 0.5
    @Option(help: "sit: share covered by blocks of another image of the batch, for the images redrawn so.")
    var dropReplace = 0.3
    @Option(help: "sit: corrupted blocks start and end on multiples of this (the patch size: whole patches).")
    var dropAlign = 1
    @Option(help: "sit: what fills a corrupted block: zeros, noise or same-image.")
    var dropType = GMMLCorruption.Fill.zeros
    @Flag(help: "sit: the paper's first version: rotation prediction and losses weighted by learned uncertainty.")
    var firstVersion = false
}

extension GMMLCorruption.Fill: ExpressibleByArgument {}

extension TrainCommand {
    /// SiT on the ViT of `--arch`: the teacher's backbone is saved for `tessera eval knn|linear`,
    /// and reconstruction figures of eight test images go to reconstruction/ in the output folder.
    func trainSiT(_ train: AnyImageDataset, test: AnyImageDataset, name: String, options: TrainingOptions,
                  group: ProcessGroup,
                  run: (TrainingLoop<AnyImageDataset>) throws -> [StepRecord]) throws -> [StepRecord] {
        guard let probe = try source.model(classes: 0) as? VisionTransformer else {
            throw ValidationError("sit reconstructs images from a ViT's patch tokens: --arch must be a ViT")
        }
        let corruption = GMMLCorruption(dropPercentage: sit.dropPerc, fill: sit.dropType, align: sit.dropAlign)
        try corruption.validate(height: source.imageSize, width: source.imageSize)
        let normalize = ExperimentData.normalize
        var student = probe.config
        student.dropPathRate = 0.1  // SiT's --drop_path_rate; the teacher has none
        let model = SiTModel(vit: student, outDim: 128, hiddenDim: 512, firstVersion: sit.firstVersion)
        let teacher = SiTModel(vit: probe.config, outDim: 128, hiddenDim: 512, firstVersion: sit.firstVersion)
        var loader = DataLoader(train, batchSize: batchSize, dropLast: true,
                                views: SiTAugmentation(size: source.imageSize, scale: 0.4...1, corruption: corruption,
                                                       normalize: normalize,
                                                       rotation: source.dataOptions.data == nil ? 180 : 0))
        loader.shard = group.dataShard
        if group.isPrimary {
            print("SiT\(sit.firstVersion ? " (first version)" : ""): \(probe.parameterCount()) backbone parameters, "
                  + "\(train.count) images of \(name), "
                  + (sit.firstVersion ? "losses weighted by learned uncertainty" : "λ \(sit.lambda)"))
        }
        let recipe = try SiTRecipe(student: model, teacher: teacher, corruption: corruption,
                                   sit: SiTOptions(reconstructionWeight: sit.lambda, teacherMomentum: 0.99,
                                                   replaceFraction: sit.dropReplace),
                                   options: OptimizationOptions(learningRate: lr,
                                                                warmupEpochs: Swift.min(10, epochs / 10 + 1),
                                                                weightDecay: 0.04, weightDecayEnd: 0.1,
                                                                optimizer: optimizer),
                                   epochs: epochs, iterationsPerEpoch: loader.batchCount,
                                   batchSize: batchSize * group.size)
        let rng = RandomGenerator(seed: 0)
        let samples = SiTSamples(images: try (0..<Swift.min(8, test.count)).map {
            normalize(try test.image(at: $0), using: rng)
        }, corruption: corruption)
        let figures = URL(fileURLWithPath: output).appendingPathComponent("reconstruction")
        try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)
        let loop = TrainingLoop(recipe: recipe, loader: loader, options: options, group: group)
        if group.isPrimary {
            loop.evaluation = (every: Swift.max(1, epochs / 5), evaluate: { epoch in
                try ImageFile.writePNG(samples.figure(of: model, normalize: normalize),
                                       to: figures.appendingPathComponent(String(format: "epoch_%04d.png", epoch)))
                return ["reconstruction_l1": samples.reconstructionError(of: model)]
            })
        }
        let history = try run(loop)
        if group.isPrimary {
            let weights = URL(fileURLWithPath: output).appendingPathComponent("teacher_backbone.safetensors")
            try SafeTensors.write(teacher.backbone.stateDict(), to: weights)
            let errors = loop.evaluations.compactMap { $0.metrics["reconstruction_l1"] }
            if let first = errors.first, let last = errors.last {
                print(String(format: "masked L1 on 8 corrupted test images: %.4f at init, %.4f at the end",
                             first, last))
            }
        }
        return history
    }
}
