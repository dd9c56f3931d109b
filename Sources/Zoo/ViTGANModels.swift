import Autograd
import NN
import Tensor

// ViTGAN's generator and discriminator, as the paper describes them (Section 4; Figure 2), built from
// the parts in ViTGAN.swift.

/// Learned Fourier features sin(x·Bᵀ + b) of coordinates x [..., inputs] (the code's `LFF`; SIREN's
/// first-layer init, B ~ U(±1/inputs)). Keys `linear.weight`, `linear.bias`.
public final class FourierFeatures: Module {
    public let linear: Linear

    public init(inputs: Int = 2, features: Int, dtype: DType = .float32) {
        linear = Linear(inputs, features, dtype: dtype)
        let bound = 1 / Double(inputs)
        linear.weight.data = Tensor.uniform(linear.weight.shape, low: -bound, high: bound, dtype: dtype)
    }

    public override func callAsFunction(_ x: Variable) -> Variable { linear(x).sin() }

    /// The coordinates of a `size` × `size` grid in [−1, 1]², row-major, as [size², 2] (x, then y).
    public static func grid(_ size: Int, dtype: DType = .float32) -> Tensor {
        let step = size > 1 ? 2 / Double(size - 1) : 0
        var values: [Double] = []
        for i in 0..<size * size {
            values += [Double(i % size) * step - 1, Double(i / size) * step - 1]
        }
        return Tensor(values, shape: [size * size, 2]).converted(to: dtype)
    }
}

/// A Linear whose weight is modulated per sample by a style and demodulated (StyleGAN2's modulated
/// convolution with a 1 × 1 kernel): for input x [B, N, P, in] and style y [B, N, styleDim],
/// s = A(y) (bias 1), out = ((x ⊙ s)·(c·W)ᵀ) ⊙ d + b with c = 1/√in and d = 1/√(Σᵢ (c·W·s)² + 1e-8).
/// Keys `weight`, `bias`, `modulation.weight`, `modulation.bias`.
public final class ModulatedLinear: Module {
    public let weight: Variable
    public let bias: Variable
    public let modulation: EqualizedLinear
    public let demodulate: Bool

    public init(_ inFeatures: Int, _ outFeatures: Int, styleDim: Int, demodulate: Bool = true,
                dtype: DType = .float32) {
        weight = .parameter(Tensor.randn([outFeatures, inFeatures], dtype: dtype))
        bias = .parameter(.zeros([outFeatures], dtype: dtype))
        modulation = EqualizedLinear(styleDim, inFeatures, dtype: dtype)
        modulation.bias!.data = .ones([inFeatures], dtype: dtype)
        self.demodulate = demodulate
    }

    public func callAsFunction(_ x: Variable, style: Variable) -> Variable {
        let s = modulation(style)  // [B, N, in]
        let w = weight * (1 / Double(weight.shape[1]).squareRoot())
        var out = (x * s.unsqueezed(2)).matmul(w.transposed())
        if demodulate {
            out = out * ((s * s).matmul((w * w).transposed()) + 1e-8).rsqrt().unsqueezed(2)
        }
        return out + bias
    }
}

/// Sizes of a ViTGAN pair; the defaults are the paper's CIFAR-10 generator scaled to 32² images.
public struct ViTGANConfig: Sendable, Equatable {
    public var imageSize = 32, patchSize = 4, dim = 384, depth = 4, heads = 6
    public var latentDim = 384, mappingDepth = 8
    /// The width of the per-pixel Fourier features and of the implicit network's hidden layer.
    public var pixelFeatures = 64, pixelHidden = 64
    /// The discriminator's patch overlap o (kernel P + 2o) and depth.
    public var overlap = 1, discriminatorDepth = 4

    public init() {}

