import Autograd
import Foundation
import NN
import Tensor

/// MoCo v3 (Chen, Xie and He): the ViT changes, the projector and predictor MLPs and the loss.
public enum MoCoV3 {
    /// A ViT as MoCo v3 builds it (`vits.py`, `VisionTransformerMoCo`; timm's `init_weights_vit_moco`):
    /// a fixed 2-D sin-cos position embedding, Xavier-uniform Linears (q, k and v of `qkv` each as
    /// its own matrix) with zero biases, the class token from N(0, 1e-6²), and a Xavier-uniform patch
    /// projection with zero bias, frozen (`stop_grad_conv1`). `head` (the projector) keeps its own init.
    public static func vit(_ config: ViTConfig, head: Module? = nil) -> VisionTransformer {
        let vit = VisionTransformer(config, head: head)
        let grid = config.imageSize / config.patchSize
        vit.posEmbed.data = sinCosPositionEmbedding(grid: grid, dim: config.embedDim)
        vit.posEmbed.setRequiresGrad(false)
        for (name, module) in vit.blocks.enumerated().flatMap({ i, b in
            b.namedModules().map { ("\(i).\($0.name)", $0.module) }
        }) {
            guard let linear = module as? Linear else { continue }
            let w = linear.weight
            if name.hasSuffix("qkv") {
                // qkv stacks three [dim, dim] matrices: Xavier's bound for one of them, as moco-v3 does.
                let bound = (6 / Double(w.shape[0] / 3 + w.shape[1])).squareRoot()
                w.data = Tensor.uniform(w.shape, low: -bound, high: bound)
            } else {
                w.data = Init.xavierUniform(w.shape)
            }
            linear.bias?.data.fill(0)
        }
        vit.clsToken.data = Tensor.randn(vit.clsToken.shape, mean: 0, std: 1e-6)
        let w = vit.patchEmbed.proj.weight
        let fanIn = w.shape[1] * w.shape[2] * w.shape[3]
        let bound = (6 / Double(fanIn + w.shape[0])).squareRoot()
        w.data = Tensor.uniform(w.shape, low: -bound, high: bound)
        vit.patchEmbed.proj.bias?.data.fill(0)
        vit.freeze("patch_embed")
        return vit
    }

    /// MoCo v3's `build_2d_sincos_position_embedding` (temperature 10000) with a zero class-token
    /// row: [1, 1 + grid², dim].
    public static func sinCosPositionEmbedding(grid: Int, dim: Int, temperature: Double = 10_000) -> Tensor {
        check(dim % 4 == 0, "sinCosPositionEmbedding", "dim \(dim) must be divisible by 4")
        let quarter = dim / 4
        let omega = (0..<quarter).map { 1 / pow(temperature, Double($0) / Double(quarter)) }
        var values = [Float](repeating: 0, count: dim)  // the class token's row
        // torch.meshgrid(grid_w, grid_h) ('ij'), flattened: row i·grid + j has w = i, h = j.
        for i in 0..<grid {
            for j in 0..<grid {
                let ow = omega.map { Double(i) * $0 }, oh = omega.map { Double(j) * $0 }
                values += ow.map { Float(sin($0)) } + ow.map { Float(cos($0)) }
                    + oh.map { Float(sin($0)) } + oh.map { Float(cos($0)) }
            }
        }
        return Tensor(values, shape: [1, 1 + grid * grid, dim])
    }

    /// MoCo v3's `_build_mlp`: Linear (no bias) → BatchNorm1d → ReLU per hidden layer, then a last
    /// Linear (no bias) followed by a BatchNorm1d without affine parameters if `lastBatchNorm`.
    public static func mlp(layers: Int, inDim: Int, hiddenDim: Int, outDim: Int, lastBatchNorm: Bool) -> Sequential {
        var modules: [Module] = []
        for l in 0..<layers {
            let d1 = l == 0 ? inDim : hiddenDim, d2 = l == layers - 1 ? outDim : hiddenDim
            modules.append(Linear(d1, d2, bias: false))
            if l < layers - 1 {
                modules += [BatchNorm1d(d2), ReLU()]
            } else if lastBatchNorm {
                modules.append(BatchNorm1d(d2, affine: false))
            }
        }
        return Sequential(modules)
    }

    /// The projector: 3 layers for ViTs, 2 for ResNets (hidden 4096, output 256, last BatchNorm
    /// without affine parameters).
    public static func projector(layers: Int = 3, inDim: Int, hiddenDim: Int = 4096, outDim: Int = 256) -> Sequential {
        mlp(layers: layers, inDim: inDim, hiddenDim: hiddenDim, outDim: outDim, lastBatchNorm: true)
    }

    /// The 2-layer predictor (hidden 4096, output 256), with a last BatchNorm for ViTs and without
    /// one for ResNets, as `MoCo_ViT` and `MoCo_ResNet` build it.
    public static func predictor(dim: Int = 256, hiddenDim: Int = 4096, lastBatchNorm: Bool = true) -> Sequential {
        mlp(layers: 2, inDim: dim, hiddenDim: hiddenDim, outDim: dim, lastBatchNorm: lastBatchNorm)
    }

