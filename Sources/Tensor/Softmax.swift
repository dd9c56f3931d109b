import CKernels

/// Softmax and log-softmax along an axis, forward and backward, one fused pass per row.
///
/// Rows are the chosen axis made innermost: a contiguous tensor reduced along its last axis is
/// used in place; any other axis is moved last (one copy) and the result is moved back as a view.
extension Tensor {
    /// exp(x − max) / Σ exp(x − max) along `axis`.
    public func softmax(axis: Int = -1) -> Tensor { rowwise("softmax", axis: axis, [self], kernel: .softmax) }

    /// x − max − log Σ exp(x − max) along `axis`.
    public func logSoftmax(axis: Int = -1) -> Tensor { rowwise("logSoftmax", axis: axis, [self], kernel: .logSoftmax) }

    /// The input gradient of softmax from its output `y` and output gradient `g`: y·(g − Σ g·y).
    public static func softmaxBackward(output y: Tensor, gradient g: Tensor, axis: Int = -1) -> Tensor {
        y.rowwise("softmaxBackward", axis: axis, [y, g], kernel: .softmaxBackward)
    }

    /// The input gradient of log-softmax from its output `y` and output gradient `g`: g − exp(y)·Σ g.
    public static func logSoftmaxBackward(output y: Tensor, gradient g: Tensor, axis: Int = -1) -> Tensor {
        y.rowwise("logSoftmaxBackward", axis: axis, [y, g], kernel: .logSoftmaxBackward)
    }

    private func rowwise(_ op: String, axis: Int, _ inputs: [Tensor], kernel: RowKernel) -> Tensor {
        check(dtype.isFloatingPoint, op, "expects a floating-point tensor, got \(dtype)")
        for t in inputs {
            check(t.shape == shape && t.dtype == dtype, op,
                  "shapes differ: \(describe(shape)) and \(describe(t.shape))")
        }
        if rank == 0 {
            return reshaped([1]).rowwise(op, axis: 0, inputs.map { $0.reshaped([1]) }, kernel: kernel).reshaped([])
        }
        let a = normalizeAxis(axis, rank: rank, op: op)
        let order = (0..<rank).filter { $0 != a } + [a]
        let rows = inputs.map { (a == rank - 1 ? $0 : $0.permuted(order)).contiguous() }
        let out = Tensor(empty: rows[0].shape, dtype: dtype)
        let n = shape[a], count = n == 0 ? 0 : self.count / n
        if dtype == .float32 {
            rowKernel(Float.self, kernel, rows, out, count, n)
        } else {
            rowKernel(Double.self, kernel, rows, out, count, n)
        }
        if a == rank - 1 { return out }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return out.permuted(inverse)
    }
}

enum RowKernel { case softmax, logSoftmax, softmaxBackward, logSoftmaxBackward }

private func rowKernel<T: FloatElement>(_: T.Type, _ kind: RowKernel, _ inputs: [Tensor], _ out: Tensor,
                                        _ rows: Int, _ n: Int) {
    let x = SendablePointer(inputs[0].pointer(as: T.self)), o = SendablePointer(out.pointer(as: T.self))
    let g = SendablePointer(inputs.count > 1 ? inputs[1].pointer(as: T.self) : x.p)
    parallelChunks(rows, costPerItem: n * 8) { range in
        let start = range.lowerBound * n
        runRows(kind, x.p + start, gradient: g.p + start, into: o.p + start, rows: range.count, length: n)
    }
}

