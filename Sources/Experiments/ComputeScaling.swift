import Autograd
import Foundation
import NN
import Tensor
import Training
import Zoo

/// Finding b, the ViT paper's Figure 5 (right) in miniature: test top-1 against training compute
/// for several sizes of each family, every one trained supervised on all training images with the
/// data-scaling runs' recipe and steps (the main ViT and ResNet are those runs).
public struct ComputeScalingResult: Codable, Sendable {
    public struct Point: Codable, Sendable {
        /// "ViT" or "ResNet".
        public var family: String
        public var name: String
        public var parameters: Int
        /// Forward GFLOPs per image (`FlopCounter` in NN: a multiply-add counts two).
        public var gflops: Double
        /// Training compute in TFLOPs: three forward passes' FLOPs (forward and backward) per image seen.
        public var trainingTFLOPs: Double
        public var accuracy: Double
        public var seconds: Double
        /// A ViT's patch size (nil for a ResNet): the chart draws each patch size as its own line.
        public var patchSize: Int?

        /// Training TFLOPs and top-1 in percent.
        var chartPoint: (x: Double, y: Double) { (trainingTFLOPs, accuracy * 100) }
    }

    /// The finest-grid ViT of the family (finer than the main ViT's), for finding c: its mean
    /// attention distance in pixels, [layer][head], over the scored test images, and uniform attention's.
    public struct FineGrid: Codable, Sendable {
        public var name: String
        public var grid: Int
        public var distances: [[Double]]
        public var uniform: Double
    }

    public var points: [Point]
    /// Steps of every run (nil: the supervised epochs) and images per step.
    public var steps: Int?
    public var batchSize: Int
    public var finest: FineGrid?

    /// One family's points by compute.
    public func family(_ name: String) -> [Point] {
        points.filter { $0.family == name }.sorted { $0.trainingTFLOPs < $1.trainingTFLOPs }
    }
}

extension Compare.Run {
    /// The ViT's name in the report.
    func describe(_ c: ViTConfig) -> String { "ViT (patch \(c.patchSize), dim \(c.embedDim), depth \(c.depth))" }

    /// The ResNet's name in the report.
    func describe(_ c: ResNetConfig) -> String {
        "ResNet (\(c.block.rawValue), \(c.layers.map(String.init).joined(separator: "-")), width \(c.width))"
    }

    /// Trains the extra sizes of ``CompareOptions/ComputeScaling`` on all training images; the main
    /// models' points come from their data-scaling runs. Returns the points and the supervised ViT
    /// with the finest patch grid, when it is finer than the main ViT's (finding c's position embeddings).
    func computeStage(main: (vit: ModelSummary, resnet: ModelSummary)) throws
        -> (ComputeScalingResult, VisionTransformer?) {
        func tflops(gflops: Double, steps: Int) -> Double { 3 * gflops * Double(steps * o.batchSize) / 1e3 }
        var points = [(main.vit, "ViT"), (main.resnet, "ResNet")].map { m, family in
            ComputeScalingResult.Point(family: family, name: m.name, parameters: m.parameters, gflops: m.gflops,
                                       trainingTFLOPs: tflops(gflops: m.gflops, steps: m.supervisedLosses.count),
                                       accuracy: m.supervisedAccuracy.last ?? .nan, seconds: m.supervisedSeconds,
                                       patchSize: family == "ViT" ? o.vit.patchSize : nil)
        }
        var finest: VisionTransformer?
        let models: [(name: String, isViT: Bool, make: () -> Module)]
            = o.compute.vits.map { c in (describe(c), true, { makeViT(c, classes: classes) }) }
            + o.compute.resnets.map { c in (describe(c), false, { makeResNet(c, classes: classes) }) }
        for (k, m) in models.enumerated() {
            Random.seed(o.seed &+ 50 &+ UInt64(k))
            let model = m.make()
            let gflops = forwardGFLOPs(model)
            log("  \(m.name) supervised on all \(train.count) images (compute scaling)")
            let run = try trainSupervised(model, isViT: m.isViT, fraction: o.supervised.fractions.last ?? 1,
                                          log: o.output.appendingPathComponent("compute-\(k + 1).jsonl"))
            log("    top-1 \(percent(run.accuracy))")
            let vit = model as? VisionTransformer
            points.append(.init(family: m.isViT ? "ViT" : "ResNet", name: m.name, parameters: model.parameterCount(),
                                gflops: gflops, trainingTFLOPs: tflops(gflops: gflops, steps: run.history.count),
                                accuracy: run.accuracy, seconds: run.seconds, patchSize: vit?.config.patchSize))
            if let vit, vit.config.patchSize < (finest?.config.patchSize ?? o.vit.patchSize) {
                finest = vit
            }
        }
        var result = ComputeScalingResult(points: points, steps: o.supervised.steps, batchSize: o.batchSize)
        if let finest {
            let (distances, uniform) = Report.meanAttentionDistances(finest, images: scoredImages)
            result.finest = .init(name: describe(finest.config), grid: o.imageSize / finest.config.patchSize,
                                  distances: distances, uniform: uniform)
        }
        return (result, finest)
    }

