import Autograd
import Foundation
import NN
import Tensor
import Training
import Vision
import Zoo

/// The figures and the Markdown report of `tessera compare`.
enum Report {
    static func write(_ r: CompareResult, dinoViT: VisionTransformer?, test: AnyImageDataset,
                      masks: ((Int) -> Tensor)?, normalize: Normalize, to folder: URL) throws {
        let images = r.fractions.map { Double(Int(Double(r.trainCount) * $0)) }
        try LineChart(title: "Supervised top-1 vs training images", xLabel: "training images", yLabel: "top-1 %",
                      series: [LineChart.Series("ViT", zip(images, r.vit.supervisedAccuracy).map { ($0, $1 * 100) }),
                               LineChart.Series("ResNet",
                                                zip(images, r.resnet.supervisedAccuracy).map { ($0, $1 * 100) })],
                      yRange: 0...100, logX: true)
            .render().writePNG(to: folder.appendingPathComponent("data_scaling.png"))
        try LineChart(title: "Supervised training loss (all data)", xLabel: "step", yLabel: "loss",
                      series: [curve("ViT", r.vit.supervisedLosses), curve("ResNet", r.resnet.supervisedLosses)])
            .render().writePNG(to: folder.appendingPathComponent("supervised_loss.png"))
        try LineChart(title: "DINO training loss", xLabel: "step", yLabel: "loss",
                      series: [curve("ViT", r.vit.dinoLosses), curve("ResNet", r.resnet.dinoLosses)])
            .render().writePNG(to: folder.appendingPathComponent("dino_loss.png"))
        try LineChart(title: "k-NN top-1 during DINO pre-training", xLabel: "epoch", yLabel: "k-NN top-1 %",
                      series: [LineChart.Series("ViT", r.vit.dinoKNNCurve.map { ($0[0], $0[1] * 100) }),
                               LineChart.Series("ResNet", r.resnet.dinoKNNCurve.map { ($0[0], $0[1] * 100) })])
            .render().writePNG(to: folder.appendingPathComponent("dino_knn.png"))
        var figures = ["data_scaling.png", "supervised_loss.png", "dino_loss.png", "dino_knn.png"]
        if let vit = dinoViT {
            let count = Swift.min(6, test.count)
            let batch = Tensor.stack(try (0..<count).map { normalize(try test.image(at: $0), seed: 0) })
            let raw = try (0..<count).map { try test.image(at: $0) }
            try attentionFigure(vit, images: batch, raw: raw, masks: masks)
                .writePNG(to: folder.appendingPathComponent("attention_maps.png"))
            try positionSimilarityFigure(vit)
                .writePNG(to: folder.appendingPathComponent("position_embedding_similarity.png"))
            try attentionDistanceChart(vit, images: batch).render()
                .writePNG(to: folder.appendingPathComponent("attention_distance.png"))
            try pcaFigure(vit, images: batch, raw: raw).writePNG(to: folder.appendingPathComponent("patch_pca.png"))
            figures += ["attention_maps.png", "position_embedding_similarity.png",
                        "attention_distance.png", "patch_pca.png"]
        }
        try markdown(r, figures: figures)
            .write(to: folder.appendingPathComponent("report.md"), atomically: true, encoding: .utf8)
        try JSONEncoder().encode(r).write(to: folder.appendingPathComponent("results.json"))
    }

    /// A loss curve smoothed by a moving average over about 1/50 of the run.
    static func curve(_ name: String, _ losses: [Double]) -> LineChart.Series {
        let window = Swift.max(1, losses.count / 50)
        var points: [(x: Double, y: Double)] = []
        for end in stride(from: window, through: losses.count, by: window) {
            points.append((Double(end), losses[(end - window)..<end].reduce(0, +) / Double(window)))
        }
        return LineChart.Series(name, points)
    }

