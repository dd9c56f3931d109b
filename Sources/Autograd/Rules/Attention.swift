import Tensor

extension Variable {
    /// softmax(Q·Kᵀ·scale + bias)·V over [batch…, tokens, dim] as one graph node with its own backward
    /// (scale defaults to 1/√dim). `bias` broadcasts to the scores [batch…, Tq, Tk] and gets their
    /// gradient summed to its shape (a learned relative position bias; a constant mask takes none).
    /// Also returns the attention probabilities, outside the graph.
    public static func scaledDotProductAttention(query: Variable, key: Variable, value: Variable,
                                                 bias: Variable? = nil, scale: Double? = nil)
        -> (output: Variable, probabilities: Tensor) {
        let k = key.data, v = value.data
        let s = scale ?? 1 / Double(query.shape.last ?? 1).squareRoot()
        let r = Tensor.scaledDotProductAttention(query: query.data, key: k, value: v, bias: bias?.data, scale: s)
        let biasShape = bias?.shape
        let out = Variable.record("scaledDotProductAttention", r.output,
                                  inputs: [query, key, value] + (bias.map { [$0] } ?? [])) { g in
            let d = Tensor.scaledDotProductAttentionBackward(gradient: g, scaledQuery: r.scaledQuery, key: k, value: v,
                                                             probabilities: r.probabilities, scale: s)
            return [d.query, d.key, d.value] + (biasShape.map { [reduceToShape(d.scores, $0)] } ?? [])
        }
        return (out, r.probabilities)
    }
}

extension Variable {
    /// Multi-head self-attention on a packed projection [B, N, 3·C] (q, k, v, then heads, as timm's
    /// qkv Linear), as one node: heads are views, and the backward writes ∂q, ∂k, ∂v straight into
    /// one packed gradient. Returns the merged output [B, N, C] and the probabilities [B, heads, N, N].
    public func packedAttention(heads: Int, scale: Double? = nil) -> (output: Variable, probabilities: Tensor) {
        let qkv = data.contiguous()
        let s = scale ?? 1 / Double(qkv.shape[2] / 3 / Swift.max(heads, 1)).squareRoot()
        let r = Tensor.packedAttention(qkv: qkv, heads: heads, scale: s)
        let out = Variable.record("packedAttention", r.output, inputs: [self]) { g in
            [Tensor.packedAttentionBackward(gradient: g, qkv: qkv, heads: heads, scaledQuery: r.scaledQuery,
                                            probabilities: r.probabilities, scale: s)]
        }
        return (out, r.probabilities)
    }
}
