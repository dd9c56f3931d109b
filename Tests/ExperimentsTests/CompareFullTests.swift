import Foundation
import Testing
import Tensor
import Vision
@testable import Experiments
import Training
import Zoo

/// The stages only `--full` runs (equal steps, accuracy against compute with a finer-grid ViT, MoCo
/// v3's stability), at a toy scale: every section and figure is written, and the report's numbers
/// are those of results.json.
@Test func fullDesignWritesEverySection() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-full-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    var o = CompareOptions(output: folder)
    (o.trainCount, o.testCount, o.supervised.fractions, o.supervised.epochs, o.supervised.steps) = (256, 64, [0.25, 1],
                                                                                                    2, 6)
    (o.dino.epochs, o.dino.trainImages, o.dino.linearProbeEpochs, o.attention.images) = (1, 128, 5, 16)
    o.vit.patchSize = 8  // so that the patch-4 ViT below is the finer grid
    o.compute.vits = [ViTConfig(imageSize: 32, patchSize: 4, embedDim: 24, depth: 2, numHeads: 2, mlpRatio: 2)]
    o.compute.resnets = [ResNetConfig(block: .basic, layers: [1, 1, 1, 1], width: 4, smallInputStem: true)]
    (o.stability.enabled, o.stability.trainImages, o.stability.epochs) = (true, 128, 2)
    let progress = ProgressRecorder()
    let result = try Random.withGenerator(RandomGenerator(seed: 0)) { try Compare.run(o, observer: progress) }
    // 2 fractions and DINO per model, 2 compute runs, 2 MoCo runs, in the plan's order; equal steps.
    #expect(progress.runs.map(\.name) == ["ViT supervised on 64 images", "ViT supervised on 256 images", "ViT DINO",
                                          "ResNet supervised on 64 images", "ResNet supervised on 256 images",
                                          "ResNet DINO", "ViT (patch 4, dim 24, depth 2) supervised on 256 images",
                                          "ResNet (basic, 1-1-1-1, width 4) supervised on 256 images",
                                          "MoCo v3, learnt patch projection",
                                          "MoCo v3, frozen random patch projection"])
    #expect(progress.steps == 6 * 6 + 2 * 2 + 2 * 2 * 2 && result.vit.supervisedLosses.count == 6)
    let compute = try #require(result.computeScaling)
    #expect(compute.points.count == 4 && compute.family("ViT").count == 2)
    // The chart joins ViTs of one patch size only: the main ViT (patch 8) and the patch-4 one are two lines.
    #expect(Report.chartSeries(compute).map(\.name) == ["ViT, patch 4", "ViT, patch 8", "ResNet"])
    for p in compute.points { #expect(abs(p.trainingTFLOPs - 3 * p.gflops * 6 * 64 / 1e3) < 1e-12) }
    let fine = try #require(compute.finest)
    #expect(fine.grid == 8 && fine.distances.count == 2 && fine.distances.allSatisfy { $0.count == 2 })
    let stability = try #require(result.stability)
    #expect(stability.runs.map(\.patchProjection) == ["learnt", "frozen random"]
            && stability.runs.allSatisfy { $0.knnCurve.map { $0[0] } == [0, 1, 2] && $0.losses.count == 4 })
    let report = try String(contentsOf: folder.appendingPathComponent("report.md"), encoding: .utf8)
    #expect(report.contains("Every run takes 6 steps whatever its data size")
            && report.contains("## Accuracy against compute") && report.contains("## MoCo v3 stability")
            && report.contains("sees the image as 8 × 8 patches"))
    for figure in ["accuracy_vs_compute", "position_embedding_similarity_fine", "attention_distance_fine",
                   "mocov3_knn", "mocov3_loss"] {
        #expect(report.contains("![\(figure).png]"))
        let image = try ImageFile.read(folder.appendingPathComponent(figure + ".png"))
        #expect(image.shape[1] > 100 && image.shape[2] > 100, "\(figure)")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(figure + ".svg").path))
    }
    let saved = try JSONDecoder().decode(CompareResult.self,
                                         from: Data(contentsOf: folder.appendingPathComponent("results.json")))
    for p in try #require(saved.computeScaling).points {
        #expect(report.contains("| \(p.name) | \(String(format: "%.2f M", Double(p.parameters) / 1e6)) | "
                                + "\(String(format: "%.4f", p.gflops)) | \(String(format: "%.2f", p.trainingTFLOPs)) | "
                                + "\(percent(p.accuracy)) |"))
    }
    // The dips the report prints are results.json's own numbers, not recomputed from its curves.
    let raw = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("results.json")))
    let rawRuns = try #require(((raw as? [String: Any])?["stability"] as? [String: Any])?["runs"] as? [[String: Any]])
    for (run, rawRun) in zip(try #require(saved.stability).runs, rawRuns) {
        let dropValue = try #require(rawRun["largestKNNDrop"] as? Double)
        let riseValue = try #require(rawRun["largestLossRise"] as? Double)
        #expect(dropValue == run.largestKNNDrop && riseValue == run.largestLossRise)
        let drop = String(format: "%.1f", dropValue), rise = String(format: "%.3f", riseValue)
        #expect(report.contains("| \(run.patchProjection) | \(drop) | \(rise) | \(percent(run.knnCurve.last![1])) |"))
    }
}

