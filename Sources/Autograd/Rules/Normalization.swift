import Tensor

extension Variable {
    /// Layer norm over the last `normalizedRank` axes with the fused forward and backward kernels.
    public func layerNorm(normalizedRank: Int = 1, weight: Variable?, bias: Variable?,
                          epsilon: Double = 1e-5) -> Variable {
        let x = data, w = weight?.data
        let r = x.layerNorm(normalizedRank: normalizedRank, weight: w, bias: bias?.data, epsilon: epsilon)
        let (mean, rstd) = (r.mean, r.rstd)  // the rule captures these, not `r`, which holds the output too
        let inputs = [self] + [weight, bias].compactMap { $0 }
        let axes = Array((rank - normalizedRank)..<rank)
        return Variable.record("layerNorm", r.output, inputs: inputs) { g in
            Variable.fusedUnlessRecording({
                let grads = Tensor.layerNormBackward(gradient: g.data, input: x, mean: mean, rstd: rstd,
                                                     normalizedRank: normalizedRank, weight: w)
                return Variable.affineGradients(grads, weight: weight, bias: bias)
            }, inputs: inputs, gradient: g) { v in
                Variable.affine(v[0].standardised(axes: axes, epsilon: epsilon), v, weight: weight, bias: bias,
                                shape: nil)
            }
        }
    }

    /// Batch norm over axis 1 of [N, C, …] with this batch's statistics (training mode), by the
    /// fused per-channel kernels: the output and the per-channel mean and biased variance it used.
    /// `residual` (a ResNet block's shortcut) is added to the norm and `followedByReLU` applies ReLU,
    /// both in the norm's own output pass: one node (`batchNormReLU`, `batchNormAddReLU`) instead of
    /// two or three and the tensors between them. The backward masks the gradient in the norm's kernel,
    /// or, with a residual, once for both inputs; the rule never holds the residual.
    public func batchNorm(weight: Variable?, bias: Variable?, epsilon: Double = 1e-5, adding residual: Variable? = nil,
                          followedByReLU relu: Bool = false) -> (output: Variable, mean: Tensor, variance: Tensor) {
        let r = data.batchNorm(weight: weight?.data, bias: bias?.data, epsilon: epsilon, adding: residual?.data,
                               followedByReLU: relu)
        let output = recordBatchNorm(r.output, mean: r.mean, variance: r.variance, fromBatch: true, weight: weight,
                                     bias: bias, epsilon: epsilon, residual: residual, relu: relu)
        return (output, r.mean, r.variance)
    }

    /// Batch norm with the statistics of the batches of all processes of a data-parallel job
    /// (PyTorch's `SyncBatchNorm`): `sumOverProcesses` sums a tensor over the processes (all-reduce).
    /// The forward pass sums the per-channel sums and counts, then the squared deviations from the
    /// global mean (two passes, so float32 loses nothing to cancellation); the backward pass sums
    /// Σg and Σg·x̂ over the processes and gives each input the gradient of the whole batch's
    /// statistics. With one process it equals ``batchNorm(weight:bias:epsilon:adding:followedByReLU:)``.
    public func batchNorm(weight: Variable?, bias: Variable?, epsilon: Double = 1e-5,
                          sumOverProcesses: @escaping (Tensor) -> Tensor)
        -> (output: Variable, mean: Tensor, variance: Tensor, count: Int) {
        let x = data, w = weight?.data, c = x.shape[1]
        let axes = [0] + Array(2..<x.rank), broadcast = [1, c] + Array(repeating: 1, count: x.rank - 2)
        let localCount = Tensor([Double(x.count / c)]).converted(to: x.dtype)
        let sums = sumOverProcesses(Tensor.concat([x.sum(axes: axes), localCount]))
        let n = sums.slice(axis: 0, start: c, end: c + 1).item()
        let mean = sums.slice(axis: 0, start: 0, end: c).contiguous() * (1 / n)
        let variance = sumOverProcesses({ d in (d * d).sum(axes: axes) }(x - mean.reshaped(broadcast))) * (1 / n)
        let y = x.batchNorm(mean: mean, variance: variance, weight: w, bias: bias?.data, epsilon: epsilon)
        // First order only: its rule sums over processes, so a second derivative would need them too.
        let inputs = [self] + [weight, bias].compactMap { $0 }
        let output = Variable.recordFirstOrder("syncBatchNorm", y, inputs: inputs) { g in
            // Local dx = w·g/σ, Σg·x̂ and Σg; then the terms of the global statistics.
            let grads = Tensor.batchNormBackward(gradient: g, input: x, mean: mean, variance: variance, weight: w,
                                                 epsilon: epsilon, batchStatistics: false)
            let total = sumOverProcesses(Tensor.concat([grads.bias, grads.weight])) * (1 / n)
            let (meanG, meanGX) = (total.slice(axis: 0, start: 0, end: c), total.slice(axis: 0, start: c, end: 2 * c))
            let rstd = (variance + epsilon).rsqrt(), scale = w.map { $0 * rstd } ?? rstd
            // x − mean again rather than kept from the forward: the rule holds nothing of x's size but x.
            let xhat = (x - mean.reshaped(broadcast)) * rstd.reshaped(broadcast)
            let input = grads.input - (scale * meanG).reshaped(broadcast) - xhat * (scale * meanGX).reshaped(broadcast)
            return Variable.affineGradients((input, grads.weight, grads.bias), weight: weight, bias: bias)
        }
        return (output, mean, variance, Int(n.rounded()))
    }

