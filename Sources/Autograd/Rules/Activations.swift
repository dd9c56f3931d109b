import Tensor

// Activations composed from the primitives (`logaddexp`, `sigmoid`, `tanh`), as tinygrad and
// MLX build them: their gradients follow from the primitives' rules, so none needs its own.

extension Variable {
    /// log(1 + exp(x)) (`torch.nn.functional.softplus`, β = 1), exact for every x through
    /// `logaddexp` (PyTorch returns x itself above its threshold of 20, 2e-9 off there).
    public func softplus() -> Variable { logaddexp(Variable(data.zerosLike())) }

    /// log σ(x) = −softplus(−x) (`torch.nn.functional.logsigmoid`), finite for very negative x.
    public func logSigmoid() -> Variable { -(-self).softplus() }

    /// x · σ(x) (`torch.nn.functional.silu`, also called swish).
    public func silu() -> Variable { self * sigmoid() }

    /// x · tanh(softplus(x)) (`torch.nn.functional.mish`).
    public func mish() -> Variable { self * softplus().tanh() }
}
