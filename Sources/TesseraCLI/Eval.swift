import ArgumentParser
import Foundation
import Tessera

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Frozen-feature evaluations: k-NN, linear probe, and DINO's image retrieval, copy detection "
            + "and video object segmentation.",
        discussion: """
            retrieval: --data is a folder in revisitop's layout (gnd_<name>.pkl or .json, jpg/<name>.jpg). \
            copy-detection: --data in Copydays' layout (original/, strong/, jpegqual/<q>/, crops/<p>/), with \
            --distractors and --whitening folders of images. video-segmentation: --data in DAVIS's layout \
            (JPEGImages/480p/<video>/, Annotations/480p/<video>/, ImageSets/2017/val.txt). \
            `tessera export --benchmark retrieval|copy-detection|video-segmentation --output DIR` writes small ones. \
            recall: Recall@1, 2, 4, 8 and mAP@R of the test images of the second half of the classes (the \
            class-disjoint split `tessera train retrieval` trains on the first half of).
            """)

    static let methods = ["knn", "linear", "recall", "retrieval", "copy-detection", "video-segmentation"]

    @Argument(help: "knn, linear, recall, retrieval, copy-detection or video-segmentation") var method: String
    @OptionGroup var source: ModelAndData
    @Option(help: "Backbone weights (.safetensors or .pth).") var weights: String?
    @Option(help: "Also save the extracted features and labels (train_*, test_*) to this safetensors file.")
    var features: String?
    @Option(help: "Linear probe on a ViT: concatenate the class tokens of the last n blocks (DINO's eval_linear).")
    var lastBlocks = 4
    @Flag(help: "Linear probe on a ViT: append the average of the last block's patch tokens.") var avgpool = false
    @Option(help: "Retrieval: longer side at most this (default 224); copy detection: square size (default 320).")
    var imsize: Int?
    @Flag(help: "Retrieval: average the descriptors at scales 1, 1/√2 and 1/2 (DINO's --multiscale).")
    var multiscale = false
    @Option(help: "imagenet (published checkpoints; DAVIS's std 0.228 for video) or shapes (Tessera's Shapes runs).")
    var normalization = "imagenet"
    @Option(help: "Copy detection: a folder of distractor images added to the database.") var distractors: String?
    @Option(help: "Copy detection: a folder of images to learn the PCA whitening on.") var whitening: String?
    @Option(help: "Copy detection: results kept per query (default 20); video: neighbours per patch (default 5).")
    var topk: Int?
    @Option(help: "Video: previous frames used as context beside the first (DINO's --n_last_frames).")
    var nLastFrames = 7
    @Option(help: "Video: radius in patches of the source window (DINO's --size_mask_neighborhood; 0: all).")
    var sizeMaskNeighborhood = 12
    @Option(help: "Video: the frames' shorter side fed to the model (DINO's 480).") var shorterSide = 480
    @Option(help: """
        Retrieval and copy detection: write per-query results to this JSON file. Video segmentation: a folder \
        for results.json, the predicted palette masks (<video>/<frame>.png) and <video>_overlay.png.
        """)
    var output: String?

    func validate() throws {
        guard Self.methods.contains(method) else {
            throw ValidationError("the method must be one of \(Self.methods.joined(separator: ", ")), got \(method)")
        }
        if let imsize, imsize < 16 { throw ValidationError("--imsize must be at least 16, got \(imsize)") }
        if let topk, topk < 1 { throw ValidationError("--topk must be at least 1, got \(topk)") }
        guard ["imagenet", "shapes"].contains(normalization) else {
            throw ValidationError("--normalization must be imagenet or shapes, got \(normalization)")
        }
        if ["retrieval", "copy-detection", "video-segmentation"].contains(method) && source.dataOptions.data == nil {
            throw ValidationError("\(method) needs --data: a folder in the benchmark's layout (see --help)")
        }
        for (flag, path) in [("--distractors", distractors), ("--whitening", whitening)] {
            if let path, !FileManager.default.fileExists(atPath: path) {
                throw ValidationError("\(flag) \(path): no such folder")
            }
        }
    }

    func run() throws {
        switch method {
        case "retrieval": return try retrieval()
        case "copy-detection": return try copyDetection()
        case "video-segmentation": return try videoSegmentation()
        case "recall": return try recall()
        default: break
        }
        let (train, test, name) = try source.datasets()
        let model = try loadModel()
        let normalize = ExperimentData.normalize
        // DINO's eval_linear reads several blocks of a ViT; k-NN uses the final class token.
        let extract: (Variable) -> Variable = { x in
            if method == "linear", let vit = model as? VisionTransformer {
                return vit.linearFeatures(x, lastBlocks: lastBlocks, averagePool: avgpool)
            }
            return model(x)
        }
        let a = try Evaluation.features(of: train, transform: normalize, extract: extract)
        let b = try Evaluation.features(of: test, transform: normalize, extract: extract)
        if let features {
            try SafeTensors.write(["train_features": a.features, "train_labels": a.labels,
                                   "test_features": b.features, "test_labels": b.labels],
                                  to: URL(fileURLWithPath: features))
        }
        if method == "knn" {
            let r = Evaluation.knn(train: a, test: b, classes: train.classes.count)
            print(String(format: "%@: weighted k-NN (k=20, T=0.07) top-1 %.2f%%, top-5 %.2f%%",
                         name, r.top1 * 100, r.top5 * 100))
        } else {
            print(String(format: "%@: linear probe top-1 %.2f%%", name,
                         Evaluation.linearProbe(train: a, test: b, classes: train.classes.count) * 100))
        }
    }

    func loadModel() throws -> Module {
        let model = try source.model(classes: 0)
        if let weights { try ModelSpec.loadWeights(model, from: URL(fileURLWithPath: weights)) }
        model.eval()
        return model
    }

    /// Copy detection and video segmentation read a ViT's patch tokens.
    func loadViT() throws -> VisionTransformer {
        guard let vit = try loadModel() as? VisionTransformer else {
            throw ValidationError("\(method) reads a ViT's patch tokens; --arch \(source.arch ?? "(config)") "
                                  + "is not a ViT")
        }
        return vit
    }

    var dataURL: URL { URL(fileURLWithPath: source.dataOptions.data!) }

    func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(value).write(to: url, options: .atomic)
    }

    static func percent(_ values: [Double]) -> [String] { values.map { String(format: "%.2f", $0 * 100) } }

    /// Prints a Markdown table.
    static func printTable(_ header: [String], _ rows: [[String]]) {
        print("| " + header.joined(separator: " | ") + " |")
        print("|" + String(repeating: "---|", count: header.count))
        for row in rows { print("| " + row.joined(separator: " | ") + " |") }
    }

    /// Writes per-query results to `--output` when given.
    func writePerQuery<T: Encodable>(_ result: T) throws {
        guard let output else { return }
        try writeJSON(result, to: URL(fileURLWithPath: output))
        print("per-query results: \(output)")
    }

    /// The images' normalisation of retrieval and copy detection.
    var imageNormalize: any ImageTransform { normalization == "shapes" ? ExperimentData.normalize : Normalize() }
}

