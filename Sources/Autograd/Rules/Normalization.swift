import Tensor

extension Variable {
    /// Layer norm over the last `normalizedRank` axes with the fused forward and backward kernels.
    public func layerNorm(normalizedRank: Int = 1, weight: Variable?, bias: Variable?, epsilon: Double = 1e-5) -> Variable {
        let x = data, w = weight?.data
        let r = x.layerNorm(normalizedRank: normalizedRank, weight: w, bias: bias?.data, epsilon: epsilon)
        let inputs = [self] + [weight, bias].compactMap { $0 }
        return Variable.record("layerNorm", r.output, inputs: inputs) { g in
            let grads = Tensor.layerNormBackward(gradient: g, input: x, mean: r.mean, rstd: r.rstd,
                                                 normalizedRank: normalizedRank, weight: w)
            return [grads.input] + (weight == nil ? [] : [grads.weight]) + (bias == nil ? [] : [grads.bias])
        }
    }
}
