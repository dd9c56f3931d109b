import Autograd
import Foundation
import NN
import Tensor

/// MoCo v3 (Chen, Xie and He): the ViT changes, the projector and predictor MLPs and the loss.
public enum MoCoV3 {
    /// A ViT as MoCo v3 trains it: a fixed 2-D sin-cos position embedding and a frozen random
    /// patch projection (both without gradients), the rest as usual.
    public static func vit(_ config: ViTConfig) -> VisionTransformer {
        let vit = VisionTransformer(config)
        let grid = config.imageSize / config.patchSize
        vit.posEmbed.data = sinCosPositionEmbedding(grid: grid, dim: config.embedDim)
        vit.posEmbed.setRequiresGrad(false)
        // Xavier-uniform random projection, as MoCo v3 initialises it, then frozen.
        let w = vit.patchEmbed.proj.weight
        let fanIn = w.shape[1] * w.shape[2] * w.shape[3]
        let bound = (6 / Double(fanIn + w.shape[0])).squareRoot()
        w.data = Tensor.uniform(w.shape, low: -bound, high: bound)
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
                values += ow.map { Float(sin($0)) } + ow.map { Float(cos($0)) } + oh.map { Float(sin($0)) } + oh.map { Float(cos($0)) }
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

    /// The 3-layer projector (hidden 4096, output 256, last BatchNorm without affine).
    public static func projector(inDim: Int, hiddenDim: Int = 4096, outDim: Int = 256) -> Sequential {
        mlp(layers: 3, inDim: inDim, hiddenDim: hiddenDim, outDim: outDim, lastBatchNorm: true)
    }

    /// The 2-layer predictor of the ViT models (hidden 4096, output 256).
    public static func predictor(dim: Int = 256, hiddenDim: Int = 4096) -> Sequential {
        mlp(layers: 2, inDim: dim, hiddenDim: hiddenDim, outDim: dim, lastBatchNorm: false)
    }

    /// InfoNCE between queries q [N, d] and keys k [N, d] (positives on the diagonal), both L2
    /// normalised, scaled by 2τ as in MoCo v3 (`contrastive_loss`); keys carry no gradient.
    public static func contrastiveLoss(_ q: Variable, _ k: Tensor, temperature: Double = 0.2) -> Variable {
        let qn = q / q.norm(2, axes: [1], keepDim: true)
        let kn = k / k.norm(2, axes: [1], keepDim: true)
        let logits = qn.matmul(Variable(kn.T)) * (1 / temperature)
        let labels = Tensor.arange(q.shape[0])
        return logits.crossEntropy(labels: labels) * (2 * temperature)
    }
}

/// A backbone followed by a projection head (MoCo v3's base and momentum encoders).
public final class ProjectedEncoder: Module {
    public let backbone: Module
    public let projector: Sequential
    public init(backbone: Module, projector: Sequential) { (self.backbone, self.projector) = (backbone, projector) }
    public override func callAsFunction(_ x: Variable) -> Variable { projector(backbone(x)) }
}
