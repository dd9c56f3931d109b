import Autograd
import Foundation
import NN
import Tensor
import Training
import Vision
import Zoo

/// The main experiment: a small ViT against a small ResNet of similar size, supervised on growing
/// fractions of the training set (the ViT paper's data-scaling finding in miniature), then both
/// pre-trained with DINO and evaluated by k-NN and a linear probe, with the ViT's DINO attention
/// scored against the objects' masks. Writes `report.md` and figures into the output folder.
public struct CompareOptions: Sendable {
    public var output: URL
    public var quick = false
    /// Training images and test images of the built-in Shapes set (ignored with `data`).
    public var trainCount = 3000, testCount = 1000
    public var imageSize = 32
    /// How far an object's hue strays from its class's hue in Shapes (0.5: colour says nothing).
    public var hueSpread = 0.1
    /// An image folder, CIFAR folder or MNIST folder instead of Shapes (split 80/20 when it has no test part).
    public var data: URL?
    /// Patch 8 (a 4 × 4 grid at 32 pixels): with patch 4 the ViT stayed at chance for most of the
    /// 15 epochs on Shapes without class colours (in PyTorch too: 17% against 32% with patch 8 on
    /// 3000 images), leaving no data-scaling curve to compare; `--patch 4` gives finer attention maps.
    public var vit = ViTConfig(imageSize: 32, patchSize: 8, embedDim: 96, depth: 4, numHeads: 3, mlpRatio: 2, numClasses: 0)
    public var resnet = ResNetConfig(block: .basic, layers: [1, 1, 1, 1], numClasses: 0, width: 12, smallInputStem: true)
    public var supervisedEpochs = 15
    public var fractions = [0.1, 0.3, 1.0]
    public var dinoEpochs = 12
    /// Local crops per image in DINO pre-training (besides the two global crops).
    public var localCrops = 2
    public var batchSize = 64
    public var seed: UInt64 = 0

    public init(output: URL, quick: Bool = false) {
        self.output = output
        self.quick = quick
        if quick {
            (trainCount, testCount, supervisedEpochs, dinoEpochs) = (1600, 500, 10, 6)
            fractions = [0.25, 1.0]
        }
    }
}

extension CompareOptions {
    /// Checks every setting before minutes of training start: a ``ConfigurationError`` names
    /// the option, its value and the rule.
    public func validate() throws {
        typealias R = ConfigurationError
        try R.require(supervisedEpochs >= 1, "epochs", supervisedEpochs, "must be at least 1")
        try R.require(dinoEpochs >= 1, "dino-epochs", dinoEpochs, "must be at least 1")
        try R.require(batchSize >= 2, "batch-size", batchSize, "must be at least 2 (batch norm needs two images)")
        try R.require(!fractions.isEmpty && fractions.allSatisfy { $0 > 0 && $0 <= 1 }, "fractions", fractions,
                      "each must be in (0, 1]")
        try R.require(localCrops >= 0, "local-crops", localCrops, "must not be negative")
        try R.require(imageSize >= 8, "image-size", imageSize, "must be at least 8")
        try R.require(imageSize % vit.patchSize == 0 || vit.patchSize <= 0, "image-size", imageSize,
                      "must be a multiple of the patch size \(vit.patchSize)")
        if data == nil {
            try R.require(trainCount >= batchSize, "train-images", trainCount, "must be at least the batch size \(batchSize)")
            try R.require(testCount >= 1, "test-images", testCount, "must be at least 1")
            try R.require(Shapes.hueSpreads.contains(hueSpread), "hue-spread", hueSpread, "must be in \(Shapes.hueSpreads)")
        }
        var vit = self.vit
        vit.imageSize = imageSize
        do { try vit.validate() } catch var error as ConfigurationError {
            error.field = "vit." + error.field
            throw error
        }
        try resnet.validate()
    }
}

