import Foundation
import Testing
import Tensor
import Vision
@testable import Experiments
import Training
import Zoo

/// `tessera compare --quick` end to end: every number, figure and the report are produced.
@Test func compareQuickWritesTheReport() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-compare-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    let options = CompareOptions(output: folder, mode: .quick)
    let progress = ProgressRecorder()
    var lines: [String] = []
    let result = try Random.withGenerator(RandomGenerator(seed: 0)) {
        try Compare.run(options, observer: progress) { lines.append($0) }
    }
    // The plan is stated before the first run, and the progress walks through its 8 runs in order
    // (3 supervised and DINO for each model), the time left in all falling to the last step.
    #expect(lines.count > 1 && lines[1].hasPrefix("expected time: about ")
            && lines[1].contains("8 training runs of 940 steps"))
    #expect(progress.runs.map(\.index) == Array(0..<8) && progress.runs.allSatisfy { $0.count == 8 })
    #expect(progress.runs.map(\.name) == ["ViT supervised on 64 images", "ViT supervised on 400 images",
                                          "ViT supervised on 1600 images", "ViT DINO",
                                          "ResNet supervised on 64 images", "ResNet supervised on 400 images",
                                          "ResNet supervised on 1600 images", "ResNet DINO"])
    #expect(progress.steps == 940 && progress.lastSecondsLeft < progress.firstSecondsLeft)
    let report = try String(contentsOf: folder.appendingPathComponent("report.md"), encoding: .utf8)
    #expect(report.contains("| model | parameters |") && report.contains("## Data scaling")
            && report.contains("Jaccard") && report.contains("## DINO pre-training")
            && report.contains("## Label efficiency"))
    for figure in ["data_scaling.png", "label_efficiency.png", "supervised_loss.png", "dino_loss.png", "dino_knn.png",
                   "attention_maps.png", "attention_jaccard.png", "position_embedding_similarity.png",
                   "attention_distance.png", "patch_pca.png"] {
        #expect(report.contains(figure))
        let image = try ImageFile.read(folder.appendingPathComponent(figure))
        #expect(image.shape[1] > 100 && image.shape[2] > 100, "\(figure)")
        let svg = try String(contentsOf: folder.appendingPathComponent(figure.replacingOccurrences(of: ".png",
                                                                                                    with: ".svg")),
                             encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") && svg.contains("<svg"), "\(figure)")
    }
    #expect(result.vit.supervisedAccuracy.count == options.supervised.fractions.count)
    #expect(result.vit.dinoLinearPerSubset.count == options.supervised.fractions.count
            && result.subsetCounts == [64, 400, 1600])
    // The report's numbers are those of results.json.
    let saved = try JSONDecoder().decode(CompareResult.self,
                                         from: Data(contentsOf: folder.appendingPathComponent("results.json")))
    #expect(report.contains("| 64 | \(percent(saved.vit.dinoLinearPerSubset[0])) | "
                            + "\(percent(saved.resnet.dinoLinearPerSubset[0])) | "))
    // Both models learn something supervised; the ResNet's and ViT's sizes are comparable.
    #expect(result.resnet.supervisedAccuracy.last! > 0.15)
    #expect(Double(result.vit.parameters) / Double(result.resnet.parameters) < 3)
    #expect(result.jaccardBest?["DINO ViT"] != nil)
    // Each scored ViT's class-token entropy per head, between 0 and uniform attention's log 64, in the report.
    let uniformEntropy = try #require(saved.uniformEntropy)
    #expect(abs(uniformEntropy - log(64)) < 1e-12)
    #expect(Set(saved.classAttentionEntropy?.keys.map { $0 } ?? []) == Set(result.jaccardBest?.keys.map { $0 } ?? [])
            && saved.classAttentionEntropy?.values.allSatisfy {
                $0.count == options.vit.numHeads && $0.allSatisfy { $0 > 0 && $0 <= uniformEntropy + 1e-9 }
            } == true)
    let dinoEntropy = saved.classAttentionEntropy?["DINO ViT"] ?? []
    #expect(report.contains("| DINO ViT | " + dinoEntropy.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
    // The Jaccard trend is scored at every k-NN evaluation; its last point is the reported result.
    #expect(result.vit.dinoJaccardCurve.map { $0[0] } == result.vit.dinoKNNCurve.map { $0[0] }
            && result.resnet.dinoJaccardCurve.isEmpty)
    #expect(abs((result.vit.dinoJaccardCurve.last?[1] ?? -1) - (result.jaccardBest?["DINO ViT"] ?? -2)) < 1e-9)
    #expect(report.contains("| DINO ViT, best head | ") && report.contains("During pre-training the DINO ViT's"))
    #expect(result.attentionDistance?.count == options.vit.depth
            && result.attentionDistance?.allSatisfy { $0.count == options.vit.numHeads } == true)
    #expect(report.contains("## Mean attention distance")
            && report.contains(String(format: "uniform attention: %.1f", result.uniformAttentionDistance ?? -1)))
    // The supervised ViT's distances after each data-scaling run, in the report as in results.json.
    #expect(saved.vit.supervisedAttentionDistance.count == options.supervised.fractions.count
            && saved.resnet.supervisedAttentionDistance.isEmpty)
    let largest = saved.vit.supervisedAttentionDistance.last ?? []
    #expect(report.contains("| 1600 | " + largest.map { String(format: "%.1f", $0.min() ?? -1) }
        .joined(separator: " | ") + " |"))
    // The k-NN curve starts at the initialisation and ends at the reported result.
    for m in [result.vit, result.resnet] {
        #expect(m.dinoKNNCurve.first?.first == 0 && m.dinoKNNCurve.last == [Double(options.dino.epochs), m.dinoKNN])
    }
}

