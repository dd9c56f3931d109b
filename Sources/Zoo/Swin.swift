import Autograd
import Foundation
import NN
import Tensor

/// A Swin Transformer (Liu et al.) in timm's current layout (`timm.models.swin_transformer`), whose
/// state dicts load without key tables: `patch_embed.{proj,norm}`, `layers.N.downsample.{norm,reduction}`
/// (patch merging at the start of stages 1…), `layers.N.blocks.M.{norm1,attn.{qkv,proj,
/// relative_position_bias_table},norm2,mlp.{fc1,fc2}}`, `norm`, `head.fc`. Names in timm's config keys.
public struct SwinConfig: Codable, Equatable, Sendable {
    public var imageSize = 224
    public var patchSize = 4
    public var embedDim = 96
    public var depths = [2, 2, 6, 2]
    public var numHeads = [3, 6, 12, 24]
    public var windowSize = 7
    public var mlpRatio = 4.0
    public var qkvBias = true
    public var numClasses = 0
    public var dropPathRate = 0.0
    public var inChannels = 3

    public init(imageSize: Int = 224, patchSize: Int = 4, embedDim: Int = 96, depths: [Int] = [2, 2, 6, 2],
                numHeads: [Int] = [3, 6, 12, 24], windowSize: Int = 7, mlpRatio: Double = 4, qkvBias: Bool = true,
                numClasses: Int = 0, dropPathRate: Double = 0, inChannels: Int = 3) {
        (self.imageSize, self.patchSize, self.embedDim, self.depths, self.numHeads) =
            (imageSize, patchSize, embedDim, depths, numHeads)
        (self.windowSize, self.mlpRatio, self.qkvBias, self.numClasses, self.dropPathRate, self.inChannels) =
            (windowSize, mlpRatio, qkvBias, numClasses, dropPathRate, inChannels)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case imageSize = "img_size", patchSize = "patch_size", embedDim = "embed_dim", depths, numHeads = "num_heads"
        case windowSize = "window_size", mlpRatio = "mlp_ratio", qkvBias = "qkv_bias", numClasses = "num_classes"
        case dropPathRate = "drop_path_rate", inChannels = "in_chans"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SwinConfig()
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? d.imageSize
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize
        embedDim = try c.decodeIfPresent(Int.self, forKey: .embedDim) ?? d.embedDim
        depths = try c.decodeIfPresent([Int].self, forKey: .depths) ?? d.depths
        numHeads = try c.decodeIfPresent([Int].self, forKey: .numHeads) ?? d.numHeads
        windowSize = try c.decodeIfPresent(Int.self, forKey: .windowSize) ?? d.windowSize
        mlpRatio = try c.decodeIfPresent(Double.self, forKey: .mlpRatio) ?? d.mlpRatio
        qkvBias = try c.decodeIfPresent(Bool.self, forKey: .qkvBias) ?? d.qkvBias
        numClasses = try c.decodeIfPresent(Int.self, forKey: .numClasses) ?? d.numClasses
        dropPathRate = try c.decodeIfPresent(Double.self, forKey: .dropPathRate) ?? d.dropPathRate
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? d.inChannels
    }

    /// The output width: embed_dim · 2^(stages − 1).
    public var featureDim: Int { embedDim << (depths.count - 1) }

