import Autograd
import Foundation
import NN
import Tensor

/// SiT's projection head (`CLSHead` in SiT's `vision_transformer.py`) on the class token:
/// Linear → BatchNorm1d → ReLU, then (Linear → BatchNorm1d → GELU) × (layers − 2), then Linear →
/// BatchNorm1d without affine parameters. Linears from a truncated normal (std 0.02), zero biases.
public final class SiTProjectionHead: Module {
    public let mlp: Module

    public init(inDim: Int, outDim: Int = 256, hiddenDim: Int = 4096, layers: Int = 3) {
        check(layers >= 1, "SiTProjectionHead", "needs at least one layer, got \(layers)")
        if layers == 1 {
            mlp = Linear(inDim, outDim)
        } else {
            var modules: [Module] = [Linear(inDim, hiddenDim), BatchNorm1d(hiddenDim), ReLU()]
            for _ in 0..<(layers - 2) { modules += [Linear(hiddenDim, hiddenDim), BatchNorm1d(hiddenDim), GELU()] }
            modules += [Linear(hiddenDim, outDim), BatchNorm1d(outDim, affine: false)]
            mlp = Sequential(modules)
        }
        super.init()
        for case let linear as Linear in mlp.namedModules().map(\.module) {
            linear.weight.data = Init.truncatedNormal(linear.weight.shape)
            linear.bias?.data.fill(0)
        }
    }

    public override func callAsFunction(_ x: Variable) -> Variable { mlp(x) }
}

/// SiT's reconstruction head (`RECHead`): (Linear → GELU) × `layers` on every patch token, then
/// the transposed convolution of kernel and stride P back to pixels. With stride equal to kernel
/// the transposed convolution is one product per token with `convTrans.weight` [D, C, P, P]
/// seen as [D, C·P²] and a reshape, so the parameters keep PyTorch's layout and keys.
public final class SiTReconstructionHead: Module {
    public let mlp: Sequential
    /// `convTrans`'s weight [D, C, P, P] and bias [C].
    public let convTrans: ConvTransposePatch
    public let patchSize: Int

    public override class var stateDictKeys: [String: String] { ["convTrans": "convTrans"] }

    public init(inDim: Int, channels: Int = 3, patchSize: Int = 16, layers: Int = 3) {
        mlp = Sequential((0..<layers).flatMap { _ in [Linear(inDim, inDim), GELU()] as [Module] })
        convTrans = ConvTransposePatch(inDim, channels, patchSize: patchSize)
        self.patchSize = patchSize
        super.init()
        for case let linear as Linear in mlp.namedModules().map(\.module) {
            linear.weight.data = Init.truncatedNormal(linear.weight.shape)
            linear.bias?.data.fill(0)
        }
    }

    /// Images [B, C, gh·P, gw·P] from patch tokens [B, gh·gw, D] of a gh × gw grid.
    public func callAsFunction(_ tokens: Variable, grid: (height: Int, width: Int)) -> Variable {
        check(tokens.rank == 3 && tokens.shape[1] == grid.height * grid.width, "SiTReconstructionHead",
              "expects [B, \(grid.height * grid.width), D] patch tokens, got \(describe(tokens.shape))")
        return convTrans(mlp(tokens), grid: grid)
    }
}

/// `nn.ConvTranspose2d(inDim, channels, kernel_size=P, stride=P)` on a grid of tokens: PyTorch's
/// parameters and default initialisation (bounds 1/√(channels·P²), the fan-in PyTorch computes
/// from the weight's second axis).
public final class ConvTransposePatch: Module {
    public let weight: Variable
    public let bias: Variable

    public init(_ inDim: Int, _ channels: Int, patchSize: Int) {
        let fanIn = channels * patchSize * patchSize
        weight = Variable.parameter(Init.torchDefaultWeight([inDim, channels, patchSize, patchSize]))
        bias = Variable.parameter(Init.torchDefaultBias(channels, fanIn: fanIn))
    }

    /// [B, C, gh·P, gw·P] from tokens [B, gh·gw, D].
    public func callAsFunction(_ tokens: Variable, grid: (height: Int, width: Int)) -> Variable {
        let (d, c, p) = (weight.shape[0], weight.shape[1], weight.shape[2])
        let b = tokens.shape[0]
        let pixels = tokens.matmul(weight.reshaped([d, c * p * p]))        // [B, gh·gw, C·P·P]
            .reshaped([b, grid.height, grid.width, c, p, p]).permuted([0, 3, 1, 4, 2, 5])
            .reshaped([b, c, grid.height * p, grid.width * p])
        return pixels + bias.reshaped([1, c, 1, 1])
    }
}

