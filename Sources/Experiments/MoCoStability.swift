import Autograd
import Foundation
import NN
import Tensor
import Training
import Vision
import Zoo

/// Finding e, MoCo v3's Figures 1 and 5 in miniature: MoCo v3 on the ViT at a high learning rate,
/// with the patch projection learnt and frozen at its random initialisation (the paper's fix).
public struct StabilityResult: Codable, Sendable {
    public struct Run: Codable, Sendable {
        /// "learnt" or "frozen random".
        public var patchProjection: String
        /// k-NN top-1 of the base encoder's features as [epoch, accuracy] pairs (epoch 0: initialisation).
        public var knnCurve: [[Double]]
        public var losses: [Double]
        public var seconds: Double
        /// The largest fall of k-NN top-1 below its best so far, in points: a dip the curve recovers from or not.
        public var largestKNNDrop: Double {
            var best = -Double.infinity, drop = 0.0
            for point in knnCurve {
                best = Swift.max(best, point[1])
                drop = Swift.max(drop, (best - point[1]) * 100)
            }
            return drop
        }
        /// The largest rise of the loss (averaged over windows of 10 steps) above its lowest value so far.
        public var largestLossRise: Double {
            var lowest = Double.infinity, rise = 0.0
            for start in stride(from: 0, to: losses.count - 9, by: 10) {
                let mean = losses[start..<(start + 10)].reduce(0, +) / 10
                lowest = Swift.min(lowest, mean)
                rise = Swift.max(rise, mean - lowest)
            }
            return rise
        }

        enum CodingKeys: String, CodingKey { case patchProjection, knnCurve, losses, seconds }
        /// Written beside the stored numbers so that results.json holds the figures the report prints; never read back.
        enum DerivedKeys: String, CodingKey { case largestKNNDrop, largestLossRise }

        public func encode(to encoder: any Encoder) throws {
            var stored = encoder.container(keyedBy: CodingKeys.self)
            try stored.encode(patchProjection, forKey: .patchProjection)
            try stored.encode(knnCurve, forKey: .knnCurve)
            try stored.encode(losses, forKey: .losses)
            try stored.encode(seconds, forKey: .seconds)
            var derived = encoder.container(keyedBy: DerivedKeys.self)
            try derived.encode(largestKNNDrop, forKey: .largestKNNDrop)
            try derived.encode(largestLossRise, forKey: .largestLossRise)
        }
    }

    /// AdamW's peak learning rate as given (per 256 images) and the batch size.
    public var learningRate: Double
    public var batchSize: Int
    public var trainImages: Int
    public var runs: [Run]
}

extension Compare.Run {
    /// MoCo v3's recipe and two-view loader over the first `stability.trainImages` images, with the
    /// ViT's patch projection frozen at its random initialisation (MoCo v3's default) or learnt.
    func mocoSetup(frozenPatchProjection frozen: Bool) -> (MoCoV3Recipe, DataLoader<Subset<AnyImageDataset>>) {
        let st = o.stability
        var config = o.vit
        config.imageSize = o.imageSize
        let model = MoCoV3Model(vit: config, dim: o.dino.headBottleneck, mlpDim: o.dino.headHidden)
        if !frozen { model.baseEncoder.freeze("patch_embed", false) }
        let images = Subset(train, indices: Array(0..<Swift.min(train.count, st.trainImages)))
        var loader = DataLoader(images, batchSize: localBatch, dropLast: true, seed: o.seed &+ 2,
                                views: MoCoV3Augmentation(size: o.imageSize, scale: o.dino.globalScale,
                                                          normalize: normalize))
        loader.shard = group.dataShard
        // MoCo v3's ViT settings: AdamW, weight decay 0.1, a warm-up of a tenth of the run, no clipping.
        let optimization = OptimizationOptions(learningRate: st.learningRate, minLearningRate: 0,
                                               warmupEpochs: Swift.max(1, st.epochs / 10), weightDecay: 0.1,
                                               weightDecayEnd: 0.1, clipGradient: 0)
        let recipe = MoCoV3Recipe(model: model, epochs: st.epochs, iterationsPerEpoch: loader.batchCount,
                                  batchSize: o.batchSize, options: optimization, momentum: st.momentum,
                                  temperature: st.temperature)
        return (recipe, loader)
    }

