import Autograd
import Foundation
import NN
import Tensor
import Training
import Vision
import Zoo

/// The figures and the Markdown report of `tessera compare`.
enum Report {
    static func write(_ r: CompareResult, dinoViT: VisionTransformer?, finestViT: VisionTransformer?,
                      test: AnyImageDataset, masks: ((Int) -> Tensor)?, normalize: Normalize, to folder: URL) throws {
        let images = subsetCounts(r).map(Double.init)
        var figures: [String] = []
        figures.append(try LineChart(
            title: "Supervised top-1 against training set size", xLabel: "training images (log scale)",
            yLabel: "test top-1 (%)",
            series: [LineChart.Series("ViT", zip(images, r.vit.supervisedAccuracy).map { ($0, $1 * 100) }),
                     LineChart.Series("ResNet", zip(images, r.resnet.supervisedAccuracy).map { ($0, $1 * 100) })],
            yRange: 0...100, xScale: .log, xTicks: images
        ).figure().write(to: folder, name: "data_scaling"))
        if r.vit.dinoLinearPerSubset.count == images.count && r.resnet.dinoLinearPerSubset.count == images.count {
            func series(_ name: String, _ values: [Double]) -> LineChart.Series {
                LineChart.Series(name, zip(images, values).map { ($0, $1 * 100) })
            }
            var chart = LineChart(
                title: "Label efficiency: frozen DINO features against supervised training",
                xLabel: "labelled training images (log scale)", yLabel: "test top-1 (%)",
                series: [series("DINO ViT, linear probe", r.vit.dinoLinearPerSubset),
                         series("DINO ResNet, linear probe", r.resnet.dinoLinearPerSubset),
                         series("ViT, supervised", r.vit.supervisedAccuracy),
                         series("ResNet, supervised", r.resnet.supervisedAccuracy)],
                yRange: 0...100, xScale: .log, xTicks: images, width: 640)
            chart.referenceLines = [("chance", 100 / Double(r.classes))]
            figures.append(try chart.figure().write(to: folder, name: "label_efficiency"))
        }
        figures.append(try LineChart(
            title: "Supervised training loss (all data)", xLabel: "step", yLabel: "cross-entropy",
            series: [curve("ViT", r.vit.supervisedLosses), curve("ResNet", r.resnet.supervisedLosses)]
        ).figure().write(to: folder, name: "supervised_loss"))
        figures.append(try LineChart(
            title: "DINO training loss", xLabel: "step", yLabel: "DINO loss",
            series: [curve("ViT", r.vit.dinoLosses), curve("ResNet", r.resnet.dinoLosses)]
        ).figure().write(to: folder, name: "dino_loss"))
        figures.append(try LineChart(
            title: "k-NN top-1 of the DINO teacher (epoch 0: initialisation)", xLabel: "epoch",
            yLabel: "k-NN top-1 (%)",
            series: [LineChart.Series("ViT", r.vit.dinoKNNCurve.map { ($0[0], $0[1] * 100) }),
                     LineChart.Series("ResNet", r.resnet.dinoKNNCurve.map { ($0[0], $0[1] * 100) })],
            yRange: 0...100
        ).figure().write(to: folder, name: "dino_knn"))
        if let vit = dinoViT {
            let count = Swift.min(6, test.count)
            let batch = Tensor.stack(try (0..<count).map { normalize(try test.image(at: $0), seed: 0) })
            let raw = try (0..<count).map { try test.image(at: $0) }
            figures.append(try attentionFigure(vit, images: batch, raw: raw, masks: masks)
                .write(to: folder, name: "attention_maps"))
            if !r.vit.dinoJaccardCurve.isEmpty, let best = r.jaccardBest {
                figures.append(try jaccardChart(r.vit.dinoJaccardCurve, best: best)
                    .figure().write(to: folder, name: "attention_jaccard"))
            }
            figures.append(try positionSimilarityFigure(vit, of: "DINO ViT")
                .write(to: folder, name: "position_embedding_similarity"))
            if let distances = r.attentionDistance, let uniform = r.uniformAttentionDistance {
                figures.append(try attentionDistanceChart(distances, uniform: uniform, imageSize: r.imageSize,
                                                          of: "DINO ViT")
                    .figure().write(to: folder, name: "attention_distance"))
            }
            figures.append(try pcaFigure(vit, images: batch, raw: raw).write(to: folder, name: "patch_pca"))
        }
        if let compute = r.computeScaling {
            figures.append(try computeChart(compute).figure().write(to: folder, name: "accuracy_vs_compute"))
            if let vit = finestViT, let fine = compute.finest {
                figures.append(try positionSimilarityFigure(vit, of: "supervised " + fine.name)
                    .write(to: folder, name: "position_embedding_similarity_fine"))
                figures.append(try attentionDistanceChart(fine.distances, uniform: fine.uniform, imageSize: r.imageSize,
                                                          of: "supervised " + fine.name)
                    .figure().write(to: folder, name: "attention_distance_fine"))
            }
        }
        if let stability = r.stability {
            figures.append(try stabilityKNNChart(stability).figure().write(to: folder, name: "mocov3_knn"))
            figures.append(try stabilityLossChart(stability).figure().write(to: folder, name: "mocov3_loss"))
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
        return LineChart.Series(name, points, style: .line)
    }

    /// Per image: the image, its object mask, each head's class attention and the union of the
    /// heads' 60%-mass masks over the image.
    static func attentionFigure(_ vit: VisionTransformer, images: Tensor, raw: [Tensor],
                                masks: ((Int) -> Tensor)?) -> Figure {
        let attention = AttentionMaps.classAttention(vit, images: images)
        let thresholded = AttentionMaps.thresholdMasks(attention)
        let heads = attention.shape[1], s = images.shape[2]
        var rows: [[Tensor?]] = []
        for i in 0..<raw.count {
            var union = Tensor.zeros([attention.shape[2], attention.shape[3]])
            var row: [Tensor?] = [raw[i], masks.map { $0(i).unsqueezed(0) }]
            for h in 0..<heads {
                row.append(heatMap(attention.select(axis: 0, index: i).select(axis: 0, index: h)))
                union = union.maximum(thresholded.select(axis: 0, index: i).select(axis: 0, index: h))
            }
            // The image where the heads' masks keep it, dimmed elsewhere (DINO's masked images).
            let kept = Resize(.exactly(height: s, width: s), interpolation: .nearest)(union.unsqueezed(0), seed: 0)
            row.append(raw[i] * (kept * 0.8 + 0.2))
            rows.append(row)
        }
        return ImagePanels(rows: rows, title: "Class-token attention in the DINO ViT's last block",
                           columnTitles: ["image", "object mask"] + (1...heads).map { "head \($0)" }
                               + ["kept: 60% mass"],
                           panelSize: 72).figure()
    }

    /// Each image beside its patch features' first three principal components as RGB (DINO's PCA figure).
    static func pcaFigure(_ vit: VisionTransformer, images: Tensor, raw: [Tensor]) throws -> Figure {
        let colours = try AttentionMaps.patchPCA(vit, images: images)
        let rows: [[Tensor?]] = [raw, raw.indices.map { colours.select(axis: 0, index: $0) }]
        return ImagePanels(rows: rows, title: "DINO ViT patch features: first 3 principal components as RGB",
                           rowTitles: ["image", "patch PCA"], panelSize: 80).figure()
    }

    /// The ViT paper's figure: for each patch position, the cosine similarity of its position
    /// embedding with every other position's, on one colour scale from −1 to 1.
    static func positionSimilarityFigure(_ vit: VisionTransformer, of name: String) -> Figure {
        let pos = vit.posEmbed.data.select(axis: 0, index: 0).slice(axis: 0, start: 1)  // [N, D]
        let g = Int(Double(pos.shape[0]).squareRoot())
        let unit = Evaluation.l2Normalized(pos)
        let similarity = unit.matmul(unit.T)  // [N, N]
        let rows = (0..<g).map { r in
            (0..<g).map { c in
                heatMap(similarity.select(axis: 0, index: r * g + c).reshaped([g, g]), range: -1...1) as Tensor?
            }
        }
        return ImagePanels(rows: rows, title: "Position embedding similarity (\(name), \(g) × \(g) patches)",
                           columnTitles: (1...g).map { "col \($0)" }, rowTitles: (1...g).map { "row \($0)" },
                           colorBar: ("cosine similarity", -1...1), panelSize: Swift.max(28, 320 / Double(g)),
                           gap: 3).figure()
    }

    /// Mean attention distance (pixels) of every head in every layer, [layer][head], averaged over
    /// images and query patches, and the distance of attention spread evenly over the patches.
    static func meanAttentionDistances(_ vit: VisionTransformer, images: Tensor) -> ([[Double]], Double) {
        let maps = noGrad { vit.attentionMaps(Variable(images)) }
        let p = vit.config.patchSize, g = images.shape[2] / p, n = g * g
        var distance = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                distance[i * n + j] = Double(p) * hypot(Double(i / g - j / g), Double(i % g - j % g))
            }
        }
        let d = Tensor(distance, shape: [n, n]).converted(to: .float32)
        let perLayer = maps.map { attention in
            (0..<vit.config.numHeads).map { h -> Double in
                let patches = attention.select(axis: 1, index: h)
                    .slice(axis: 1, start: 1).slice(axis: 2, start: 1)  // [B, N, N]
                let weights = patches / patches.sum(axes: [2], keepDim: true)
                return (weights * d).sum(axes: [2]).mean().item()
            }
        }
        return (perLayer, distance.reduce(0, +) / Double(n * n))
    }

    /// The ViT paper's figure: one point per head and layer, on an axis from 0 to the image width,
    /// with the level of uniform attention.
    static func attentionDistanceChart(_ distances: [[Double]], uniform: Double, imageSize: Int,
                                       of name: String) -> LineChart {
        let heads = distances.first?.count ?? 0
        let series = (0..<heads).map { h in
            // Heads side by side around their layer, so that equal values stay visible.
            let offset = (Double(h) - Double(heads - 1) / 2) * 0.1
            return LineChart.Series("head \(h + 1)", distances.enumerated().map { (Double($0 + 1) + offset, $1[h]) },
                                    style: .markers)
        }
        var chart = LineChart(title: "Mean attention distance per head (\(name))", xLabel: "layer",
                              yLabel: "mean attention distance (pixels)", series: series,
                              xRange: 0.5...Double(distances.count) + 0.5, yRange: 0...Double(imageSize),
                              xTicks: (1...Swift.max(1, distances.count)).map(Double.init))
        chart.referenceLines = [("uniform attention", uniform)]
        return chart
    }

    /// The DINO ViT's best-head Jaccard during pre-training, with the supervised and random-init ViTs' levels.
    static func jaccardChart(_ curve: [[Double]], best: [String: Double]) -> LineChart {
        var chart = LineChart(title: "Attention as segmentation during DINO pre-training",
                              xLabel: "DINO epoch", yLabel: "best head's Jaccard with the object",
                              series: [LineChart.Series("DINO ViT", curve.map { ($0[0], $0[1]) })],
                              yRange: 0...Swift.max(0.5, (curve.map { $0[1] } + best.values).max() ?? 0))
        chart.referenceLines = best.filter { $0.key != "DINO ViT" }.sorted { $0.key > $1.key }
            .map { ($0.key, $0.value) }
        return chart
    }

    /// The DINO ViT's Jaccard trend against the supervised ViT's.
    static func jaccardTrendFinding(_ curve: [[Double]], best: [String: Double]) -> String {
        guard let first = curve.first, let last = curve.last, curve.count > 1 else { return "" }
        let peak = curve.max { $0[1] < $1[1] }!
        var s = String(format: "During pre-training the DINO ViT's best head goes from %.3f at epoch %d to %.3f at "
                       + "epoch %d (highest %.3f, epoch %d)", first[1], Int(first[0]), last[1], Int(last[0]),
                       peak[1], Int(peak[0]))
        if let supervised = best["supervised ViT"] {
            s += String(format: "; the supervised ViT's is %.3f, which it ", supervised)
                + (peak[1] > supervised ? "passes." : "does not reach.")
        } else {
            s += "."
        }
        return s
    }

    /// Whether any head attends locally: its mean distance clearly (by 10% or more) below uniform attention's.
    static func attentionDistanceFinding(_ distances: [[Double]], uniform: Double) -> String {
        let all = distances.enumerated().flatMap { layer, heads in heads.map { (layer: layer + 1, value: $0) } }
        guard let closest = all.min(by: { $0.value < $1.value }), let farthest = all.max(by: { $0.value < $1.value })
        else { return "" }
        let local = all.filter { $0.value < 0.9 * uniform }
        let range = String(format: "%.1f–%.1f pixels against %.1f for uniform attention", closest.value,
                           farthest.value, uniform)
        if local.isEmpty {
            return "Every head's mean attention distance lies within 10% of uniform attention's (\(range)): "
                + "no head attends locally, so this run does not show the ViT paper's local heads in early layers."
        }
        let layers = Set(local.map(\.layer)).sorted().map(String.init).joined(separator: ", ")
        return "\(local.count) of \(all.count) heads attend locally (more than 10% closer than uniform attention; "
            + "\(range)), in layer\(layers.contains(",") ? "s" : "") \(layers); the closest is in layer "
            + "\(closest.layer)."
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

        \(r.supervisedSteps.map { "Every run takes \($0) steps whatever its data size (equal compute)." }
            ?? "Every run takes the same epochs over its images (fewer steps on less data).")

        | training images | ViT top-1 | ResNet top-1 |
        |---|---|---|

        """
        for (k, count) in subsetCounts(r).enumerated() {
            s += "| \(count) | \(percent(r.vit.supervisedAccuracy[k])) | "
                + "\(percent(r.resnet.supervisedAccuracy[k])) |\n"
        }
        s += "\n" + dataScalingFinding(r) + "\n"
        if r.vit.dinoLinearPerSubset.count == r.fractions.count
            && r.resnet.dinoLinearPerSubset.count == r.fractions.count {
            s += """

            ## Label efficiency

            Frozen DINO features with a linear probe trained on the labels of each subset, against the
            same architectures trained supervised from scratch on those images (the data-scaling runs):

            | labelled images | DINO ViT, linear | DINO ResNet, linear | ViT, supervised | ResNet, supervised |
            |---|---|---|---|---|

            """
            for (k, count) in subsetCounts(r).enumerated() {
                s += "| \(count) | \(percent(r.vit.dinoLinearPerSubset[k])) | "
                    + "\(percent(r.resnet.dinoLinearPerSubset[k])) | \(percent(r.vit.supervisedAccuracy[k])) | "
                    + "\(percent(r.resnet.supervisedAccuracy[k])) |\n"
            }
            s += "\n" + labelEfficiencyFinding(r) + "\n"
        }
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
            if let entropy = r.classAttentionEntropy, let uniform = r.uniformEntropy {
                s += "\nHow flat the maps are: each head's class-token attention entropy (nats; "
                    + String(format: "%.2f", uniform) + " for attention spread evenly over the patches):\n\n"
                    + "| model | entropy per head |\n|---|---|\n"
                for (name, heads) in entropy.sorted(by: { $0.key < $1.key }) {
                    s += "| \(name) | " + heads.map { String(format: "%.2f", $0) }.joined(separator: ", ") + " |\n"
                }
                s += "\n" + flatAttentionFinding(entropy, uniform: uniform) + "\n"
            }
            if r.vit.dinoJaccardCurve.count > 1 {
                s += "\n| DINO epoch | " + r.vit.dinoJaccardCurve.map { String(Int($0[0])) }.joined(separator: " | ")
                    + " |\n|---|" + String(repeating: "---|", count: r.vit.dinoJaccardCurve.count) + "\n"
                    + "| DINO ViT, best head | "
                    + r.vit.dinoJaccardCurve.map { String(format: "%.3f", $0[1]) }.joined(separator: " | ") + " |\n"
                s += "\n" + jaccardTrendFinding(r.vit.dinoJaccardCurve, best: best) + "\n"
            }
        }
        if let distances = r.attentionDistance, let uniform = r.uniformAttentionDistance {
            s += "\n## Mean attention distance\n\n"
                + "The DINO ViT's mean attention distance in pixels per layer (heads from closest to farthest), "
                + "over the scored test images; uniform attention: \(String(format: "%.1f", uniform)).\n\n"
                + "| layer | heads |\n|---|---|\n"
            for (layer, heads) in distances.enumerated() {
                s += "| \(layer + 1) | " + heads.sorted().map { String(format: "%.1f", $0) }.joined(separator: ", ")
                    + " |\n"
            }
            s += "\n" + attentionDistanceFinding(distances, uniform: uniform) + "\n"
            s += supervisedDistanceSection(r, uniform: uniform)
        }
        if let compute = r.computeScaling {
            s += computeSection(compute)
            if let fine = compute.finest {
                s += "\nThe supervised \(fine.name) sees the image as \(fine.grid) × \(fine.grid) patches: its "
                    + "position embeddings and mean attention distances are in the figures "
                    + "`position_embedding_similarity_fine.png` and `attention_distance_fine.png`. "
                    + attentionDistanceFinding(fine.distances, uniform: fine.uniform) + "\n"
            }
        }
        if let stability = r.stability { s += stabilitySection(stability) }
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
            + "and the ViT catches up as data grows" + why + "." + peakLead(r)
    }

    /// Where the ResNet's lead is largest, when that is between the smallest and the largest subset and
    /// the lead shrinks by more than a point after it: the ViT catching up on the larger subsets only.
    static func peakLead(_ r: CompareResult) -> String {
        let gaps = zip(r.resnet.supervisedAccuracy, r.vit.supervisedAccuracy).map { ($0 - $1) * 100 }
        guard gaps.count > 2, let peak = gaps.indices.max(by: { gaps[$0] < gaps[$1] }), peak > 0,
              peak < gaps.count - 1, gaps[peak] > 0, let last = gaps.last, gaps[peak] - last >= 1 else { return "" }
        let count = subsetCounts(r)[peak]
        return " The ResNet's lead is largest with \(count) images (\(String(format: "%.1f", gaps[peak])) points) "
            + "and shrinks to \(String(format: "%.1f", last)) with all \(subsetCounts(r).last ?? 0): beyond \(count) "
            + "images the ViT gains \(String(format: "%.1f", gaps[peak] - last)) points on the ResNet, the direction "
            + "of the paper's finding."
    }

    /// The supervised ViT's closest head per layer after each data-scaling run: the ViT paper's
    /// local heads come from large-scale supervised training, so this asks whether they come with data.
    static func supervisedDistanceSection(_ r: CompareResult, uniform: Double) -> String {
        let runs = r.vit.supervisedAttentionDistance
        guard runs.count == r.fractions.count, let layers = runs.last?.count, layers > 0 else { return "" }
        var s = "\nThe supervised ViT after each data-scaling run, closest head per layer (pixels):\n\n"
            + "| training images | " + (1...layers).map { "layer \($0)" }.joined(separator: " | ") + " |\n|---|"
            + String(repeating: "---|", count: layers) + "\n"
        for (count, distances) in zip(subsetCounts(r), runs) {
            s += "| \(count) | " + distances.map { String(format: "%.1f", $0.min() ?? .nan) }.joined(separator: " | ")
                + " |\n"
        }
        return s + "\n" + supervisedDistanceFinding(runs, counts: subsetCounts(r), uniform: uniform) + "\n"
    }

    /// Whether any head of the supervised ViTs attends locally, and at which data size the closest one was.
    static func supervisedDistanceFinding(_ runs: [[[Double]]], counts: [Int], uniform: Double) -> String {
        let closest = zip(counts, runs).map { count, layers in (count: count, value: layers.joined().min() ?? .nan) }
        guard let nearest = closest.min(by: { $0.value < $1.value }) else { return "" }
        let local = closest.filter { $0.value < 0.9 * uniform }.map { String($0.count) }
        let uniformText = String(format: "%.1f", uniform)
        let nearestHead = "its closest head, \(String(format: "%.1f", nearest.value)) pixels, after "
            + "\(nearest.count) images"
        if local.isEmpty {
            return "At no data size does a supervised ViT's head attend locally (more than 10% closer than uniform "
                + "attention's \(uniformText) pixels; \(nearestHead)): at this scale more data does not bring the "
                + "ViT paper's local heads."
        }
        return "Supervised ViTs trained on \(local.joined(separator: ", ")) images have heads that attend locally "
            + "(more than 10% closer than uniform attention's \(uniformText) pixels; \(nearestHead))."
    }

    /// The labelled images of each supervised subset (older results: the fraction of the training set).
    static func subsetCounts(_ r: CompareResult) -> [Int] {
        r.subsetCounts.count == r.fractions.count ? r.subsetCounts : r.fractions.map { Int(Double(r.trainCount) * $0) }
    }

    /// Whether frozen DINO ViT features beat supervised training when labels are few (the seeds'
    /// prediction that self-supervised ViTs will replace pre-trained CNNs as feature encoders).
    static func labelEfficiencyFinding(_ r: CompareResult) -> String {
        guard let probe = r.vit.dinoLinearPerSubset.first, let vit = r.vit.supervisedAccuracy.first,
              let resnet = r.resnet.supervisedAccuracy.first, let cnnProbe = r.resnet.dinoLinearPerSubset.first
        else { return "" }
        let count = subsetCounts(r).first ?? 0
        func against(_ other: Double, _ name: String) -> String {
            let gap = (probe - other) * 100
            if Swift.abs(gap) < 0.05 { return "level with the \(name) (\(percent(other)))" }
            return "\(gap > 0 ? "above" : "below") the \(name) (\(percent(other)), "
                + "\(String(format: "%.1f", Swift.abs(gap))) points)"
        }
        let wins = probe > vit && probe > resnet
        return "With \(count) labelled images the linear probe on frozen DINO ViT features reaches \(percent(probe)): "
            + against(resnet, "ResNet trained on them") + ", " + against(vit, "ViT trained on them") + ", and "
            + against(cnnProbe, "probe on DINO ResNet features") + ". This run "
            + (wins ? "shows" : "does not show")
            + " self-supervised ViT features doing better with few labels than supervised training of either "
            + "architecture."
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

    /// Which ViTs concentrate their class-token attention (a head's entropy at most 90% of uniform attention's)
    /// and which spread it almost evenly: flat maps carry little of the object, whatever the threshold.
    static func flatAttentionFinding(_ entropy: [String: [Double]], uniform: Double) -> String {
        guard uniform > 0, !entropy.isEmpty else { return "" }
        func nats(_ v: Double) -> String { String(format: "%.2f", v) }
        func share(_ v: Double) -> String { String(format: "%.0f%%", 100 * v / uniform) }
        let sharpest = entropy.mapValues { $0.min() ?? uniform }
        let concentrated = sharpest.filter { $0.value <= 0.9 * uniform }.sorted { $0.key < $1.key }
        let flat = sharpest.filter { $0.value > 0.9 * uniform }.sorted { $0.key < $1.key }
        var parts = concentrated.map {
            "the \($0.key)'s sharpest head has \(nats($0.value)) nats (\(share($0.value)) of uniform attention's "
                + "\(nats(uniform)))"
        }
        if let least = flat.map(\.value).min() {
            parts.append("every head of the " + flat.map(\.key).joined(separator: " and the ") + " spreads its "
                         + "class-token attention almost evenly (at least \(share(least)) of uniform attention's "
                         + "entropy): maps that carry little of the object whatever the threshold")
        }
        let sentence = parts.joined(separator: ", while ")
        return sentence.prefix(1).uppercased() + sentence.dropFirst() + "."
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