/// The learned task weighting of SiT's first version (Kendall, Gal and Cipolla's homoscedastic
/// uncertainty): total = Σᵢ ½·exp(−sᵢ)·Lᵢ + ½·sᵢ with sᵢ = log σᵢ² learned, one per loss.
public final class TaskUncertainty: Module {
    public let logVariances: Variable

    public init(tasks: Int) { logVariances = Variable.parameter(Tensor.zeros([tasks])) }

    /// The weighted sum of `losses` (scalars, one per task).
    public func callAsFunction(_ losses: [Variable]) -> Variable {
        check(losses.count == logVariances.shape[0], "TaskUncertainty",
              "has \(logVariances.shape[0]) tasks, got \(losses.count) losses")
        return Self.weighted(losses, logVariances: logVariances)
    }

    /// Σᵢ ½·exp(−sᵢ)·Lᵢ + ½·sᵢ for scalar losses Lᵢ and log-variances s [tasks].
    public static func weighted(_ losses: [Variable], logVariances s: Variable) -> Variable {
        let terms = losses.enumerated().map { i, loss in
            let si = s.select(axis: 0, index: i)
            return (si * -1).exp() * loss * 0.5 + si * 0.5
        }
        return terms.dropFirst().reduce(terms[0], +)
    }
}

/// SiT (Atito, Awais and Kittler, "SiT: Self-supervised vIsion Transformer"), as the official
/// code's `FullPipline` builds it: a ViT backbone, the projection head on the class token and the
/// reconstruction head on the patch tokens. Keys are those of SiT's checkpoints (`backbone.…`,
/// `head.mlp.…`, `head_recons.mlp.…`, `head_recons.convTrans.…`).
///
/// With `firstVersion` the model also has the paper's first version's parts: a rotation classifier
/// (0°, 90°, 180°, 270°) on the class token (`head_rotation`) and the learned weighting of the three
/// losses (`uncertainty.log_variances`).
public final class SiTModel: Module {
    public let backbone: VisionTransformer
    public let head: SiTProjectionHead
    public let headRecons: SiTReconstructionHead
    public let headRotation: Linear?
    public let uncertainty: TaskUncertainty?

    public init(vit config: ViTConfig, outDim: Int = 256, hiddenDim: Int = 4096, firstVersion: Bool = false) {
        var c = config
        c.numClasses = 0
        backbone = VisionTransformer(c)
        head = SiTProjectionHead(inDim: c.embedDim, outDim: outDim, hiddenDim: hiddenDim)
        headRecons = SiTReconstructionHead(inDim: c.embedDim, channels: c.inChannels, patchSize: c.patchSize)
        headRotation = firstVersion ? Linear(c.embedDim, 4) : nil
        uncertainty = firstVersion ? TaskUncertainty(tasks: 3) : nil
        super.init()
        if let headRotation {
            headRotation.weight.data = Init.truncatedNormal(headRotation.weight.shape)
            headRotation.bias?.data.fill(0)
        }
    }

    /// What one forward pass gives: the projection of the class token [B, outDim], the
    /// reconstructed images [B, C, H, W] (nil unless asked for) and the rotation logits [B, 4]
    /// (nil unless the model has a rotation head).
    public struct Output {
        public let projection: Variable
        public let reconstruction: Variable?
        public let rotationLogits: Variable?
    }

    /// The heads' outputs for images [B, C, H, W] whose sides are multiples of the patch size.
    public func forward(_ x: Variable, reconstruct: Bool = true) -> Output {
        let p = backbone.config.patchSize
        check(x.rank == 4 && x.shape[2] % p == 0 && x.shape[3] % p == 0, "SiTModel",
              "expects images [B, C, H, W] with sides divisible by the patch size \(p), got \(describe(x.shape))")
        let tokens = backbone.forwardFeatures(x)
        let cls = tokens.select(axis: 1, index: 0)
        let reconstruction = reconstruct
            ? headRecons(tokens.slice(axis: 1, start: 1), grid: (x.shape[2] / p, x.shape[3] / p)) : nil
        return Output(projection: head(cls), reconstruction: reconstruction, rotationLogits: headRotation?(cls))
    }
}