    /// Batch norm over axis 1 of [N, C, …] with given per-channel statistics (evaluation mode), with
    /// `residual` added and ReLU applied in the same pass as in training mode.
    public func batchNorm(mean: Tensor, variance: Tensor, weight: Variable?, bias: Variable?,
                          epsilon: Double = 1e-5, adding residual: Variable? = nil,
                          followedByReLU relu: Bool = false) -> Variable {
        let y = data.batchNorm(mean: mean, variance: variance, weight: weight?.data, bias: bias?.data,
                               epsilon: epsilon, adding: residual?.data, followedByReLU: relu)
        return recordBatchNorm(y, mean: mean, variance: variance, fromBatch: false, weight: weight, bias: bias,
                               epsilon: epsilon, residual: residual, relu: relu)
    }

    /// Records batch norm's node for output `y` (the norm of `self`, plus `residual`, then ReLU when `relu`),
    /// made with `mean` and `variance`, which came from the batch (`fromBatch`) or were given. The rule
    /// captures the statistics, never the output or the residual; with the ReLU it reads the output (kept
    /// anyway by the next layer) for the mask, in the norm's kernel or, with a residual, once for both inputs.
    private func recordBatchNorm(_ y: Tensor, mean: Tensor, variance: Tensor, fromBatch: Bool, weight: Variable?,
                                 bias: Variable?, epsilon: Double, residual: Variable?, relu: Bool) -> Variable {
        let x = data, w = weight?.data, added = residual != nil
        let normInputs = [self] + [weight, bias].compactMap { $0 }, channel = Variable.channelShape(shape)
        let axes = [0] + Array(2..<rank)
        // The norm's part: ∂x, ∂weight, ∂bias from the gradient at its output (masked by `reluOutput` here).
        let normRule = { (g: Variable, reluOutput: Tensor?) -> [Variable?] in
            Variable.fusedUnlessRecording({
                let grads = Tensor.batchNormBackward(gradient: g.data, input: x, mean: mean, variance: variance,
                                                     weight: w, epsilon: epsilon, batchStatistics: fromBatch,
                                                     reluOutput: reluOutput)
                return Variable.affineGradients(grads, weight: weight, bias: bias)
            }, inputs: normInputs, gradient: g) { v in
                let standardised = fromBatch ? v[0].standardised(axes: axes, epsilon: epsilon)
                    : (v[0] - Variable(mean.reshaped(channel))) * (variance + epsilon).rsqrt().reshaped(channel)
                let y = Variable.affine(standardised, v, weight: weight, bias: bias, shape: channel)
                return reluOutput == nil ? y : y.relu()
            }
        }
        let rule = { (g: Variable, reluOutput: Variable?) -> [Variable?] in
            guard added else { return normRule(g, reluOutput?.data) }
            let masked = reluOutput.map { g.reluBackward(output: $0.data) } ?? g  // the shortcut's gradient
            let grads = normRule(masked, nil)
            return [grads[0], masked] + grads.dropFirst()
        }
        let name = "batchNorm" + (added ? "Add" : "") + (relu ? "ReLU" : "")
        let inputs = [self] + [residual, weight, bias].compactMap { $0 }
        return relu ? Variable.record(name, y, inputs: inputs) { g, y in rule(g, y) }
            : Variable.record(name, y, inputs: inputs) { g in rule(g, nil) }
    }

    /// (x − mean) / √(biased variance + ε) over `axes` from primitives: the composed route of the norms.
    private func standardised(axes: [Int], epsilon: Double) -> Variable {
        let centred = self - mean(axes: axes, keepDim: true)
        return centred * ((centred * centred).mean(axes: axes, keepDim: true) + epsilon).rsqrt()
    }

    /// [1, C, 1, …] for an input [N, C, …]: how per-channel values broadcast.
    private static func channelShape(_ shape: [Int]) -> [Int] {
        [1, shape[1]] + Array(repeating: 1, count: shape.count - 2)
    }

    /// `normalised`·w + b with the weight and bias (where the layer has them) taken from `v` after the
    /// input, reshaped to `shape` when given.
    private static func affine(_ normalised: Variable, _ v: [Variable], weight: Variable?, bias: Variable?,
                               shape: [Int]?) -> Variable {
        var y = normalised, next = 1
        for (parameter, isWeight) in [(weight, true), (bias, false)] where parameter != nil {
            let p = shape.map { v[next].reshaped($0) } ?? v[next]
            y = isWeight ? y * p : y + p
            next += 1
        }
        return y
    }

    /// The input's gradient, then the weight's and the bias's where the layer has them.
    private static func affineGradients(_ grads: (input: Tensor, weight: Tensor, bias: Tensor),
                                        weight: Variable?, bias: Variable?) -> [Tensor?] {
        [grads.input] + (weight == nil ? [] : [grads.weight]) + (bias == nil ? [] : [grads.bias])
    }
}