    /// timm's `swin_{tiny,small,base,large}_patch4_window{7,12}_{224,384}` (with `_in1k`: the
    /// 1000-class head) and `swin-t`, `swin-s`, `swin-b`, `swin-l`; nil for other names.
    public static func named(_ name: String) -> SwinConfig? {
        let n = name.lowercased().replacingOccurrences(of: "-", with: "_")
        var parts = n.split(separator: "_").map(String.init)
        let head = parts.last == "in1k"
        if head { parts.removeLast() }
        guard parts.first == "swin", parts.count == 2 || parts.count == 5 else { return nil }
        let sizes: [String: (embed: Int, depths: [Int], heads: [Int])] = [
            "tiny": (96, [2, 2, 6, 2], [3, 6, 12, 24]), "small": (96, [2, 2, 18, 2], [3, 6, 12, 24]),
            "base": (128, [2, 2, 18, 2], [4, 8, 16, 32]), "large": (192, [2, 2, 18, 2], [6, 12, 24, 48]),
        ]
        let short = ["t": "tiny", "s": "small", "b": "base", "l": "large"]
        guard let size = sizes[short[parts[1]] ?? parts[1]] else { return nil }
        var config = SwinConfig(embedDim: size.embed, depths: size.depths, numHeads: size.heads,
                                numClasses: head ? 1000 : 0)
        if parts.count == 5 {
            guard parts[2].hasPrefix("patch"), let p = Int(parts[2].dropFirst(5)),
                  parts[3].hasPrefix("window"), let w = Int(parts[3].dropFirst(6)), let i = Int(parts[4])
            else { return nil }
            (config.patchSize, config.windowSize, config.imageSize) = (p, w, i)
        }
        return config
    }
}

extension SwinConfig: ModelConfiguration {
    /// The registry's entry for Swin Transformers (`"arch": "swin"` in config files).
    public static let family = ModelFamily(
        SwinConfig.self, arch: "swin",
        examples: ["swin_tiny_patch4_window7_224", "swin_small_patch4_window7_224", "swin_base_patch4_window7_224",
                   "swin_base_patch4_window12_384", "swin-t"],
        allowedKeys: Set(CodingKeys.allCases.map(\.rawValue)), named: SwinConfig.named)

    /// Sets `img_size`; below 64 pixels the ImageNet layout (patch 4, window 7) becomes patch 2
    /// and window 4, the usual CIFAR setting, so that a 32-pixel image still gives 16 × 16 tokens
    /// and whole windows (as ResNet's stem loses its stride there).
    public mutating func adapt(toImageSize size: Int) {
        imageSize = size
        if size < 64 && patchSize == 4 && windowSize == 7 { (patchSize, windowSize) = (2, 4) }
    }

    public func validate() throws {
        typealias R = ConfigurationError
        try R.require(patchSize > 0, "patch_size", patchSize, "must be positive")
        try R.require(imageSize >= patchSize && imageSize % patchSize == 0, "img_size", imageSize,
                      "must be a positive multiple of patch_size = \(patchSize)")
        try R.require(!depths.isEmpty && depths.allSatisfy { $0 > 0 }, "depths", depths,
                      "must list at least one stage, each of at least one block")
        try R.require(numHeads.count == depths.count, "num_heads", numHeads,
                      "must have one entry per stage (\(depths.count))")
        try R.require(embedDim > 0, "embed_dim", embedDim, "must be positive")
        for (i, heads) in numHeads.enumerated() {
            try R.require(heads > 0 && (embedDim << i) % heads == 0, "num_heads", numHeads,
                          "stage \(i) has width \(embedDim << i), which its \(heads) heads must divide")
        }
        try R.require(windowSize > 0, "window_size", windowSize, "must be positive")
        try R.require(mlpRatio.isFinite && mlpRatio > 0, "mlp_ratio", mlpRatio, "must be positive")
        try R.require(numClasses >= 0, "num_classes", numClasses, "must be 0 (no head) or positive")
        try R.require((0..<1).contains(dropPathRate), "drop_path_rate", dropPathRate, "must be in 0 ..< 1")
        try R.require(inChannels > 0, "in_chans", inChannels, "must be positive")
        let parameters = depths.enumerated().reduce(0.0) { total, stage in
            let d = Double(embedDim << stage.offset)
            return total + Double(stage.element) * (4 * d * d + 2 * d * d * mlpRatio)
        }
        try R.require(parameters <= 4e9, "embed_dim", embedDim,
                      "gives about \(Int(parameters)) parameters; at most 4e9")
    }

    public func makeModel() -> Module { SwinTransformer(self) }
}

