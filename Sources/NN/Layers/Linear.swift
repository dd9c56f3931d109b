import Autograd
import Tensor

/// y = x·Wᵀ + b over the last axis (`torch.nn.Linear`; keys `weight` [out, in], `bias` [out]).
public final class Linear: Module {
    public let weight: Variable
    public let bias: Variable?

    /// PyTorch's default init: weight and bias U(±1/√in).
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, dtype: DType = .float32) {
        weight = .parameter(Init.torchDefaultWeight([outFeatures, inFeatures], dtype: dtype))
        self.bias = bias ? .parameter(Init.torchDefaultBias(outFeatures, fanIn: inFeatures, dtype: dtype)) : nil
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        countMultiplyAdds(x)
        return x.linear(weight: weight, bias: bias)
    }

    /// `self(norm(x))` as one graph node that keeps only x, recomputing the normalised x in the backward
    /// (`Variable.layerNormLinear`): what a pre-norm block's qkv and fc1 run.
    public func callAsFunction(_ x: Variable, normalizedBy norm: LayerNorm) -> Variable {
        countMultiplyAdds(x)
        return x.layerNormLinear(normWeight: norm.weight, normBias: norm.bias, epsilon: norm.epsilon,
                                 weight: weight, bias: bias)
    }

    /// `self(GELU(x))` as one graph node that keeps only x, recomputing GELU(x) in the backward
    /// (`Variable.geluLinear`): what ``MLP`` runs, so that its hidden activation is saved once.
    public func callAsFunction(geluOf x: Variable, approximate: Bool = false) -> Variable {
        countMultiplyAdds(x)
        return x.geluLinear(weight: weight, bias: bias, approximate: approximate)
    }

    /// Adds this layer's product on `x` to the ``FlopCounter``.
    private func countMultiplyAdds(_ x: Variable) {
        FlopCounter.add(x.data.count / Swift.max(inFeatures, 1) * inFeatures * outFeatures)
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }
}

/// A bias-free Linear whose weight is reparameterised as g · v / ‖v‖ per output row, exactly as
/// `torch.nn.utils.weight_norm(nn.Linear(in, out, bias=False))` (keys `weight_g` [out, 1] and
/// `weight_v` [out, in]); DINO's head uses it as its last layer, with g fixed at 1 by default.
public final class WeightNormLinear: Module {
    public let weightG: Variable
    public let weightV: Variable

    public init(_ inFeatures: Int, _ outFeatures: Int, dtype: DType = .float32) {
        let v = Init.torchDefaultWeight([outFeatures, inFeatures], dtype: dtype)
        weightV = .parameter(v)
        weightG = .parameter(v.norm(2, axes: [1], keepDim: true))  // weight_norm starts from g = ‖v‖
    }

    /// The effective weight g · v / ‖v‖.
    public func weight() -> Variable { weightV * (weightG / weightV.norm(2, axes: [1], keepDim: true)) }

    public override func callAsFunction(_ x: Variable) -> Variable {
        FlopCounter.add(x.data.count * weightV.shape[0])
        return x.weightNormLinear(weightG: weightG, weightV: weightV)
    }
}
