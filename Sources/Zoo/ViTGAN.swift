import Autograd
import NN
import Tensor

// ViTGAN's parts (Lee et al., "ViTGAN: Training GANs with Vision Transformers"; code mlpc-ucsd/ViTGAN).
// The paper's forms are the defaults; where the official code differs, `.official` reproduces it.

/// Which form of a ViTGAN part: the paper's equations, or the official code's departures from them.
public enum ViTGANVariant: String, Sendable {
    case paper, official
}

/// ViTGAN's L2-distance self-attention for a Lipschitz discriminator, over [B, N, dim].
///
/// `.paper`: softmax(−‖qᵢ − kⱼ‖² / √d)·V, with W_q = W_k when `tied` (the discriminator): one
/// projection `qv` to q and v (or `qkv` untied), output projection `proj`.
/// `.official` (the code's `Attention` with `l2_attn`): q, k from one `qkv`; scores
/// (mean(q²)ᵢ − 2qᵢ·kⱼ + mean(q²)ⱼ)·τ/√d — q's mean square on both sides, k only in the cross term,
/// a learnable temperature τ (`temperature`, starting at 1), and no minus sign.
///
/// With `spectralNorm` every projection is a `SpectralNormLinear` in its improved form (the paper's
/// discriminator; keys `weight_orig`, `weight_u`, `weight_v`, `weight_initial_sigma`).
public final class L2SelfAttention: Module {
    public let qkv: Module?
    public let qv: Module?
    public let proj: Module
    public let temperature: Variable?
    public let heads: Int
    public let variant: ViTGANVariant

    public init(_ dim: Int, heads: Int = 4, tied: Bool = true, variant: ViTGANVariant = .paper,
                spectralNorm: Bool = false, dtype: DType = .float32) {
        check(heads > 0 && dim % heads == 0, "L2SelfAttention", "heads (\(heads)) must divide dim (\(dim))")
        check(variant == .paper || !tied, "L2SelfAttention",
              "tied: true is the paper's form; the official code projects k separately (pass tied: false)")
        (self.heads, self.variant) = (heads, variant)
        func linear(_ out: Int, bias: Bool) -> Module {
            spectralNorm ? SpectralNormLinear(dim, out, bias: bias, improved: true, dtype: dtype)
                : Linear(dim, out, bias: bias, dtype: dtype)
        }
        qv = tied ? linear(2 * dim, bias: false) : nil
        qkv = tied ? nil : linear(3 * dim, bias: false)
        proj = linear(dim, bias: true)
        temperature = variant == .official ? .parameter(.ones([1], dtype: dtype)) : nil
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        check(x.rank == 3, "L2SelfAttention", "expects tokens [B, N, dim], got \(describe(x.shape))")
        let (b, n, c) = (x.shape[0], x.shape[1], x.shape[2]), d = c / heads
        func split(_ t: Variable, _ parts: Int) -> [Variable] {
            let h = t.reshaped([b, n, parts, heads, d]).permuted([2, 0, 3, 1, 4])
            return (0..<parts).map { h.select(axis: 0, index: $0) }
        }
        let (q, k, v): (Variable, Variable, Variable)
        if let qv {
            let p = split(qv(x), 2)
            (q, k, v) = (p[0], p[0], p[1])
        } else {
            let p = split(qkv!(x), 3)
            (q, k, v) = (p[0], p[1], p[2])
        }
        let cross = q.matmul(k.transposed())
        let scores: Variable
        if let temperature {
            let qq = (q * q).mean(axes: [-1], keepDim: true)
            scores = (qq - 2 * cross + qq.transposed()) * (1 / Double(d).squareRoot()) * temperature
        } else {
            let qq = (q * q).sum(axes: [-1], keepDim: true)
            let kk = k === q ? qq : (k * k).sum(axes: [-1], keepDim: true)  // tied: the same norms
            scores = (qq - 2 * cross + kk.transposed()) * (-1 / Double(d).squareRoot())
        }
        let out = scores.softmax(axis: -1).matmul(v).permuted([0, 2, 1, 3]).reshaped([b, n, c])
        return proj(out)
    }
}

/// ViTGAN's self-modulated LayerNorm: LN without affine, scaled and shifted per sample by the
/// latent w [B, latent] through two Linears (`gamma`, `beta`), over tokens [B, N, dim].
/// `.paper`: γ(w)·LN(h) + β(w). `.official`: (1 + γ(w))·LN(h) + β(w) with ε = 0.001.
public final class SelfModulatedLayerNorm: Module {
    public let gamma: Linear
    public let beta: Linear
    public let variant: ViTGANVariant

    public init(_ dim: Int, latentDim: Int, variant: ViTGANVariant = .paper, dtype: DType = .float32) {
        gamma = Linear(latentDim, dim, dtype: dtype)
        beta = Linear(latentDim, dim, dtype: dtype)
        self.variant = variant
    }

    public func callAsFunction(_ h: Variable, latent w: Variable) -> Variable {
        check(h.rank == 3 && w.rank == 2 && w.shape[0] == h.shape[0] && w.shape[1] == gamma.inFeatures,
              "SelfModulatedLayerNorm", "expects tokens [B, N, \(gamma.outFeatures)] and a latent "
              + "[B, \(gamma.inFeatures)], got \(describe(h.shape)) and \(describe(w.shape))")
        let normalised = h.layerNorm(weight: nil, bias: nil, epsilon: variant == .paper ? 1e-5 : 1e-3)
        let scale = gamma(w).unsqueezed(1), shift = beta(w).unsqueezed(1)
        return normalised * (variant == .paper ? scale : scale + 1) + shift
    }
}

/// ViTGAN's overlapping patch embedding: a convolution of kernel P + 2o, stride P and padding o
/// (so neighbouring patches share o pixels each side) into [B, tokens, dim]. Keys `proj.weight`, `proj.bias`.
public final class OverlappingPatchEmbedding: Module {
    public let proj: Conv2d

    public init(patchSize: Int, overlap: Int, inChannels: Int = 3, dim: Int, dtype: DType = .float32) {
        check(patchSize > 0 && overlap >= 0, "OverlappingPatchEmbedding",
              "patchSize must be positive and overlap non-negative, got \(patchSize) and \(overlap)")
        proj = Conv2d(inChannels, dim, kernelSize: patchSize + 2 * overlap, stride: patchSize, padding: overlap,
                      dtype: dtype)
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        let y = proj(x)
        return y.reshaped([y.shape[0], y.shape[1], y.shape[2] * y.shape[3]]).transposed(1, 2)
    }
}

/// StyleGAN2's mapping network as ViTGAN uses it: PixelNorm, then `depth` equalised Linears with
/// learning-rate multiplier 0.01, each followed by leaky ReLU (slope 0.2) times √2 (the fused
/// leaky ReLU's gain). Keys `layers.N.weight`, `layers.N.bias`.
public final class MappingNetwork: Module {
    public let norm = PixelNorm()
    public let layers: [EqualizedLinear]

    public init(latentDim: Int, styleDim: Int, depth: Int = 8, learningRateMultiplier: Double = 0.01,
                dtype: DType = .float32) {
        check(depth >= 1, "MappingNetwork", "depth must be at least 1, got \(depth)")
        layers = (0..<depth).map {
            EqualizedLinear($0 == 0 ? latentDim : styleDim, styleDim, learningRateMultiplier: learningRateMultiplier,
                            dtype: dtype)
        }
    }

    public override func callAsFunction(_ z: Variable) -> Variable {
        layers.reduce(norm(z)) { h, layer in layer(h).leakyReLU(negativeSlope: 0.2) * 2.0.squareRoot() }
    }
}
