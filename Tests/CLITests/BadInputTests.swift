import Foundation
import Testing
import TestSupport

/// User mistakes — in config files, flags and data folders — end the `tessera` process with a
/// non-zero exit and a message that names the field, the value and the rule: never a trap, a
/// backtrace, or minutes of training on nonsense.
@Suite struct BadInputTests {
    let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-bad-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Runs `tessera arguments`; expects a normal non-zero exit whose output holds every one of `expected`.
    func expectFailure(_ arguments: [String], saying expected: [String], environment: [String: String]? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let child = try ChildProcess(builtExecutable("tessera"), arguments, standardError: true,
                                     environment: environment)
        try child.wait(seconds: 120)
        let output = try child.output()
        let process = child.process
        #expect(process.terminationReason == .exit, "killed by signal \(process.terminationStatus): \(output)",
                sourceLocation: sourceLocation)
        #expect(process.terminationStatus != 0, "exit 0 for \(arguments)", sourceLocation: sourceLocation)
        for text in expected {
            #expect(output.contains(text), "'\(text)' not in: \(output)", sourceLocation: sourceLocation)
        }
        for trap in ["Fatal error", "Stack dump", "Illegal instruction", "Current stack trace"] {
            #expect(!output.contains(trap), "\(trap) in: \(output)", sourceLocation: sourceLocation)
        }
    }

    /// `tessera forward --config` with `json` as the config file: it fails before reading the input.
    func forward(config json: String) throws -> [String] {
        try json.write(toFile: path("config.json"), atomically: true, encoding: .utf8)
        return ["forward", "--config", path("config.json"), "--input", path("none.safetensors"),
                "--output", path("out.safetensors")]
    }

    @Test func misspeltKernelLevel() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["TESSERA_CPU_LEVEL"] = "avx3"
        try expectFailure(["zoo", "list"], saying: ["TESSERA_CPU_LEVEL = 'avx3'", "avx512, avx2 or baseline"],
                          environment: environment)
    }

    @Test func zeroPatchSize() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try expectFailure(forward(config: #"{"arch": "vit", "img_size": 32, "patch_size": 0, "#
                                          + #""embed_dim": 48, "num_heads": 3}"#),
                          saying: ["config.json", "patch_size = 0", "must be positive"])
    }

    @Test func headsThatDoNotDivideTheWidth() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try expectFailure(forward(config: #"{"arch": "vit", "img_size": 32, "patch_size": 8, "#
                                          + #""embed_dim": 96, "num_heads": 7}"#),
                          saying: ["embed_dim = 96", "divisible by num_heads = 7"])
    }

    @Test func absurdWidth() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try expectFailure(forward(config: #"{"arch": "vit", "embed_dim": 3000000, "num_heads": 3}"#),
                          saying: ["embed_dim = 3000000", "parameters"])
    }

    @Test func patchLargerThanTheImage() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try expectFailure(forward(config: #"{"arch": "vit", "img_size": 16, "patch_size": 32, "#
                                          + #""embed_dim": 48, "num_heads": 3}"#),
                          saying: ["patch_size = 32", "must not exceed img_size = 16"])
    }

    @Test func unknownKeyAndWrongType() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try expectFailure(forward(config: #"{"arch": "vit", "embed_dims": 384}"#),
                          saying: ["embed_dims = 384", "unknown key", "embed_dim"])
        try expectFailure(forward(config: #"{"arch": "vit", "depth": "twelve"}"#),
                          saying: [#"depth = "twelve""#, "must be an integer"])
        try expectFailure(forward(config: #"{"arch": "resnet", "layers": [2, 2, 2]}"#),
                          saying: ["layers = [2, 2, 2]", "4 stages"])
        try expectFailure(forward(config: #"{"arch": "convnext"}"#),
                          saying: [#"arch = "convnext""#, "unknown family"])
        try expectFailure(forward(config: #"{"arch": "swin", "depths": [2, 2], "num_heads": [3]}"#),
                          saying: ["num_heads = [3]", "one entry per stage (2)"])
        try expectFailure(forward(config: "not json"),
                          saying: ["JSON object"])
    }

    @Test func unknownModelNameSuggestsCloseOnes() throws {
        try expectFailure(["forward", "--arch", "vit_smal_patch16_224", "--input", "x", "--output", "y"],
                          saying: ["unknown model 'vit_smal_patch16_224'", "vit_small_patch16_224"])
    }

    @Test func zeroOrNegativeCounts() throws {
        try expectFailure(["compare", "--epochs", "0"], saying: ["--epochs must be at least 1, got 0"])
        try expectFailure(["compare", "--image-size", "4"], saying: ["--image-size must be at least 8, got 4"])
        try expectFailure(["compare", "--image-size", "34"],
                          saying: ["image-size = 34", "multiple of the patch size 4"])
        try expectFailure(["train", "dino", "--arch", "resnet18", "--batch-size", "1"],
                          saying: ["--batch-size must be at least 2"])
        try expectFailure(["train", "byol", "--arch", "resnet18"],
                          saying: ["supervised, dino, esvit, mocov3, sit, retrieval or vitgan, got byol"])
        try expectFailure(["train", "sit", "--drop-type", "blur"], saying: ["blur", "--drop-type"])
        try expectFailure(["train", "sit", "--arch", "vit-ti/8", "--drop-replace", "1", "--epochs", "1"],
                          saying: ["drop-replace = 1.0", "must be in 0 ..< 1"])
        try expectFailure(["bench", "--model", "vit-l16"], saying: ["--model must be one of vit-s16", "got vit-l16"])
        try expectFailure(["bench", "--model", "resnet50", "--mode", "train", "--batch", "1"],
                          saying: ["batch = 1", "at least 2 to train"])
    }

    @Test func batchLargerThanTheDataSet() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try expectFailure(["train", "supervised", "--arch", "resnet18", "--train-images", "40", "--batch-size", "64",
                           "--output", path("run")], saying: ["batch-size = 64", "40 images"])
    }

    @Test func missingAndEmptyDataFolders() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try expectFailure(["eval", "knn", "--arch", "resnet18", "--data", path("nowhere")],
                          saying: ["nowhere", "no such file or folder"])
        try FileManager.default.createDirectory(atPath: path("empty/cats"), withIntermediateDirectories: true)
        try expectFailure(["eval", "knn", "--arch", "resnet18", "--data", path("empty")],
                          saying: ["no PNG or JPEG files"])
    }
}
