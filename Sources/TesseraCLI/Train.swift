import ArgumentParser
import Foundation
import Tessera

/// The data options of `train`, `eval` and `export`.
struct DataOptions: ParsableArguments {
    @Option(help: "Image folder, CIFAR-10 binary folder or MNIST folder (default: the built-in Shapes).")
    var data: String?
    @Option(help: "Image size the data is drawn or resized at.")
    var imageSize = 32
    @Option(help: "Training images of the built-in data set.")
    var trainImages = 3000
    @Option(help: """
        How far an object's hue strays from its class's hue in the built-in data set \
        (0.5: colour says nothing of the class).
        """)
    var hueSpread = 0.1

    func validate() throws {
        try Self.validate(hueSpread: hueSpread)
        guard imageSize >= 8 else { throw ValidationError("--image-size must be at least 8, got \(imageSize)") }
        guard trainImages >= 1 else { throw ValidationError("--train-images must be at least 1, got \(trainImages)") }
        if let data, !FileManager.default.fileExists(atPath: data) {
            throw ValidationError("--data \(data): no such file or folder")
        }
    }

    /// `--hue-spread` outside Shapes' range is a usage error, not a crash.
    static func validate(hueSpread: Double) throws {
        guard Shapes.hueSpreads.contains(hueSpread) else {
            throw ValidationError("--hue-spread must be in \(Shapes.hueSpreads), got \(hueSpread)")
        }
    }

    func datasets() throws -> (train: AnyImageDataset, test: AnyImageDataset, name: String) {
        let d = try ExperimentData.load(data.map { URL(fileURLWithPath: $0) }, imageSize: imageSize,
                                        trainCount: trainImages, hueSpread: hueSpread)
        return (d.train, d.test, d.name)
    }
}

/// Options shared by `train` and `eval`: the model and the data.
struct ModelAndData: ParsableArguments {
    @Option(help:
        "A model: a timm-style ViT name (vit_small_patch16_224, vit-ti/4), resnet18…152, or a catalogue name.")
    var arch: String?
    @Option(help: "A JSON model config with timm's names instead of --arch.")
    var config: String?
    @OptionGroup var dataOptions: DataOptions

    var imageSize: Int { dataOptions.imageSize }
    func datasets() throws -> (train: AnyImageDataset, test: AnyImageDataset, name: String) {
        try dataOptions.datasets()
    }

