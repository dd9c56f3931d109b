import ArgumentParser
import Foundation
import Tessera

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Images per second and peak memory of a model's forward pass or training step.",
        discussion: """
            scripts/bench_models.py times the same cases in PyTorch with the same JSON, and \
            scripts/bench_side_by_side.sh prints both in one table.
            """)

    @Option(help: """
        vit-s16, vit-b16, resnet50, swin-t, compare-vit, compare-resnet, compare-swin or dino-vit-s16 \
        (DINO's multi-crop step: 2 × 224² + 8 × 96² crops per image, student and EMA teacher).
        """)
    var model = "vit-s16"
    @Option(help: "Images per step (per process under mpirun, where train mode averages gradients over them).")
    var batch = 8
    @Option(help: "forward (evaluation mode, no graph) or train (forward, cross-entropy, backward, AdamW step).")
    var mode = "train"
    @Option(help: "Timed steps after two warm-up steps (the median is reported).")
    var steps = 5
    @Flag(help: "End with one JSON line: {\"images_per_s\": …, \"peak_rss_mb\": …, …}.")
    var json = false

    func validate() throws {
        guard ModelBenchmark.Model(rawValue: model) != nil else {
            let names = ModelBenchmark.Model.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--model must be one of \(names), got \(model)")
        }
        guard ModelBenchmark.Mode(rawValue: mode) != nil else {
            throw ValidationError("--mode must be forward or train, got \(mode)")
        }
        if batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
        if steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
    }

    func run() throws {
        let group = try ProcessGroup.current()
        let r = try ModelBenchmark.run(ModelBenchmark.Model(rawValue: model)!,
                                       mode: ModelBenchmark.Mode(rawValue: mode)!, batch: batch, steps: steps,
                                       group: group)
        guard group.isPrimary else { return }
        if let hidden = r.hiddenFraction, let allReduce = r.allReduceMilliseconds, let mb = r.gradientMegabytes {
            print("\(r.ranks) processes: all-reduce of \(String(format: "%.1f", mb)) MB in \(r.buckets ?? 0) buckets "
                  + "took \(String(format: "%.1f", allReduce)) ms per step, "
                  + "\(String(format: "%.0f", 100 * hidden))% of it hidden behind backward")
        }
        print("\(r.model) \(r.mode), batch \(r.batch): \(String(format: "%.2f", r.imagesPerSecond)) images/s "
              + "(median step \(String(format: "%.1f", r.stepMilliseconds)) ms of \(steps)), "
              + "peak RSS \(String(format: "%.0f", r.peakRSSMegabytes)) MB, "
              + "tensors \(String(format: "%.0f", r.peakTensorMegabytes)) MB; "
              + "\(String(format: "%.3f", r.forwardGigaMultiplyAdds)) G multiply-adds per image forward, "
              + "\(String(format: "%.1f", Double(r.parameters) / 1e6)) M parameters")
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            print(String(decoding: try encoder.encode(r), as: UTF8.self))
        }
    }
}
