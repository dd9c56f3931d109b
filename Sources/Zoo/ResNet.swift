import Autograd
import Foundation
import NN
import Tensor

/// The architecture of a ResNet in torchvision's layout, with its JSON names
/// (`{"arch": "resnet", "block": "bottleneck", "layers": [3, 4, 6, 3], "num_classes": 1000}`).
public struct ResNetConfig: Codable, Equatable, Sendable {
    public enum BlockKind: String, Codable, Sendable { case basic, bottleneck }
    public var block = BlockKind.bottleneck
    public var layers = [3, 4, 6, 3]
    /// Classes of the `fc` head; 0 for pooled features only.
    public var numClasses = 1000
    /// Channels of the stem and first stage (64 in the paper; smaller for quick experiments).
    public var width = 64
    /// torchvision's `zero_init_residual`: the last BatchNorm of each block starts at zero.
    public var zeroInitResidual = false
    /// A 3×3 stride-1 stem without max pooling, for small images (CIFAR-style).
    public var smallInputStem = false

    public init(block: BlockKind = .bottleneck, layers: [Int] = [3, 4, 6, 3], numClasses: Int = 1000, width: Int = 64,
                zeroInitResidual: Bool = false, smallInputStem: Bool = false) {
        (self.block, self.layers, self.numClasses, self.width) = (block, layers, numClasses, width)
        (self.zeroInitResidual, self.smallInputStem) = (zeroInitResidual, smallInputStem)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case block, layers, numClasses = "num_classes", width, zeroInitResidual = "zero_init_residual"
        case smallInputStem = "small_input_stem"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        block = try c.decodeIfPresent(BlockKind.self, forKey: .block) ?? .bottleneck
        layers = try c.decodeIfPresent([Int].self, forKey: .layers) ?? [3, 4, 6, 3]
        numClasses = try c.decodeIfPresent(Int.self, forKey: .numClasses) ?? 1000
        width = try c.decodeIfPresent(Int.self, forKey: .width) ?? 64
        zeroInitResidual = try c.decodeIfPresent(Bool.self, forKey: .zeroInitResidual) ?? false
        smallInputStem = try c.decodeIfPresent(Bool.self, forKey: .smallInputStem) ?? false
    }

    /// Channels of the pooled features: 8 × width × the block's expansion (512 or 2048 at width 64).
    public var featureDim: Int { width * 8 * expansion }
    /// Output channels of a block per planes: 1 for basic blocks, 4 for bottlenecks.
    public var expansion: Int { block == .basic ? BasicBlock.expansion : Bottleneck.expansion }

    /// ResNet-18/34/50/101/152 by depth.
    public static func depth(_ depth: Int, numClasses: Int = 1000) -> ResNetConfig? {
        switch depth {
        case 18: ResNetConfig(block: .basic, layers: [2, 2, 2, 2], numClasses: numClasses)
        case 34: ResNetConfig(block: .basic, layers: [3, 4, 6, 3], numClasses: numClasses)
        case 50: ResNetConfig(block: .bottleneck, layers: [3, 4, 6, 3], numClasses: numClasses)
        case 101: ResNetConfig(block: .bottleneck, layers: [3, 4, 23, 3], numClasses: numClasses)
        case 152: ResNetConfig(block: .bottleneck, layers: [3, 8, 36, 3], numClasses: numClasses)
        default: nil
        }
    }
}

extension ResNetConfig: ModelConfiguration {
    /// The registry's entry for ResNets (`"arch": "resnet"` in config files): `resnet18` … `resnet152`
    /// with torchvision's 1000-class head, `resnet50_features` without it.
    public static let family = ModelFamily(
        ResNetConfig.self, arch: "resnet",
        examples: ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet50_features"],
        allowedKeys: Set(CodingKeys.allCases.map(\.rawValue)), named: ResNetConfig.named)

    /// `resnet50`, `ResNet-18`, `resnet50_features`; nil for other names.
    public static func named(_ name: String) -> ResNetConfig? {
        var n = name.lowercased().replacingOccurrences(of: "-", with: "")
        let features = n.hasSuffix("_features")
        if features { n = String(n.dropLast("_features".count)) }
        guard n.hasPrefix("resnet"), let depth = Int(n.dropFirst(6)) else { return nil }
        return ResNetConfig.depth(depth, numClasses: features ? 0 : 1000)
    }

    /// Below 64 pixels the stem keeps the resolution (a 3×3 stride-1 convolution, no max pool), as CIFAR ResNets do.
    public mutating func adapt(toImageSize size: Int) { smallInputStem = size < 64 }

    public func validate() throws {
        typealias R = ConfigurationError
        try R.require(layers.count == 4, "layers", layers, "must list the blocks of the 4 stages")
        try R.require(layers.allSatisfy { (1...256).contains($0) }, "layers", layers,
                      "each stage needs 1 to 256 blocks")
        try R.require((1...4096).contains(width), "width", width, "must be in 1 ... 4096")
        try R.require(numClasses >= 0, "num_classes", numClasses, "must be 0 (no head) or positive")
    }

    public func makeModel() -> Module { ResNet(self) }
}

/// Two 3×3 convolutions (torchvision's `BasicBlock`; keys conv1, bn1, conv2, bn2, downsample).
public final class BasicBlock: Module {
    public static let expansion = 1
    public let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    public let downsample: Sequential?

