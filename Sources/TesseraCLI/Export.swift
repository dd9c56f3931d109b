import ArgumentParser
import Foundation
import Tessera

/// Writes a data set as tensors, so that the same experiment can be run in PyTorch on the same
/// pixels (scripts/dino_shapes_reference.py reads this file), or a small benchmark in a real layout.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a data set's images [N, 3, H, W] (float32, 0…1) and labels to a safetensors file, "
            + "or a small benchmark for `tessera eval`.")

    static let benchmarks = ["retrieval", "copy-detection", "video-segmentation"]

    @OptionGroup var source: DataOptions
    @Option(help: "The safetensors file to write (with --benchmark: the folder).") var output: String
    @Option(help: """
        Write a small benchmark into the folder --output instead: retrieval (Shapes in revisitop's layout), \
        copy-detection (Copydays' layout from the photographs of --photos, with distractors/ and whitening/) \
        or video-segmentation (moving-Shapes videos in DAVIS's layout).
        """)
    var benchmark: String?
    @Option(help: "copy-detection: the folder of photographs the originals are cut from.")
    var photos = "Tests/Fixtures/images"
    @Option(help: "--benchmark: the seed of the drawing, edits and videos.") var seed: UInt64 = 0
    @Option(help: "video-segmentation: the number of videos.") var videos = 4
    @Option(help: "video-segmentation: frames per video.") var frames = 24
    @Option(help: "video-segmentation: stretch the frames to this width (854 with --image-size 480: DAVIS's 480p).")
    var width: Int?

    func validate() throws {
        guard videos >= 1 && frames >= 3 else {
            throw ValidationError("--videos must be ≥ 1 and --frames ≥ 3, got \(videos) and \(frames)")
        }
        if let width, width < 16 { throw ValidationError("--width must be at least 16, got \(width)") }
        if let benchmark, !Self.benchmarks.contains(benchmark) {
            throw ValidationError("--benchmark must be one of \(Self.benchmarks.joined(separator: ", ")), "
                                  + "got \(benchmark)")
        }
    }

    func run() throws {
        let folder = URL(fileURLWithPath: output)
        switch benchmark {
        case "retrieval":
            let b = try Retrieval.Benchmark.writeShapes(to: folder, imageSize: Swift.max(source.imageSize, 32),
                                                         seed: seed)
            print("\(b.name): \(b.truth.images.count) database images and \(b.truth.queries.count) queries "
                  + "written to \(output)")
        case "copy-detection":
            let photoFolder = URL(fileURLWithPath: photos)
            let names = try CopyDetection.Benchmark.imageFiles(in: photoFolder).filter { !$0.contains("_") }
            guard !names.isEmpty else { throw ValidationError("--photos \(photos): no photographs") }
            let folders = try CopyDetection.Benchmark.writeSmallSet(
                photographs: names.map { photoFolder.appendingPathComponent($0) }, to: folder, seed: seed)
            let b = try CopyDetection.Benchmark(folder: folders.benchmark)
            print("copy detection: \(b.blocks[0].files.count) originals from \(names.count) photographs, "
                  + "\(b.blocks.count - 1) query blocks in \(folders.benchmark.path); distractors in "
                  + "\(folders.distractors.path), whitening images in \(folders.whitening.path)")
        case "video-segmentation":
            let b = try VideoSegmentation.Benchmark.writeMovingShapes(
                to: folder, videos: videos, frames: frames, imageSize: Swift.max(source.imageSize, 16), width: width,
                seed: seed)
            print("video segmentation: \(b.videos.count) moving-Shapes videos written to \(output)")
        default:
            let (train, test, name) = try source.datasets()
            var tensors: [String: Tensor] = [:]
            for (split, data) in [("train", train), ("test", test)] {
                (tensors["\(split)_images"], tensors["\(split)_labels"]) = try data.stacked()
            }
            try SafeTensors.write(tensors, metadata: ["dataset": name,
                                                      "classes": train.classes.joined(separator: ",")],
                                  to: folder)
            print("\(name): \(train.count) training and \(test.count) test images written to \(output)")
        }
    }
}