/// The report's interpretive sentences come from the numbers, whichever way they fall.
@Test func reportSentencesFollowTheNumbers() {
    func model(_ accuracy: [Double], random: Double, knn: Double) -> ModelSummary {
        ModelSummary(name: "m", parameters: 1, gflops: 0, supervisedAccuracy: accuracy, supervisedImagesPerSecond: 0,
                     supervisedSeconds: 0, dinoImagesPerSecond: 0, dinoSeconds: 0, randomKNN: random, dinoKNN: knn,
                     dinoKNNTop5: 0, dinoLinear: 0, supervisedLosses: [], dinoLosses: [])
    }
    var r = CompareResult(dataset: "d", trainCount: 1000, testCount: 100, classes: 10, imageSize: 32,
                          fractions: [0.1, 1], vit: model([0.2, 0.5], random: 0.2, knn: 0.35),
                          resnet: model([0.4, 0.55], random: 0.3, knn: 0.305), seconds: 1)
    let finding = Report.dataScalingFinding(r)
    #expect(finding.contains("fewest images the ResNet leads by 20.0 points; with all of them the ResNet leads by 5.0"))
    #expect(finding.contains("the ViT gains 15.0 points") && finding.contains("This run shows"))
    // A lead that peaks between the smallest and the largest subsets and shrinks after it.
    var peaked = r
    (peaked.fractions, peaked.subsetCounts) = ([0.1, 0.5, 1], [100, 500, 1000])
    (peaked.vit.supervisedAccuracy, peaked.resnet.supervisedAccuracy) = ([0.2, 0.4, 0.6], [0.25, 0.7, 0.8])
    #expect(Report.dataScalingFinding(peaked).hasSuffix("The ResNet's lead is largest with 500 images (30.0 points) "
            + "and shrinks to 20.0 with all 1000: beyond 500 images the ViT gains 10.0 points on the ResNet, the "
            + "direction of the paper's finding."))
    #expect(Report.peakLead(r).isEmpty)
    r.vit.supervisedAccuracy = [0.5, 0.6]
    let reversed = Report.dataScalingFinding(r)
    #expect(reversed.contains("the ViT leads by 10.0 points") && reversed.contains("does not show")
            && reversed.contains("not behind on the smallest subset"))
    #expect(Report.dinoFinding(r) == "DINO lifts the ViT's k-NN top-1 from 20.0% at initialisation to 35.0% and "
            + "leaves the ResNet's k-NN top-1 within a point of its initialisation (30.0% → 30.5%).")
    r.vit.dinoLinearPerSubset = [0.45, 0.6]
    r.resnet.dinoLinearPerSubset = [0.3, 0.5]
    r.subsetCounts = [100, 1000]
    #expect(Report.labelEfficiencyFinding(r) == "With 100 labelled images the linear probe on frozen DINO ViT "
            + "features reaches 45.0%: above the ResNet trained on them (40.0%, 5.0 points), below the ViT trained "
            + "on them (50.0%, 5.0 points), and above the probe on DINO ResNet features (30.0%, 15.0 points). This "
            + "run does not show self-supervised ViT features doing better with few labels than supervised "
            + "training of either architecture.")
    #expect(Report.attentionDistanceFinding([[15.9, 16.2], [16.0, 15.5]], uniform: 16) == "Every head's mean "
            + "attention distance lies within 10% of uniform attention's (15.5–16.2 pixels against 16.0 for uniform "
            + "attention): no head attends locally, so this run does not show the ViT paper's local heads in early "
            + "layers.")
    #expect(Report.attentionDistanceFinding([[8, 16.2], [16.0, 14]], uniform: 16).hasPrefix("2 of 4 heads attend "
            + "locally (more than 10% closer than uniform attention; 8.0–16.2 pixels against 16.0 for uniform "
            + "attention), in layers 1, 2; the closest is in layer 1."))
    #expect(Report.supervisedDistanceFinding([[[16, 15.5]], [[15.0, 16.4]]], counts: [64, 640], uniform: 16)
            == "At no data size does a supervised ViT's head attend locally (more than 10% closer than uniform "
            + "attention's 16.0 pixels; its closest head, 15.0 pixels, after 640 images): at this scale more data "
            + "does not bring the ViT paper's local heads.")
    #expect(Report.supervisedDistanceFinding([[[16, 15.5]], [[12.0, 16.4]]], counts: [64, 640], uniform: 16)
            .hasPrefix("Supervised ViTs trained on 640 images have heads that attend locally"))
    #expect(Report.jaccardTrendFinding([[0, 0.2], [3, 0.3], [6, 0.25]], best: ["supervised ViT": 0.28])
            == "During pre-training the DINO ViT's best head goes from 0.200 at epoch 0 to 0.250 at epoch 6 "
            + "(highest 0.300, epoch 3); the supervised ViT's is 0.280, which it passes.")
    #expect(Report.flatAttentionFinding(["DINO ViT": [3.9, 4.0], "random-init ViT": [4.1]], uniform: 4.16)
            == "Every head of the DINO ViT and the random-init ViT spreads its class-token attention almost evenly "
            + "(at least 94% of uniform attention's entropy): maps that carry little of the object whatever the "
            + "threshold.")
    #expect(Report.flatAttentionFinding(["DINO ViT": [4.0, 4.1], "supervised ViT": [2.5, 3.0]], uniform: 4.16)
            == "The supervised ViT's sharpest head has 2.50 nats (60% of uniform attention's 4.16), while every "
            + "head of the DINO ViT spreads its class-token attention almost evenly (at least 96% of uniform "
            + "attention's entropy): maps that carry little of the object whatever the threshold.")
    let attention = Report.attentionFinding(["DINO ViT": 0.4, "supervised ViT": 0.3, "random-init ViT": 0.5])
    #expect(attention.contains("more than the supervised ViT's, but no more than the random-init ViT's"))
}

