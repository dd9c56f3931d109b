import Autograd
import Tensor

// Layers of GAN generators and discriminators (StyleGAN2's, used by ViTGAN).

/// A Linear whose weight is divided by its largest singular value σ(W), estimated by one step of
/// power iteration per training forward pass (`torch.nn.utils.spectral_norm(nn.Linear(…))`: keys
/// `weight_orig`, `weight_u`, `weight_v`, `bias`; u and v are buffers, σ = uᵀ·W·v is differentiated
/// with u and v held constant, evaluation reuses them).
///
/// `improved: true` is ViTGAN's improved spectral normalisation: the weight is scaled by σ of the
/// initial weight as well, W̄ = σ(W₀)·W/σ(W), so a layer starts at its initial scale rather than
/// at 1 (stored as the buffer `weight_initial_sigma`).
public final class SpectralNormLinear: Module {
    public let weightOrig: Variable
    public let weightU: Buffer
    public let weightV: Buffer
    public let weightInitialSigma: Buffer?
    public let bias: Variable?
    /// The floor of the norms in the power iteration (PyTorch's `eps`).
    public let epsilon: Double

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, improved: Bool = false,
                epsilon: Double = 1e-12, dtype: DType = .float32, generator: RandomGenerator? = nil) {
        let w = Init.torchDefaultWeight([outFeatures, inFeatures], dtype: dtype)
        weightOrig = .parameter(w)
        self.bias = bias ? .parameter(Init.torchDefaultBias(outFeatures, fanIn: inFeatures, dtype: dtype)) : nil
        self.epsilon = epsilon
        let u = Tensor.randn([outFeatures], dtype: dtype, generator: generator)
        let v = Tensor.randn([inFeatures], dtype: dtype, generator: generator)
        weightU = Buffer(SpectralNormLinear.normalized(u, epsilon))
        weightV = Buffer(SpectralNormLinear.normalized(v, epsilon))
        // `svd` throws only for non-finite input, which a fresh initialisation is not.
        weightInitialSigma = improved
            ? Buffer((try? w.converted(to: .float64).svd().s.slice(axis: 0, end: 1).converted(to: dtype)) ?? .ones([1]))
            : nil
    }

    private static func normalized(_ x: Tensor, _ epsilon: Double) -> Tensor {
        x / Swift.max(x.norm(2).item(), epsilon)
    }

    /// The normalised weight; a training pass first moves u and v one power-iteration step.
    public func weight() -> Variable {
        let w = weightOrig
        if isTraining {
            noGrad {
                let v = Self.normalized(w.data.transposed().matmul(weightU.value), epsilon)
                weightU.value = Self.normalized(w.data.matmul(v), epsilon)
                weightV.value = v
            }
        }
        let sigma = (Variable(weightU.value.unsqueezed(0)).matmul(w).matmul(Variable(weightV.value.unsqueezed(1))))
        let normalised = w / sigma.reshaped([1, 1])
        return weightInitialSigma.map { normalised * $0.value.reshaped([1, 1]) } ?? normalised
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        FlopCounter.add(x.data.count * weightOrig.shape[0])
        return x.linear(weight: weight(), bias: bias)
    }
}

/// StyleGAN2's equalised-learning-rate Linear (`EqualLinear`): the weight is stored as N(0, 1)/lr and
/// used scaled by lr/√in, the bias used times lr, so every layer learns at the same rate under Adam
/// (`learningRateMultiplier` 0.01 in the mapping network). Keys `weight`, `bias`.
public final class EqualizedLinear: Module {
    public let weight: Variable
    public let bias: Variable?
    public let learningRateMultiplier: Double

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, learningRateMultiplier: Double = 1,
                dtype: DType = .float32, generator: RandomGenerator? = nil) {
        check(learningRateMultiplier > 0, "EqualizedLinear",
              "learningRateMultiplier must be positive, got \(learningRateMultiplier)")
        weight = .parameter(Tensor.randn([outFeatures, inFeatures], dtype: dtype, generator: generator)
            / learningRateMultiplier)
        self.bias = bias ? .parameter(.zeros([outFeatures], dtype: dtype)) : nil
        self.learningRateMultiplier = learningRateMultiplier
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        FlopCounter.add(x.data.count * weight.shape[0])
        let scale = learningRateMultiplier / Double(weight.shape[1]).squareRoot()
        return x.linear(weight: weight * scale, bias: bias.map { $0 * learningRateMultiplier })
    }
}

/// x / √(mean(x²) + 1e-8) over axis 1 (StyleGAN's `PixelNorm`, applied to the latent z).
public final class PixelNorm: Module {
    public override func callAsFunction(_ x: Variable) -> Variable {
        x * ((x * x).mean(axes: [1], keepDim: true) + 1e-8).rsqrt()
    }
}

extension Variable {
    /// max(x, slope·x) for 0 ≤ slope < 1 (`torch.nn.functional.leaky_relu`).
    public func leakyReLU(negativeSlope slope: Double = 0.01) -> Variable {
        check(slope >= 0 && slope < 1, "leakyReLU", "negativeSlope must lie in [0, 1), got \(slope)")
        return maximum(self * slope)
    }
}