    init(_ inPlanes: Int, _ planes: Int, stride: Int, downsample: Sequential?) {
        conv1 = Conv2d(inPlanes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes)
        self.downsample = downsample
    }

    var lastNorm: BatchNorm2d { bn2 }

    public override func callAsFunction(_ x: Variable) -> Variable {
        bn2(conv2(bn1(conv1(x), followedByReLU: true)), adding: downsample?(x) ?? x, followedByReLU: true)
    }
}

/// 1×1 → 3×3 (with the stride, "ResNet v1.5") → 1×1 ×4 (torchvision's `Bottleneck`).
public final class Bottleneck: Module {
    public static let expansion = 4
    public let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
    public let downsample: Sequential?

    init(_ inPlanes: Int, _ planes: Int, stride: Int, downsample: Sequential?) {
        conv1 = Conv2d(inPlanes, planes, kernelSize: 1, bias: false)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes)
        conv3 = Conv2d(planes, planes * 4, kernelSize: 1, bias: false)
        bn3 = BatchNorm2d(planes * 4)
        self.downsample = downsample
    }

    var lastNorm: BatchNorm2d { bn3 }

    public override func callAsFunction(_ x: Variable) -> Variable {
        let h = bn2(conv2(bn1(conv1(x), followedByReLU: true)), followedByReLU: true)
        return bn3(conv3(h), adding: downsample?(x) ?? x, followedByReLU: true)
    }
}

/// A ResNet (He et al.) in torchvision's layout and parameter names (`conv1`, `bn1`,
/// `layer1.0.conv1`, `layer1.0.downsample.0`, …, `fc`), so torchvision's and DINO's checkpoints load.
public final class ResNet: Module {
    public let config: ResNetConfig
    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let maxpool: MaxPool2d?
    public let layer1: Sequential, layer2: Sequential, layer3: Sequential, layer4: Sequential
    /// The classifier (`Linear(featureDim, numClasses)`), a head passed to the initialiser (MoCo v3's
    /// projector), or nil for the pooled features.
    public let fc: Module?
    /// Channels of the pooled features.
    public let featureDim: Int

    /// A ResNet with torchvision's init. `head` replaces the `numClasses` classifier and keeps its own init.
    public init(_ config: ResNetConfig, head: Module? = nil) {
        check(config.layers.count == 4 && config.layers.allSatisfy { $0 > 0 }, "ResNet",
              "needs 4 positive stage depths, got \(config.layers)")
        self.config = config
        let w = config.width
        conv1 = config.smallInputStem ? Conv2d(3, w, kernelSize: 3, padding: 1, bias: false)
            : Conv2d(3, w, kernelSize: 7, stride: 2, padding: 3, bias: false)
        bn1 = BatchNorm2d(w)
        maxpool = config.smallInputStem ? nil : MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
        let expansion = config.expansion
        var inPlanes = w
        func stage(_ planes: Int, _ blocks: Int, stride: Int) -> Sequential {
            var modules: [Module] = []
            for i in 0..<blocks {
                let s = i == 0 ? stride : 1
                var downsample: Sequential?
                if i == 0 && (s != 1 || inPlanes != planes * expansion) {
                    downsample = Sequential(Conv2d(inPlanes, planes * expansion, kernelSize: 1, stride: s, bias: false),
                                            BatchNorm2d(planes * expansion))
                }
                modules.append(config.block == .basic ? BasicBlock(inPlanes, planes, stride: s, downsample: downsample)
                               : Bottleneck(inPlanes, planes, stride: s, downsample: downsample))
                inPlanes = planes * expansion
            }
            return Sequential(modules)
        }
        layer1 = stage(w, config.layers[0], stride: 1)
        layer2 = stage(w * 2, config.layers[1], stride: 2)
        layer3 = stage(w * 4, config.layers[2], stride: 2)
        layer4 = stage(w * 8, config.layers[3], stride: 2)
        featureDim = config.featureDim
        fc = head ?? (config.numClasses > 0 ? Linear(featureDim, config.numClasses) : nil)
        super.init()
        // torchvision's init: He normal (fan out) for convolutions; BatchNorm weight 1, bias 0.
        for module in namedModules().map(\.module) {
            if let conv = module as? Conv2d { conv.weight.data = Init.kaimingNormal(conv.weight.shape, mode: .fanOut) }
        }
        if config.zeroInitResidual {
            for m in namedModules().map(\.module) {
                (m as? Bottleneck)?.lastNorm.weight?.data.fill(0)
                (m as? BasicBlock)?.lastNorm.weight?.data.fill(0)
            }
        }
    }

    /// The last stage's feature map [B, featureDim, H/32, W/32] (at the default stem).
    public func featureMap(_ x: Variable) -> Variable {
        var h = bn1(conv1(x), followedByReLU: true)
        if let maxpool { h = maxpool(h) }
        return layer4(layer3(layer2(layer1(h))))
    }

    /// Globally average-pooled features [B, featureDim].
    public func features(_ x: Variable) -> Variable { featureMap(x).mean(axes: [2, 3]) }

    /// Logits [B, classes] with a head, else pooled features.
    public override func callAsFunction(_ x: Variable) -> Variable {
        let f = features(x)
        return fc.map { $0(f) } ?? f
    }
}
