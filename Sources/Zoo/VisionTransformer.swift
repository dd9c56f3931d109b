import Autograd
import Foundation
import NN
import Tensor
import Vision

/// The architecture of a Vision Transformer, with timm's argument names in JSON
/// (`img_size`, `patch_size`, `embed_dim`, `depth`, `num_heads`, `mlp_ratio`, `qkv_bias`, `num_classes`).
public struct ViTConfig: Codable, Equatable, Sendable {
    public var imageSize = 224
    public var patchSize = 16
    public var embedDim = 384
    public var depth = 12
    public var numHeads = 6
    public var mlpRatio = 4.0
    public var qkvBias = true
    /// Classes of the linear head; 0 for no head (a backbone, as DINO's).
    public var numClasses = 0
    /// timm's `init_values`: LayerScale on both residual branches when set.
    public var layerScaleInit: Double? = nil
    public var dropPathRate = 0.0
    public var inChannels = 3

    public init(imageSize: Int = 224, patchSize: Int = 16, embedDim: Int = 384, depth: Int = 12, numHeads: Int = 6,
                mlpRatio: Double = 4, qkvBias: Bool = true, numClasses: Int = 0, layerScaleInit: Double? = nil,
                dropPathRate: Double = 0, inChannels: Int = 3) {
        (self.imageSize, self.patchSize, self.embedDim, self.depth, self.numHeads)
            = (imageSize, patchSize, embedDim, depth, numHeads)
        (self.mlpRatio, self.qkvBias, self.numClasses, self.layerScaleInit)
            = (mlpRatio, qkvBias, numClasses, layerScaleInit)
        (self.dropPathRate, self.inChannels) = (dropPathRate, inChannels)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case imageSize = "img_size", patchSize = "patch_size", embedDim = "embed_dim", depth, numHeads = "num_heads"
        case mlpRatio = "mlp_ratio", qkvBias = "qkv_bias", numClasses = "num_classes", layerScaleInit = "init_values"
        case dropPathRate = "drop_path_rate", inChannels = "in_chans"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ViTConfig()
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? d.imageSize
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize
        embedDim = try c.decodeIfPresent(Int.self, forKey: .embedDim) ?? d.embedDim
        depth = try c.decodeIfPresent(Int.self, forKey: .depth) ?? d.depth
        numHeads = try c.decodeIfPresent(Int.self, forKey: .numHeads) ?? d.numHeads
        mlpRatio = try c.decodeIfPresent(Double.self, forKey: .mlpRatio) ?? d.mlpRatio
        qkvBias = try c.decodeIfPresent(Bool.self, forKey: .qkvBias) ?? d.qkvBias
        numClasses = try c.decodeIfPresent(Int.self, forKey: .numClasses) ?? d.numClasses
        layerScaleInit = try c.decodeIfPresent(Double.self, forKey: .layerScaleInit)
        dropPathRate = try c.decodeIfPresent(Double.self, forKey: .dropPathRate) ?? d.dropPathRate
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? d.inChannels
    }

    /// The standard widths: Ti, S, B, L, H (Dosovitskiy et al.; Touvron et al. for Ti and S).
    public enum Size: String, CaseIterable, Sendable {
        case tiny = "ti", small = "s", base = "b", large = "l", huge = "h"
        var dims: (embed: Int, depth: Int, heads: Int) {
            switch self {
            case .tiny: (192, 12, 3)
            case .small: (384, 12, 6)
            case .base: (768, 12, 12)
            case .large: (1024, 24, 16)
            case .huge: (1280, 32, 16)
            }
        }
    }

    /// A preset: `ViTConfig.preset(.small, patch: 16)` is ViT-S/16.
    public static func preset(_ size: Size, patch: Int, imageSize: Int = 224, numClasses: Int = 0) -> ViTConfig {
        let d = size.dims
        return ViTConfig(imageSize: imageSize, patchSize: patch, embedDim: d.embed, depth: d.depth, numHeads: d.heads,
                         numClasses: numClasses)
    }

