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
    var options = CompareOptions(output: folder, quick: true)
    let result = try Random.withGenerator(RandomGenerator(seed: 0)) { try Compare.run(options) { _ in } }
    let report = try String(contentsOf: folder.appendingPathComponent("report.md"), encoding: .utf8)
    #expect(report.contains("| model | parameters |") && report.contains("## Data scaling") && report.contains("Jaccard")
            && report.contains("## DINO pre-training"))
    for figure in ["data_scaling.png", "supervised_loss.png", "dino_loss.png", "dino_knn.png", "attention_maps.png",
                   "position_embedding_similarity.png", "attention_distance.png", "patch_pca.png"] {
        #expect(report.contains(figure))
        let image = try ImageFile.read(folder.appendingPathComponent(figure))
        #expect(image.shape[1] > 100 && image.shape[2] > 100, "\(figure)")
    }
    #expect(result.vit.supervisedAccuracy.count == options.fractions.count)
    // Both models learn something supervised; the ResNet's and ViT's sizes are comparable.
    #expect(result.resnet.supervisedAccuracy.last! > 0.15)
    #expect(Double(result.vit.parameters) / Double(result.resnet.parameters) < 3)
    #expect(result.jaccardBest?["DINO ViT"] != nil)
    // The k-NN curve starts at the initialisation and ends at the reported result.
    for m in [result.vit, result.resnet] {
        #expect(m.dinoKNNCurve.first?.first == 0 && m.dinoKNNCurve.last == [Double(options.dinoEpochs), m.dinoKNN])
    }
}

/// `tessera compare --patch 8` on 32-pixel images: a 4 × 4 grid, whose similarity figure is
/// narrower than its title (this trapped in the canvas before the title set the width).
@Test func positionSimilarityFigureOfACoarseGrid() {
    let vit = VisionTransformer(ViTConfig(imageSize: 32, patchSize: 8, embedDim: 24, depth: 1, numHeads: 2))
    let canvas = Report.positionSimilarityFigure(vit)
    #expect(canvas.width >= Canvas.textWidth("position embedding similarity"))
}
