import ArgumentParser
import Foundation
import Tessera

/// Writes a data set as tensors, so that the same experiment can be run in PyTorch on the same
/// pixels (scripts/dino_shapes_reference.py reads this file).
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a data set's images [N, 3, H, W] (float32, 0…1) and labels to a safetensors file.")

    @OptionGroup var source: DataOptions
    @Option(help: "The safetensors file to write (with --retrieval-set: the folder).") var output: String
    @Flag(help: "Write the built-in Shapes retrieval benchmark (revisitop's layout) into the folder --output instead.")
    var retrievalSet = false

    func run() throws {
        if retrievalSet {
            let b = try Retrieval.Benchmark.writeShapes(to: URL(fileURLWithPath: output),
                                                         imageSize: Swift.max(source.imageSize, 32))
            print("\(b.name): \(b.truth.images.count) database images and \(b.truth.queries.count) queries "
                  + "written to \(output)")
            return
        }
        let (train, test, name) = try source.datasets()
        var tensors: [String: Tensor] = [:]
        for (split, data) in [("train", train), ("test", test)] {
            (tensors["\(split)_images"], tensors["\(split)_labels"]) = try data.stacked()
        }
        try SafeTensors.write(tensors, metadata: ["dataset": name, "classes": train.classes.joined(separator: ",")],
                              to: URL(fileURLWithPath: output))
        print("\(name): \(train.count) training and \(test.count) test images written to \(output)")
    }
}
