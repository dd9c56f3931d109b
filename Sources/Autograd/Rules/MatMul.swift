import Tensor

extension Variable {
    /// Matrix product with `torch.matmul` semantics (1-D promotion, broadcast batch axes).
    /// VJP: ∂a = g·bᵀ, ∂b = aᵀ·g, summed over broadcast batch axes; transposes are free views.
    public func matmul(_ other: Variable) -> Variable {
        let (a, b) = (self, other)
        let y = data.matmul(other.data)
        return Variable.record("matmul", y, inputs: [self, other]) { g in
            let a2 = a.rank == 1 ? a.unsqueezed(0) : a
            let b2 = b.rank == 1 ? b.unsqueezed(1) : b
            let batch = broadcastShapes(Array(a2.shape.dropLast(2)), Array(b2.shape.dropLast(2)), op: "matmul")
            let g2 = g.reshaped(batch + [a2.shape[a2.rank - 2], b2.shape[b2.rank - 1]])
            let ga = g2.matmul(b2.transposed())
            let gb = a2.transposed().matmul(g2)
            return [reduceToShape(ga, a2.shape).reshaped(a.shape), reduceToShape(gb, b2.shape).reshaped(b.shape)]
        }
    }
}

extension Variable {
    /// x·Wᵀ + b over the last axis of `self` [..., in] with `weight` [out, in] and `bias` [out]:
    /// one GEMM forward; ∂x = g·W, ∂W = gᵀ·x (written directly in W's layout), ∂b = Σ g.
    public func linear(weight: Variable, bias: Variable? = nil) -> Variable {
        let x = self, y = Variable.linearForward(data, weight, bias, op: "linear")
        return Variable.record("linear", y, inputs: [self, weight] + (bias.map { [$0] } ?? [])) { g in
            let (gx, gw, gb) = Variable.linearBackward(g, input: x, weight: weight, hasBias: bias != nil)
            return [gx, gw] + (gb.map { [$0] } ?? [])
        }
    }

    /// GELU(x)·Wᵀ + b — `gelu(approximate:)` then `linear(weight:bias:)` (fc2 of timm's `Mlp`) as one
    /// node that keeps only x and recomputes GELU(x) in the backward for ∂W: the MLP's widest
    /// activation is then held once instead of twice (GELU's input and fc2's), for one more GELU pass.
    public func geluLinear(weight: Variable, bias: Variable? = nil, approximate: Bool = false) -> Variable {
        let x = self, inputs = [self, weight] + (bias.map { [$0] } ?? [])
        let y = Variable.linearForward(data.gelu(approximate: approximate), weight, bias, op: "geluLinear")
        return Variable.record("geluLinear", y, inputs: inputs) { g in
            Variable.fusedUnlessRecording({
                let g2 = g.data.reshaped([x.data.count / Swift.max(weight.shape[1], 1), weight.shape[0]])
                // ∂W first, so that GELU(x) is gone before ∂GELU(x) is made, and ∂x overwrites ∂GELU(x):
                // the backward's peak is two of the MLP's widest tensors, not four.
                let gw = g2.transposed().matmul(x.data.gelu(approximate: approximate).reshaped([g2.shape[0], -1]))
                let ga = g2.matmul(weight.data).reshaped(x.shape)
                let gx = Tensor.geluBackward(gradient: ga, input: x.data, approximate: approximate, into: ga)
                return [gx, gw] + (bias == nil ? [] : [g2.sum(axes: [0])])
            }, inputs: inputs, gradient: g) { v in
                v[0].gelu(approximate: approximate).linear(weight: v[1], bias: v.count > 2 ? v[2] : nil)
            }
        }
    }

    /// LayerNorm(x)·Wᵀ + b — `layerNorm(weight:bias:epsilon:)` over the last axis, then
    /// `linear(weight:bias:)` (a pre-norm Transformer's qkv and fc1) as one node that keeps x, which
    /// the norm's backward reads anyway, and recomputes the normalised x there for ∂W instead of keeping it.
    public func layerNormLinear(normWeight: Variable?, normBias: Variable?, epsilon: Double = 1e-5,
                                weight: Variable, bias: Variable? = nil) -> Variable {
        let x = data, gamma = normWeight?.data, beta = normBias?.data
        let norm = x.layerNorm(weight: gamma, bias: beta, epsilon: epsilon), (mean, rstd) = (norm.mean, norm.rstd)
        let y = Variable.linearForward(norm.output, weight, bias, op: "layerNormLinear")
        let normInputs = [normWeight, normBias].compactMap { $0 }
        let inputs = [self] + normInputs + [weight] + (bias.map { [$0] } ?? [])
        return Variable.record("layerNormLinear", y, inputs: inputs) { g in
            Variable.fusedUnlessRecording({
                let normalised = Variable(x.layerNorm(weight: gamma, bias: beta, epsilon: epsilon).output)
                let (gn, gw, gb) = Variable.linearBackward(g, input: normalised, weight: weight, hasBias: bias != nil)
                let d = Tensor.layerNormBackward(gradient: gn.data, input: x, mean: mean, rstd: rstd,
                                                 weight: gamma)
                return [d.input] + (normWeight == nil ? [] : [d.weight]) + (normBias == nil ? [] : [d.bias])
                    + [gw.data] + (gb.map { [$0.data] } ?? [])
            }, inputs: inputs, gradient: g) { v in
                let gammaVariable = normWeight == nil ? nil : v[1]
                let betaVariable = normBias == nil ? nil : v[normInputs.count]
                return v[0].layerNorm(weight: gammaVariable, bias: betaVariable, epsilon: epsilon)
                    .linear(weight: v[1 + normInputs.count], bias: bias == nil ? nil : v.last)
            }
        }
    }

