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
        let scores = (q * scale).matmul(k.transposed())
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
    /// heads): the output is [B, N, C] with heads merged, and the probabilities [B, heads, N, N].
    ///
    /// One parallel region runs every head's products and softmax in turn, single-threaded per core, on the
    /// packed rows in place (heads are leading-dimension views, the scale is the product's alpha, the output is
    /// written straight into its merged columns): no copy, no scaling pass, one hand-off to the workers.
    public static func packedAttention(qkv: Tensor, heads: Int, scale: Double? = nil)
        -> (output: Tensor, probabilities: Tensor) {
        let layout = PackedHeads(qkv, heads: heads), n = layout.tokens
        let qkv = qkv.contiguous(), s = scale ?? 1 / Double(layout.width).squareRoot()
        let output = Tensor(empty: [layout.batch, n, layout.channels], dtype: qkv.dtype)
        let probabilities = Tensor(empty: [layout.batch, heads, n, n], dtype: qkv.dtype)
        Tensor.forEachItemPerCore(layout.items, scratch: [n, n], dtype: qkv.dtype) { item, _, scores in
            layout.probabilities(item, qkv: qkv, scale: s, scores: scores, into: probabilities, at: item * n * n)
            // O = P·V, into the head's columns of the merged output.
            layout.product(BLASOperand(transposed: false, ld: n), BLASOperand(transposed: false, ld: layout.rowStride),
                           m: n, n: layout.width, k: n, probabilities, item * n * n,
                           qkv, layout.packed(2, item), into: output, layout.merged(item), ldc: layout.channels)
        }
        return (output, probabilities)
    }

    /// The gradient of ``packedAttention(qkv:heads:scale:)`` with respect to the packed `qkv`, with the
    /// probabilities recomputed (bit for bit the forward's) one head at a time in a per-core scratch.
    public static func packedAttentionBackward(gradient g: Tensor, qkv: Tensor, heads: Int, scale: Double) -> Tensor {
        let layout = PackedHeads(qkv, heads: heads), n = layout.tokens, d = layout.width
        check(g.shape == [layout.batch, n, layout.channels], "packedAttentionBackward",
              "gradient \(describe(g.shape)) is not the output's shape [\(layout.batch), \(n), \(layout.channels)]")
        let qkv = qkv.contiguous(), g = g.contiguous(), gradient = Tensor(empty: qkv.shape, dtype: qkv.dtype)
        let rows = BLASOperand(transposed: false, ld: layout.rowStride), square = BLASOperand(transposed: false, ld: n)
        let gRows = BLASOperand(transposed: false, ld: layout.channels)
        let rowsT = BLASOperand(transposed: true, ld: layout.rowStride), squareT = BLASOperand(transposed: true, ld: n)
        Tensor.forEachItemPerCore(layout.items, scratch: [3, n, n], dtype: qkv.dtype) { item, _, scratch in
            // Scratch: the scores (then ∂S), P, ∂P; no kernel writes over its own input (that stops vectorisation).
            let sOffset = 0, pOffset = n * n, dOffset = 2 * n * n
            layout.probabilities(item, qkv: qkv, scale: scale, scores: scratch, into: scratch, at: pOffset)
            // ∂V = Pᵀ·G; ∂P = G·Vᵀ; ∂S = P ⊙ (∂P − rowsum(∂P ⊙ P));
            // ∂Q = scale·∂S·K; ∂K = scale·∂Sᵀ·Q.
            layout.product(squareT, gRows, m: n, n: d, k: n, scratch, pOffset, g, layout.merged(item),
                           into: gradient, layout.packed(2, item), ldc: layout.rowStride)
            layout.product(gRows, rowsT, m: n, n: n, k: d, g, layout.merged(item), qkv, layout.packed(2, item),
                           into: scratch, dOffset, ldc: n)
            layout.rows(.softmaxBackward, scratch, pOffset, gradient: scratch, dOffset, into: scratch, sOffset)
            layout.product(square, rows, m: n, n: d, k: n, alpha: scale, scratch, sOffset, qkv, layout.packed(1, item),
                           into: gradient, layout.packed(0, item), ldc: layout.rowStride)
            layout.product(squareT, rows, m: n, n: d, k: n, alpha: scale, scratch, sOffset, qkv, layout.packed(0, item),
                           into: gradient, layout.packed(1, item), ldc: layout.rowStride)
        }
        return gradient
    }
}

