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
    let options = CompareOptions(output: folder, quick: true)
    let result = try Random.withGenerator(RandomGenerator(seed: 0)) { try Compare.run(options) { _ in } }
    let report = try String(contentsOf: folder.appendingPathComponent("report.md"), encoding: .utf8)
    #expect(report.contains("| model | parameters |") && report.contains("## Data scaling")
            && report.contains("Jaccard") && report.contains("## DINO pre-training")
            && report.contains("## Label efficiency"))
    for figure in ["data_scaling.png", "label_efficiency.png", "supervised_loss.png", "dino_loss.png", "dino_knn.png", "attention_maps.png",
                   "position_embedding_similarity.png", "attention_distance.png", "patch_pca.png"] {
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
    let attention = Report.attentionFinding(["DINO ViT": 0.4, "supervised ViT": 0.3, "random-init ViT": 0.5])
    #expect(attention.contains("more than the supervised ViT's, but no more than the random-init ViT's"))
}