    /// Per image: the image, its object mask, each head's class attention and the 60%-mass mask.
    static func attentionFigure(_ vit: VisionTransformer, images: Tensor, raw: [Tensor],
                                masks: ((Int) -> Tensor)?) -> Canvas {
        let attention = AttentionMaps.classAttention(vit, images: images)
        let thresholded = AttentionMaps.thresholdMasks(attention)
        let heads = attention.shape[1], s = images.shape[2], scale = Swift.max(1, 96 / s), cell = s * scale + 6
        let columns = 2 + heads + 1
        var canvas = Canvas(width: columns * cell + 6, height: raw.count * cell + 30)
        canvas.text("image   mask   heads 1-\(heads) (class attention)   60% mass", x: 6, y: 8)
        func up(_ t: Tensor) -> Tensor {
            Resize(.exactly(height: s * scale, width: s * scale), interpolation: .nearest)(t, seed: 0)
        }
        for i in 0..<raw.count {
            let y = 24 + i * cell
            canvas.draw(up(raw[i]), x: 6, y: y)
            if let masks { canvas.draw(up(masks(i).unsqueezed(0)), x: 6 + cell, y: y) }
            var union = Tensor.zeros([attention.shape[2], attention.shape[3]])
            for h in 0..<heads {
                let map = attention.select(axis: 0, index: i).select(axis: 0, index: h)
                canvas.draw(up(heatMap(map)), x: 6 + (2 + h) * cell, y: y)
                union = union.maximum(thresholded.select(axis: 0, index: i).select(axis: 0, index: h))
            }
            let overlay = raw[i] * 0.35
                + Resize(.exactly(height: s, width: s), interpolation: .nearest)(union.unsqueezed(0), seed: 0) * 0.65
            canvas.draw(up(overlay), x: 6 + (2 + heads) * cell, y: y)
        }
        return canvas
    }

    /// Each image beside its patch features' first three principal components as RGB (DINO's PCA figure).
    static func pcaFigure(_ vit: VisionTransformer, images: Tensor, raw: [Tensor]) throws -> Canvas {
        let colours = try AttentionMaps.patchPCA(vit, images: images)
        let s = images.shape[2], scale = Swift.max(1, 96 / s), cell = s * scale + 6
        var canvas = Canvas(width: 2 * cell + 6, height: raw.count * cell + 30)
        canvas.text("image   patch PCA", x: 6, y: 8)
        let up = Resize(.exactly(height: s * scale, width: s * scale), interpolation: .nearest)
        for i in 0..<raw.count {
            canvas.draw(up(raw[i], seed: 0), x: 6, y: 24 + i * cell)
            canvas.draw(up(colours.select(axis: 0, index: i), seed: 0), x: 6 + cell, y: 24 + i * cell)
        }
        return canvas
    }

    /// The ViT paper's figure: for each patch position, the cosine similarity of its position
    /// embedding with every other position's, as a small heat map in a grid.
    static func positionSimilarityFigure(_ vit: VisionTransformer) -> Canvas {
        let pos = vit.posEmbed.data.select(axis: 0, index: 0).slice(axis: 0, start: 1)  // [N, D]
        let g = Int(Double(pos.shape[0]).squareRoot())
        let unit = Evaluation.l2Normalized(pos)
        let similarity = unit.matmul(unit.T)  // [N, N]
        let tile = Swift.max(6, 48 / Swift.max(g, 1)), cell = g * tile + 3, title = "position embedding similarity"
        var canvas = Canvas(width: Swift.max(g * cell, Canvas.textWidth(title)) + 20, height: g * cell + 40)
        canvas.text(title, x: 10, y: 8)
        for r in 0..<g {
            for c in 0..<g {
                let map = similarity.select(axis: 0, index: r * g + c).reshaped([g, g])
                let img = Resize(.exactly(height: g * tile, width: g * tile),
                                 interpolation: .nearest)(heatMap(map), seed: 0)
                canvas.draw(img, x: 10 + c * cell, y: 28 + r * cell)
            }
        }
        return canvas
    }