    /// Parses names like `vit_small_patch16_224`, `vit-s/16`, `ViT-B/8`, `vit-ti` (patch 16) and
    /// `vit_base_patch16_224_in1k` (with the 1000-class head); nil for other names.
    public static func named(_ name: String) -> ViTConfig? {
        let n = name.lowercased().replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: "/", with: "_")
        let words: [String: Size] = ["tiny": .tiny, "ti": .tiny, "small": .small, "s": .small,
                                     "base": .base, "b": .base, "large": .large, "l": .large, "huge": .huge, "h": .huge]
        var parts = n.split(separator: "_").map(String.init)
        let head = parts.last == "in1k"
        if head { parts.removeLast() }
        guard parts.first == "vit", (2...4).contains(parts.count), let size = words[parts[1]] else { return nil }
        var patch = 16, image = 224
        if parts.count > 2 {
            guard let p = Int(parts[2].replacingOccurrences(of: "patch", with: "")) else { return nil }
            patch = p
        }
        if parts.count > 3 {
            guard let i = Int(parts[3]) else { return nil }
            image = i
        }
        return preset(size, patch: patch, imageSize: image, numClasses: head ? 1000 : 0)
    }
}

extension ViTConfig: ModelConfiguration {
    /// The registry's entry for ViTs (`"arch": "vit"` in config files).
    public static let family = ModelFamily(
        ViTConfig.self, arch: "vit",
        examples: ["vit_tiny_patch16_224", "vit_small_patch16_224", "vit_small_patch8_224", "vit_base_patch16_224",
                   "vit_base_patch8_224", "vit_large_patch16_224", "vit_huge_patch14_224",
                   "vit-ti/4", "vit-s/16", "vit-b/8"],
        allowedKeys: Set(CodingKeys.allCases.map(\.rawValue)), named: ViTConfig.named)

    /// The largest model a config may describe: ViT-g/14 has 1.0 billion parameters.
    static let maximumParameters = 4e9

    public mutating func adapt(toImageSize size: Int) { imageSize = size }

    public func validate() throws {
        typealias R = ConfigurationError
        try R.require(imageSize > 0, "img_size", imageSize, "must be positive")
        try R.require(patchSize > 0, "patch_size", patchSize, "must be positive")
        try R.require(patchSize <= imageSize, "patch_size", patchSize, "must not exceed img_size = \(imageSize)")
        try R.require(imageSize % patchSize == 0, "img_size", imageSize,
                      "must be a multiple of patch_size = \(patchSize)")
        try R.require(embedDim > 0, "embed_dim", embedDim, "must be positive")
        try R.require(depth > 0, "depth", depth, "must be positive")
        try R.require(numHeads > 0, "num_heads", numHeads, "must be positive")
        try R.require(embedDim % numHeads == 0, "embed_dim", embedDim, "must be divisible by num_heads = \(numHeads)")
        try R.require(mlpRatio.isFinite && mlpRatio > 0 && Int(Double(embedDim) * mlpRatio) > 0, "mlp_ratio", mlpRatio,
                      "must be positive and give an MLP of at least one unit")
        try R.require(numClasses >= 0, "num_classes", numClasses, "must be 0 (no head) or positive")
        try R.require(layerScaleInit?.isFinite ?? true, "init_values", layerScaleInit ?? 0, "must be finite")
        try R.require((0..<1).contains(dropPathRate), "drop_path_rate", dropPathRate, "must be in 0 ..< 1")
        try R.require(inChannels > 0, "in_chans", inChannels, "must be positive")
        let d = Double(embedDim), hidden = (d * mlpRatio).rounded(.down),
            tokens = Double(imageSize / patchSize).squared + 1
        let parameters = Double(depth) * (4 * d * d + 2 * d * hidden + 9 * d + hidden)
            + Double(patchSize * patchSize * inChannels) * d + tokens * d + Double(numClasses + 1) * d
        try R.require(parameters <= Self.maximumParameters, "embed_dim", embedDim,
                      "with depth = \(depth) and mlp_ratio = \(mlpRatio) the model would have "
                      + String(format: "%.3g", parameters) + " parameters; at most "
                      + String(format: "%.0g", Self.maximumParameters) + " are allowed")
    }

    public func makeModel() -> Module { VisionTransformer(self) }
}

private extension Double {
    var squared: Double { self * self }
}

/// How position embeddings follow an input whose patch grid differs from the trained one.
public enum PositionEmbeddingResampling: Sendable {
    /// timm's `resample_abs_pos_embed`: bicubic with antialiasing to the new grid (default).
    case timm
    /// DINO's `interpolate_pos_encoding`: PyTorch bicubic with scale factor (grid + 0.1) / old grid.
    case dino
}

/// Image to patch tokens: a strided convolution (timm's `PatchEmbed`; key `proj`).
public final class PatchEmbed: Module {
    public let proj: Conv2d
    public let patchSize: Int

    public init(patchSize: Int, inChannels: Int, embedDim: Int) {
        proj = Conv2d(inChannels, embedDim, kernelSize: patchSize, stride: patchSize)
        self.patchSize = patchSize
    }

