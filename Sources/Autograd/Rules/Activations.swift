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

// The fused backward kernels of ReLU and GELU as ops of their own, so that a gradient taken with
// `createGraph` differentiates again (PyTorch's `threshold_backward` and `gelu_backward`).

extension Variable {
    /// g · 1[y > 0] for ReLU's output `y` (a constant mask: its own derivative is 0 almost everywhere).
    func reluBackward(output y: Tensor) -> Variable {
        Variable.record("reluBackward", Tensor.reluBackward(gradient: data, input: y), inputs: [self]) { u in
            [u.reluBackward(output: y)]
        }
    }

    /// g · GELU′(x) by the fused kernel; its rule needs GELU″, written on variables below.
    func geluBackward(input x: Variable, approximate: Bool) -> Variable {
        let value = Tensor.geluBackward(gradient: data, input: x.data, approximate: approximate)
        return Variable.record("geluBackward", value, inputs: [self, x]) { [self] u in
            [u.geluBackward(input: x, approximate: approximate),
             u * self * Variable.geluSecondDerivative(x, approximate)]
        }
    }

    /// GELU″(x): φ(x)·(2 − x²) for the erf form; for the tanh form, with t = tanh(k(x + c·x³)) and
    /// t′ = k(1 + 3c·x²), (1 − t²)·(t′ − x·t·t′² + 3kc·x²).
    private static func geluSecondDerivative(_ x: Variable, _ approximate: Bool) -> Variable {
        let square = x * x
        guard approximate else {
            return (square * -0.5).exp() * (1 / (2 * Double.pi).squareRoot()) * (2 - square)
        }
        let k = (2 / Double.pi).squareRoot(), c = 0.044715
        let t = ((x + square * x * c) * k).tanh(), slope = (square * (3 * c) + 1) * k
        return (1 - t * t) * (slope - x * t * slope * slope + square * (3 * k * c))
    }
}