/// MoCo v3's fix is a frozen patch projection: only the learnt run's optimiser holds it.
@Test func mocoRunsDifferOnlyInThePatchProjection() throws {
    var o = CompareOptions(output: FileManager.default.temporaryDirectory)
    (o.trainCount, o.testCount, o.attention.images) = (128, 16, 4)
    let (train, test, _, masks) = try Compare.datasets(o)
    let run = try Compare.Run(options: o, train: train, test: test, masks: masks, observer: nil, group: .single,
                              log: { _ in })
    for frozen in [false, true] {
        let (recipe, _) = run.mocoSetup(frozenPatchProjection: frozen)
        let parameters = recipe.model.baseEncoder.namedParameters()
        let patchProjection = parameters.filter { $0.name.hasPrefix("patch_embed") }
        #expect(patchProjection.allSatisfy { $0.parameter.requiresGrad != frozen })
        #expect(parameters.filter { $0.name.hasPrefix("blocks") }.allSatisfy { $0.parameter.requiresGrad })
    }
}

/// The sentences of findings b and e follow the numbers.
@Test func computeAndStabilitySentencesFollowTheNumbers() {
    func point(_ family: String, _ tflops: Double, _ accuracy: Double) -> ComputeScalingResult.Point {
        .init(family: family, name: family, parameters: 1, gflops: 0, trainingTFLOPs: tflops, accuracy: accuracy,
              seconds: 0)
    }
    var c = ComputeScalingResult(points: [point("ViT", 1, 0.3), point("ViT", 4, 0.5), point("ResNet", 2, 0.6),
                                          point("ResNet", 8, 0.7)], steps: 10, batchSize: 64)
    #expect(Report.interpolate(c.family("ViT"), at: 2) == 0.4)
    #expect(Report.computeFinding(c).contains("At equal compute (2.00–4.00 TFLOPs) the ResNets lead by 15.0 to 20.0 "
                                              + "points: this run does not show"))
    c.points = [point("ViT", 1, 0.7), point("ViT", 4, 0.9), point("ResNet", 2, 0.6), point("ResNet", 8, 0.7)]
    let finding = Report.computeFinding(c)
    #expect(finding.contains("the ViTs lead by") && finding.contains("this run shows"))
    func run(_ name: String, _ knn: [Double]) -> StabilityResult.Run {
        .init(patchProjection: name, knnCurve: knn.enumerated().map { [Double($0), $1] },
              losses: Array(repeating: 1, count: 20) + Array(repeating: 1.5, count: 10), seconds: 0)
    }
    let unstable = run("learnt", [0.2, 0.4, 0.3, 0.45]), stable = run("frozen random", [0.2, 0.35, 0.4, 0.5])
    #expect(abs(unstable.largestKNNDrop - 10) < 1e-9 && stable.largestKNNDrop == 0
            && abs(unstable.largestLossRise - 0.5) < 1e-12)
    let r = StabilityResult(learningRate: 0.1, batchSize: 64, trainImages: 100, runs: [unstable, stable])
    #expect(Report.stabilityFinding(r).hasPrefix("With the learnt patch projection k-NN top-1 dips by up to 10.0 "
                                                 + "points during training; with the frozen random one by up to 0.0, "
                                                 + "and it ends 5.0 points higher. This run shows")
            && Report.stabilityFinding(r).hasSuffix("and freezing removes them."))
    // Both dip, the learnt run 3 points deeper: shown, but the frozen run's dips are not called removed.
    let dipping = run("frozen random", [0.2, 0.35, 0.3, 0.5])
    let reduced = Report.stabilityFinding(StabilityResult(learningRate: 0.1, batchSize: 64, trainImages: 100,
                                                          runs: [unstable, dipping]))
    #expect(reduced.contains("This run shows") && reduced.hasSuffix("rather than removing them (5.0 points remain).")
            && !reduced.contains("removes"))
    let level = Report.stabilityFinding(StabilityResult(learningRate: 0.1, batchSize: 64, trainImages: 100,
                                                        runs: [run("learnt", [0.2, 0.35, 0.3, 0.5]),
                                                               run("frozen random", [0.2, 0.4, 0.3, 0.5])]))
    #expect(level.contains("does not show") && level.hasSuffix("(the learnt run's dips are not 2 points deeper)."))
}