/// The row kernel `kind` over `rows` contiguous rows of `length`, on the calling thread: `x` is the input (the
/// forward's output for the backward kernels) and `gradient` the incoming gradient (backward kernels only).
/// `out` must not overlap the inputs: the compilers' vectorised loops check for overlap and fall back to scalar
/// code (a 197-wide softmax in place ran 3× slower).
func runRows<T: FloatElement>(_ kind: RowKernel, _ x: UnsafeMutablePointer<T>, gradient g: UnsafeMutablePointer<T>,
                              into o: UnsafeMutablePointer<T>, rows: Int, length n: Int) {
    if T.self == Float.self && (kind == .softmax || kind == .logSoftmax) {
        // CKernels' kernel for the current level.
        currentKernels.softmax_rows(UnsafeMutableRawPointer(x).assumingMemoryBound(to: Float.self),
                                    UnsafeMutableRawPointer(o).assumingMemoryBound(to: Float.self),
                                    rows, n, kind == .logSoftmax ? 1 : 0)
        return
    }
    for r in 0..<rows {
        let xr = x + r * n, orow = o + r * n, gr = g + r * n
        switch kind {
        case .softmax:
            let m = rowMax(xr, n)
            let s = expShiftedRow(xr, orow, n, shift: m)
            let inv = 1 / s
            for i in 0..<n { orow[i] *= inv }
        case .logSoftmax:
            let m = rowMax(xr, n)
            let s = expShiftedRow(xr, orow, n, shift: m)  // exp values are scratch, overwritten below
            // (x − m) − log s, as PyTorch: m + log s would round at the scale of m.
            let logSum = T.log(s)
            for i in 0..<n { orow[i] = (xr[i] - m) - logSum }
        case .softmaxBackward:
            let dot = rowDot(gr, xr, n)
            for i in 0..<n { orow[i] = xr[i] * (gr[i] - dot) }
        case .logSoftmaxBackward:
            var total: T = 0
            for i in 0..<n { total += gr[i] }
            expShiftedRow(xr, orow, n, shift: 0)
            for i in 0..<n { orow[i] = gr[i] - orow[i] * total }
        }
    }
}

@inline(__always)
private func rowMax<T: FloatElement>(_ p: UnsafeMutablePointer<T>, _ n: Int) -> T {
    var m = -T.infinity
    var i = 0
    if T.self == Float.self {
        // SIMD max with NaN tracking (a NaN anywhere makes the row NaN, as in PyTorch).
        let raw = UnsafeMutableRawPointer(p)
        var acc = F16(repeating: -.infinity)
        var nan = SIMDMask<SIMD16<Int32>>(repeating: false)
        while i + 16 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: F16.self)
            acc.replace(with: v, where: v .> acc)
            nan .|= v .!= v
            i += 16
        }
        if any(nan) { return T.nan }
        for lane in 0..<16 where acc[lane] > (m as! Float) { m = acc[lane] as! T }
    }
    while i < n {
        if p[i] > m { m = p[i] } else if p[i] != p[i] { return T.nan }
        i += 1
    }
    // A row of −∞ gives NaN in PyTorch too; keep the shift finite so exp does not make NaN
    // from ∞ − ∞ elsewhere.
    return m == -T.infinity ? 0 : m
}

/// Writes exp(x − shift) into `out` and returns the row sum (SIMD for float32).
@inline(__always) @discardableResult
private func expShiftedRow<T: FloatElement>(_ x: UnsafeMutablePointer<T>, _ out: UnsafeMutablePointer<T>,
                                            _ n: Int, shift: T) -> T {
    if T.self == Float.self {
        let xf = UnsafeMutableRawPointer(x), of = UnsafeMutableRawPointer(out)
        let s = F16(repeating: shift as! Float)
        var acc = F16()
        var i = 0
        while i + 16 <= n {
            let e = simdExp(xf.loadUnaligned(fromByteOffset: i * 4, as: F16.self) - s)
            of.storeBytes(of: e, toByteOffset: i * 4, as: F16.self)
            acc += e
            i += 16
        }
        var total = acc.sum()
        let xp = xf.assumingMemoryBound(to: Float.self), op = of.assumingMemoryBound(to: Float.self)
        while i < n {
            op[i] = Float.exp(xp[i] - (shift as! Float))
            total += op[i]
            i += 1
        }
        return total as! T
    }
    var total: T = 0
    for i in 0..<n {
        out[i] = T.exp(x[i] - shift)
        total += out[i]
    }
    return total
}
