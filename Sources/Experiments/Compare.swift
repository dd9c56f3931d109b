import Autograd
import Distributed
import Foundation
import NN
import Tensor
import Training
import Vision
import Zoo

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
    /// Linear probes on the final DINO teacher's frozen features, trained on the labels of each
    /// supervised subset (the same images the supervised runs learnt from): label efficiency.
    public var dinoLinearPerSubset: [Double] = []
    /// The DINO ViT's best-head attention Jaccard against the objects' masks at each k-NN evaluation,
    /// as [epoch, Jaccard] pairs (empty for the ResNet and for data without masks).
    public var dinoJaccardCurve: [[Double]] = []
    /// The supervised ViT's mean attention distance in pixels after each data-scaling run,
    /// [fraction][layer][head] (empty for the ResNet): whether local heads come with data.
    public var supervisedAttentionDistance: [[[Double]]] = []
}

/// Everything `tessera compare` measured.
public struct CompareResult: Codable, Sendable {
    public var dataset: String
    public var trainCount: Int, testCount: Int, classes: Int, imageSize: Int
    public var fractions: [Double]
    /// Labelled images of each supervised subset (a fraction of the training set, at least one batch).
    public var subsetCounts: [Int] = []
    public var vit: ModelSummary
    public var resnet: ModelSummary
    /// Mean Jaccard of thresholded attention masks with object masks: per head of the DINO ViT, and best heads.
    public var dinoJaccardPerHead: [Double]?
    public var jaccardBest: [String: Double]?
    /// Each ViT's class-token attention entropy per head in the last block (nats), by the names of
    /// `jaccardBest`, and that of attention spread evenly over the patches (log of their count).
    public var classAttentionEntropy: [String: [Double]]?
    public var uniformEntropy: Double?
    /// The DINO ViT's mean attention distance in pixels, [layer][head], over the scored test images,
    /// and that of attention spread evenly over the patches (the ViT paper's Figure 11).
    public var attentionDistance: [[Double]]?
    public var uniformAttentionDistance: Double?
    /// Finding b: accuracy against training compute (`--full`).
    public var computeScaling: ComputeScalingResult?
    /// Finding e: MoCo v3 with a learnt against a frozen random patch projection (`--full`).
    public var stability: StabilityResult?
    /// Supervised steps of every data-scaling run (nil: equal epochs).
    public var supervisedSteps: Int?
    public var seconds: Double
}

