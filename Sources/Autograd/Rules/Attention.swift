import Tensor

extension Variable {
    /// softmax(Q·Kᵀ·scale)·V over [batch…, tokens, dim] as one graph node with its own backward
    /// (scale defaults to 1/√dim). Also returns the attention probabilities, outside the graph.
    public static func scaledDotProductAttention(query: Variable, key: Variable, value: Variable, scale: Double? = nil)
        -> (output: Variable, probabilities: Tensor) {
        let k = key.data, v = value.data
        let s = scale ?? 1 / Double(query.shape.last ?? 1).squareRoot()
        let r = Tensor.scaledDotProductAttention(query: query.data, key: k, value: v, scale: s)
        let out = Variable.record("scaledDotProductAttention", r.output, inputs: [query, key, value]) { g in
            let d = Tensor.scaledDotProductAttentionBackward(gradient: g, scaledQuery: r.scaledQuery, key: k, value: v,
                                                             probabilities: r.probabilities, scale: s)
            return [d.query, d.key, d.value]
        }
        return (out, r.probabilities)
    }
}