/// Window multi-head self-attention with timm's relative position bias (`WindowAttention`):
/// a learned table [(2·Wh − 1)(2·Ww − 1), heads] indexed by each pair's relative offset. The index
/// is derived, not stored (timm keeps it out of the state dict too).
public final class WindowAttention: Module {
    public let qkv: Linear
    public let proj: Linear
    public let relativePositionBiasTable: Variable
    public let heads: Int
    public let window: (height: Int, width: Int)
    let relativePositionIndex: Tensor

    public init(_ dim: Int, heads: Int, window: (height: Int, width: Int), qkvBias: Bool = true) {
        qkv = Linear(dim, dim * 3, bias: qkvBias)
        proj = Linear(dim, dim)
        relativePositionBiasTable = .parameter(Init.truncatedNormal([(2 * window.height - 1) * (2 * window.width - 1),
                                                                     heads]))
        (self.heads, self.window) = (heads, window)
        let (h, w) = window
        var index: [Int64] = []
        for i in 0..<(h * w) {
            for j in 0..<(h * w) {
                let (dy, dx) = (i / w - j / w + h - 1, i % w - j % w + w - 1)
                index.append(Int64(dy * (2 * w - 1) + dx))
            }
        }
        relativePositionIndex = Tensor(index, shape: [h * w * h * w])
    }

    /// The bias [heads, N, N] of the window's N = Wh·Ww tokens.
    public func relativePositionBias() -> Variable {
        let n = window.height * window.width
        return relativePositionBiasTable.indexSelect(axis: 0, indices: relativePositionIndex)
            .reshaped([n, n, heads]).permuted([2, 0, 1])
    }

    /// Windows [B, nW, N, C] attended within each window; `mask` [nW, N, N] (0 or −100) keeps
    /// shifted windows from mixing regions that the cyclic shift put side by side.
    public func callAsFunction(_ x: Variable, mask: Tensor?) -> Variable {
        let (b, nw, n, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let parts = qkv(x).reshaped([b, nw, n, 3, heads, c / heads]).permuted([3, 0, 1, 4, 2, 5])
        let (q, k, v) = (parts.select(axis: 0, index: 0), parts.select(axis: 0, index: 1),
                         parts.select(axis: 0, index: 2))  // [B, nW, heads, N, d]
        var bias = relativePositionBias().reshaped([1, 1, heads, n, n])
        if let mask { bias = bias + Variable(mask.converted(to: x.dtype).reshaped([1, nw, 1, n, n])) }
        FlopCounter.add(2 * b * nw * n * n * c)
        let out = Variable.scaledDotProductAttention(query: q, key: k, value: v, bias: bias).output
        return proj(out.permuted([0, 1, 3, 2, 4]).reshaped([b, nw, n, c]))
    }
}

/// timm's `SwinTransformerBlock` on tokens [B, H, W, C]: (shifted) window attention and an MLP,
/// each pre-norm and residual. A feature map no larger than the window is one window, unshifted.
public final class SwinBlock: Module {
    public let norm1: LayerNorm
    public let attn: WindowAttention
    public let dropPath1: DropPath
    public let norm2: LayerNorm
    public let mlp: MLP
    public let dropPath2: DropPath
    public let window: (height: Int, width: Int), shift: (height: Int, width: Int)

    public init(dim: Int, resolution: (height: Int, width: Int), heads: Int, window target: Int, shifted: Bool,
                mlpRatio: Double, qkvBias: Bool, dropPath: Double) {
        window = (Swift.min(resolution.height, target), Swift.min(resolution.width, target))
        shift = (shifted && resolution.height > target ? target / 2 : 0,
                 shifted && resolution.width > target ? target / 2 : 0)
        norm1 = LayerNorm(dim)
        attn = WindowAttention(dim, heads: heads, window: window, qkvBias: qkvBias)
        dropPath1 = DropPath(dropPath)
        norm2 = LayerNorm(dim)
        mlp = MLP(dim, hidden: Int(Double(dim) * mlpRatio))
        dropPath2 = DropPath(dropPath)
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        let y = x + dropPath1(windowAttention(norm1(x)))
        return y + dropPath2(mlp(y, normalizedBy: norm2))
    }

