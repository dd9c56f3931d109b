import ArgumentParser
import Foundation
import Tessera

@main
struct TesseraCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Vision Transformers and CNNs, supervised and self-supervised, side by side.",
        subcommands: [CompareCommand.self, TrainCommand.self, EvalCommand.self, AttentionCommand.self, ForwardCommand.self, ZooCommand.self, ExportCommand.self],
        defaultSubcommand: CompareCommand.self)
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare a small ViT and a small ResNet, supervised and with DINO, and write a report.")

    @Option(help: "Output folder (default: runs/compare-<timestamp>).")
    var output: String?
    @Flag(help: "A smaller run (under 3 minutes on 2 cores).")
    var quick = false
    @Option(help: "Supervised epochs per training-set fraction.")
    var epochs: Int?
    @Option(help: "DINO pre-training epochs.")
    var dinoEpochs: Int?
    @Option(help: "Image folder, CIFAR-10 binary folder or MNIST folder instead of the built-in Shapes.")
    var data: String?
    @Option(help: "Image size (the built-in data set is drawn at this size; other data is resized).")
    var imageSize: Int?
    @Option(help: "The ViT: 'vit-ti', 'vit-s' or depth×dim like '6x192' (patch size from --patch).")
    var arch: String?
    @Option(help: "ViT patch size (default 8).")
    var patch: Int?
    @Option(help: "Training images of the built-in data set.")
    var trainImages: Int?
    @Option(help: "How far an object's hue strays from its class's hue in the built-in data set (0.5: colour says nothing of the class).")
    var hueSpread: Double?
    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    func run() throws {
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "-")
        var o = CompareOptions(output: URL(fileURLWithPath: output ?? "runs/compare-\(stamp)"), quick: quick)
        if let epochs { o.supervisedEpochs = epochs }
        if let dinoEpochs { o.dinoEpochs = dinoEpochs }
        if let data { o.data = URL(fileURLWithPath: data) }
        if let imageSize { o.imageSize = imageSize }
        if let trainImages { o.trainCount = trainImages }
        if let hueSpread {
            try DataOptions.validate(hueSpread: hueSpread)
            o.hueSpread = hueSpread
        }
        if let patch { o.vit.patchSize = patch }
        if let arch {
            switch arch.lowercased() {
            case "vit-ti": (o.vit.embedDim, o.vit.depth, o.vit.numHeads) = (192, 12, 3)
            case "vit-s": (o.vit.embedDim, o.vit.depth, o.vit.numHeads) = (384, 12, 6)
            default:
                let parts = arch.lowercased().split(separator: "x").compactMap { Int($0) }
                guard parts.count == 2, parts[1] % 32 == 0 || parts[1] % 3 == 0 else {
                    throw ValidationError("--arch must be vit-ti, vit-s or DEPTHxDIM such as 6x192")
                }
                (o.vit.depth, o.vit.embedDim) = (parts[0], parts[1])
                o.vit.numHeads = parts[1] % 64 == 0 ? parts[1] / 64 : 3
            }
        }
        guard o.imageSize % o.vit.patchSize == 0 else {
            throw ValidationError("image size \(o.imageSize) must be a multiple of the patch size \(o.vit.patchSize)")
        }
        o.seed = seed
        o.showProgress = isatty(STDERR_FILENO) != 0
        // Unbuffered lines, so a log piped to a file follows the run.
        _ = try Compare.run(o) { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    }
}