    /// InfoNCE between queries q [N, d] and keys k [M, d], both L2 normalised, scaled by 2τ as in
    /// MoCo v3 (`contrastive_loss`); keys carry no gradient. Query i's positive is key
    /// `firstPositive + i`: in data-parallel training k holds every process's keys
    /// (`concat_all_gather`) and `firstPositive` is this process's rank × N.
    public static func contrastiveLoss(_ q: Variable, _ k: Tensor, temperature: Double = 0.2,
                                       firstPositive: Int = 0) -> Variable {
        let qn = q / q.norm(2, axes: [1], keepDim: true)
        let kn = k / k.norm(2, axes: [1], keepDim: true)
        let logits = qn.matmul(Variable(kn.T)) * (1 / temperature)
        let labels = Tensor.arange(Double(firstPositive), Double(firstPositive + q.shape[0]), dtype: .int64)
        return logits.crossEntropy(labels: labels) * (2 * temperature)
    }
}

/// MoCo v3's model (`moco/builder.py`): the base and momentum encoders, each a backbone whose
/// classifier is the projector (`base_encoder.head` in a ViT, `base_encoder.fc` in a ResNet), and the
/// predictor. The keys are those of moco-v3's checkpoints once `module.` is stripped:
///
/// ```swift
/// let model = MoCoV3Model(vit: .preset(.small, patch: 16))
/// try model.loadStateDict(TorchCheckpoint.stateDict(url, entry: "state_dict", stripPrefixes: ["module."]))
/// ```
public final class MoCoV3Model: Module {
    public let baseEncoder: Module
    public let momentumEncoder: Module
    public let predictor: Sequential

    /// Builds both encoders with `makeEncoder(projector)`; the momentum encoder starts as a copy of
    /// the base encoder and takes no gradients (it follows it by EMA).
    public init(makeEncoder: (_ projector: Sequential) -> Module, featureDim: Int, projectorLayers: Int,
                predictorLastBatchNorm: Bool, dim: Int = 256, mlpDim: Int = 4096) {
        let projector = { MoCoV3.projector(layers: projectorLayers, inDim: featureDim, hiddenDim: mlpDim, outDim: dim) }
        baseEncoder = makeEncoder(projector())
        momentumEncoder = makeEncoder(projector())
        predictor = MoCoV3.predictor(dim: dim, hiddenDim: mlpDim, lastBatchNorm: predictorLastBatchNorm)
        super.init()
        Schedule.startEMA(teacher: momentumEncoder, from: baseEncoder)
    }

    /// `MoCo_ViT`: ``MoCoV3/vit(_:head:)`` encoders (the config's `numClasses` is ignored), a
    /// 3-layer projector and a predictor with a last BatchNorm.
    public convenience init(vit config: ViTConfig, dim: Int = 256, mlpDim: Int = 4096) {
        self.init(makeEncoder: { MoCoV3.vit(config, head: $0) }, featureDim: config.embedDim, projectorLayers: 3,
                  predictorLastBatchNorm: true, dim: dim, mlpDim: mlpDim)
    }

    /// `MoCo_ResNet`: ResNets with `zero_init_residual`, a 2-layer projector (`fc`) and a predictor
    /// without a last BatchNorm.
    public convenience init(resnet config: ResNetConfig, dim: Int = 256, mlpDim: Int = 4096) {
        var c = config
        c.zeroInitResidual = true
        self.init(makeEncoder: { ResNet(c, head: $0) }, featureDim: c.featureDim, projectorLayers: 2,
                  predictorLastBatchNorm: false, dim: dim, mlpDim: mlpDim)
    }

    /// The model for the backbone family of `backbone` (a ``VisionTransformer`` or a ``ResNet``).
    public convenience init(like backbone: Module, dim: Int = 256, mlpDim: Int = 4096) throws {
        switch backbone {
        case let vit as VisionTransformer:
            try ConfigurationError.require(vit.config.embedDim % 4 == 0, "embed_dim", vit.config.embedDim,
                                           "must be divisible by 4 for MoCo v3's 2-D sin-cos position embedding")
            self.init(vit: vit.config, dim: dim, mlpDim: mlpDim)
        case let resnet as ResNet: self.init(resnet: resnet.config, dim: dim, mlpDim: mlpDim)
        default:
            throw ConfigurationError(field: "backbone", value: "\(type(of: backbone))",
                                     rule: "MoCo v3 builds ViT and ResNet encoders only")
        }
    }

    /// The base encoder's backbone features, without the projector: the class token of a ViT, the
    /// pooled features of a ResNet (what k-NN and linear evaluation use).
    public func features(_ x: Variable) -> Variable {
        switch baseEncoder {
        case let vit as VisionTransformer: return vit.classFeatures(x)
        case let resnet as ResNet: return resnet.features(x)
        default: fail("MoCoV3Model.features", "the base encoder is neither a ViT nor a ResNet")
        }
    }

    /// The base encoder's state dict without the projector: a backbone checkpoint, as moco-v3's
    /// `convert_to_deit.py` extracts it.
    public func backboneStateDict() -> [String: Tensor] {
        let projectorKey = baseEncoder is ResNet ? "fc." : "head."
        return baseEncoder.stateDict().filter { !$0.key.hasPrefix(projectorKey) }
    }
}
