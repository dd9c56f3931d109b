import ArgumentParser
import Foundation
import Testing
import TestSupport
import Tessera
@testable import TesseraCLI

/// The command line, run in-process through its parsed commands.
@Suite struct CLITests {
    let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    @Test func forwardWritesLogitsFeaturesAndAttention() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = #"{"arch": "vit", "img_size": 32, "patch_size": 8, "embed_dim": 48, "#
            + #""depth": 2, "num_heads": 3, "num_classes": 5}"#
        try config.write(toFile: path("vit.json"), atomically: true, encoding: .utf8)
        let vit = VisionTransformer(ViTConfig(imageSize: 32, patchSize: 8, embedDim: 48,
                                              depth: 2, numHeads: 3, numClasses: 5))
        try SafeTensors.write(vit.stateDict(), to: URL(fileURLWithPath: path("vit.safetensors")))
        let x = Tensor.randn([2, 3, 32, 32], generator: RandomGenerator(seed: 1))
        try SafeTensors.write(["input": x], to: URL(fileURLWithPath: path("input.safetensors")))
        var command = try ForwardCommand.parse(["--config", path("vit.json"), "--weights", path("vit.safetensors"),
                                                "--input", path("input.safetensors"),
                                                "--output", path("out.safetensors")])
        try command.run()
        let out = try SafeTensors.read(URL(fileURLWithPath: path("out.safetensors"))).tensors
        #expect(out["logits"]?.shape == [2, 5] && out["cls_features"]?.shape == [2, 48]
                && out["last_attention"]?.shape == [2, 3, 17, 17])
        vit.eval()
        expectClose(out["logits"]!, noGrad { vit(Variable(x)).data }, atol: 1e-5, rtol: 1e-5)

        // An image input is resized and centre-cropped; a ResNet by name works too.
        command = try ForwardCommand.parse(["--arch", "resnet18", "--input",
                                            fixturesDirectory.appendingPathComponent("images/rocket.jpg").path,
                                            "--output", path("r.safetensors"), "--image-size", "64"])
        try command.run()
        #expect(try SafeTensors.read(URL(fileURLWithPath: path("r.safetensors"))).tensors["logits"]?.shape == [1, 1000])

        // A Swin from a config in timm's names: pooled features, logits and the last stage's tokens.
        let swin = #"{"arch": "swin", "img_size": 64, "patch_size": 4, "embed_dim": 16, "depths": [2, 2], "#
            + #""num_heads": [2, 4], "window_size": 4, "num_classes": 3}"#
        try swin.write(toFile: path("swin.json"), atomically: true, encoding: .utf8)
        try SafeTensors.write(["input": Tensor.randn([2, 3, 64, 64], generator: RandomGenerator(seed: 2))],
                              to: URL(fileURLWithPath: path("in64.safetensors")))
        try ForwardCommand.parse(["--config", path("swin.json"), "--input", path("in64.safetensors"),
                                  "--output", path("s.safetensors")]).run()
        let s = try SafeTensors.read(URL(fileURLWithPath: path("s.safetensors"))).tensors
        #expect(s["logits"]?.shape == [2, 3] && s["cls_features"]?.shape == [2, 32])
        #expect(s["features"]?.shape == [2, 8, 8, 32])
    }

    @Test func exportWritesTheBuiltInDataAsTensors() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try ExportCommand.parse(["--train-images", "20", "--image-size", "16",
                                 "--output", path("shapes.safetensors")]).run()
        let (tensors, metadata) = try SafeTensors.read(URL(fileURLWithPath: path("shapes.safetensors")))
        #expect(tensors["train_images"]?.shape == [20, 3, 16, 16] && tensors["train_labels"]?.dtype == .int64)
        #expect(tensors["test_images"]?.shape == [1000, 3, 16, 16]
                && metadata["classes"]?.hasPrefix("disc,square") == true)
        // The same pixels as the data set the other commands train on.
        let train = try ExperimentData.load(nil, imageSize: 16, trainCount: 20).train
        expectClose(tensors["train_images"]![7], try train.image(at: 7), atol: 0, rtol: 0)
        #expect(tensors["train_labels"]!.scalars(as: Int64.self) == (0..<20).map { Int64(train.label(at: $0)) })
    }

    /// `export --benchmark retrieval` writes the Shapes benchmark in revisitop's layout and `eval retrieval`
    /// scores a model on it, writing per-query JSON; bad flags are usage errors.
    @Test func retrievalSetAndEvaluation() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try ExportCommand.parse(["--benchmark", "retrieval", "--image-size", "32", "--output", path("set")]).run()
        #expect(FileManager.default.fileExists(atPath: path("set/gnd_shapes.json")))
        try EvalCommand.parse(["retrieval", "--arch", "vit-ti/8", "--image-size", "32", "--data", path("set"),
                               "--imsize", "32", "--normalization", "shapes", "--output", path("r.json")]).run()
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("r.json"))))
        let result = try #require(json as? [String: Any])
        #expect(result["benchmark"] as? String == "shapes" && (result["topTen"] as? [[String]])?.count == 20)
        #expect(throws: (any Error).self) { try EvalCommand.parse(["retrieval", "--arch", "vit-ti/8"]) }
        #expect(throws: (any Error).self) {
            try EvalCommand.parse(["retrieval", "--data", path("set"), "--normalization", "cifar"])
        }
    }

    /// `export --benchmark copy-detection` cuts a Copydays-layout set from the photographs and
    /// `eval copy-detection` scores a ViT on it with distractors and whitening; a ResNet is refused.
    @Test func copyDetectionSetAndEvaluation() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try ExportCommand.parse(["--benchmark", "copy-detection", "--output", path("cd"),
                                 "--photos", fixturesDirectory.appendingPathComponent("images").path]).run()
        #expect(FileManager.default.fileExists(atPath: path("cd/copydays/jpegqual/3/000000.jpg")))
        try EvalCommand.parse(["copy-detection", "--arch", "vit-ti/8", "--image-size", "32",
                               "--data", path("cd/copydays"),
                               "--distractors", path("cd/distractors"), "--whitening", path("cd/whitening"),
                               "--imsize", "32", "--output", path("cd.json")]).run()
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("cd.json"))))
        let result = try #require(json as? [String: Any])
        #expect((result["blocks"] as? [Any])?.count == 20 && result["whiteningImages"] as? Int == 400)
        let resnet = try EvalCommand.parse(["copy-detection", "--arch", "resnet18", "--data", path("cd/copydays")])
        #expect { try resnet.run() } throws: { "\($0)".contains("--arch resnet18 is not a ViT") }
        #expect(throws: (any Error).self) {
            try EvalCommand.parse(["copy-detection", "--data", path("cd/copydays"), "--whitening", path("none")])
        }
    }

    /// `export --benchmark video-segmentation` writes moving-Shapes videos in DAVIS's layout and
    /// `eval video-segmentation` writes results.json, palette masks and overlays.
    @Test func videoSegmentationSetAndEvaluation() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try ExportCommand.parse(["--benchmark", "video-segmentation", "--output", path("davis"),
                                 "--image-size", "64"]).run()
        try EvalCommand.parse(["video-segmentation", "--arch", "vit-ti/8", "--image-size", "64", "--data",
                               path("davis"), "--shorter-side", "64", "--output", path("out")]).run()
        for file in ["out/results.json", "out/shapes-00/00023.png", "out/shapes-03_overlay.png"] {
            #expect(FileManager.default.fileExists(atPath: path(file)), "\(file)")
        }
        #expect(throws: (any Error).self) {
            try EvalCommand.parse(["video-segmentation", "--data", path("davis"), "--topk", "0"])
        }
        #expect(throws: (any Error).self) { try EvalCommand.parse(["segmentation", "--data", path("davis")]) }
        let bad = try EvalCommand.parse(["video-segmentation", "--arch", "vit-ti/8", "--data", path("davis"),
                                         "--shorter-side", "32"])
        #expect { try bad.run() } throws: { "\($0)".contains("shorterSide must be ≥ 64, got 32") }
    }

    /// `train retrieval` (IRT on the first half of the classes) writes a backbone that
    /// `eval recall` scores on the other half; a batch that cannot hold the classes is refused.
    @Test func retrievalTrainingAndRecall() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try TrainCommand.parse(["retrieval", "--arch", "vit-ti/8", "--epochs", "1", "--train-images", "200",
                                "--batch-size", "20", "--output", path("irt")]).run()
        try EvalCommand.parse(["recall", "--arch", "vit-ti/8", "--weights", path("irt/backbone.safetensors")]).run()
        #expect(throws: (any Error).self) {
            try TrainCommand.parse(["retrieval", "--batch-size", "20", "--images-per-class", "3"])
        }
        let crowded = try TrainCommand.parse(["retrieval", "--arch", "vit-ti/8", "--batch-size", "20",
                                              "--images-per-class", "2", "--output", path("x")])
        #expect { try crowded.run() } throws: { "\($0)".contains("puts 10 classes in a batch of 20") }
    }

    /// `train sit` writes the teacher's backbone for `eval knn`, reconstruction figures and the
    /// masked L1 error in the log; a ResNet, a bad --drop-perc or --drop-align are refused by name.
    @Test func sitTrainingWritesBackboneAndFigures() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        for extra in [[], ["--first-version", "--drop-type", "noise", "--drop-align", "8"]] {
            try TrainCommand.parse(["sit", "--arch", "vit-ti/8", "--epochs", "1", "--train-images", "64",
                                    "--batch-size", "16", "--output", path("sit")] + extra).run()
            let figures = try FileManager.default.contentsOfDirectory(atPath: path("sit/reconstruction"))
            #expect(figures.sorted() == ["epoch_0000.png", "epoch_0001.png"])
            let figure = try ImageFile.read(URL(fileURLWithPath: path("sit/reconstruction/epoch_0001.png")))
            #expect(figure.shape == [3, 4 * 34 + 2, 8 * 34 + 2])
            let log = try String(contentsOfFile: path("sit/log.jsonl"), encoding: .utf8)
            #expect(log.contains("reconstruction_l1"))
        }
        try EvalCommand.parse(["knn", "--arch", "vit-ti/8", "--train-images", "200",
                               "--weights", path("sit/teacher_backbone.safetensors")]).run()
        let resnet = try TrainCommand.parse(["sit", "--arch", "resnet18", "--output", path("x")])
        #expect { try resnet.run() } throws: { "\($0)".contains("--arch must be a ViT") }
        let badDrop = try TrainCommand.parse(["sit", "--arch", "vit-ti/8", "--drop-perc", "1.5", "--output", path("x")])
        #expect { try badDrop.run() } throws: { "\($0)".contains("drop-perc") && "\($0)".contains("1.5") }
        let badAlign = try TrainCommand.parse(["sit", "--arch", "vit-ti/8", "--drop-align", "16",
                                               "--output", path("x")])
        #expect { try badAlign.run() } throws: { "\($0)".contains("drop-align") }
    }

    @Test func esvitTrainingWritesATeacherWithARegionHead() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let swin = #"{"arch": "swin", "img_size": 32, "patch_size": 4, "embed_dim": 16, "depths": [2, 2], "#
            + #""num_heads": [2, 4], "window_size": 4}"#
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try swin.write(toFile: path("swin.json"), atomically: true, encoding: .utf8)
        try TrainCommand.parse(["esvit", "--config", path("swin.json"), "--epochs", "1", "--train-images", "64",
                                "--batch-size", "16", "--output", path("esvit")]).run()
        let checkpoint = try SafeTensors.read(URL(fileURLWithPath: path("esvit/checkpoint.safetensors"))).tensors
        #expect(checkpoint.keys.contains { $0.hasPrefix("teacher.head_dense.") }
                && checkpoint["dino_loss.center_grid"] != nil)
        try EvalCommand.parse(["knn", "--config", path("swin.json"), "--train-images", "200",
                               "--weights", path("esvit/teacher_backbone.safetensors")]).run()
    }

    @Test func damagedWeightsFailWithAMessage() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let good = try Data(contentsOf: fixturesDirectory.appendingPathComponent("dino_checkpoint.pth"))
        try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: path("broken.pth")))
        try SafeTensors.write(["input": Tensor.zeros([1, 3, 32, 32])], to: URL(fileURLWithPath: path("in.safetensors")))
        let command = try ForwardCommand.parse(["--arch", "vit-s/16", "--weights", path("broken.pth"),
                                                "--input", path("in.safetensors"), "--output", path("o.safetensors")])
        #expect { try command.run() } throws: { "\($0)".contains("broken.pth") }
        #expect(!FileManager.default.fileExists(atPath: path("o.safetensors")))
    }

    @Test func zooVerifyAndConvert() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let resnet = ResNet(.depth(18)!)
        try SafeTensors.write(resnet.stateDict(), to: URL(fileURLWithPath: path("r18.safetensors")))
        try ZooCommand.Verify.parse([path("r18.safetensors"), "--arch", "resnet18"]).run()
        var partial = resnet.stateDict()
        partial["fc.weight"] = nil
        try SafeTensors.write(partial, to: URL(fileURLWithPath: path("r18-partial.safetensors")))
        #expect(throws: ExitCode.self) {
            try ZooCommand.Verify.parse([path("r18-partial.safetensors"), "--arch", "resnet18"]).run()
        }
        try ZooCommand.Convert.parse([fixturesDirectory.appendingPathComponent("dino_checkpoint.pth").path,
                                      path("t.safetensors"), "--entry", "teacher", "--strip", "backbone."]).run()
        #expect(try SafeTensors.read(URL(fileURLWithPath: path("t.safetensors"))).tensors["0.weight"] != nil)
        #expect(Catalogue.entries.count >= 18
                && Catalogue.entry(named: "dino_vits16")?.results["imagenet_knn_top1"] == 74.5)
        // An EsViT training checkpoint (Swin in its original layout, DINO heads on it) against a Swin config.
        let swin = #"{"arch": "swin", "img_size": 32, "patch_size": 2, "embed_dim": 8, "depths": [2, 2], "#
            + #""num_heads": [2, 4], "window_size": 4}"#
        try swin.write(toFile: path("swin.json"), atomically: true, encoding: .utf8)
        let esvit = fixturesDirectory.appendingPathComponent("esvit_checkpoint.pth").path
        try ZooCommand.Verify.parse([esvit, "--config", path("swin.json"), "--exclude", "head.,head_dense."]).run()
        #expect(throws: ExitCode.self) { try ZooCommand.Verify.parse([esvit, "--config", path("swin.json")]).run() }
    }
}