    /// Mean attention distance (pixels) of every head in every layer, averaged over images and query patches.
    static func attentionDistanceChart(_ vit: VisionTransformer, images: Tensor) -> LineChart {
        let maps = noGrad { vit.attentionMaps(Variable(images)) }
        let p = vit.config.patchSize, g = images.shape[2] / p, n = g * g
        var distance = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                distance[i * n + j] = Double(p) * hypot(Double(i / g - j / g), Double(i % g - j % g))
            }
        }
        let d = Tensor(distance, shape: [n, n]).converted(to: .float32)
        var series: [LineChart.Series] = []
        for h in 0..<vit.config.numHeads {
            var points: [(x: Double, y: Double)] = []
            for (layer, attention) in maps.enumerated() {
                let patches = attention.select(axis: 1, index: h)
                    .slice(axis: 1, start: 1).slice(axis: 2, start: 1)  // [B, N, N]
                let weights = patches / patches.sum(axes: [2], keepDim: true)
                points.append((Double(layer + 1), (weights * d).sum(axes: [2]).mean().item()))
            }
            series.append(LineChart.Series("head \(h + 1)", points))
        }
        return LineChart(title: "Mean attention distance (DINO ViT)", xLabel: "layer", yLabel: "pixels", series: series)
    }

    static func markdown(_ r: CompareResult, figures: [String]) -> String {
        func row(_ m: ModelSummary) -> String {
            "| \(m.name) | \(String(format: "%.2f M", Double(m.parameters) / 1e6)) | "
                + "\(String(format: "%.3f", m.gflops)) | \(String(format: "%.0f", m.supervisedImagesPerSecond)) | "
                + "\(formatDuration(m.supervisedSeconds + m.dinoSeconds)) | "
                + "\(percent(m.supervisedAccuracy.last ?? 0)) | \(percent(m.dinoKNN)) "
                + "(top-5 \(percent(m.dinoKNNTop5))) | \(percent(m.dinoLinear)) | \(percent(m.randomKNN)) |"
        }
        var s = """
        # Tessera compare: a ViT against a ResNet on \(r.dataset)

        \(r.trainCount) training and \(r.testCount) test images of \(r.imageSize)×\(r.imageSize) pixels, \
        \(r.classes) classes.
        Both models were trained supervised on growing fractions of the training set, and separately
        pre-trained with DINO on all training images without labels, then evaluated on frozen features
        by weighted k-NN (k = 20, T = 0.07) and a linear probe; random-init k-NN is the same network
        before DINO's first step. Total time \(formatDuration(r.seconds)).

        | model | parameters | GFLOPs / image | supervised train images/s | training time | \
        supervised top-1 (all data) | DINO k-NN top-1 | DINO linear top-1 | random-init k-NN |
        |---|---|---|---|---|---|---|---|---|
        \(row(r.vit))
        \(row(r.resnet))

        ## Data scaling

        | training images | ViT top-1 | ResNet top-1 |
        |---|---|---|

        """
        for (k, f) in r.fractions.enumerated() {
            s += "| \(Int(Double(r.trainCount) * f)) | \(percent(r.vit.supervisedAccuracy[k])) | "
                + "\(percent(r.resnet.supervisedAccuracy[k])) |\n"
        }
        s += "\n" + dataScalingFinding(r) + "\n"
        if !r.vit.dinoKNNCurve.isEmpty && r.vit.dinoKNNCurve.map(\.first) == r.resnet.dinoKNNCurve.map(\.first) {
            s += "\n## DINO pre-training\n\n"
                + "k-NN top-1 of the teacher's features during pre-training (epoch 0: the initialisation):\n\n"
            s += "| epoch | ViT | ResNet |\n|---|---|---|\n"
            for (v, c) in zip(r.vit.dinoKNNCurve, r.resnet.dinoKNNCurve) {
                s += "| \(Int(v[0])) | \(percent(v[1])) | \(percent(c[1])) |\n"
            }
            s += "\n" + dinoFinding(r) + "\n"
        }
        if let best = r.jaccardBest, let perHead = r.dinoJaccardPerHead {
            s += """

            ## Attention as segmentation

            Each head's class-token attention in the last block, thresholded to keep 60% of its mass (as in
            the DINO paper), compared with the objects' masks (mean Jaccard over test images, best head):

            | model | Jaccard |
            |---|---|

            """
            for (k, v) in best.sorted(by: { $0.value > $1.value }) { s += "| \(k) | \(String(format: "%.3f", v)) |\n" }
            s += "\n" + attentionFinding(best) + "\n"
            s += "\nDINO ViT per head: " + perHead.map { String(format: "%.3f", $0) }.joined(separator: ", ") + "\n"
        }
        s += "\n## Figures\n\n"
        for f in figures { s += "![\(f)](\(f))\n\n" }
        s += "Per-step logs: `*-supervised-*.jsonl`, `*-dino.jsonl`; DINO checkpoints: `*-dino.safetensors`; "
            + "numbers: `results.json`.\n"
        return s
    }

    // MARK: Sentences derived from the numbers

    /// Who leads by how much: `gap` is ResNet − ViT accuracy in points.
    static func lead(_ gap: Double) -> String {
        if Swift.abs(gap) < 0.05 { return "the two are level" }
        return (gap > 0 ? "the ResNet" : "the ViT") + " leads by " + String(format: "%.1f", Swift.abs(gap)) + " points"
    }

    /// The data-scaling result in words, and whether it shows the ViT paper's finding (a CNN ahead
    /// on little data, the ViT closing the gap by more than a point as data grows).
    static func dataScalingFinding(_ r: CompareResult) -> String {
        let small = (r.resnet.supervisedAccuracy.first ?? 0) - (r.vit.supervisedAccuracy.first ?? 0)
        let large = (r.resnet.supervisedAccuracy.last ?? 0) - (r.vit.supervisedAccuracy.last ?? 0)
        let (gapSmall, gapLarge) = (small * 100, large * 100)
        guard r.fractions.count > 1 else { return "With all \(r.trainCount) images " + lead(gapLarge) + "." }
        let change = gapLarge - gapSmall
        let trend = Swift.abs(change) < 1 ? "the gap holds within a point"
            : change < 0 ? "the ViT gains \(String(format: "%.1f", -change)) points on the ResNet as data grows"
            : "the ResNet gains \(String(format: "%.1f", change)) points on the ViT as data grows"
        let shown = gapSmall > 0 && change <= -1
        let why = shown ? "" : gapSmall <= 0 ? " (the ViT is not behind on the smallest subset)"
            : " (the ResNet's lead does not shrink)"
        return "With the fewest images " + lead(gapSmall) + "; with all of them " + lead(gapLarge) + ": " + trend + ". "
            + "This run \(shown ? "shows" : "does not show") the ViT paper's finding that a CNN wins on little data "
            + "and the ViT catches up as data grows" + why + "."
    }

    /// What DINO did to each model's k-NN accuracy, against the same network at initialisation.
    static func dinoFinding(_ r: CompareResult) -> String {
        func change(_ m: ModelSummary, _ name: String) -> String {
            let delta = (m.dinoKNN - m.randomKNN) * 100
            if Swift.abs(delta) < 1 {
                return "leaves the \(name)'s k-NN top-1 within a point of its initialisation "
                    + "(\(percent(m.randomKNN)) → \(percent(m.dinoKNN)))"
            }
            return "\(delta > 0 ? "lifts" : "lowers") the \(name)'s k-NN top-1 from \(percent(m.randomKNN)) "
                + "at initialisation to \(percent(m.dinoKNN))"
        }
        return "DINO " + change(r.vit, "ViT") + " and " + change(r.resnet, "ResNet") + "."
    }

    /// How the DINO ViT's best head compares with the supervised and random-init ViTs'.
    static func attentionFinding(_ best: [String: Double]) -> String {
        guard let dino = best["DINO ViT"] else { return "" }
        let others = best.filter { $0.key != "DINO ViT" }.sorted { $0.key > $1.key }
        guard !others.isEmpty else { return "" }
        let above = others.filter { dino > $0.value }.map(\.key), below = others.filter { dino <= $0.value }.map(\.key)
        var parts: [String] = []
        if !above.isEmpty { parts.append("more than the " + above.joined(separator: "'s and the ") + "'s") }
        if !below.isEmpty { parts.append("no more than the " + below.joined(separator: "'s and the ") + "'s") }
        return "The DINO ViT's best head (Jaccard \(String(format: "%.3f", dino))) overlaps the objects "
            + parts.joined(separator: ", but ") + "."
    }
}