extension EvalCommand {
    /// DINO's eval_image_retrieval on a revisitop-layout folder: mAP and mP@k per protocol.
    func retrieval() throws {
        let benchmark = try Retrieval.Benchmark(folder: dataURL)
        let model = try loadModel()
        let patch = (model as? VisionTransformer)?.config.patchSize ?? 32
        let size = imsize ?? 224
        print("\(benchmark.name): \(benchmark.truth.images.count) database images, "
              + "\(benchmark.truth.queries.count) queries, imsize \(size)\(multiscale ? ", multiscale" : "")")
        let result = try benchmark.evaluate(imageSize: size, patchSize: patch, multiscale: multiscale,
                                            normalize: imageNormalize) { model($0) }
        Self.printTable(["protocol", "mAP", "mP@1", "mP@5", "mP@10"], Retrieval.Difficulty.allCases.map { d in
            let s = result.scores[d]!
            return [d.rawValue] + Self.percent([s.meanAveragePrecision] + s.meanPrecision)
        })
        try writePerQuery(result)
    }

    /// DINO's eval_copy_detection on a Copydays-layout folder: mAP per query block.
    func copyDetection() throws {
        let benchmark = try CopyDetection.Benchmark(folder: dataURL)
        let vit = try loadViT()
        let size = imsize ?? 320
        print("copy detection: \(benchmark.blocks[0].files.count) originals, "
              + "\(benchmark.blocks.dropFirst().map(\.files.count).reduce(0, +)) edited queries, imsize \(size)")
        let result = try benchmark.evaluate(imageSize: size, normalize: imageNormalize, topK: topk ?? 20,
                                            distractors: distractors.map { URL(fileURLWithPath: $0) },
                                            whitening: whitening.map { URL(fileURLWithPath: $0) }) {
            vit.forwardFeatures($0)
        }
        print("database: \(result.originals) originals + \(result.distractors) distractors; "
              + (result.whiteningImages > 0 ? "whitening learned on \(result.whiteningImages) images"
                                            : "no whitening"))
        Self.printTable(["block", "queries", "mAP"], result.blocks.map {
            [$0.block, "\($0.queries.count)"] + Self.percent([$0.meanAveragePrecision])
        })
        try writePerQuery(result)
    }