/// Where each head of a packed [B, N, 3·C] projection and of the merged [B, N, C] output lies: head `h` of image
/// `b` (item b·heads + h) is a N × C/heads block of rows `rowStride` (or C) apart.
private struct PackedHeads {
    let batch, tokens, channels, heads: Int
    /// The caller's backend (a task-local value, which the pool's workers do not see).
    let backend = GEMMBackend.current
    var width: Int { channels / heads }
    var rowStride: Int { 3 * channels }
    /// Heads of all images.
    var items: Int { batch * heads }

    init(_ qkv: Tensor, heads: Int) {
        check(qkv.dtype.isFloatingPoint, "packedAttention", "expects a floating-point qkv, got \(qkv.dtype)")
        check(heads > 0 && qkv.rank == 3 && qkv.shape[2] % (3 * heads) == 0, "packedAttention",
              "expects qkv [B, N, 3·C] with C divisible by \(heads) heads, got \(describe(qkv.shape))")
        (batch, tokens, channels, self.heads) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3, heads)
    }

    /// The offset of q (part 0), k (1) or v (2) of `item` in a contiguous packed tensor.
    func packed(_ part: Int, _ item: Int) -> Int {
        let (b, h) = item.quotientAndRemainder(dividingBy: heads)
        return b * tokens * rowStride + part * channels + h * width
    }

    /// The offset of `item`'s columns in the contiguous merged output.
    func merged(_ item: Int) -> Int {
        let (b, h) = item.quotientAndRemainder(dividingBy: heads)
        return b * tokens * channels + h * width
    }

    /// P = softmax(scale·Q·Kᵀ) of `item`, written as N × N rows at `offset` of `out`; the scores go to the
    /// first N × N of `scores`.
    func probabilities(_ item: Int, qkv: Tensor, scale: Double, scores: Tensor, into out: Tensor, at offset: Int) {
        product(BLASOperand(transposed: false, ld: rowStride), BLASOperand(transposed: true, ld: rowStride),
                m: tokens, n: tokens, k: width, alpha: scale, qkv, packed(0, item), qkv, packed(1, item),
                into: scores, 0, ldc: tokens)
        rows(.softmax, scores, 0, gradient: scores, 0, into: out, offset)
    }

    /// The row kernel `kind` over N rows of N at the given element offsets.
    func rows(_ kind: RowKernel, _ x: Tensor, _ xOffset: Int, gradient g: Tensor, _ gOffset: Int, into out: Tensor,
              _ outOffset: Int) {
        func run<T: FloatElement>(_: T.Type) {
            runRows(kind, x.pointer(as: T.self) + xOffset, gradient: g.pointer(as: T.self) + gOffset,
                    into: out.pointer(as: T.self) + outOffset, rows: tokens, length: tokens)
        }
        if x.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    }

    /// c[cOffset…] = alpha·op(a[aOffset…])·op(b[bOffset…]) on the calling thread (offsets from each
    /// tensor's first element; every tensor contiguous).
    func product(_ opA: BLASOperand, _ opB: BLASOperand, m: Int, n: Int, k: Int, alpha: Double = 1,
                 _ a: Tensor, _ aOffset: Int, _ b: Tensor, _ bOffset: Int, into c: Tensor, _ cOffset: Int, ldc: Int) {
        runGEMM(dtype: c.dtype, backend: backend, threads: 1, opA, opB, m: m, n: n, k: k, alpha: alpha,
                a: a.storage.base, aOffset: a.offset + aOffset, b: b.storage.base, bOffset: b.offset + bOffset,
                c: c.storage.base, cOffset: c.offset + cOffset, ldc: ldc, beta: 0)
    }
}
