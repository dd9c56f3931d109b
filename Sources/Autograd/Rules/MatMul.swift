import Tensor

extension Variable {
    /// Matrix product with `torch.matmul` semantics (1-D promotion, broadcast batch axes).
    /// VJP: ∂a = g·bᵀ, ∂b = aᵀ·g, summed over broadcast batch axes; transposes are free views.
    public func matmul(_ other: Variable) -> Variable {
        let a = data, b = other.data
        let y = a.matmul(b)
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
