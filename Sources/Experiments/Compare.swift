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
    /// The DINO ViT's mean attention distance in pixels, [layer][head], over the scored test images,
    /// and that of attention spread evenly over the patches (the ViT paper's Figure 11).
    public var attentionDistance: [[Double]]?
    public var uniformAttentionDistance: Double?
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
        var run = Run(options: o, train: train, test: test, masks: masks, observer: nil, group: group, log: log)
        log("tessera compare: \(name), \(train.count) training / \(test.count) test images of "
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
        if let masks, let dinoViT {
            (result.dinoJaccardPerHead, result.jaccardBest)
                = try run.attentionStage(dino: dinoViT, supervised: supervisedViT, masks: masks)
        }
        if let dinoViT {
            let count = Swift.min(o.attention.images, test.count)
            let images = Tensor.stack(try (0..<count).map { run.normalize(try test.image(at: $0), seed: 0) })
            (result.attentionDistance, result.uniformAttentionDistance)
                = Report.meanAttentionDistances(dinoViT, images: images)
        }
        result.seconds = Date().timeIntervalSince(start)
        if group.isPrimary {
            try Report.write(result, dinoViT: dinoViT, test: test, masks: masks, normalize: run.normalize,
                             to: o.output)
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
        /// Images per step on each process.
        var localBatch: Int { o.batchSize / group.size }

        init(options: CompareOptions, train: AnyImageDataset, test: AnyImageDataset, masks: ((Int) -> Tensor)?,
             observer: (any TrainingObserver)?, group: ProcessGroup, log: @escaping (String) -> Void) {
            (o, self.train, self.test, self.masks, self.observer, self.group, self.log)
                = (options, train, test, masks, observer, group, log)
            classes = train.classes.count
        }

        /// Features of `dataset` gathered over the processes.
        func features<D: ImageDataset>(of dataset: D, _ extract: (Variable) -> Variable) throws
            -> (features: Tensor, labels: Tensor) {
            try Evaluation.features(of: dataset, transform: normalize, group: group, extract: extract)
        }

        func makeModel(isViT: Bool, classes: Int) -> Module {
            if isViT {
                var c = o.vit
                c.numClasses = classes
                return VisionTransformer(c)
            }
            var c = o.resnet
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
            let name = isViT ? "ViT (patch \(o.vit.patchSize), dim \(o.vit.embedDim), depth \(o.vit.depth))"
                : "ResNet (\(o.resnet.block.rawValue), \(o.resnet.layers.map(String.init).joined(separator: "-")), "
                    + "width \(o.resnet.width))"
            let sample = makeModel(isViT: isViT, classes: classes)
            sample.eval()
            let probe = Tensor.zeros([1, 3, o.imageSize, o.imageSize])
            let gflops = Double(FlopCounter.count { _ = noGrad { sample(Variable(probe)) } }) / 1e9
            return ModelSummary(name: name, parameters: sample.parameterCount(), gflops: gflops, supervisedAccuracy: [],
                                supervisedImagesPerSecond: 0, supervisedSeconds: 0, dinoImagesPerSecond: 0,
                                dinoSeconds: 0, randomKNN: 0, dinoKNN: 0, dinoKNNTop5: 0, dinoLinear: 0,
                                supervisedLosses: [], dinoLosses: [])
        }

        /// A supervised run's model, recipe and loader on the first `fraction` of the training set.
        func supervisedSetup(isViT: Bool, fraction: Double)
            -> (Module, SupervisedRecipe, DataLoader<Subset<AnyImageDataset>>) {
            let s = o.supervised
            let transform = Compose([RandomResizedCrop(o.imageSize, scale: s.cropScale),
                                     RandomHorizontalFlip(), normalize])
            let model = makeModel(isViT: isViT, classes: classes)
            let subset = Subset(train, indices: Array(0..<subsetCount(fraction)))
            var loader = DataLoader(subset, batchSize: localBatch, dropLast: true, seed: o.seed, transform: transform)
            loader.shard = group.dataShard
            let optimization = OptimizationOptions(learningRate: isViT ? s.vitLearningRate : s.resnetLearningRate,
                                                   warmupEpochs: s.warmupEpochs, weightDecay: s.weightDecay,
                                                   weightDecayEnd: s.weightDecay, clipGradient: s.clipGradient,
                                                   labelSmoothing: s.labelSmoothing)
            let recipe = SupervisedRecipe(model: model, options: optimization, epochs: s.epochs,
                                          iterationsPerEpoch: loader.batchCount, batchSize: o.batchSize)
            return (model, recipe, loader)
        }

        /// Supervised runs on growing fractions of the training set (same epochs, so fewer steps on
        /// less data); returns the model trained on all of it.
        func supervisedStage(isViT: Bool, index: Int, into summary: inout ModelSummary) throws -> Module? {
            let s = o.supervised
            var full: Module?
            for fraction in s.fractions {
                Random.seed(o.seed &+ UInt64(index))
                let (model, recipe, loader) = supervisedSetup(isViT: isViT, fraction: fraction)
                let subset = loader.dataset
                log("  \(kind(isViT)) supervised on \(subset.count) images (\(Int(fraction * 100))%), "
                    + "\(s.epochs) epochs")
                let logFile = o.output
                    .appendingPathComponent("\(kind(isViT).lowercased())-supervised-\(Int(fraction * 100)).jsonl")
                let loop = TrainingLoop(recipe: recipe, loader: loader,
                                        options: TrainingOptions(epochs: s.epochs, log: logFile),
                                        observer: observer, group: group)
                let history = try loop.run()
                model.eval()
                let (logits, labels) = try features(of: test) { model($0) }
                summary.supervisedAccuracy.append(Evaluation.accuracy(logits: logits, labels: labels))
                log("    top-1 \(percent(summary.supervisedAccuracy.last!))")
                if fraction == s.fractions.last {
                    summary.supervisedLosses = history.map(\.loss)
                    summary.supervisedSeconds = loop.trainingSeconds
                    summary.supervisedImagesPerSecond = Double(history.count * o.batchSize)
                        / Swift.max(loop.trainingSeconds, 1e-9)
                    full = model
                }
            }
            return full
        }

        /// DINO's recipe and multi-crop loader over the whole training set.
        func dinoSetup(isViT: Bool) -> (DINORecipe, DataLoader<AnyImageDataset>) {
            let d = o.dino
            let localSize = Swift.max(o.vit.patchSize * 2, o.imageSize / 2)
            let augmentation = DINOAugmentation(globalSize: o.imageSize, localSize: localSize, localCrops: d.localCrops,
                                                globalScale: d.globalScale, localScale: d.localScale,
                                                normalize: normalize, rotation: masks == nil ? 0 : d.rotationOnShapes)
            var loader = DataLoader(train, batchSize: localBatch, dropLast: true, seed: o.seed &+ 1,
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
            let localSize = Swift.max(o.vit.patchSize * 2, o.imageSize / 2)
            log("  \(kind(isViT)) DINO pre-training: \(d.epochs) epochs, "
                + "2 × \(o.imageSize)² + \(d.localCrops) × \(localSize)² crops")
            let name = kind(isViT).lowercased()
            let options = TrainingOptions(epochs: d.epochs,
                                          checkpoint: o.output.appendingPathComponent("\(name)-dino.safetensors"),
                                          log: o.output.appendingPathComponent("\(name)-dino.jsonl"))
            let loop = TrainingLoop(recipe: recipe, loader: loader, options: options, observer: observer, group: group)
            // The teacher's k-NN accuracy during pre-training; the last evaluation is the final result.
            let backbone = recipe.teacher.backbone
            // The attention stage's images and masks, scored at every evaluation to show the trend.
            let scoring = try isViT ? masks.map { masks in
                let count = Swift.min(o.attention.images, test.count)
                return (images: Tensor.stack(try (0..<count).map { normalize(try test.image(at: $0), seed: 0) }),
                        masks: Tensor.stack((0..<count).map { masks($0) }))
            } : nil
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

        /// Attention maps against object masks: the DINO, supervised and random-init ViTs' best heads.
        func attentionStage(dino: VisionTransformer, supervised: VisionTransformer?,
                            masks: (Int) -> Tensor) throws -> (perHead: [Double], best: [String: Double]) {
            let count = Swift.min(o.attention.images, test.count)
            let images = Tensor.stack(try (0..<count).map { normalize(try test.image(at: $0), seed: 0) })
            let objectMasks = Tensor.stack((0..<count).map { masks($0) })
            let scores = AttentionMaps.headJaccard(dino, images: images, objectMasks: objectMasks)
            var best = ["DINO ViT": scores.best]
            if let supervised {
                best["supervised ViT"] = AttentionMaps.headJaccard(supervised, images: images,
                                                                   objectMasks: objectMasks).best
            }
            Random.seed(o.seed &+ 30)
            let random = makeModel(isViT: true, classes: 0) as! VisionTransformer
            best["random-init ViT"] = AttentionMaps.headJaccard(random, images: images, objectMasks: objectMasks).best
            log("  attention Jaccard (best head): "
                + best.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.3f", $0.value))" }
                    .joined(separator: ", "))
            return (scores.perHead, best)
        }
    }

    static func datasets(_ o: CompareOptions) throws -> (AnyImageDataset, AnyImageDataset, String, ((Int) -> Tensor)?) {
        try ExperimentData.load(o.data, imageSize: o.imageSize, trainCount: o.trainCount, testCount: o.testCount,
                                seed: o.seed, hueSpread: o.hueSpread)
    }
}

