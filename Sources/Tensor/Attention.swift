/// Scaled dot-product attention softmax(Q·Kᵀ·scale)·V over [batch…, tokens, dim], forward and
/// backward as batched GEMMs around the fused softmax kernels.
///
/// The scale is applied to Q (tokens × dim) rather than to the scores (tokens × tokens), and in the
/// backward to ∂Q and ∂K, so no pass ever runs over the score matrix for it. Nothing of the size of
/// the scores is kept for the backward: it recomputes the probabilities (one more Q·Kᵀ and softmax,
/// bit for bit the forward's), as PyTorch's fused CPU attention does.
extension Tensor {
    /// The attention output [batch…, Tq, Dv] and the probabilities [batch…, Tq, Tk].
    /// `bias`, broadcast to the scores [batch…, Tq, Tk], is added before the softmax (a relative
    /// position bias, or a mask of large negative values: PyTorch's float `attn_mask`).
    public static func scaledDotProductAttention(query q: Tensor, key k: Tensor, value v: Tensor, bias: Tensor? = nil,
                                                 scale: Double? = nil)
        -> (output: Tensor, probabilities: Tensor) {
        let op = "scaledDotProductAttention"
        check(q.rank >= 2 && k.rank == q.rank && v.rank == q.rank, op,
              "expects query, key, value of equal rank ≥ 2, got "
              + "\(describe(q.shape)), \(describe(k.shape)), \(describe(v.shape))")
        check(q.shape.dropLast(2) == k.shape.dropLast(2) && k.shape.dropLast(2) == v.shape.dropLast(2), op,
              "batch axes differ: \(describe(q.shape)), \(describe(k.shape)), \(describe(v.shape))")
        check(q.shape.last == k.shape.last && k.shape[k.rank - 2] == v.shape[v.rank - 2], op,
              "query/key dims or key/value token counts differ: "
              + "\(describe(q.shape)), \(describe(k.shape)), \(describe(v.shape))")
        if let bias {
            check(bias.rank <= q.rank, op, "bias \(describe(bias.shape)) has more axes than the scores "
                  + "\(describe(q.shape.dropLast() + [k.shape[k.rank - 2]]))")
        }
        let s = scale ?? 1 / Double(q.shape.last!).squareRoot()
        let p = attentionProbabilities(query: q, key: k, bias: bias, scale: s)
        return (p.matmul(v), p)
    }

    /// softmax(Q·scale·Kᵀ + bias) over the last axis.
    private static func attentionProbabilities(query q: Tensor, key k: Tensor, bias: Tensor?, scale: Double) -> Tensor {
        var scores = (q * scale).matmul(k.transposed())
        if let bias { scores.binaryInPlace(.add, bias.converted(to: scores.dtype).expanded(to: scores.shape)) }
        return scores.softmax(axis: -1)
    }

    /// ∂Q, ∂K, ∂V and ∂scores (the gradient of an additive bias before it is summed to the bias's
    /// shape) from the output gradient `g`, with the forward's probabilities recomputed.
    public static func scaledDotProductAttentionBackward(gradient g: Tensor, query q: Tensor, key k: Tensor,
                                                         value v: Tensor, bias: Tensor?, scale: Double)
        -> (query: Tensor, key: Tensor, value: Tensor, scores: Tensor) {
        let p = attentionProbabilities(query: q, key: k, bias: bias, scale: scale)
        let dv = p.transposed().matmul(g)
        let dScores = softmaxBackward(output: p, gradient: g.matmul(v.transposed()), axis: -1)
        let dq = dScores.matmul(k)
        dq.binaryInPlace(.mul, dq.scalarLike(scale))
        let dk = dScores.transposed().matmul(q)
        dk.binaryInPlace(.mul, dk.scalarLike(scale))
        return (dq, dk, dv, dScores)
    }
}

extension Tensor {
    /// Multi-head attention on a packed projection `qkv` [B, N, 3·C] (timm's layout: q, k, v, then
    /// heads): heads are strided views, never copied; the output is [B, N, C] with heads merged.
    public static func packedAttention(qkv: Tensor, heads: Int, scale: Double? = nil)
        -> (output: Tensor, probabilities: Tensor) {
        let (q, k, v) = unpackHeads(qkv, heads: heads)
        let r = scaledDotProductAttention(query: q, key: k, value: v, scale: scale)
        let (b, n) = (qkv.shape[0], qkv.shape[1])
        return (r.output.transposed(1, 2).contiguous().reshaped([b, n, qkv.shape[2] / 3]),
                r.probabilities)
    }

    /// The gradient of ``packedAttention(qkv:heads:scale:)`` with respect to the packed `qkv`.
    public static func packedAttentionBackward(gradient g: Tensor, qkv: Tensor, heads: Int, scale: Double) -> Tensor {
        let (q, k, v) = unpackHeads(qkv, heads: heads)
        let (b, n, c) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
        let gHeads = g.reshaped([b, n, heads, c / heads]).permuted([0, 2, 1, 3])
        let d = scaledDotProductAttentionBackward(gradient: gHeads, query: q, key: k, value: v, bias: nil, scale: scale)
        let dqkv = Tensor(empty: qkv.shape, dtype: qkv.dtype)
        let (dq, dk, dv) = unpackHeads(dqkv, heads: heads)
        dq.assign(d.query)
        dk.assign(d.key)
        dv.assign(d.value)
        return dqkv
    }

    /// Views q, k, v [B, heads, N, C/heads] of a packed [B, N, 3·C] projection.
    private static func unpackHeads(_ qkv: Tensor, heads: Int) -> (Tensor, Tensor, Tensor) {
        check(qkv.rank == 3 && qkv.shape[2] % (3 * heads) == 0, "packedAttention",
              "expects qkv [B, N, 3·C] with C divisible by \(heads) heads, got \(describe(qkv.shape))")
        let (b, n, c) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
        let parts = qkv.contiguous().reshaped([b, n, 3, heads, c / heads]).permuted([2, 0, 3, 1, 4])
        return (parts.select(axis: 0, index: 0), parts.select(axis: 0, index: 1), parts.select(axis: 0, index: 2))
    }
}