/// The main experiment: a small ViT against a small ResNet of similar size, supervised on growing
/// fractions of the training set (the ViT paper's data-scaling finding in miniature), then both
/// pre-trained with DINO and evaluated by k-NN and a linear probe, with the ViT's DINO attention
/// scored against the objects' masks. Writes `report.md` and figures into the output folder.
/// Its settings are ``CompareOptions``.
public enum Compare {
    /// Runs the whole comparison and writes the report; returns the numbers.
    /// `observer` is told of every training step of every run (the CLI draws its progress bar from it);
    /// `log` receives one line per stage.
    ///
    /// With a distributed `group` (`mpirun -np N tessera compare`) every stage trains data-parallel
    /// with the same global batch (`batchSize / N` images per process) and evaluates on gathered
    /// features, so the report is that of one process, sooner; rank 0 writes the files.
    public static func run(_ options: CompareOptions, observer: (any TrainingObserver)? = nil,
                           group: ProcessGroup = .single,
                           log: @escaping (String) -> Void = { _ in }) throws -> CompareResult {
        try options.validate()
        try ConfigurationError.require(options.batchSize % group.size == 0, "batch-size", options.batchSize,
                                       "must divide by the \(group.size) processes (each takes an equal share)")
        let start = Date()
        try FileManager.default.createDirectory(at: options.output, withIntermediateDirectories: true)
        var o = options
        o.vit.imageSize = o.imageSize
        let (train, test, name, masks) = try datasets(o)
        try ConfigurationError.require(train.count >= o.batchSize, "data", "\(train.count) training images",
                                       "needs at least the batch size \(o.batchSize)")
        var run = try Run(options: o, train: train, test: test, masks: masks, observer: nil, group: group, log: log)
        log("tessera compare (\(o.mode.rawValue)): \(name), \(train.count) training / \(test.count) test images of "
            + "\(o.imageSize)×\(o.imageSize), \(run.classes) classes")
        let plan = try run.plan()
        log("expected time: about \(formatDuration(plan.expectedSeconds)) on this machine "
            + "(\(plan.stages.count) training runs of \(plan.stages.reduce(0) { $0 + $1.steps }) steps, "
            + "each kind timed over its first steps)")
        run.observer = observer.map { CompareProgress(inner: $0, plan: plan) }
        var summaries: [ModelSummary] = []
        var dinoViT: VisionTransformer?, supervisedViT: VisionTransformer?
        for (index, isViT) in [true, false].enumerated() {
            var summary = run.summary(isViT: isViT)
            let supervised = try run.supervisedStage(isViT: isViT, index: index, into: &summary)
            let teacher = try run.dinoStage(isViT: isViT, index: index, into: &summary)
            if isViT { (supervisedViT, dinoViT) = (supervised as? VisionTransformer, teacher as? VisionTransformer) }
            summaries.append(summary)
        }
        var result = CompareResult(dataset: name, trainCount: train.count, testCount: test.count, classes: run.classes,
                                   imageSize: o.imageSize, fractions: o.supervised.fractions, vit: summaries[0],
                                   resnet: summaries[1], seconds: 0)
        result.subsetCounts = o.supervised.fractions.map(run.subsetCount)
        result.supervisedSteps = o.supervised.steps
        if let scored = run.scored, let dinoViT {
            (result.dinoJaccardPerHead, result.jaccardBest, result.classAttentionEntropy)
                = run.attentionStage(dino: dinoViT, supervised: supervisedViT, scored: scored)
            let grid = o.imageSize / o.vit.patchSize
            result.uniformEntropy = Foundation.log(Double(grid * grid))  // `log` here is the line logger
        }
        if let dinoViT {
            (result.attentionDistance, result.uniformAttentionDistance)
                = Report.meanAttentionDistances(dinoViT, images: run.scoredImages)
        }
        var finestViT: VisionTransformer?
        if !o.compute.vits.isEmpty || !o.compute.resnets.isEmpty {
            (result.computeScaling, finestViT) = try run.computeStage(main: (result.vit, result.resnet))
        }
        if o.stability.enabled { result.stability = try run.stabilityStage() }
        result.seconds = Date().timeIntervalSince(start)
        if group.isPrimary {
            try Report.write(result, dinoViT: dinoViT, finestViT: finestViT, test: test, masks: masks,
                             normalize: run.normalize, to: o.output)
        }
        log("report: \(o.output.appendingPathComponent("report.md").path) (\(formatDuration(result.seconds)))")
        return result
    }

    /// One comparison's data, settings and models; each stage is one method.
    struct Run {
        let o: CompareOptions
        let train: AnyImageDataset, test: AnyImageDataset
        let masks: ((Int) -> Tensor)?
        var observer: (any TrainingObserver)?
        let group: ProcessGroup
        let log: (String) -> Void
        let classes: Int
        let normalize = ExperimentData.normalize
        /// The first test images, normalised: the attention maps' scoring set (Jaccard, distances).
        let scoredImages: Tensor
        /// Those images with their object masks, when the data has masks.
        var scored: (images: Tensor, masks: Tensor)? { scoredMasks.map { (scoredImages, $0) } }
        private let scoredMasks: Tensor?
        /// Images per step on each process.
        var localBatch: Int { o.batchSize / group.size }

        init(options: CompareOptions, train: AnyImageDataset, test: AnyImageDataset, masks: ((Int) -> Tensor)?,
             observer: (any TrainingObserver)?, group: ProcessGroup, log: @escaping (String) -> Void) throws {
            (o, self.train, self.test, self.masks, self.observer, self.group, self.log)
                = (options, train, test, masks, observer, group, log)
            classes = train.classes.count
            let count = Swift.min(options.attention.images, test.count)
            let normalize = ExperimentData.normalize
            scoredImages = Tensor.stack(try (0..<count).map { normalize(try test.image(at: $0), seed: 0) })
            scoredMasks = masks.map { masks in Tensor.stack((0..<count).map { masks($0) }) }
        }

        /// Features of `dataset` gathered over the processes.
        func features<D: ImageDataset>(of dataset: D, _ extract: (Variable) -> Variable) throws
            -> (features: Tensor, labels: Tensor) {
            try Evaluation.features(of: dataset, transform: normalize, group: group, extract: extract)
        }

        func makeModel(isViT: Bool, classes: Int) -> Module {
            isViT ? makeViT(o.vit, classes: classes) : makeResNet(o.resnet, classes: classes)
        }

        func makeViT(_ config: ViTConfig, classes: Int) -> VisionTransformer {
            var c = config
            (c.imageSize, c.numClasses) = (o.imageSize, classes)
            return VisionTransformer(c)
        }