/// Records what a multi-run experiment reports of its progress.
final class ProgressRecorder: TrainingObserver {
    var runs: [(name: String, index: Int, count: Int)] = []
    var steps = 0, firstSecondsLeft = -1.0, lastSecondsLeft = -1.0

    func trainingDidStep(_ record: StepRecord, totalSteps: Int) { steps += 1 }

    func experimentDidProgress(run: String, index: Int, of count: Int, secondsLeft: Double) {
        if runs.last?.index != index { runs.append((run, index, count)) }
        if firstSecondsLeft < 0 { firstSecondsLeft = secondsLeft }
        lastSecondsLeft = secondsLeft
    }
}

/// DINO's local crops are half the image in whole patches, at least two across, so any image size
/// that the patch divides gives crops the ViT can embed (36 pixels at patch 4: 16, not 18).
@Test func localCropsAreWholePatches() {
    var o = CompareOptions(output: URL(fileURLWithPath: "/dev/null"))
    for (size, patch, expected) in [(32, 4, 16), (36, 4, 16), (40, 4, 20), (32, 8, 16), (24, 8, 16), (8, 4, 8)] {
        (o.imageSize, o.vit.patchSize) = (size, patch)
        #expect(o.dinoLocalCropSize == expected, "image \(size), patch \(patch)")
        #expect(o.dinoLocalCropSize % patch == 0)
    }
}