    /// [B, C, H, W] → [B, (H/p)·(W/p), D].
    public override func callAsFunction(_ x: Variable) -> Variable {
        check(x.rank == 4 && x.shape[2] % patchSize == 0 && x.shape[3] % patchSize == 0, "PatchEmbed",
              "expects [B, C, H, W] with H and W multiples of the patch size \(patchSize), got \(describe(x.shape))")
        return proj(x).flattened(from: 2).transposed(1, 2)
    }
}

/// A pre-norm Transformer block (timm's `Block`): x + attn(norm1(x)), then x + mlp(norm2(x)),
/// each branch with optional LayerScale and stochastic depth.
public final class Block: Module {
    public let norm1: LayerNorm
    public let attn: Attention
    public let ls1: Module
    public let dropPath1: DropPath
    public let norm2: LayerNorm
    public let mlp: MLP
    public let ls2: Module
    public let dropPath2: DropPath

    public init(dim: Int, heads: Int, mlpRatio: Double, qkvBias: Bool, layerScaleInit: Double?, dropPath: Double) {
        norm1 = LayerNorm(dim, epsilon: 1e-6)
        attn = Attention(dim, heads: heads, qkvBias: qkvBias)
        ls1 = layerScaleInit.map { LayerScale(dim, initValue: $0) } ?? Identity()
        dropPath1 = DropPath(dropPath)
        norm2 = LayerNorm(dim, epsilon: 1e-6)
        mlp = MLP(dim, hidden: Int(Double(dim) * mlpRatio))
        ls2 = layerScaleInit.map { LayerScale(dim, initValue: $0) } ?? Identity()
        dropPath2 = DropPath(dropPath)
    }

    public override func callAsFunction(_ x: Variable) -> Variable { forward(x).output }

    /// The block's output and its attention probabilities [B, heads, N, N].
    public func forward(_ x: Variable) -> (output: Variable, attention: Tensor) {
        let (a, probabilities) = attn.attend(x, normalizedBy: norm1)
        let h = x + dropPath1(ls1(a))
        return (h + dropPath2(ls2(mlp(h, normalizedBy: norm2))), probabilities)
    }
}

/// A Vision Transformer (Dosovitskiy et al.) with timm's and DINO's parameter names, so their
/// checkpoints load directly: `patch_embed.proj`, `cls_token`, `pos_embed`, `blocks.i.…`, `norm`, `head`.
public final class VisionTransformer: Module {
    public let config: ViTConfig
    public let patchEmbed: PatchEmbed
    public let clsToken: Variable
    public let posEmbed: Variable
    public let blocks: [Block]
    public let norm: LayerNorm
    /// The classifier (`Linear(embedDim, numClasses)`), a head passed to the initialiser (MoCo v3's
    /// projector), or nil for the class-token features.
    public let head: Module?
    /// How position embeddings are resampled for other input sizes.
    public var positionResampling = PositionEmbeddingResampling.timm

    /// A ViT with timm's init. `head` replaces the `numClasses` classifier and keeps its own init.
    public init(_ config: ViTConfig, head customHead: Module? = nil) {
        let c = config
        check(c.imageSize % c.patchSize == 0 && c.embedDim % c.numHeads == 0, "VisionTransformer",
              "image size \(c.imageSize) must be a multiple of patch \(c.patchSize), "
              + "dim \(c.embedDim) of heads \(c.numHeads)")
        self.config = c
        patchEmbed = PatchEmbed(patchSize: c.patchSize, inChannels: c.inChannels, embedDim: c.embedDim)
        let grid = c.imageSize / c.patchSize
        // timm's init: trunc_normal(0.02) for tokens, position embeddings and Linear weights, zero biases.
        clsToken = .parameter(Init.truncatedNormal([1, 1, c.embedDim]))
        posEmbed = .parameter(Init.truncatedNormal([1, grid * grid + 1, c.embedDim]))
        blocks = (0..<c.depth).map { i in
            Block(dim: c.embedDim, heads: c.numHeads, mlpRatio: c.mlpRatio, qkvBias: c.qkvBias,
                  layerScaleInit: c.layerScaleInit,
                  dropPath: c.depth > 1 ? c.dropPathRate * Double(i) / Double(c.depth - 1) : 0)
        }
        norm = LayerNorm(c.embedDim, epsilon: 1e-6)
        let classifier = c.numClasses > 0 ? Linear(c.embedDim, c.numClasses) : nil
        head = customHead ?? classifier
        super.init()
        let ownLinears = blocks.flatMap { $0.namedModules().map(\.module) } + (classifier.map { [$0] } ?? [])
        for case let linear as Linear in ownLinears {
            linear.weight.data = Init.truncatedNormal(linear.weight.shape)
            linear.bias?.data.fill(0)
        }
    }