        func makeResNet(_ config: ResNetConfig, classes: Int) -> ResNet {
            var c = config
            c.numClasses = classes
            return ResNet(c)
        }

        func kind(_ isViT: Bool) -> String { isViT ? "ViT" : "ResNet" }

        /// The first images of the training set that a supervised subset holds: at least one batch.
        func subsetCount(_ fraction: Double) -> Int {
            Swift.min(train.count, Swift.max(o.batchSize, Int(Double(train.count) * fraction)))
        }

        /// The model's name, size and cost, before any training.
        func summary(isViT: Bool) -> ModelSummary {
            let sample = makeModel(isViT: isViT, classes: classes)
            return ModelSummary(name: isViT ? describe(o.vit) : describe(o.resnet),
                                parameters: sample.parameterCount(), gflops: forwardGFLOPs(sample),
                                supervisedAccuracy: [], supervisedImagesPerSecond: 0, supervisedSeconds: 0,
                                dinoImagesPerSecond: 0, dinoSeconds: 0, randomKNN: 0, dinoKNN: 0, dinoKNNTop5: 0,
                                dinoLinear: 0, supervisedLosses: [], dinoLosses: [])
        }

        /// The loader of a supervised run on the first `fraction` of the training set.
        func supervisedLoader(fraction: Double) -> DataLoader<Subset<AnyImageDataset>> {
            let transform = Compose([RandomResizedCrop(o.imageSize, scale: o.supervised.cropScale),
                                     RandomHorizontalFlip(), normalize])
            let subset = Subset(train, indices: Array(0..<subsetCount(fraction)))
            var loader = DataLoader(subset, batchSize: localBatch, dropLast: true, seed: o.seed, transform: transform)
            loader.shard = group.dataShard
            return loader
        }

        /// Steps of a supervised run whose loader has `batchCount` batches an epoch.
        func supervisedSteps(batchCount: Int) -> Int { o.supervised.steps ?? o.supervised.epochs * batchCount }

        /// A supervised run of `model` on the first `fraction` of the training set: its recipe, loader
        /// and loop options. With equal steps the schedule spans exactly those steps (its epochs are
        /// `supervised.epochs` slices of them) and the loop stops there, mid-epoch if need be.
        func supervisedSetup(_ model: Module, isViT: Bool, fraction: Double, log: URL?)
            -> (SupervisedRecipe, DataLoader<Subset<AnyImageDataset>>, TrainingOptions) {
            let s = o.supervised
            let loader = supervisedLoader(fraction: fraction)
            let steps = supervisedSteps(batchCount: loader.batchCount)
            let optimization = OptimizationOptions(learningRate: isViT ? s.vitLearningRate : s.resnetLearningRate,
                                                   warmupEpochs: s.warmupEpochs, weightDecay: s.weightDecay,
                                                   weightDecayEnd: s.weightDecay, clipGradient: s.clipGradient,
                                                   labelSmoothing: s.labelSmoothing)
            let perEpoch = s.steps == nil ? loader.batchCount : (steps + s.epochs - 1) / s.epochs
            let recipe = SupervisedRecipe(model: model, options: optimization, epochs: s.epochs,
                                          iterationsPerEpoch: perEpoch, batchSize: o.batchSize)
            let epochs = (steps + loader.batchCount - 1) / loader.batchCount
            let options = TrainingOptions(epochs: epochs, log: log, stopAfter: s.steps == nil ? nil : steps)
            return (recipe, loader, options)
        }

        /// Trains `model` supervised on the first `fraction` of the training set and returns its test
        /// top-1 and the loop (for its losses and time).
        func trainSupervised(_ model: Module, isViT: Bool, fraction: Double, log logFile: URL?) throws
            -> (accuracy: Double, history: [StepRecord], seconds: Double) {
            let (recipe, loader, options) = supervisedSetup(model, isViT: isViT, fraction: fraction, log: logFile)
            let loop = TrainingLoop(recipe: recipe, loader: loader, options: options, observer: observer, group: group)
            let history = try loop.run()
            model.eval()
            let (logits, labels) = try features(of: test) { model($0) }
            return (Evaluation.accuracy(logits: logits, labels: labels), history, loop.trainingSeconds)
        }

