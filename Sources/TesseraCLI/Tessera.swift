import ArgumentParser
import Foundation
import Tessera

@main
struct TesseraCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Vision Transformers and CNNs, supervised and self-supervised, side by side.",
        subcommands: [CompareCommand.self, TrainCommand.self, EvalCommand.self, AttentionCommand.self,
                      ForwardCommand.self, ZooCommand.self, ExportCommand.self, BenchCommand.self],
        defaultSubcommand: CompareCommand.self)

    /// Refuses a misspelt TESSERA_CPU_LEVEL or TESSERA_GEMM before any command runs (they would be ignored).
    static func main() {
        do {
            try KernelLevel.checkEnvironment()
            try GEMMBackend.checkEnvironment()
        } catch { exit(withError: ValidationError("\(error)")) }
        main(nil)
    }
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare a small ViT and a small ResNet, supervised and with DINO, and write a report.")

    @Option(help: "Output folder (default: runs/compare-<timestamp>).")
    var output: String?
    @Flag(help: "A smaller run, for CI (about 2 minutes on 2 cores).")
    var quick = false
    @Flag(help: """
        The full design: data scaling to 20 000 images at equal steps, accuracy against compute \
        and MoCo v3's instability (15 to 30 minutes on 2 cores).
        """)
    var full = false
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
    @Option(help: "ViT patch size (default 4).")
    var patch: Int?
    @Option(help: "Training images of the built-in data set.")
    var trainImages: Int?
    @Option(help: """
        How far an object's hue strays from its class's hue in the built-in data set \
        (0.5: colour says nothing of the class).
        """)
    var hueSpread: Double?
    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    func validate() throws {
        if quick && full { throw ValidationError("--quick and --full exclude each other: choose one") }
        for (flag, value) in [("--epochs", epochs), ("--dino-epochs", dinoEpochs), ("--train-images", trainImages)] {
            if let value, value < 1 { throw ValidationError("\(flag) must be at least 1, got \(value)") }
        }
        if let imageSize, imageSize < 8 { throw ValidationError("--image-size must be at least 8, got \(imageSize)") }
        if let patch, patch < 1 { throw ValidationError("--patch must be at least 1, got \(patch)") }
        if let data, !FileManager.default.fileExists(atPath: data) {
            throw ValidationError("--data \(data): no such file or folder")
        }
    }

    func run() throws {
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "-")
        var o = CompareOptions(output: URL(fileURLWithPath: output ?? "runs/compare-\(stamp)"),
                               mode: quick ? .quick : full ? .full : .standard)
        if let epochs { o.supervised.epochs = epochs }
        if let dinoEpochs { o.dino.epochs = dinoEpochs }
        if let data { o.data = URL(fileURLWithPath: data) }
        if let imageSize { o.imageSize = imageSize }
        if let trainImages { o.trainCount = trainImages }
        if let hueSpread {
            try DataOptions.validate(hueSpread: hueSpread)
            o.hueSpread = hueSpread
        }
        if let patch { o.vit.patchSize = patch }
        if let arch {
            // DEPTHxDIM, or any registry ViT name, whose width (not patch or image size) compare takes.
            let parts = arch.lowercased().split(separator: "x").compactMap { Int($0) }
            if parts.count == 2 {
                (o.vit.depth, o.vit.embedDim) = (parts[0], parts[1])
                o.vit.numHeads = parts[1] % 64 == 0 ? parts[1] / 64 : 3
            } else {
                guard let vit = try ModelRegistry.config(named: arch) as? ViTConfig else {
                    throw ValidationError("--arch must be a ViT (vit-ti, vit-s, vit_base_patch16_224) "
                                          + "or DEPTHxDIM such as 6x192, got \(arch)")
                }
                (o.vit.embedDim, o.vit.depth, o.vit.numHeads) = (vit.embedDim, vit.depth, vit.numHeads)
            }
        }
        o.seed = seed
        let group = try ProcessGroup.current()
        do {
            // Unbuffered lines, so a log piped to a file follows the run; rank 0 alone shows it.
            _ = try Compare.run(o, observer: group.isPrimary ? ProgressObserver() : nil, group: group) { line in
                if group.isPrimary { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
            }
        } catch where group.isDistributed {
            let message = "tessera compare (rank \(group.rank) of \(group.size)): \(error)\n"
            FileHandle.standardError.write(Data(message.utf8))
            group.abort(code: 1)
        }
    }
}