    /// Tokens [B, 1 + N, D] after patch embedding, the class token and position embeddings.
    public func embed(_ x: Variable) -> Variable {
        let tokens = patchEmbed(x)
        let b = tokens.shape[0]
        let cls = clsToken.expanded(to: [b, 1, config.embedDim])
        let gh = x.shape[2] / config.patchSize, gw = x.shape[3] / config.patchSize
        return Variable.concat([cls, tokens], axis: 1) + positionEmbedding(height: gh, width: gw)
    }

    /// The position embeddings [1, 1 + gh·gw, D] for a patch grid of gh × gw, resampled from the
    /// trained grid when it differs (differentiably: resampling is a product with fixed matrices).
    public func positionEmbedding(height gh: Int, width gw: Int) -> Variable {
        let n = posEmbed.shape[1] - 1
        let g = Int(Double(n).squareRoot().rounded())
        if gh == g && gw == g { return posEmbed }
        let d = config.embedDim
        let clsPos = posEmbed.slice(axis: 1, start: 0, end: 1)
        let grid = posEmbed.slice(axis: 1, start: 1).reshaped([g, g, d]).permuted([2, 0, 1])  // [D, g, g]
        let rows: Tensor, cols: Tensor
        switch positionResampling {
        case .timm:
            rows = Interpolation.bicubic.matrix(input: g, output: gh)
            cols = Interpolation.bicubic.matrix(input: g, output: gw)
        case .dino:
            rows = torchBicubicMatrix(input: g, output: gh, scale: (Double(gh) + 0.1) / Double(g))
            cols = torchBicubicMatrix(input: g, output: gw, scale: (Double(gw) + 0.1) / Double(g))
        }
        let resampled = Variable(rows.converted(to: posEmbed.dtype)).matmul(grid)
            .matmul(Variable(cols.converted(to: posEmbed.dtype).T))
        return Variable.concat([clsPos, resampled.permuted([1, 2, 0]).reshaped([1, gh * gw, d])], axis: 1)
    }

    /// All tokens after the final norm [B, 1 + N, D].
    public func forwardFeatures(_ x: Variable) -> Variable {
        norm(blocks.reduce(embed(x)) { $1($0) })
    }

    /// The class token after the final norm [B, D] — the features DINO and k-NN evaluation use.
    public func classFeatures(_ x: Variable) -> Variable { forwardFeatures(x).select(axis: 1, index: 0) }

    /// Logits [B, classes] with a head, else the class-token features.
    public override func callAsFunction(_ x: Variable) -> Variable {
        let features = classFeatures(x)
        return head.map { $0(features) } ?? features
    }

    /// The last block's attention probabilities [B, heads, 1 + N, 1 + N] (DINO's `get_last_selfattention`).
    public func lastSelfAttention(_ x: Variable) -> Tensor {
        var h = embed(x)
        for block in blocks.dropLast() { h = block(h) }
        return blocks.last!.forward(h).attention
    }

    /// Every block's attention probabilities [B, heads, 1 + N, 1 + N], first block first.
    public func attentionMaps(_ x: Variable) -> [Tensor] {
        var h = embed(x)
        return blocks.map { block in
            let (out, attention) = block.forward(h)
            h = out
            return attention
        }
    }

    /// DINO's linear-evaluation features: the class tokens of the last `n` blocks concatenated,
    /// with the average of the last block's patch tokens appended when `averagePool` is set.
    public func linearFeatures(_ x: Variable, lastBlocks n: Int = 4, averagePool: Bool = false) -> Variable {
        let outputs = intermediateLayers(x, last: Swift.min(n, blocks.count))
        var parts = outputs.map { $0.select(axis: 1, index: 0) }
        if averagePool, let last = outputs.last { parts.append(last.slice(axis: 1, start: 1).mean(axes: [1])) }
        return parts.count == 1 ? parts[0] : Variable.concat(parts, axis: 1)
    }

    /// The outputs of the last `n` blocks, each after the final norm (DINO's `get_intermediate_layers`).
    public func intermediateLayers(_ x: Variable, last n: Int) -> [Variable] {
        var h = embed(x)
        var outputs: [Variable] = []
        for (i, block) in blocks.enumerated() {
            h = block(h)
            if i >= blocks.count - n { outputs.append(norm(h)) }
        }
        return outputs
    }
}
