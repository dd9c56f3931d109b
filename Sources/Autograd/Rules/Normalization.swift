import Tensor

extension Variable {
    /// Layer norm over the last `normalizedRank` axes with the fused forward and backward kernels.
    public func layerNorm(normalizedRank: Int = 1, weight: Variable?, bias: Variable?,
                          epsilon: Double = 1e-5) -> Variable {
        let x = data, w = weight?.data
        let r = x.layerNorm(normalizedRank: normalizedRank, weight: w, bias: bias?.data, epsilon: epsilon)
        let inputs = [self] + [weight, bias].compactMap { $0 }
        return Variable.record("layerNorm", r.output, inputs: inputs) { g in
            let grads = Tensor.layerNormBackward(gradient: g, input: x, mean: r.mean, rstd: r.rstd,
                                                 normalizedRank: normalizedRank, weight: w)
            return Variable.affineGradients(grads, weight: weight, bias: bias)
        }
    }

    /// Batch norm over axis 1 of [N, C, …] with this batch's statistics (training mode), by the
    /// fused per-channel kernels: the output and the per-channel mean and biased variance it used.
    public func batchNorm(weight: Variable?, bias: Variable?, epsilon: Double = 1e-5)
        -> (output: Variable, mean: Tensor, variance: Tensor) {
        let x = data, w = weight?.data
        let r = x.batchNorm(weight: w, bias: bias?.data, epsilon: epsilon)
        let output = Variable.record("batchNorm", r.output, inputs: [self] + [weight, bias].compactMap { $0 }) { g in
            let grads = Tensor.batchNormBackward(gradient: g, input: x, mean: r.mean, variance: r.variance, weight: w,
                                                 epsilon: epsilon, batchStatistics: true)
            return Variable.affineGradients(grads, weight: weight, bias: bias)
        }
        return (output, r.mean, r.variance)
    }

    /// Batch norm over axis 1 of [N, C, …] with given per-channel statistics (evaluation mode).
    public func batchNorm(mean: Tensor, variance: Tensor, weight: Variable?, bias: Variable?,
                          epsilon: Double = 1e-5) -> Variable {
        let x = data, w = weight?.data
        let y = x.batchNorm(mean: mean, variance: variance, weight: w, bias: bias?.data, epsilon: epsilon)
        return Variable.record("batchNorm", y, inputs: [self] + [weight, bias].compactMap { $0 }) { g in
            let grads = Tensor.batchNormBackward(gradient: g, input: x, mean: mean, variance: variance, weight: w,
                                                 epsilon: epsilon, batchStatistics: false)
            return Variable.affineGradients(grads, weight: weight, bias: bias)
        }
    }

    /// The input's gradient, then the weight's and the bias's where the layer has them.
    private static func affineGradients(_ grads: (input: Tensor, weight: Tensor, bias: Tensor),
                                        weight: Variable?, bias: Variable?) -> [Tensor?] {
        [grads.input] + (weight == nil ? [] : [grads.weight]) + (bias == nil ? [] : [grads.bias])
    }
}