    /// Forward GFLOPs of one image through `model` (its mode is left in evaluation).
    func forwardGFLOPs(_ model: Module) -> Double {
        model.eval()
        let probe = Tensor.zeros([1, 3, o.imageSize, o.imageSize])
        return Double(FlopCounter.count { _ = noGrad { model(Variable(probe)) } }) / 1e9
    }
}

extension Report {
    /// The paper's axes: test top-1 against training compute on a log scale, one line per family.
    static func computeChart(_ c: ComputeScalingResult) -> LineChart {
        LineChart(title: "Accuracy against training compute", xLabel: "training compute (TFLOPs, log scale)",
                  yLabel: "test top-1 (%)",
                  series: chartSeries(c),
                  yRange: 0...100, xScale: .log)
    }

    /// One line per family, the ViTs split by patch size: a line joins models that differ only in
    /// size, not a patch-8 ViT to patch-4 ones.
    static func chartSeries(_ c: ComputeScalingResult) -> [LineChart.Series] {
        let vits = c.family("ViT")
        let patches = Array(Set(vits.map { $0.patchSize ?? 0 })).sorted()
        let vitSeries = patches.map { patch in
            LineChart.Series(patches.count > 1 ? "ViT, patch \(patch)" : "ViT",
                             vits.filter { ($0.patchSize ?? 0) == patch }.map(\.chartPoint))
        }
        return vitSeries + [LineChart.Series("ResNet", c.family("ResNet").map(\.chartPoint))]
    }

    static func computeSection(_ c: ComputeScalingResult) -> String {
        var s = """

        ## Accuracy against compute

        Several sizes of each family trained supervised on all training images \
        (\(c.steps.map { "\($0) steps" } ?? "the same epochs") of \(c.batchSize) images, the data-scaling recipe); \
        training compute counts three forward passes per image seen:

        | model | parameters | GFLOPs / image | training TFLOPs | test top-1 |
        |---|---|---|---|---|

        """
        for p in ["ViT", "ResNet"].flatMap(c.family) {
            s += "| \(p.name) | \(String(format: "%.2f M", Double(p.parameters) / 1e6)) | "
                + "\(String(format: "%.4f", p.gflops)) | \(String(format: "%.2f", p.trainingTFLOPs)) | "
                + "\(percent(p.accuracy)) |\n"
        }
        return s + "\n" + computeFinding(c) + "\n"
    }

    /// Which family is ahead at equal compute, comparing each family's accuracy interpolated on log
    /// compute over the range both span (the paper: ViTs reach the same accuracy with 2–4× less).
    static func computeFinding(_ c: ComputeScalingResult) -> String {
        let vit = c.family("ViT"), resnet = c.family("ResNet")
        guard let v0 = vit.first, let v1 = vit.last, let r0 = resnet.first, let r1 = resnet.last else { return "" }
        func rises(_ f: [ComputeScalingResult.Point], _ name: String) -> String {
            guard let a = f.first, let b = f.last, f.count > 1 else { return "" }
            return "the \(name)s go from \(percent(a.accuracy)) at \(String(format: "%.2f", a.trainingTFLOPs)) "
                + "to \(percent(b.accuracy)) at \(String(format: "%.2f", b.trainingTFLOPs)) TFLOPs"
        }
        var s = "From the smallest to the largest model " + rises(vit, "ViT") + ", and " + rises(resnet, "ResNet")
            + ". "
        let lo = Swift.max(v0.trainingTFLOPs, r0.trainingTFLOPs), hi = Swift.min(v1.trainingTFLOPs, r1.trainingTFLOPs)
        guard lo <= hi else {
            return s + "Their compute ranges do not overlap, so they are not compared at equal compute."
        }
        let samples = (0...4).map { lo * pow(hi / lo, Double($0) / 4) }
        let gaps = samples.map { (interpolate(resnet, at: $0) - interpolate(vit, at: $0)) * 100 }
        let (least, most) = (gaps.min()!, gaps.max()!)
        let range = String(format: "%.2f–%.2f TFLOPs", lo, hi)
        if least > 0 {
            s += String(format: "At equal compute (%@) the ResNets lead by %.1f to %.1f points", range, least, most)
        } else if most < 0 {
            s += String(format: "At equal compute (%@) the ViTs lead by %.1f to %.1f points", range, -most, -least)
        } else {
            s += "At equal compute (\(range)) the lead changes hands"
        }
        return s + ": this run " + (most < 0 ? "shows" : "does not show")
            + " the ViT paper's finding that ViTs reach the same accuracy with less compute than ResNets."
    }

    /// A family's accuracy at `tflops`, linear in log compute between its points (clamped at the ends).
    static func interpolate(_ family: [ComputeScalingResult.Point], at tflops: Double) -> Double {
        guard let first = family.first else { return .nan }
        if tflops <= first.trainingTFLOPs { return first.accuracy }
        for (a, b) in zip(family, family.dropFirst()) where tflops <= b.trainingTFLOPs {
            let t = log(tflops / a.trainingTFLOPs) / log(b.trainingTFLOPs / a.trainingTFLOPs)
            return a.accuracy + (b.accuracy - a.accuracy) * (t.isFinite ? t : 1)
        }
        return family.last!.accuracy
    }
}