/// One model's numbers in the report.
public struct ModelSummary: Codable, Sendable {
    public var name: String
    public var parameters: Int
    public var gflops: Double
    public var supervisedAccuracy: [Double]  // per fraction
    public var supervisedImagesPerSecond: Double
    public var supervisedSeconds: Double
    public var dinoImagesPerSecond: Double
    public var dinoSeconds: Double
    public var randomKNN: Double
    public var dinoKNN: Double
    public var dinoKNNTop5: Double
    public var dinoLinear: Double
    public var supervisedLosses: [Double]
    public var dinoLosses: [Double]
    /// k-NN top-1 of the teacher during DINO pre-training as [epoch, accuracy] pairs (epoch 0: initialisation).
    public var dinoKNNCurve: [[Double]] = []
}

/// Everything `tessera compare` measured.
public struct CompareResult: Codable, Sendable {
    public var dataset: String
    public var trainCount: Int, testCount: Int, classes: Int, imageSize: Int
    public var fractions: [Double]
    public var vit: ModelSummary
    public var resnet: ModelSummary
    /// Mean Jaccard of thresholded attention masks with object masks: per head of the DINO ViT, and best heads.
    public var dinoJaccardPerHead: [Double]?
    public var jaccardBest: [String: Double]?
    public var seconds: Double
}