        /// Supervised runs on growing fractions of the training set (same epochs, so fewer steps on
        /// less data); returns the model trained on all of it.
        func supervisedStage(isViT: Bool, index: Int, into summary: inout ModelSummary) throws -> Module? {
            let s = o.supervised
            var full: Module?
            for fraction in s.fractions {
                Random.seed(o.seed &+ UInt64(index))
                let model = makeModel(isViT: isViT, classes: classes)
                let count = subsetCount(fraction)
                log("  \(kind(isViT)) supervised on \(count) images (\(String(format: "%g", fraction * 100))%), "
                    + (s.steps.map { "\($0) steps" } ?? "\(s.epochs) epochs"))
                let logFile = o.output.appendingPathComponent("\(kind(isViT).lowercased())-supervised-\(count).jsonl")
                let run = try trainSupervised(model, isViT: isViT, fraction: fraction, log: logFile)
                summary.supervisedAccuracy.append(run.accuracy)
                log("    top-1 \(percent(run.accuracy))")
                if let vit = model as? VisionTransformer {
                    let (distances, uniform) = Report.meanAttentionDistances(vit, images: scoredImages)
                    summary.supervisedAttentionDistance.append(distances)
                    log("    mean attention distance per layer (px, uniform \(String(format: "%.1f", uniform))): "
                        + distances.map { $0.map { String(format: "%.1f", $0) }.joined(separator: "/") }
                            .joined(separator: ", "))
                }
                if fraction == s.fractions.last {
                    summary.supervisedLosses = run.history.map(\.loss)
                    summary.supervisedSeconds = run.seconds
                    summary.supervisedImagesPerSecond = Double(run.history.count * o.batchSize)
                        / Swift.max(run.seconds, 1e-9)
                    full = model
                }
            }
            return full
        }

        /// DINO's recipe and multi-crop loader over the whole training set.
        func dinoSetup(isViT: Bool) -> (DINORecipe, DataLoader<Subset<AnyImageDataset>>) {
            let d = o.dino
            let augmentation = DINOAugmentation(globalSize: o.imageSize, localSize: o.dinoLocalCropSize,
                                                localCrops: d.localCrops, globalScale: d.globalScale,
                                                localScale: d.localScale, normalize: normalize,
                                                rotation: masks == nil ? 0 : d.rotationOnShapes)
            let images = Subset(train, indices: Array(0..<Swift.min(train.count, d.trainImages ?? train.count)))
            var loader = DataLoader(images, batchSize: localBatch, dropLast: true, seed: o.seed &+ 1,
                                    views: augmentation)
            loader.shard = group.dataShard
            let featureDim = isViT ? o.vit.embedDim : o.resnet.featureDim
            let optimization = OptimizationOptions(learningRate: d.learningRate, minLearningRate: d.minLearningRate,
                                                   warmupEpochs: Swift.max(1, d.epochs / 10),
                                                   weightDecay: d.weightDecay, weightDecayEnd: d.weightDecayEnd)
            let recipe = DINORecipe(makeBackbone: { makeModel(isViT: isViT, classes: 0) }, featureDim: featureDim,
                                    outDim: d.outDim, headHidden: d.headHidden, headBottleneck: d.headBottleneck,
                                    crops: 2 + d.localCrops, epochs: d.epochs, iterationsPerEpoch: loader.batchCount,
                                    batchSize: o.batchSize, options: optimization, teacherMomentum: d.teacherMomentum,
                                    warmupTeacherTemperature: d.warmupTeacherTemperature,
                                    teacherTemperature: d.teacherTemperature,
                                    warmupTeacherEpochs: Swift.max(1, d.epochs / 3))
            return (recipe, loader)
        }