    /// Throws when a size breaks a rule, naming it.
    public func validate() throws {
        for (field, value) in [("imageSize", imageSize), ("patchSize", patchSize), ("dim", dim), ("depth", depth),
                               ("heads", heads), ("latentDim", latentDim), ("mappingDepth", mappingDepth)] {
            try ConfigurationError.require(value > 0, field, value, "must be positive")
        }
        try ConfigurationError.require(imageSize % patchSize == 0, "patchSize", patchSize,
                                       "must divide imageSize = \(imageSize)")
        try ConfigurationError.require(dim % heads == 0, "heads", heads, "must divide dim = \(dim)")
    }

    var grid: Int { imageSize / patchSize }
}

/// ViTGAN's generator: z → mapping network → w; the tokens start as Fourier features of their grid
/// position and pass `depth` blocks whose layer norms are modulated by w (SLN); each output token
/// then paints its P × P patch as an implicit neural representation: per-pixel Fourier features
/// through two Linears modulated by the token, then to RGB.
public final class ViTGANGenerator: Module {
    public let config: ViTGANConfig
    public let mapping: MappingNetwork
    public let positions: FourierFeatures
    public let blocks: [ViTGANGeneratorBlock]
    public let norm: SelfModulatedLayerNorm
    public let pixelFeatures: FourierFeatures
    public let pixelLayers: [ModulatedLinear]
    public let toRGB: ModulatedLinear
    /// The token grid's and a patch's pixel coordinates, the inputs of the two Fourier features.
    let tokenGrid: Tensor, pixelGrid: Tensor

    public init(_ config: ViTGANConfig, dtype: DType = .float32) throws {
        try config.validate()
        self.config = config
        let d = config.dim
        mapping = MappingNetwork(latentDim: config.latentDim, styleDim: d, depth: config.mappingDepth, dtype: dtype)
        positions = FourierFeatures(features: d, dtype: dtype)
        blocks = (0..<config.depth).map { _ in ViTGANGeneratorBlock(dim: d, heads: config.heads, dtype: dtype) }
        norm = SelfModulatedLayerNorm(d, latentDim: d, dtype: dtype)
        pixelFeatures = FourierFeatures(features: config.pixelFeatures, dtype: dtype)
        pixelLayers = [ModulatedLinear(config.pixelFeatures, config.pixelHidden, styleDim: d, dtype: dtype),
                       ModulatedLinear(config.pixelHidden, config.pixelHidden, styleDim: d, dtype: dtype)]
        toRGB = ModulatedLinear(config.pixelHidden, 3, styleDim: d, demodulate: false, dtype: dtype)
        tokenGrid = FourierFeatures.grid(config.grid, dtype: dtype)
        pixelGrid = FourierFeatures.grid(config.patchSize, dtype: dtype)
    }

    /// Images [B, 3, size, size] for latents z [B, latentDim].
    public override func callAsFunction(_ z: Variable) -> Variable {
        check(z.rank == 2 && z.shape[1] == config.latentDim, "ViTGANGenerator",
              "expects latents [B, \(config.latentDim)], got \(describe(z.shape))")
        let (b, g, p) = (z.shape[0], config.grid, config.patchSize)
        let w = mapping(z)
        let start = positions(Variable(tokenGrid)).unsqueezed(0)
        var h = start.expanded(to: [b, g * g, config.dim])
        for block in blocks { h = block(h, latent: w) }
        let tokens = norm(h, latent: w)  // [B, N, D]
        var pixels = pixelFeatures(Variable(pixelGrid)).reshaped([1, 1, p * p, -1])
        pixels = pixels.expanded(to: [b, g * g, p * p, config.pixelFeatures])
        for layer in pixelLayers { pixels = layer(pixels, style: tokens).leakyReLU(negativeSlope: 0.2) }
        let rgb = toRGB(pixels, style: tokens)  // [B, N, P², 3]
        return rgb.reshaped([b, g, g, p, p, 3]).permuted([0, 5, 1, 3, 2, 4]).reshaped([b, 3, g * p, g * p])
    }
}

/// A generator block: SLN → self-attention → residual, SLN → MLP → residual.
public final class ViTGANGeneratorBlock: Module {
    public let norm1: SelfModulatedLayerNorm
    public let attn: Attention
    public let norm2: SelfModulatedLayerNorm
    public let mlp: MLP