    /// Cyclic shift, padding to whole windows, attention per window, and back.
    func windowAttention(_ x: Variable) -> Variable {
        let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (wh, ww) = window
        let hasShift = shift.height > 0 || shift.width > 0
        var shifted = hasShift ? x.rolled(shifts: [-shift.height, -shift.width], axes: [1, 2]) : x
        let (padH, padW) = ((wh - h % wh) % wh, (ww - w % ww) % ww)
        if padH > 0 || padW > 0 { shifted = shifted.padded([(0, 0), (0, padH), (0, padW), (0, 0)]) }
        let (hp, wp) = (h + padH, w + padW)
        let windows = shifted.reshaped([b, hp / wh, wh, wp / ww, ww, c]).permuted([0, 1, 3, 2, 4, 5])
            .reshaped([b, (hp / wh) * (wp / ww), wh * ww, c])
        let attended = attn(windows, mask: hasShift ? attentionMask(height: hp, width: wp) : nil)
        var merged = attended.reshaped([b, hp / wh, wp / ww, wh, ww, c]).permuted([0, 1, 3, 2, 4, 5])
            .reshaped([b, hp, wp, c])
        if padH > 0 || padW > 0 { merged = merged.slice(axis: 1, start: 0, end: h).slice(axis: 2, start: 0, end: w) }
        return hasShift ? merged.rolled(shifts: [shift.height, shift.width], axes: [1, 2]) : merged
    }

    /// timm's `get_attn_mask` for a padded map of `height × width`: [nW, N, N], −100 between tokens
    /// of different regions of the shifted map, 0 within one.
    func attentionMask(height: Int, width: Int) -> Tensor {
        let (wh, ww) = window
        func region(_ i: Int, _ size: Int, _ win: Int, _ s: Int) -> Int { i < size - win ? 0 : (i < size - s ? 1 : 2) }
        let (nh, nw) = (height / wh, width / ww), n = wh * ww
        var mask = [Float](repeating: 0, count: nh * nw * n * n)
        for wy in 0..<nh {
            for wx in 0..<nw {
                let labels = (0..<n).map { t in
                    region(wy * wh + t / ww, height, wh, shift.height) * 3
                        + region(wx * ww + t % ww, width, ww, shift.width)
                }
                let base = (wy * nw + wx) * n * n
                for i in 0..<n { for j in 0..<n where labels[i] != labels[j] { mask[base + i * n + j] = -100 } }
            }
        }
        return Tensor(mask, shape: [nh * nw, n, n])
    }
}

/// timm's `PatchMerging`: each 2 × 2 neighbourhood of [B, H, W, C] (padded to even sides)
/// concatenated to 4·C, normalised and projected to `outDim` without bias.
public final class PatchMerging: Module {
    public let norm: LayerNorm
    public let reduction: Linear

    public init(dim: Int, outDim: Int) {
        norm = LayerNorm(4 * dim)
        reduction = Linear(4 * dim, outDim, bias: false)
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        var y = x
        let (b, c) = (x.shape[0], x.shape[3])
        if x.shape[1] % 2 == 1 || x.shape[2] % 2 == 1 {
            y = y.padded([(0, 0), (0, x.shape[1] % 2), (0, x.shape[2] % 2), (0, 0)])
        }
        let (h, w) = (y.shape[1], y.shape[2])
        return reduction(norm(y.reshaped([b, h / 2, 2, w / 2, 2, c]).permuted([0, 1, 3, 4, 2, 5])
            .reshaped([b, h / 2, w / 2, 4 * c])))
    }
}

/// One stage: patch merging (all but the first) then blocks alternating plain and shifted windows.
public final class SwinStage: Module {
    public let downsample: PatchMerging?
    public let blocks: [SwinBlock]

