import Tensor

// Linear algebra. QR and SVD have no gradient rule yet (their results are plain tensors).

extension Variable {
    /// Solves `A·X = B`. VJP: ∂B = A⁻ᵀ·g, ∂A = −∂B·Xᵀ.
    public static func solve(_ a: Variable, _ b: Variable) throws -> Variable {
        let x = try Tensor.solve(a.data, b.data)
        let at = a.data.transposed().contiguous()
        return recordFirstOrder("solve", x, inputs: [a, b]) { g in
            let gb = try! Tensor.solve(at, g)  // A was invertible in the forward pass
            let x2 = x.rank == 1 ? x.unsqueezed(1) : x, gb2 = gb.rank == 1 ? gb.unsqueezed(1) : gb
            return [-(gb2.matmul(x2.transposed())), gb]
        }
    }

    /// Cholesky factor `L` of a symmetric positive-definite matrix.
    /// VJP (as PyTorch): ∂A = L⁻ᵀ·Φ·L⁻¹ with Φ = ½(tril(Lᵀg) + tril(Lᵀg, −1)ᵀ).
    public func cholesky() throws -> Variable {
        let l = try data.cholesky()
        return Variable.recordFirstOrder("cholesky", l, inputs: [self]) { g in
            let lInv = try! Tensor.solve(l, Tensor.eye(l.shape[0], dtype: l.dtype))
            let p = l.transposed().matmul(g).lowerTriangle()
            let phi = 0.5 * (p + p.lowerTriangle(diagonal: -1).transposed())
            return [lInv.transposed().matmul(phi).matmul(lInv)]
        }
    }

    /// Eigenvalues (ascending) and eigenvectors of a symmetric matrix. The gradient assumes
    /// distinct eigenvalues: ∂A = V·(diag(∂w) + skew(Vᵀ∂V) ⊘ (wⱼ − wᵢ))·Vᵀ, as PyTorch.
    public func symmetricEigen() throws -> (values: Variable, vectors: Variable) {
        let (w, v) = try data.symmetricEigen()
        // One node produces both outputs: values and vectors are slices of a joint result.
        let n = w.count
        let joint = Tensor.concat([w.unsqueezed(0), v], axis: 0)
        let node = Variable.recordFirstOrder("symmetricEigen", joint, inputs: [self]) { g in
            let gw = g.select(axis: 0, index: 0), gv = g.slice(axis: 0, start: 1)
            var vtgv = v.transposed().matmul(gv)
            vtgv = 0.5 * (vtgv - vtgv.transposed())
            let e = w.unsqueezed(0) - w.unsqueezed(1)
            let offDiagonal = Tensor.eye(n, dtype: w.dtype) .== 0
            let safeE = Tensor.where(offDiagonal, e, e.onesLike())
            let inner = Tensor.where(offDiagonal, vtgv / safeE, gw.diagonalMatrix())
            return [v.matmul(inner).matmul(v.transposed())]
        }
        return (node.select(axis: 0, index: 0), node.slice(axis: 0, start: 1))
    }
}