    /// A model whose head matches the data (for training) or none (`classes` 0: features),
    /// adapted to the data's image size.
    func model(classes: Int) throws -> Module {
        try ModelSpec.load(config: config, arch: arch, classes: classes, imageSize: imageSize)
    }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model supervised, with DINO, EsViT, MoCo v3 or SiT, for retrieval (IRT), or a ViTGAN.",
        discussion: """
            retrieval: IRT's contrastive loss (margin 0.5) plus KoLeo (0.7) on class-balanced batches, \
            trained on the first half of the classes (the CUB-200 convention); `tessera eval recall` tests \
            on the other half. sit: SiT's GMML corruption, reconstruction and contrastive loss with an EMA \
            teacher (ViTs only); figures of its reconstructions in reconstruction/ of the output folder. \
            esvit: DINO plus EsViT's region-level loss on the last stage's tokens (--arch swin-t, or a ViT \
            or ResNet); at 32 px swin-t takes patch 2 and window 4. vitgan: ViTGAN's generator and \
            discriminator (--gan-dim, --gan-depth, --gan-patch) with R1 and bCR; sample grids of the EMA \
            generator in samples/ of the output folder.
            """)

    @Argument(help: "supervised, dino, esvit, mocov3, sit, retrieval or vitgan") var recipe: String
    @OptionGroup var source: ModelAndData
    @Option(help: "Epochs.") var epochs = 20
    @Option(help: "Batch size per process (under mpirun the batch of a step is this × the processes).")
    var batchSize = 64
    @Option(help: "Peak learning rate for a batch of 256 (DINO's rule).") var lr = 5e-3
    @Option(help: "adamw, sgd (momentum 0.9) or lars; DINO and MoCo v3 train ResNets with sgd or lars.")
    var optimizer = OptimizerKind.adamw
    @Option(help: "Output folder for the checkpoint and the log.") var output = "runs/train"
    @Option(help: "Write a checkpoint every this many steps.") var checkpointEvery = 200
    @Flag(help: "Continue from the checkpoint in the output folder.") var resume = false
    @Option(help: "retrieval: start from these backbone weights (.safetensors or .pth) instead of random ones.")
    var weights: String?
    @Option(help: "retrieval: images per class in a batch (default: 2, or the fewest that fill a batch).")
    var imagesPerClass: Int?
    @OptionGroup(title: "SiT") var sit: SiTArguments
    @OptionGroup(title: "ViTGAN") var gan: ViTGANArguments

    static let recipes = ["supervised", "dino", "esvit", "mocov3", "sit", "retrieval", "vitgan"]
    static let recipeList = recipes.dropLast().joined(separator: ", ") + " or " + recipes.last!

    func validate() throws {
        guard Self.recipes.contains(recipe) else {
            throw ValidationError("the recipe must be \(Self.recipeList), got \(recipe)")
        }
        if let imagesPerClass, imagesPerClass < 2 || batchSize % imagesPerClass != 0 {
            throw ValidationError("--images-per-class must be at least 2 and divide --batch-size \(batchSize), "
                                  + "got \(imagesPerClass)")
        }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 2 else {
            throw ValidationError("--batch-size must be at least 2 (batch norm needs two images), got \(batchSize)")
        }
        guard lr.isFinite && lr > 0 else { throw ValidationError("--lr must be positive, got \(lr)") }
        guard checkpointEvery >= 0 else {
            throw ValidationError("--checkpoint-every must not be negative, got \(checkpointEvery)")
        }
    }

    func run() throws {
        let group = try ProcessGroup.current()
        do { try train(group) } catch where group.isDistributed {
            // The other processes may be waiting in a collective: end the whole job.
            FileHandle.standardError.write(Data("tessera train (rank \(group.rank) of \(group.size)): \(error)\n".utf8))
            group.abort(code: 1)
        }
    }

    /// Trains on this process's shard (all of the data alone); rank 0 prints, logs and writes the files.
    private func train(_ group: ProcessGroup) throws {
        let (train, test, name) = try source.datasets()
        let folder = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let normalize = ExperimentData.normalize
        let options = TrainingOptions(epochs: epochs, checkpointEvery: checkpointEvery,
                                      checkpoint: folder.appendingPathComponent("checkpoint.safetensors"),
                                      resume: resume, log: folder.appendingPathComponent("log.jsonl"))
        let progress = ProgressObserver()
        let say: (String) -> Void = { if group.isPrimary { print($0) } }
        let globalBatch = batchSize * group.size
        /// Runs a loop with the progress bar; an interruption says how to continue.
        func run<D>(_ loop: TrainingLoop<D>) throws -> [StepRecord] {
            if group.isPrimary { loop.observer = progress }
            do { return try loop.run() } catch TrainingError.interrupted(let step, let checkpoint) {
                throw ValidationError("interrupted at step \(step)"
                    + (checkpoint.map { "; checkpoint written to \($0.path) (resume with --resume)" } ?? ""))
            }
        }
        let history: [StepRecord]
        switch recipe {
        case "supervised":
            let model = try source.model(classes: train.classes.count)
            var loader = DataLoader(train, batchSize: batchSize, dropLast: true,
                                    transform: Compose([RandomResizedCrop(source.imageSize, scale: 0.6...1),
                                                        RandomHorizontalFlip(), normalize]))
            loader.shard = group.dataShard
            say("supervised: \(model.parameterCount()) parameters, \(train.count) images of \(name)")
            let r = SupervisedRecipe(model: model,
                                     options: OptimizationOptions(learningRate: lr,
                                                                  warmupEpochs: Swift.min(5, epochs / 10 + 1),
                                                                  optimizer: optimizer),
                                     epochs: epochs, iterationsPerEpoch: loader.batchCount, batchSize: globalBatch)
            history = try run(TrainingLoop(recipe: r, loader: loader, options: options, group: group))
            if group.isPrimary {
                try SafeTensors.write(model.stateDict(), to: folder.appendingPathComponent("model.safetensors"))
            }
        case "dino", "esvit":
            let probe = try source.model(classes: 0)
            let featureDim = noGrad {
                probe(Variable(Tensor.zeros([2, 3, source.imageSize, source.imageSize]))).shape[1]
            }
            let views = DINOAugmentation(globalSize: source.imageSize, localSize: source.imageSize / 2, localCrops: 2,
                                         globalScale: 0.4...1, localScale: 0.1...0.4, normalize: normalize,
                                         rotation: source.dataOptions.data == nil ? 180 : 0)
            var loader = DataLoader(train, batchSize: batchSize, dropLast: true, views: views)
            loader.shard = group.dataShard
            say("\(recipe == "dino" ? "DINO" : "EsViT (view- and region-level DINO)"): "
                + "\(probe.parameterCount()) backbone parameters, \(train.count) images of \(name)")
            let r = DINORecipe(makeBackbone: { try! source.model(classes: 0) }, featureDim: featureDim, outDim: 256,
                               headHidden: 512, headBottleneck: 128, crops: 4, epochs: epochs,
                               iterationsPerEpoch: loader.batchCount, batchSize: globalBatch,
                               options: OptimizationOptions(learningRate: lr,
                                                            warmupEpochs: Swift.min(10, epochs / 10 + 1),
                                                            optimizer: optimizer),
                               teacherMomentum: 0.99, teacherTemperature: 0.02, warmupTeacherEpochs: epochs / 3,
                               regionLevel: recipe == "esvit")
            history = try run(TrainingLoop(recipe: r, loader: loader, options: options, group: group))
            if group.isPrimary {
                try SafeTensors.write(r.teacher.backbone.stateDict(),
                                      to: folder.appendingPathComponent("teacher_backbone.safetensors"))
            }
        case "mocov3":
            let probe = try source.model(classes: 0)
            var loader = DataLoader(train, batchSize: batchSize, dropLast: true,
                                    views: MoCoV3Augmentation(size: source.imageSize, scale: 0.2...1,
                                                              normalize: normalize))
            loader.shard = group.dataShard
            say("MoCo v3: \(probe.parameterCount()) backbone parameters, \(train.count) images of \(name)")
            let model = try MoCoV3Model(like: probe, dim: 128, mlpDim: 512)
            let r = MoCoV3Recipe(model: model,
                                 epochs: epochs, iterationsPerEpoch: loader.batchCount, batchSize: globalBatch,
                                 options: OptimizationOptions(learningRate: lr,
                                                              warmupEpochs: Swift.min(10, epochs / 10 + 1),
                                                              weightDecay: 0.1, weightDecayEnd: 0.1, clipGradient: 0,
                                                              optimizer: optimizer))
            history = try run(TrainingLoop(recipe: r, loader: loader, options: options, group: group))
            if group.isPrimary {
                try SafeTensors.write(model.backboneStateDict(),
                                      to: folder.appendingPathComponent("backbone.safetensors"))
            }
        case "sit":
            history = try trainSiT(train, test: test, name: name, options: options, group: group, run: run)
        case "retrieval":
            history = try trainRetrieval(train, name: name, options: options, group: group, run: run)
        case "vitgan":
            history = try trainViTGAN(train, test: test, name: name, options: options, group: group, run: run)
        default:
            throw ValidationError("the recipe must be \(Self.recipeList)")
        }
        say("done: \(history.count) steps, final loss \(String(format: "%.4f", history.last?.loss ?? .nan)); "
              + "files in \(folder.path)")
    }
}