    public init(dim: Int, heads: Int, dtype: DType = .float32) {
        norm1 = SelfModulatedLayerNorm(dim, latentDim: dim, dtype: dtype)
        attn = Attention(dim, heads: heads, dtype: dtype)
        norm2 = SelfModulatedLayerNorm(dim, latentDim: dim, dtype: dtype)
        mlp = MLP(dim, hidden: 4 * dim, dtype: dtype)
    }

    public func callAsFunction(_ x: Variable, latent w: Variable) -> Variable {
        let h = x + attn(norm1(x, latent: w))
        return h + mlp(norm2(h, latent: w))
    }
}

/// ViTGAN's discriminator: overlapping patches, a class token and position embeddings, blocks of
/// layer norm, tied L2 attention and an MLP, every Linear spectrally normalised (improved form),
/// and a logit from the class token.
public final class ViTGANDiscriminator: Module {
    public let config: ViTGANConfig
    public let patchEmbed: OverlappingPatchEmbedding
    public let clsToken: Variable
    public let posEmbed: Variable
    public let blocks: [ViTGANDiscriminatorBlock]
    public let norm: LayerNorm
    public let head: SpectralNormLinear

    public init(_ config: ViTGANConfig, dtype: DType = .float32) throws {
        try config.validate()
        try ConfigurationError.require(config.overlap >= 0, "overlap", config.overlap, "must not be negative")
        self.config = config
        let d = config.dim, tokens = config.grid * config.grid + 1
        patchEmbed = OverlappingPatchEmbedding(patchSize: config.patchSize, overlap: config.overlap, dim: d,
                                               dtype: dtype)
        clsToken = .parameter(Init.truncatedNormal([1, 1, d], std: 0.02, dtype: dtype))
        posEmbed = .parameter(Init.truncatedNormal([1, tokens, d], std: 0.02, dtype: dtype))
        blocks = (0..<config.discriminatorDepth).map { _ in
            ViTGANDiscriminatorBlock(dim: d, heads: config.heads, dtype: dtype)
        }
        norm = LayerNorm(d, dtype: dtype)
        head = SpectralNormLinear(d, 1, improved: true, dtype: dtype)
    }

    /// Logits [B, 1] for images [B, 3, size, size].
    public override func callAsFunction(_ x: Variable) -> Variable {
        let s = config.imageSize
        check(x.rank == 4 && Array(x.shape.dropFirst()) == [3, s, s], "ViTGANDiscriminator",
              "expects images [B, 3, \(s), \(s)], got \(describe(x.shape))")
        let patches = patchEmbed(x)
        let cls = clsToken.expanded(to: [x.shape[0], 1, config.dim])
        var h = Variable.concat([cls, patches], axis: 1) + posEmbed
        for block in blocks { h = block(h) }
        return head(norm(h).select(axis: 1, index: 0))
    }
}

/// A discriminator block: LN → tied L2 attention → residual, LN → spectrally normalised MLP → residual.
public final class ViTGANDiscriminatorBlock: Module {
    public let norm1: LayerNorm
    public let attn: L2SelfAttention
    public let norm2: LayerNorm
    public let fc1: SpectralNormLinear
    public let fc2: SpectralNormLinear

    public init(dim: Int, heads: Int, dtype: DType = .float32) {
        norm1 = LayerNorm(dim, dtype: dtype)
        attn = L2SelfAttention(dim, heads: heads, tied: true, spectralNorm: true, dtype: dtype)
        norm2 = LayerNorm(dim, dtype: dtype)
        fc1 = SpectralNormLinear(dim, 4 * dim, improved: true, dtype: dtype)
        fc2 = SpectralNormLinear(4 * dim, dim, improved: true, dtype: dtype)
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        let h = x + attn(norm1(x))
        return h + fc2(fc1(norm2(h)).gelu())
    }
}