    public init(dim: Int, outDim: Int, resolution: (height: Int, width: Int), depth: Int, heads: Int, window: Int,
                mlpRatio: Double, qkvBias: Bool, dropPaths: [Double], downsample: Bool) {
        self.downsample = downsample ? PatchMerging(dim: dim, outDim: outDim) : nil
        let r = downsample ? ((resolution.height + 1) / 2, (resolution.width + 1) / 2) : resolution
        blocks = (0..<depth).map {
            SwinBlock(dim: outDim, resolution: r, heads: heads, window: window, shifted: $0 % 2 == 1,
                      mlpRatio: mlpRatio, qkvBias: qkvBias, dropPath: dropPaths[$0])
        }
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        blocks.reduce(downsample.map { $0(x) } ?? x) { $1($0) }
    }
}

/// timm's patch embedding with a norm and NHWC output: [B, H/P, W/P, C].
public final class SwinPatchEmbed: Module {
    public let proj: Conv2d
    public let norm: LayerNorm

    public init(patchSize: Int, inChannels: Int, embedDim: Int) {
        proj = Conv2d(inChannels, embedDim, kernelSize: patchSize, stride: patchSize)
        norm = LayerNorm(embedDim)
    }

    public override func callAsFunction(_ x: Variable) -> Variable { norm(proj(x).permuted([0, 2, 3, 1])) }
}

/// timm's `ClassifierHead` as Swin uses it (key `fc`).
public final class SwinHead: Module {
    public let fc: Linear
    public init(_ features: Int, classes: Int) { fc = Linear(features, classes) }
    public override func callAsFunction(_ x: Variable) -> Variable { fc(x) }
}

/// The Swin Transformer: patch embedding, stages, the final norm, average pooling and the head.
public final class SwinTransformer: Module {
    public let config: SwinConfig
    public let patchEmbed: SwinPatchEmbed
    public let layers: [SwinStage]
    public let norm: LayerNorm
    public let head: SwinHead?

    public init(_ c: SwinConfig) {
        config = c
        patchEmbed = SwinPatchEmbed(patchSize: c.patchSize, inChannels: c.inChannels, embedDim: c.embedDim)
        let grid = c.imageSize / c.patchSize, total = c.depths.reduce(0, +)
        // timm's stage-wise drop-path rates: linspace(0, rate, all blocks), split by stage.
        let rates = (0..<total).map { total > 1 ? c.dropPathRate * Double($0) / Double(total - 1) : 0 }
        var stages: [SwinStage] = [], resolution = (grid, grid), start = 0
        for (i, depth) in c.depths.enumerated() {
            let stage = SwinStage(dim: c.embedDim << Swift.max(i - 1, 0), outDim: c.embedDim << i,
                                  resolution: resolution, depth: depth, heads: c.numHeads[i], window: c.windowSize,
                                  mlpRatio: c.mlpRatio, qkvBias: c.qkvBias,
                                  dropPaths: Array(rates[start..<(start + depth)]), downsample: i > 0)
            if i > 0 { resolution = ((resolution.0 + 1) / 2, (resolution.1 + 1) / 2) }
            stages.append(stage)
            start += depth
        }
        layers = stages
        norm = LayerNorm(c.featureDim)
        head = c.numClasses > 0 ? SwinHead(c.featureDim, classes: c.numClasses) : nil
        super.init()
        // timm's init_weights_vit_timm: Linears from a truncated normal (std 0.02), zero biases.
        for case let linear as Linear in namedModules().map(\.module) {
            linear.weight.data = Init.truncatedNormal(linear.weight.shape)
            linear.bias?.data.fill(0)
        }
    }

    /// The last stage's tokens after the final norm [B, H/32, W/32, C] (for patch 4).
    public func forwardFeatures(_ x: Variable) -> Variable {
        check(x.rank == 4 && x.shape[2] % config.patchSize == 0 && x.shape[3] % config.patchSize == 0,
              "SwinTransformer", "expects images [B, C, H, W] with sides divisible by the patch size "
              + "\(config.patchSize), got \(describe(x.shape))")
        return norm(layers.reduce(patchEmbed(x)) { $1($0) })
    }

    /// Average-pooled features [B, C].
    public func features(_ x: Variable) -> Variable { forwardFeatures(x).mean(axes: [1, 2]) }

    /// Logits with a head, else the pooled features.
    public override func callAsFunction(_ x: Variable) -> Variable {
        let f = features(x)
        return head.map { $0(f) } ?? f
    }
}