    /// Both MoCo v3 runs from the same initialisation, with k-NN after every epoch.
    func stabilityStage() throws -> StabilityResult {
        let st = o.stability
        var runs: [StabilityResult.Run] = []
        for frozen in [false, true] {
            Random.seed(o.seed &+ 40)
            let (recipe, loader) = mocoSetup(frozenPatchProjection: frozen)
            let name = frozen ? "frozen random" : "learnt"
            log("  MoCo v3 ViT, \(name) patch projection: \(st.epochs) epochs on \(loader.dataset.count) images, "
                + "lr \(st.learningRate) per 256")
            let file = "mocov3-\(frozen ? "frozen" : "learnt")-patch-projection.jsonl"
            let loop = TrainingLoop(recipe: recipe, loader: loader,
                                    options: TrainingOptions(epochs: st.epochs,
                                                             log: o.output.appendingPathComponent(file)),
                                    observer: observer, group: group)
            let model = recipe.model
            loop.evaluation = (1, { _ in
                model.eval()
                let bank = try features(of: loader.dataset) { model.features($0) }
                let queries = try features(of: test) { model.features($0) }
                return ["knn_top1": Evaluation.knn(train: bank, test: queries, classes: classes).top1]
            })
            let history = try loop.run()
            let run = StabilityResult.Run(
                patchProjection: name,
                knnCurve: loop.evaluations.map { [Double($0.epoch), $0.metrics["knn_top1"] ?? .nan] },
                losses: history.map(\.loss), seconds: loop.trainingSeconds)
            log("    k-NN top-1 \(percent(run.knnCurve.last?[1] ?? .nan)), largest dip "
                + String(format: "%.1f points", run.largestKNNDrop))
            runs.append(run)
        }
        return StabilityResult(learningRate: st.learningRate, batchSize: o.batchSize,
                               trainImages: Swift.min(train.count, st.trainImages), runs: runs)
    }
}

extension Report {
    /// k-NN during MoCo v3 training, one line per patch projection (the papers' Figure 1 and 5 axes).
    static func stabilityKNNChart(_ r: StabilityResult) -> LineChart {
        LineChart(title: "MoCo v3 ViT at a high learning rate: k-NN top-1 during training", xLabel: "epoch",
                  yLabel: "k-NN top-1 (%)",
                  series: r.runs.map { run in
                      LineChart.Series("\(run.patchProjection) patch projection",
                                       run.knnCurve.map { ($0[0], $0[1] * 100) })
                  },
                  yRange: 0...100, width: 620)
    }

    static func stabilityLossChart(_ r: StabilityResult) -> LineChart {
        LineChart(title: "MoCo v3 training loss", xLabel: "step", yLabel: "contrastive loss",
                  series: r.runs.map { curve("\($0.patchProjection) patch projection", $0.losses) }, width: 620)
    }

    static func stabilitySection(_ r: StabilityResult) -> String {
        guard let first = r.runs.first else { return "" }
        var s = """

        ## MoCo v3 stability

        MoCo v3 on the ViT, \(r.trainImages) images, batch \(r.batchSize), AdamW at a peak learning rate of \
        \(r.learningRate) per 256 images, with the patch projection learnt and frozen at its random \
        initialisation; k-NN top-1 of the encoder's features after every epoch:

        | epoch | \(r.runs.map { "\($0.patchProjection) projection" }.joined(separator: " | ")) |
        |---|\(String(repeating: "---|", count: r.runs.count))

        """
        for (k, point) in first.knnCurve.enumerated() {
            s += "| \(Int(point[0])) | "
                + r.runs.map { k < $0.knnCurve.count ? percent($0.knnCurve[k][1]) : "" }.joined(separator: " | ")
                + " |\n"
        }
        s += "\n| patch projection | largest k-NN dip (points) | largest loss rise | final k-NN top-1 |\n"
            + "|---|---|---|---|\n"
        for run in r.runs {
            s += "| \(run.patchProjection) | \(String(format: "%.1f", run.largestKNNDrop)) | "
                + "\(String(format: "%.3f", run.largestLossRise)) | \(percent(run.knnCurve.last?[1] ?? .nan)) |\n"
        }
        return s + "\n" + stabilityFinding(r) + "\n"
    }

    /// Whether the learnt projection's run dips where the frozen one's does not (by at least 2 points).
    static func stabilityFinding(_ r: StabilityResult) -> String {
        guard let learnt = r.runs.first(where: { $0.patchProjection == "learnt" }),
              let frozen = r.runs.first(where: { $0.patchProjection != "learnt" }) else { return "" }
        let (a, b) = (learnt.largestKNNDrop, frozen.largestKNNDrop)
        let final = ((frozen.knnCurve.last?[1] ?? 0) - (learnt.knnCurve.last?[1] ?? 0)) * 100
        let verdict: String
        if a < b + 2 {
            verdict = "This run does not show MoCo v3's finding that training with a learnt patch projection is "
                + "unstable and that freezing it at random removes the dips (the learnt run's dips are not 2 points "
                + "deeper)."
        } else {
            verdict = "This run shows MoCo v3's finding in miniature: training with a learnt patch projection is "
                + "less stable, its dips at least 2 points deeper than with the projection frozen at random"
                + (b >= 2 ? String(format: ", though freezing reduces the dips here rather than removing them "
                                   + "(%.1f points remain).", b)
                          : ", and freezing removes them.")
        }
        return String(format: "With the learnt patch projection k-NN top-1 dips by up to %.1f points during training; "
                      + "with the frozen random one by up to %.1f, and it ends %.1f points %@. ", a, b,
                      Swift.abs(final), final >= 0 ? "higher" : "lower") + verdict
    }
}
