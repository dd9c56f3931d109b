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
        let w = weight.data, x = self
        check(rank >= 1 && w.rank == 2 && shape.last == w.shape[1], "linear",
              "input \(describe(shape)) does not match weight \(describe(w.shape)) "
              + "(expects [..., \(w.shape.count == 2 ? w.shape[1] : 0)])")
        if let bias {
            check(bias.shape == [w.shape[0]], "linear",
                  "bias \(describe(bias.shape)) does not match weight \(describe(w.shape))")
        }
        let inputShape = shape, outShape = Array(shape.dropLast()) + [w.shape[0]]
        let flatShape = [data.count / Swift.max(w.shape[1], 1), w.shape[1]]
        var y = data.reshaped(flatShape).matmul(w.transposed())
        if let bias { y += bias.data }
        let inputs = [self, weight] + (bias.map { [$0] } ?? []), hasBias = bias != nil
        return Variable.record("linear", y.reshaped(outShape), inputs: inputs) { g in
            let g2 = g.reshaped([flatShape[0], weight.shape[0]])
            let gx = g2.matmul(weight).reshaped(inputShape)
            let gw = g2.transposed().matmul(x.reshaped(flatShape))
            return [gx, gw] + (hasBias ? [g2.sum(axes: [0])] : [])
        }
    }
}
