import Tensor

extension Variable {
    /// softmax(Q·Kᵀ·scale + bias)·V over [batch…, tokens, dim] as one graph node with its own backward
    /// (scale defaults to 1/√dim). `bias` broadcasts to the scores [batch…, Tq, Tk] and gets their
    /// gradient summed to its shape (a learned relative position bias; a constant mask takes none).
    /// Also returns the attention probabilities, outside the graph.
    public static func scaledDotProductAttention(query: Variable, key: Variable, value: Variable,
                                                 bias: Variable? = nil, scale: Double? = nil)
        -> (output: Variable, probabilities: Tensor) {
        let q = query.data, k = key.data, v = value.data, b = bias?.data
        let s = scale ?? 1 / Double(query.shape.last ?? 1).squareRoot()
        let r = Tensor.scaledDotProductAttention(query: q, key: k, value: v, bias: b, scale: s)
        let biasShape = bias?.shape, inputs = [query, key, value] + (bias.map { [$0] } ?? [])
        let out = Variable.record("scaledDotProductAttention", r.output, inputs: inputs) { g in
            Variable.fusedUnlessRecording({
                let d = Tensor.scaledDotProductAttentionBackward(gradient: g.data, query: q, key: k, value: v,
                                                                 bias: b, scale: s)
                return [d.query, d.key, d.value] + (biasShape.map { [reduceToShape(d.scores, $0)] } ?? [])
            }, inputs: inputs, gradient: g) { x in
                composedAttention(x[0], x[1], x[2], bias: x.count > 3 ? x[3] : nil, scale: s)
            }
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
        let out = Variable.record("packedAttention", r.output, inputs: [self]) { [self] g in
            Variable.fusedUnlessRecording({
                [Tensor.packedAttentionBackward(gradient: g.data, qkv: qkv, heads: heads, scale: s)]
            }, inputs: [self], gradient: g) { x in
                let (b, n, c) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
                let parts = x[0].reshaped([b, n, 3, heads, c / heads]).permuted([2, 0, 3, 1, 4])
                let y = Variable.composedAttention(parts.select(axis: 0, index: 0), parts.select(axis: 0, index: 1),
                                                   parts.select(axis: 0, index: 2), bias: nil, scale: s)
                return y.permuted([0, 2, 1, 3]).reshaped([b, n, c])
            }
        }
        return (out, r.probabilities)
    }

    /// softmax(Q·Kᵀ·scale + bias)·V from primitives: the path a gradient with `createGraph` takes.
    static func composedAttention(_ q: Variable, _ k: Variable, _ v: Variable, bias: Variable?,
                                  scale: Double) -> Variable {
        let scores = q.matmul(k.transposed()) * scale
        return (bias.map { scores + $0 } ?? scores).softmax(axis: -1).matmul(v)
    }
}