    /// x·Wᵀ with W = g · v / ‖v‖ per output row (`torch.nn.utils.weight_norm` of a bias-free Linear, DINO's
    /// last layer: `weightG` [out, 1], `weightV` [out, in]) as one node that keeps no W: forward and backward
    /// each form it for their product and drop it, and ∂v is made in place in ∂W's buffer. Composed from mul,
    /// norm and linear, the graph held W through the backward and made five more tensors of its size there
    /// (DINO's 65536 × 256 head: 67 MB each). The arithmetic is the composed rules', operation for operation,
    /// so results are bit-identical to theirs (scaling by 2 is exact, so c·(2v) = (2c)·v).
    public func weightNormLinear(weightG: Variable, weightV: Variable) -> Variable {
        let x = self, inputs = [self, weightG, weightV], v = weightV.data
        check(weightG.shape == [v.shape[0], 1], "weightNormLinear",
              "weight_g \(describe(weightG.shape)) does not match weight_v \(describe(v.shape)) "
              + "(expects [\(v.shape[0]), 1])")
        // The per-row norms and scales ([out, 1]) are kept for the backward; W is formed again there.
        let norm = v.square().sum(axes: [1], keepDim: true).sqrt(), scale = weightG.data / norm
        let y = Variable.linearForward(data, Variable(v * scale), nil, op: "weightNormLinear")
        return Variable.record("weightNormLinear", y, inputs: inputs) { g in
            Variable.fusedUnlessRecording({
                let flat = [x.data.count / Swift.max(v.shape[1], 1), v.shape[1]]
                let g2 = g.data.reshaped([flat[0], v.shape[0]])
                let gx = g2.matmul(v * scale).reshaped(x.shape)
                var gv = g2.transposed().matmul(x.data.reshaped(flat))  // ∂W, made ∂v in place below
                // Row blocks of W's rows keep the products' temporaries small (each row's arithmetic is unchanged).
                let blocks = stride(from: 0, to: v.shape[0], by: 4096).map { ($0, Swift.min(v.shape[0], $0 + 4096)) }
                let rows = { (t: Tensor, block: (Int, Int)) in t.slice(axis: 0, start: block.0, end: block.1) }
                let gScale = Tensor(empty: [v.shape[0], 1], dtype: v.dtype)
                for block in blocks {
                    rows(gScale, block).assign((rows(gv, block) * rows(v, block)).sum(axes: [1], keepDim: true))
                }
                gv *= scale
                let gNorm = -gScale * scale / norm, twiceGSquares = gNorm * (0.5 / norm) * 2
                for block in blocks {
                    var gvBlock = rows(gv, block)
                    gvBlock += rows(v, block) * rows(twiceGSquares, block)
                }
                return [gx, gScale / norm, gv]
            }, inputs: inputs, gradient: g) { v in
                v[0].linear(weight: v[2] * (v[1] / v[2].norm(2, axes: [1], keepDim: true)))
            }
        }
    }

    /// The forward of ``linear(weight:bias:)`` on tensors, after checking the shapes.
    private static func linearForward(_ x: Tensor, _ weight: Variable, _ bias: Variable?, op: String) -> Tensor {
        let w = weight.data
        check(x.rank >= 1 && w.rank == 2 && x.shape.last == w.shape[1], op,
              "input \(describe(x.shape)) does not match weight \(describe(w.shape)) "
              + "(expects [..., \(w.shape.count == 2 ? w.shape[1] : 0)])")
        if let bias {
            check(bias.shape == [w.shape[0]], op,
                  "bias \(describe(bias.shape)) does not match weight \(describe(w.shape))")
        }
        var y = x.reshaped([x.count / Swift.max(w.shape[1], 1), w.shape[1]]).matmul(w.transposed())
        if let bias { y += bias.data }
        return y.reshaped(Array(x.shape.dropLast()) + [w.shape[0]])
    }

    /// ∂x, ∂W and ∂b of x·Wᵀ + b for the output gradient `g`.
    private static func linearBackward(_ g: Variable, input x: Variable, weight: Variable, hasBias: Bool)
        -> (input: Variable, weight: Variable, bias: Variable?) {
        let flat = [x.data.count / Swift.max(weight.shape[1], 1), weight.shape[1]]
        let g2 = g.reshaped([flat[0], weight.shape[0]])
        return (g2.matmul(weight).reshaped(x.shape), g2.transposed().matmul(x.reshaped(flat)),
                hasBias ? g2.sum(axes: [0]) : nil)
    }
}