public enum Compare {
    /// Runs the whole comparison and writes the report; returns the numbers.
    /// `observer` is told of every training step of every run (the CLI draws its progress bar from it);
    /// `log` receives one line per stage.
    public static func run(_ options: CompareOptions, observer: (any TrainingObserver)? = nil,
                           log: (String) -> Void = { _ in }) throws -> CompareResult {
        try options.validate()
        let start = Date()
        try FileManager.default.createDirectory(at: options.output, withIntermediateDirectories: true)
        var o = options
        o.vit.imageSize = o.imageSize
        let (train, test, name, masks) = try datasets(o)
        let classes = train.classes.count
        try ConfigurationError.require(train.count >= o.batchSize, "data", "\(train.count) training images",
                                       "needs at least the batch size \(o.batchSize)")
        log("tessera compare: \(name), \(train.count) training / \(test.count) test images of \(o.imageSize)×\(o.imageSize), \(classes) classes")
        let normalize = ExperimentData.normalize
        let trainTransform = Compose([RandomResizedCrop(o.imageSize, scale: 0.6...1), RandomHorizontalFlip(), normalize])

        func makeViT(classes: Int) -> VisionTransformer {
            var c = o.vit
            c.numClasses = classes
            return VisionTransformer(c)
        }
        func makeResNet(classes: Int) -> ResNet {
            var c = o.resnet
            c.numClasses = classes
            return ResNet(c)
        }
        let probe = Tensor.zeros([1, 3, o.imageSize, o.imageSize])
        func gflops(_ m: Module) -> Double {
            m.eval()
            return Double(FlopCounter.count { _ = noGrad { m(Variable(probe)) } }) / 1e9
        }

        var summaries: [ModelSummary] = []
        var dinoViT: VisionTransformer?
        var supervisedViT: VisionTransformer?
        for (index, kind) in ["ViT", "ResNet"].enumerated() {
            let isViT = index == 0
            let modelName = isViT ? "ViT (patch \(o.vit.patchSize), dim \(o.vit.embedDim), depth \(o.vit.depth))"
                : "ResNet (\(o.resnet.block.rawValue), \(o.resnet.layers.map(String.init).joined(separator: "-")), width \(o.resnet.width))"
            let sample: Module = isViT ? makeViT(classes: classes) : makeResNet(classes: classes)
            var summary = ModelSummary(name: modelName, parameters: sample.parameterCount(), gflops: gflops(sample),
                                       supervisedAccuracy: [], supervisedImagesPerSecond: 0, supervisedSeconds: 0, dinoImagesPerSecond: 0,
                                       dinoSeconds: 0, randomKNN: 0, dinoKNN: 0, dinoKNNTop5: 0, dinoLinear: 0, supervisedLosses: [], dinoLosses: [])
            // Supervised, on growing fractions of the training set (same epochs, so fewer steps on less data).
            for fraction in o.fractions {
                Random.seed(o.seed &+ UInt64(index))
                let model: Module = isViT ? makeViT(classes: classes) : makeResNet(classes: classes)
                let subset = Subset(train, indices: Array(0..<Swift.max(o.batchSize, Int(Double(train.count) * fraction))))
                let loader = DataLoader(subset, batchSize: o.batchSize, dropLast: true, seed: o.seed, transform: trainTransform)
                let recipe = SupervisedRecipe(model: model, options: OptimizationOptions(learningRate: isViT ? 4e-3 : 1.2e-2, warmupEpochs: 1,
                                                                                       weightDecay: 0.05, weightDecayEnd: 0.05, clipGradient: 3, labelSmoothing: 0.1),
                                              epochs: o.supervisedEpochs, iterationsPerEpoch: loader.batchCount, batchSize: o.batchSize)
                log("  \(kind) supervised on \(subset.count) images (\(Int(fraction * 100))%), \(o.supervisedEpochs) epochs")
                let loop = TrainingLoop(recipe: recipe, loader: loader,
                                        options: TrainingOptions(epochs: o.supervisedEpochs, log: o.output.appendingPathComponent("\(kind.lowercased())-supervised-\(Int(fraction * 100)).jsonl")),
                                        observer: observer)
                let history = try loop.run()
                model.eval()
                let (features, labels) = try Evaluation.features(of: test, transform: normalize) { model($0) }
                summary.supervisedAccuracy.append(Evaluation.accuracy(logits: features, labels: labels))
                log("    top-1 \(percent(summary.supervisedAccuracy.last!))")
                if fraction == o.fractions.last {
                    summary.supervisedLosses = history.map(\.loss)
                    summary.supervisedSeconds = loop.trainingSeconds
                    summary.supervisedImagesPerSecond = Double(history.count * o.batchSize) / Swift.max(loop.trainingSeconds, 1e-9)
                    if isViT { supervisedViT = model as? VisionTransformer }
                }
            }
            // DINO pre-training on the whole training set without labels.
            Random.seed(o.seed &+ 20 &+ UInt64(index))
            let localSize = Swift.max(o.vit.patchSize * 2, o.imageSize / 2)
            let localCrops = o.localCrops
            // Shapes' classes ignore orientation, so the views also differ by a rotation (DINO has none).
            let augmentation = DINOAugmentation(globalSize: o.imageSize, localSize: localSize, localCrops: localCrops,
                                                globalScale: 0.4...1, localScale: 0.1...0.4, normalize: normalize,
                                                rotation: masks == nil ? 0 : 180)
            let loader = DataLoader(train, batchSize: o.batchSize, dropLast: true, seed: o.seed &+ 1, views: augmentation)
            let featureDim = (sample as? ResNet)?.featureDim ?? o.vit.embedDim
            let recipe = DINORecipe(makeBackbone: { isViT ? makeViT(classes: 0) : makeResNet(classes: 0) }, featureDim: featureDim,
                                    outDim: 256, headHidden: 512, headBottleneck: 128, crops: 2 + localCrops, epochs: o.dinoEpochs,
                                    iterationsPerEpoch: loader.batchCount, batchSize: o.batchSize,
                                    options: OptimizationOptions(learningRate: 1e-2, minLearningRate: 1e-5,
                                                                 warmupEpochs: Swift.max(1, o.dinoEpochs / 10), weightDecay: 0.04, weightDecayEnd: 0.4),
                                    // A sharper teacher than ImageNet's 0.04 → 0.07: at this scale 0.07 collapses to uniform.
                                    teacherMomentum: 0.99, warmupTeacherTemperature: 0.04, teacherTemperature: 0.02,
                                    warmupTeacherEpochs: Swift.max(1, o.dinoEpochs / 3))
            log("  \(kind) DINO pre-training: \(o.dinoEpochs) epochs, 2 × \(o.imageSize)² + \(localCrops) × \(localSize)² crops")
            let loop = TrainingLoop(recipe: recipe, loader: loader,
                                    options: TrainingOptions(epochs: o.dinoEpochs, checkpoint: o.output.appendingPathComponent("\(kind.lowercased())-dino.safetensors"),
                                                             log: o.output.appendingPathComponent("\(kind.lowercased())-dino.jsonl")),
                                    observer: observer)
            // The teacher's k-NN accuracy during pre-training; the last evaluation is the final result.
            let backbone = recipe.teacher.backbone
            var last: (train: (features: Tensor, labels: Tensor), test: (features: Tensor, labels: Tensor), knn: Evaluation.KNNResult)?
            loop.evaluation = (Swift.max(1, o.dinoEpochs / 4), { _ in
                backbone.eval()
                let trainFeatures = try Evaluation.features(of: train, transform: normalize) { backbone($0) }
                let testFeatures = try Evaluation.features(of: test, transform: normalize) { backbone($0) }
                let knn = Evaluation.knn(train: trainFeatures, test: testFeatures, classes: classes)
                last = (trainFeatures, testFeatures, knn)
                return ["knn_top1": knn.top1]
            })
            let history = try loop.run()
            summary.dinoLosses = history.map(\.loss)
            summary.dinoKNNCurve = loop.evaluations.map { [Double($0.epoch), $0.metrics["knn_top1"] ?? .nan] }
            // The floor DINO must beat: the same network at random initialisation, the teacher
            // before its first step (a second random draw of the ResNet differs by up to 10 points).
            summary.randomKNN = summary.dinoKNNCurve.first { $0[0] == 0 }?[1] ?? .nan
            summary.dinoSeconds = loop.trainingSeconds
            summary.dinoImagesPerSecond = Double(history.count * o.batchSize) / Swift.max(loop.trainingSeconds, 1e-9)
            guard let last else { fatalError("the loop evaluates after the last epoch") }
            let knn = last.knn
            (summary.dinoKNN, summary.dinoKNNTop5) = (knn.top1, knn.top5)
            summary.dinoLinear = Evaluation.linearProbe(train: last.train, test: last.test, classes: classes, epochs: o.quick ? 30 : 60)
            log("    k-NN top-1 \(percent(knn.top1)) (random init \(percent(summary.randomKNN))), linear \(percent(summary.dinoLinear))")
            if isViT { dinoViT = backbone as? VisionTransformer }
            summaries.append(summary)
        }

        var result = CompareResult(dataset: name, trainCount: train.count, testCount: test.count, classes: classes, imageSize: o.imageSize,
                                   fractions: o.fractions, vit: summaries[0], resnet: summaries[1], seconds: 0)
        // Attention masks against object masks (Shapes only): DINO, supervised and random ViTs.
        if let masks, let dinoViT {
            let count = Swift.min(200, test.count)
            let images = Tensor.stack(try (0..<count).map { normalize(try test.image(at: $0), seed: 0) })
            let objectMasks = Tensor.stack((0..<count).map { masks($0) })
            let dino = AttentionMaps.headJaccard(dinoViT, images: images, objectMasks: objectMasks)
            var best = ["DINO ViT": dino.best]
            if let supervisedViT { best["supervised ViT"] = AttentionMaps.headJaccard(supervisedViT, images: images, objectMasks: objectMasks).best }
            Random.seed(o.seed &+ 30)
            best["random-init ViT"] = AttentionMaps.headJaccard(makeViT(classes: 0), images: images, objectMasks: objectMasks).best
            (result.dinoJaccardPerHead, result.jaccardBest) = (dino.perHead, best)
            log("  attention Jaccard (best head): " + best.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.3f", $0.value))" }.joined(separator: ", "))
        }
        result.seconds = Date().timeIntervalSince(start)
        try Report.write(result, dinoViT: dinoViT, test: test, masks: masks, normalize: normalize, to: o.output)
        log("report: \(o.output.appendingPathComponent("report.md").path) (\(formatDuration(result.seconds)))")
        return result
    }

    static func datasets(_ o: CompareOptions) throws -> (AnyImageDataset, AnyImageDataset, String, ((Int) -> Tensor)?) {
        try ExperimentData.load(o.data, imageSize: o.imageSize, trainCount: o.trainCount, testCount: o.testCount, seed: o.seed,
                                hueSpread: o.hueSpread)
    }
}

