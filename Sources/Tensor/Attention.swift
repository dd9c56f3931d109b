/// Scaled dot-product attention softmax(Q·Kᵀ·scale)·V over [batch…, tokens, dim], forward and
/// backward as batched GEMMs around the fused softmax kernels.
///
/// The scale is applied to Q (tokens × dim) rather than to the scores (tokens × tokens), and the
/// backward reuses that scaled Q for ∂K, so no pass ever runs over the score matrix for it.
extension Tensor {
    /// The attention output [batch…, Tq, Dv], the probabilities [batch…, Tq, Tk] and the scaled query.
    public static func scaledDotProductAttention(query q: Tensor, key k: Tensor, value v: Tensor, scale: Double? = nil)
        -> (output: Tensor, probabilities: Tensor, scaledQuery: Tensor) {
        let op = "scaledDotProductAttention"
        check(q.rank >= 2 && k.rank == q.rank && v.rank == q.rank, op,
              "expects query, key, value of equal rank ≥ 2, got \(describe(q.shape)), \(describe(k.shape)), \(describe(v.shape))")
        check(q.shape.dropLast(2) == k.shape.dropLast(2) && k.shape.dropLast(2) == v.shape.dropLast(2), op,
              "batch axes differ: \(describe(q.shape)), \(describe(k.shape)), \(describe(v.shape))")
        check(q.shape.last == k.shape.last && k.shape[k.rank - 2] == v.shape[v.rank - 2], op,
              "query/key dims or key/value token counts differ: \(describe(q.shape)), \(describe(k.shape)), \(describe(v.shape))")
        let s = scale ?? 1 / Double(q.shape.last!).squareRoot()
        let qs = q * s
        let p = qs.matmul(k.transposed()).softmax(axis: -1)
        return (p.matmul(v), p, qs)
    }

    /// ∂Q, ∂K, ∂V from the output gradient `g`, the saved probabilities and scaled query.
    public static func scaledDotProductAttentionBackward(gradient g: Tensor, scaledQuery qs: Tensor, key k: Tensor, value v: Tensor,
                                                         probabilities p: Tensor, scale: Double) -> (query: Tensor, key: Tensor, value: Tensor) {
        let dv = p.transposed().matmul(g)
        let dScores = softmaxBackward(output: p, gradient: g.matmul(v.transposed()), axis: -1)
        let dq = dScores.matmul(k)
        dq.binaryInPlace(.mul, dq.scalarLike(scale))
        let dk = dScores.transposed().matmul(qs)
        return (dq, dk, dv)
    }
}
