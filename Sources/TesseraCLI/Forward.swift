import ArgumentParser
import Foundation
import Tessera

/// `tessera forward`: run a ViT, Swin or ResNet on an input and save logits, class (pooled) features, a ViT's
/// last attention and a Swin's last-stage tokens (NHWC, `features`).
struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Run a model on an input tensor or image and write its outputs as safetensors.")

    @Option(help:
        "A JSON model config with timm's names, e.g. {\"arch\": \"vit\", \"patch_size\": 16, \"embed_dim\": 384, …}.")
    var config: String?
    @Option(help: "A model name instead of --config: vit_small_patch16_224, vit-b/8, resnet50, …")
    var arch: String?
    @Option(help: """
        Weights: .safetensors or PyTorch .pth/.pt (a state dict, or a checkpoint with \
        'teacher'/'model'/'state_dict').
        """)
    var weights: String?
    @Option(help: "Input: a safetensors file with a tensor 'input' [N, 3, H, W], or a PNG/JPEG image.")
    var input: String
    @Option(help: "Output safetensors file.")
    var output: String
    @Option(help: "Image size for image inputs (resize shorter side to 256/224 of it, centre-crop).")
    var imageSize: Int = 224

    func run() throws {
        let model = try ModelSpec.load(config: config, arch: arch)
        if let weights { try ModelSpec.loadWeights(model, from: URL(fileURLWithPath: weights)) }
        model.eval()
        let x = try loadInput(URL(fileURLWithPath: input))
        var outputs: [String: Tensor] = [:]
        noGrad {
            let v = Variable(x)
            if let vit = model as? VisionTransformer {
                let features = vit.classFeatures(v)
                outputs["cls_features"] = features.data
                if let head = vit.head { outputs["logits"] = head(features).data }
                outputs["last_attention"] = vit.lastSelfAttention(v)
            } else if let resnet = model as? ResNet {
                let features = resnet.features(v)
                outputs["cls_features"] = features.data
                if let fc = resnet.fc { outputs["logits"] = fc(features).data }
            } else if let swin = model as? SwinTransformer {
                let tokens = swin.forwardFeatures(v)
                let features = tokens.mean(axes: [1, 2])
                (outputs["features"], outputs["cls_features"]) = (tokens.data, features.data)
                if let head = swin.head { outputs["logits"] = head(features).data }
            }
        }
        try SafeTensors.write(outputs, to: URL(fileURLWithPath: output))
        print("wrote " + outputs.keys.sorted().map { "\($0) \(outputs[$0]!.shape)" }.joined(separator: ", ")
              + " to \(output)")
    }

    func loadInput(_ url: URL) throws -> Tensor {
        let bytes = try Data(contentsOf: url)
        if bytes.starts(with: [0x89, 0x50]) || bytes.starts(with: [0xFF, 0xD8]) {
            let image = try ImageFile.decode([UInt8](bytes))
            let pipeline = Compose([Resize(imageSize * 256 / 224, interpolation: .bicubic),
                                    CenterCrop(imageSize), Normalize()])
            return pipeline(image, seed: 0).unsqueezed(0)
        }
        guard let x = try SafeTensors.read(url).tensors["input"] else {
            throw ValidationError("\(url.path) has no tensor named 'input'")
        }
        guard x.rank == 4, x.shape[1] == 3 else { throw ValidationError("input must be [N, 3, H, W], got \(x.shape)") }
        return x.converted(to: .float32)
    }
}

/// Building models from configs or names, and loading weights from either file format.
enum ModelSpec {
    /// A model from a config file or a registry name (a config file wins); `classes` and
    /// `imageSize`, when given, resize its head and adapt it to the input size.
    static func load(config: String?, arch: String?, classes: Int? = nil, imageSize: Int? = nil) throws -> Module {
        if let config {
            return try ModelRegistry.make(ModelRegistry.config(contentsOf: URL(fileURLWithPath: config)),
                                          numClasses: classes, imageSize: imageSize)
        }
        guard let arch else { throw ValidationError("give --config FILE or --arch NAME") }
        return try ModelRegistry.create(arch, numClasses: classes, imageSize: imageSize)
    }

    /// Loads safetensors or .pth weights, picking the state dict and stripping DINO/DDP prefixes.
    static func loadWeights(_ model: Module, from url: URL) throws {
        let state = try TorchCheckpoint.modelWeights(url, for: model)
        let report = try model.loadStateDict(state, strict: false)
        let expected = Set(model.stateDictKeys())
        if report.missing.count == expected.count {
            throw StateDictError(missing: report.missing, unexpected: report.unexpected)
        }
        if !report.missing.isEmpty {
            print("note: \(report.missing.count) keys kept their initial values: "
                  + "\(report.missing.prefix(8).joined(separator: ", "))")
        }
        if !report.unexpected.isEmpty {
            print("note: \(report.unexpected.count) unused keys: "
                  + "\(report.unexpected.prefix(8).joined(separator: ", "))")
        }
    }
}