    /// DINO's eval_video_segmentation and DAVIS's evaluation on a DAVIS-layout folder.
    func videoSegmentation() throws {
        let benchmark = try VideoSegmentation.Benchmark(folder: dataURL)
        let vit = try loadViT()
        let parameters = VideoSegmentation.Parameters(contextFrames: nLastFrames, neighborhood: sizeMaskNeighborhood,
                                                      topK: topk ?? 5, shorterSide: shorterSide)
        try parameters.validate()
        let folder = output.map { URL(fileURLWithPath: $0) }
        print("video segmentation: \(benchmark.videos.count) videos, shorter side \(shorterSide), "
              + "context 1 + \(nLastFrames) frames, window ±\(sizeMaskNeighborhood) patches, top-\(parameters.topK)")
        let result = try benchmark.evaluate(patchSize: vit.config.patchSize, parameters: parameters,
                                            normalize: normalization == "shapes" ? ExperimentData.normalize
                                                                                 : VideoSegmentation.normalize,
                                            output: folder) { vit.forwardFeatures($0) }
        let s = result.summary
        Self.printTable(["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"],
                        [Self.percent([s.jAndFMean, s.j.mean, s.j.recall, s.j.decay, s.f.mean, s.f.recall, s.f.decay])])
        Self.printTable(["video", "object", "J-Mean", "F-Mean"], result.videos.flatMap(\.objects).map {
            [$0.video, "\($0.object)"] + Self.percent([$0.j.mean, $0.f.mean])
        })
        print(String(format: "%.2f frames/s", result.framesPerSecond))
        if let folder {
            try writeJSON(result, to: folder.appendingPathComponent("results.json"))
            print("masks, overlays and results.json: \(folder.path)")
        }
    }

    /// Recall@K and mAP@R on the unseen half of the classes (metric learning's protocol).
    func recall() throws {
        let (_, test, name) = try source.datasets()
        let unseen = MetricLearning.classHalf(of: test, testHalf: true)
        guard unseen.count >= 2 else {
            throw ValidationError("\(name) has \(unseen.count) test images in the second half of its classes")
        }
        let model = try loadModel()
        let (features, labels) = try Evaluation.features(of: unseen, transform: ExperimentData.normalize) { model($0) }
        let ids = labels.scalars(as: Int64.self).map { Int($0) }
        let ks = [1, 2, 4, 8]
        let recall = MetricLearning.recall(embeddings: features, labels: ids, ks: ks)
        let map = MetricLearning.meanAveragePrecisionAtR(embeddings: features, labels: ids)
        print("\(name): \(unseen.count) test images of \(test.classes.count - test.classes.count / 2) unseen classes")
        Self.printTable(ks.map { "R@\($0)" } + ["mAP@R"], [Self.percent(recall + [map])])
    }
}