        /// DINO pre-training on the whole training set without labels, with the teacher's k-NN
        /// accuracy during training and a linear probe at the end; returns the teacher's backbone.
        func dinoStage(isViT: Bool, index: Int, into summary: inout ModelSummary) throws -> Module {
            let d = o.dino
            Random.seed(o.seed &+ 20 &+ UInt64(index))
            let (recipe, loader) = dinoSetup(isViT: isViT)
            log("  \(kind(isViT)) DINO pre-training: \(d.epochs) epochs, "
                + "2 × \(o.imageSize)² + \(d.localCrops) × \(o.dinoLocalCropSize)² crops")
            let name = kind(isViT).lowercased()
            let options = TrainingOptions(epochs: d.epochs,
                                          checkpoint: o.output.appendingPathComponent("\(name)-dino.safetensors"),
                                          log: o.output.appendingPathComponent("\(name)-dino.jsonl"))
            let loop = TrainingLoop(recipe: recipe, loader: loader, options: options, observer: observer, group: group)
            // The teacher's k-NN accuracy during pre-training; the last evaluation is the final result.
            let backbone = recipe.teacher.backbone
            // The attention stage's images and masks, scored at every evaluation to show the trend.
            let scoring = isViT ? scored : nil
            var last: (train: (features: Tensor, labels: Tensor), test: (features: Tensor, labels: Tensor),
                       knn: Evaluation.KNNResult)?
            loop.evaluation = (Swift.max(1, d.epochs / 4), { _ in
                backbone.eval()
                let trainFeatures = try features(of: train) { backbone($0) }
                let testFeatures = try features(of: test) { backbone($0) }
                let knn = Evaluation.knn(train: trainFeatures, test: testFeatures, classes: classes)
                last = (trainFeatures, testFeatures, knn)
                guard let scoring, let vit = backbone as? VisionTransformer else { return ["knn_top1": knn.top1] }
                let jaccard = AttentionMaps.headJaccard(vit, images: scoring.images, objectMasks: scoring.masks).best
                return ["knn_top1": knn.top1, "jaccard_best": jaccard]
            })
            let history = try loop.run()
            summary.dinoLosses = history.map(\.loss)
            summary.dinoKNNCurve = loop.evaluations.map { [Double($0.epoch), $0.metrics["knn_top1"] ?? .nan] }
            summary.dinoJaccardCurve = loop.evaluations.compactMap { e in
                e.metrics["jaccard_best"].map { [Double(e.epoch), $0] }
            }
            // The floor DINO must beat: the same network at random initialisation, the teacher
            // before its first step (a second random draw of the ResNet differs by up to 10 points).
            summary.randomKNN = summary.dinoKNNCurve.first { $0[0] == 0 }?[1] ?? .nan
            summary.dinoSeconds = loop.trainingSeconds
            summary.dinoImagesPerSecond = Double(history.count * o.batchSize) / Swift.max(loop.trainingSeconds, 1e-9)
            guard let last else { fatalError("the loop evaluates after the last epoch") }
            (summary.dinoKNN, summary.dinoKNNTop5) = (last.knn.top1, last.knn.top5)
            summary.dinoLinear = Evaluation.linearProbe(train: last.train, test: last.test, classes: classes,
                                                        epochs: d.linearProbeEpochs)
            // Label efficiency: the same probe trained only on each supervised subset's labels, with
            // at least about 100 steps however few the images.
            summary.dinoLinearPerSubset = o.supervised.fractions.map { fraction in
                let n = subsetCount(fraction)
                let labelled = (last.train.features.slice(axis: 0, end: n), last.train.labels.slice(axis: 0, end: n))
                let epochs = Swift.max(d.linearProbeEpochs, 100 / ((n + 255) / 256))
                return Evaluation.linearProbe(train: labelled, test: last.test, classes: classes, epochs: epochs)
            }
            log("    k-NN top-1 \(percent(last.knn.top1)) (random init \(percent(summary.randomKNN))), "
                + "linear \(percent(summary.dinoLinear)); on the subsets' labels "
                + summary.dinoLinearPerSubset.map(percent).joined(separator: ", "))
            return backbone
        }

        /// Attention maps against object masks: the DINO, supervised and random-init ViTs' best heads, and
        /// how flat each ViT's maps are (class-token attention entropy per head).
        func attentionStage(dino: VisionTransformer, supervised: VisionTransformer?,
                            scored: (images: Tensor, masks: Tensor))
            -> (perHead: [Double], best: [String: Double], entropy: [String: [Double]]) {
            Random.seed(o.seed &+ 30)
            var vits = ["DINO ViT": dino, "random-init ViT": makeViT(o.vit, classes: 0)]
            if let supervised { vits["supervised ViT"] = supervised }
            let scores = vits.mapValues {
                AttentionMaps.headJaccard($0, images: scored.images, objectMasks: scored.masks)
            }
            let best = scores.mapValues(\.best)
            let entropy = vits.mapValues { AttentionMaps.classAttentionEntropy($0, images: scored.images) }
            log("  attention Jaccard (best head): "
                + best.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.3f", $0.value))" }
                    .joined(separator: ", "))
            return (scores["DINO ViT"]?.perHead ?? [], best, entropy)
        }
    }

    static func datasets(_ o: CompareOptions) throws -> (AnyImageDataset, AnyImageDataset, String, ((Int) -> Tensor)?) {
        try ExperimentData.load(o.data, imageSize: o.imageSize, trainCount: o.trainCount, testCount: o.testCount,
                                seed: o.seed, hueSpread: o.hueSpread)
    }
}

