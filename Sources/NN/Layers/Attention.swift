import Autograd
import Tensor

/// Multi-head self-attention as in timm's ViT (keys `qkv.weight`, `qkv.bias`, `proj.weight`,
/// `proj.bias`): one fused qkv projection, heads attended by the fused scaled-dot-product node.
public final class Attention: Module {
    public let qkv: Linear
    public let proj: Linear
    public let attnDrop: Dropout
    public let projDrop: Dropout
    public let heads: Int

    public init(_ dim: Int, heads: Int = 8, qkvBias: Bool = false, attentionDropout: Double = 0,
                projectionDropout: Double = 0, dtype: DType = .float32) {
        check(dim % heads == 0, "Attention", "dim \(dim) is not divisible by \(heads) heads")
        qkv = Linear(dim, dim * 3, bias: qkvBias, dtype: dtype)
        proj = Linear(dim, dim, dtype: dtype)
        attnDrop = Dropout(attentionDropout)
        projDrop = Dropout(projectionDropout)
        self.heads = heads
    }

    public override func callAsFunction(_ x: Variable) -> Variable { attend(x).output }

    /// The output [B, N, C] and the attention probabilities [B, heads, N, N], of `norm(x)` when a
    /// norm is given (a pre-norm block's: fused into the qkv projection, which then keeps only x).
    public func attend(_ x: Variable, normalizedBy norm: LayerNorm? = nil)
        -> (output: Variable, probabilities: Tensor) {
        check(x.rank == 3, "Attention", "expects [batch, tokens, dim], got \(describe(x.shape))")
        let (b, n, c) = (x.shape[0], x.shape[1], x.shape[2])
        let packed = norm.map { qkv(x, normalizedBy: $0) } ?? qkv(x)
        FlopCounter.add(2 * b * n * n * c)  // Q·Kᵀ and P·V
        let merged: Variable, probs: Tensor
        if isTraining && attnDrop.p > 0 {
            // Dropout on the probabilities needs them in the graph: the unfused path.
            let parts = packed.reshaped([b, n, 3, heads, c / heads]).permuted([2, 0, 3, 1, 4])
            let (q, k, v) = (parts.select(axis: 0, index: 0), parts.select(axis: 0, index: 1),
                             parts.select(axis: 0, index: 2))
            let p = (q * (1 / Double(c / heads).squareRoot())).matmul(k.transposed()).softmax(axis: -1)
            (merged, probs) = (attnDrop(p).matmul(v).transposed(1, 2).reshaped([b, n, c]), p.data)
        } else {
            (merged, probs) = packed.packedAttention(heads: heads)
        }
        return (projDrop(proj(merged)), probs)
    }
}

/// Two linear layers with an activation between (timm's `Mlp`; keys `fc1.*`, `fc2.*`).
public final class MLP: Module {
    public let fc1: Linear
    public let act: Module
    public let fc2: Linear
    public let drop: Dropout

    public init(_ inFeatures: Int, hidden: Int, out: Int? = nil, activation: Module = GELU(), dropout: Double = 0,
                dtype: DType = .float32) {
        fc1 = Linear(inFeatures, hidden, dtype: dtype)
        act = activation
        fc2 = Linear(hidden, out ?? inFeatures, dtype: dtype)
        drop = Dropout(dropout)
    }

    public override func callAsFunction(_ x: Variable) -> Variable { callAsFunction(x, normalizedBy: nil) }

    /// The MLP of `norm(x)` when a norm is given, fused into fc1 (which then keeps only x).
    public func callAsFunction(_ x: Variable, normalizedBy norm: LayerNorm?) -> Variable {
        let hidden = norm.map { fc1(x, normalizedBy: $0) } ?? fc1(x)
        if let gelu = act as? GELU, !(drop.isTraining && drop.p > 0) {
            return drop(fc2(geluOf: hidden, approximate: gelu.approximate))  // GELU's output is not kept
        }
        return drop(fc2(drop(act(hidden))))
    }
}