extension CLITests {
    @Test func trainEvaluateAndDrawAttention() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = #"{"arch": "vit", "img_size": 32, "patch_size": 8, "embed_dim": 24, "#
            + #""depth": 1, "num_heads": 2, "num_classes": 10}"#
        try config.write(toFile: path("tiny.json"), atomically: true, encoding: .utf8)
        try TrainCommand.parse(["supervised", "--config", path("tiny.json"), "--train-images", "64",
                                "--epochs", "2", "--batch-size", "16", "--output", path("run")]).run()
        let log = try String(contentsOfFile: path("run/log.jsonl"), encoding: .utf8)
        #expect(log.split(separator: "\n").count == 8)
        #expect(FileManager.default.fileExists(atPath: path("run/checkpoint.safetensors")))
        // The trained classifier scores a short ViTGAN run (Fréchet distance and Inception Score on its features).
        try TrainCommand.parse(["vitgan", "--train-images", "64", "--epochs", "1", "--batch-size", "16",
                                "--gan-dim", "16", "--gan-depth", "1", "--gan-patch", "8", "--output", path("gan"),
                                "--fd-classifier", path("run/model.safetensors"), "--fd-config", path("tiny.json")])
            .run()
        let ganLog = try String(contentsOfFile: path("gan/log.jsonl"), encoding: .utf8)
        #expect(ganLog.contains("\"classifier_fd\"") && ganLog.contains("\"inception_score\""))
        #expect { try TrainCommand.parse(["vitgan", "--fd-classifier", path("run/model.safetensors")]) } throws: {
            TrainCommand.message(for: $0).contains("--fd-classifier needs the classifier's --fd-arch NAME")
        }
        // Resuming a finished run trains no further.
        try TrainCommand.parse(["supervised", "--config", path("tiny.json"), "--train-images", "64",
                                "--epochs", "2", "--batch-size", "16", "--output", path("run"), "--resume"]).run()
        #expect(try String(contentsOfFile: path("run/log.jsonl"), encoding: .utf8).split(separator: "\n").count == 8)

        try EvalCommand.parse(["knn", "--config", path("tiny.json"), "--train-images", "64",
                               "--features", path("f.safetensors")]).run()
        let saved = try SafeTensors.read(URL(fileURLWithPath: path("f.safetensors"))).tensors
        #expect(saved["train_features"]?.shape == [64, 24] && saved["test_labels"]?.shape == [1000])
        try EvalCommand.parse(["linear", "--config", path("tiny.json"), "--train-images", "64", "--avgpool"]).run()
        try AttentionCommand.parse(["--arch", "vit-ti/16", "--image-size", "32", "--output", path("a.png"),
                                    fixturesDirectory.appendingPathComponent("images/coffee.png").path]).run()
        #expect(try ImageFile.read(URL(fileURLWithPath: path("a.png"))).shape[0] == 3)
        #expect { try TrainCommand.parse(["mocov2", "--arch", "vit-ti/16"]) } throws: {
            TrainCommand.message(for: $0)
                .contains("supervised, dino, esvit, mocov3, sit, retrieval or vitgan, got mocov2")
        }
        for recipe in ["dino", "mocov3"] {
            try TrainCommand.parse([recipe, "--config", path("tiny.json"), "--train-images", "32",
                                    "--epochs", "1", "--batch-size", "16", "--output", path(recipe)]).run()
            #expect(FileManager.default.fileExists(atPath: path("\(recipe)/log.jsonl")))
        }
    }

    /// `tessera bench` on compare's small models: a step is timed and the JSON line carries the numbers.
    @Test func benchReportsImagesPerSecondAndMemory() throws {
        let result = try ModelBenchmark.run(.compareViT, mode: .train, batch: 4, steps: 1)
        #expect(result.imagesPerSecond > 0 && result.peakRSSMegabytes > 10 && result.peakTensorMegabytes > 1)
        let json = try JSONEncoder().encode(result)
        let fields = try JSONSerialization.jsonObject(with: json) as? [String: Any]
        #expect(fields?["images_per_s"] is Double && fields?["peak_rss_mb"] is Double)
        #expect(fields?["model"] as? String == "compare-vit")
        try BenchCommand.parse(["--model", "compare-resnet", "--batch", "2", "--mode", "forward", "--steps", "1"]).run()
        // Multiply-adds of one image's forward as torch.utils.flop_counter counts them on timm's models
        // (scripts/bench_models.py --json, forward_gmacs × 1e9): the small Swin, and DINO's ViT-S/16 with its head.
        let swin = try ModelBenchmark.run(.compareSwin, mode: .forward, batch: 2, steps: 1)
        #expect(Int((swin.forwardGigaMultiplyAdds * 1e9).rounded()) == 5_456_832)
        let dino = try ModelBenchmark.run(.dinoViTS16, mode: .forward, batch: 1, steps: 1)
        #expect(Int((dino.forwardGigaMultiplyAdds * 1e9).rounded()) == 4_620_780_544 && dino.parameters == 44_017_792)
    }
}

extension CLITests {
    /// `tessera train vitgan --data FOLDER`: an image folder of PNG files (one subfolder per class)
    /// trains like the built-in data, with sample grids and a log.
    @Test func vitganTrainsOnAnImageFolder() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let shapes = Shapes(count: 40, imageSize: 16)
        for i in 0..<shapes.count {
            let classFolder = folder.appendingPathComponent("images/\(shapes.classes[shapes.label(at: i)])")
            try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
            try ImageFile.writePNG(shapes.image(at: i), to: classFolder.appendingPathComponent("\(i).png"))
        }
        try TrainCommand.parse(["vitgan", "--data", path("images"), "--image-size", "16", "--epochs", "2",
                                "--batch-size", "8", "--gan-dim", "16", "--gan-depth", "1", "--gan-patch", "8",
                                "--output", path("gan")]).run()
        let log = try String(contentsOfFile: path("gan/log.jsonl"), encoding: .utf8)
        #expect(log.contains("\"pixel_fd\""))
        let samples = try FileManager.default.contentsOfDirectory(atPath: path("gan/samples"))
        #expect(samples.contains("epoch_0002.png"))
    }
}