struct AttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "DINO's self-attention maps of a ViT over an image, per head, with 60%-mass masks, as a PNG.")
    @Option(help: "A ViT name (vit_small_patch16_224) or catalogue name.") var arch = "vit_small_patch16_224"
    @Option(help: "Weights (.pth or .safetensors).") var weights: String?
    @Option(help: "Output PNG.") var output = "attention.png"
    @Option(help: "Image size (resize and centre crop).") var imageSize = 224
    @Argument(help: "The image.") var image: String

    func run() throws {
        guard let vit = try ModelSpec.load(config: nil, arch: arch) as? VisionTransformer else {
            throw ValidationError("\(arch) is not a ViT")
        }
        if let weights { try ModelSpec.loadWeights(vit, from: URL(fileURLWithPath: weights)) }
        vit.eval()
        let view = Compose([Resize(imageSize), CenterCrop(imageSize)])(
            try ImageFile.read(URL(fileURLWithPath: image)), seed: 0)
        let attention = AttentionMaps.classAttention(vit, images: Normalize()(view, seed: 0).unsqueezed(0))
        let heads = attention.shape[1]
        try ImageFile.writePNG(AttentionMaps.figure(image: view, attention: attention.select(axis: 0, index: 0)),
                               to: URL(fileURLWithPath: output))
        print("wrote \(output): \(heads) heads, attention maps (top row) and masks keeping 60% of the mass (bottom)")
    }
}

extension OptimizerKind: ExpressibleByArgument {}
