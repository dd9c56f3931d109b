import CKernels

/// Layer normalisation over the trailing axes: one fused pass per row forward, one backward.
///
/// Rows are the leading axes flattened; each row of `n` elements is normalised with its own mean
/// and variance (biased, as PyTorch), then scaled and shifted by `weight` and `bias`.
extension Tensor {
    /// The normalised rows and the per-row statistics the backward pass needs.
    public struct LayerNormResult {
        /// (x − mean) · rstd · weight + bias, shape of the input.
        public let output: Tensor
        /// Per-row mean, shape [rows].
        public let mean: Tensor
        /// Per-row 1 / sqrt(var + eps), shape [rows].
        public let rstd: Tensor
    }

    /// Layer norm over the last `normalizedRank` axes (`weight` and `bias` have their shape).
    public func layerNorm(normalizedRank: Int = 1, weight: Tensor?, bias: Tensor?,
                          epsilon: Double = 1e-5) -> LayerNormResult {
        let (rows, n) = layerNormGeometry(normalizedRank, weight, bias)
        let x = contiguous()
        let out = Tensor(empty: shape, dtype: dtype)
        let mean = Tensor(empty: [rows], dtype: dtype), rstd = Tensor(empty: [rows], dtype: dtype)
        if dtype == .float32 {
            layerNormForward(Float.self, x, weight?.contiguous(), bias?.contiguous(), out,
                             mean, rstd, rows, n, epsilon)
        } else {
            layerNormForward(Double.self, x, weight?.contiguous(), bias?.contiguous(), out,
                             mean, rstd, rows, n, epsilon)
        }
        return LayerNormResult(output: out, mean: mean, rstd: rstd)
    }

    /// Gradients of layer norm with respect to the input, weight and bias, from the output
    /// gradient `g`, the input `x` and the statistics of the forward pass (the weight and bias
    /// gradients are those an affine layer would get, whether or not `weight` is given).
    public static func layerNormBackward(gradient g: Tensor, input x: Tensor, mean: Tensor, rstd: Tensor,
                                         normalizedRank: Int = 1, weight: Tensor?)
        -> (input: Tensor, weight: Tensor, bias: Tensor) {
        let (rows, n) = x.layerNormGeometry(normalizedRank, weight, nil)
        check(g.shape == x.shape, "layerNormBackward",
              "gradient \(describe(g.shape)) does not match input \(describe(x.shape))")
        let dx = Tensor(empty: x.shape, dtype: x.dtype)
        let paramShape = Array(x.shape.suffix(normalizedRank))
        let dw = Tensor(empty: paramShape, dtype: x.dtype), db = Tensor(empty: paramShape, dtype: x.dtype)
        if x.dtype == .float32 {
            layerNormBackwardKernel(Float.self, g.contiguous(), x.contiguous(), mean, rstd, weight?.contiguous(),
                                    dx, dw, db, rows, n)
        } else {
            layerNormBackwardKernel(Double.self, g.contiguous(), x.contiguous(), mean, rstd, weight?.contiguous(),
                                    dx, dw, db, rows, n)
        }
        return (dx, dw, db)
    }

    private func layerNormGeometry(_ normalizedRank: Int, _ weight: Tensor?, _ bias: Tensor?) -> (rows: Int, n: Int) {
        check(dtype.isFloatingPoint, "layerNorm", "expects a floating-point tensor, got \(dtype)")
        check(normalizedRank >= 1 && normalizedRank <= rank, "layerNorm",
              "cannot normalise the last \(normalizedRank) axes of a tensor of shape \(describe(shape))")
        let normalized = Array(shape.suffix(normalizedRank))
        for p in [weight, bias].compactMap({ $0 }) {
            check(p.shape == normalized && p.dtype == dtype, "layerNorm",
                  "weight/bias \(describe(p.shape)) \(p.dtype) do not match "
                  + "normalized shape \(describe(normalized)) \(dtype) of input \(describe(shape))")
        }
        let n = normalized.reduce(1, *)
        return (n == 0 ? 0 : count / n, n)
    }
}

private func layerNormForward<T: FloatElement>(_: T.Type, _ x: Tensor, _ w: Tensor?, _ b: Tensor?, _ out: Tensor,
                                               _ mean: Tensor, _ rstd: Tensor, _ rows: Int, _ n: Int, _ eps: Double) {
    let xp = SendablePointer(x.pointer(as: T.self)), op = SendablePointer(out.pointer(as: T.self))
    let mp = SendablePointer(mean.pointer(as: T.self)), rp = SendablePointer(rstd.pointer(as: T.self))
    let wp = w.map { SendablePointer($0.pointer(as: T.self)) }, bp = b.map { SendablePointer($0.pointer(as: T.self)) }
    if T.self == Float.self {  // CKernels' kernel for the current level
        let kernel = currentKernels.layer_norm_rows
        parallelChunks(rows, costPerItem: n * 4) { range in
            let lo = range.lowerBound
            kernel(floats(xp.p + lo * n), wp.map { floats($0.p) }, bp.map { floats($0.p) },
                   floats(op.p + lo * n), floats(mp.p + lo), floats(rp.p + lo), range.count, n, Float(eps))
        }
        return
    }
    parallelChunks(rows, costPerItem: n * 4) { range in
        for r in range {
            let xr = xp.p + r * n, orow = op.p + r * n
            // Two passes over the row (mean, then centred squares) keep the variance accurate.
            let mu = rowSum(xr, n) / T(fromDouble: Double(n))
            let ss = rowSquaredDeviations(xr, n, from: mu)
            let inv = 1 / (ss / T(fromDouble: Double(n)) + T(fromDouble: eps)).squareRoot()
            mp.p[r] = mu
            rp.p[r] = inv
            if let wp, let bp {
                for i in 0..<n { orow[i] = (xr[i] - mu) * inv * wp.p[i] + bp.p[i] }
            } else if let wp {
                for i in 0..<n { orow[i] = (xr[i] - mu) * inv * wp.p[i] }
            } else {
                for i in 0..<n { orow[i] = (xr[i] - mu) * inv }
            }
        }
    }
}

/// A float32 element pointer seen as `Float` (callers check `T.self == Float.self` first).
@inline(__always)
private func floats<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
}

/// dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = g·w; dw = Σ_rows g·x̂; db = Σ_rows g.
/// Each core accumulates its own dw/db partials, summed at the end.
private func layerNormBackwardKernel<T: FloatElement>(_: T.Type, _ g: Tensor, _ x: Tensor, _ mean: Tensor,
                                                      _ rstd: Tensor, _ w: Tensor?, _ dx: Tensor, _ dw: Tensor,
                                                      _ db: Tensor, _ rows: Int, _ n: Int) {
    let gp = SendablePointer(g.pointer(as: T.self)), xp = SendablePointer(x.pointer(as: T.self))
    let mp = SendablePointer(mean.pointer(as: T.self)), rp = SendablePointer(rstd.pointer(as: T.self))
    let wp = w.map { SendablePointer($0.pointer(as: T.self)) }, dxp = SendablePointer(dx.pointer(as: T.self))
    let chunks = max(1, min(coreCount, rows * n / 32_768))
    let partials = Tensor(empty: [chunks, 2, n], dtype: x.dtype, zeroed: true)
    let pp = SendablePointer(partials.pointer(as: T.self))
    let invN = 1 / T(fromDouble: Double(n))
    let kernel = currentKernels.layer_norm_backward_rows
    parallelChunks(chunks, costPerItem: 32_768) { chunkRange in
        let scratch = UnsafeMutablePointer<T>.allocate(capacity: n)
        defer { scratch.deallocate() }
        for c in chunkRange {
            let dwAcc = pp.p + c * 2 * n, dbAcc = dwAcc + n
            let lo = rows * c / chunks, hi = rows * (c + 1) / chunks
            if T.self == Float.self {  // CKernels' kernel for the current level
                kernel(floats(gp.p + lo * n), floats(xp.p + lo * n), floats(mp.p + lo), floats(rp.p + lo),
                       wp.map { floats($0.p) }, floats(dxp.p + lo * n), floats(dwAcc), floats(dbAcc),
                       floats(scratch), hi - lo, n)
                continue
            }
            for r in lo..<hi {
                let xr = xp.p + r * n, gr = gp.p + r * n, dxr = dxp.p + r * n
                let mu = mp.p[r], inv = rp.p[r]
                // dx is scratch first: x̂, then the final gradient (keeps every loop vectorisable).
                for i in 0..<n { dxr[i] = (xr[i] - mu) * inv }
                for i in 0..<n {
                    dwAcc[i] += gr[i] * dxr[i]
                    dbAcc[i] += gr[i]
                }
                // ĝ = g·w (into per-chunk scratch), then two SIMD reductions and one elementwise pass.
                let gh: UnsafeMutablePointer<T>
                if let wp {
                    for i in 0..<n { scratch[i] = gr[i] * wp.p[i] }
                    gh = scratch
                } else {
                    gh = gr
                }
                let meanG = rowSum(gh, n) * invN, meanGX = rowDot(gh, dxr, n) * invN
                for i in 0..<n { dxr[i] = inv * (gh[i] - meanG - dxr[i] * meanGX) }
            }
        }
    }
    let total = partials.sum(axes: [0])
    dw.assign(total.select(axis: 0, index: 0).reshaped(dw.shape))
    db.assign(total.select(axis: 0, index: 1).reshaped(db.shape))
}

/// Batch normalisation over axis 1 of [N, C, …]: per channel, one task reads the channel's values
/// (N runs of the spatial size) for its statistics and writes the output while they are in cache;
/// the backward is one more such task per channel.
extension Tensor {
    /// The normalised tensor and the batch statistics it used.
    public struct BatchNormResult {
        /// (x − mean) / sqrt(variance + eps) · weight + bias, shape of the input.
        public let output: Tensor
        /// Per-channel mean, shape [C].
        public let mean: Tensor
        /// Per-channel biased variance, shape [C].
        public let variance: Tensor
    }

    /// Batch norm of [N, C, …] with the batch's own per-channel statistics (training mode), plus
    /// `residual` (of the input's shape) when given, then ReLU when `followedByReLU` — all in the one
    /// output pass (a ResNet's BN → ReLU, and a block's BN → + shortcut → ReLU).
    public func batchNorm(weight: Tensor?, bias: Tensor?, epsilon: Double = 1e-5, adding residual: Tensor? = nil,
                          followedByReLU: Bool = false) -> BatchNormResult {
        let c = batchNormChannels(weight, bias, residual: residual)
        let mean = Tensor(empty: [c], dtype: dtype), variance = Tensor(empty: [c], dtype: dtype)
        let out = batchNormForward(mean: mean, variance: variance, weight: weight, bias: bias, epsilon: epsilon,
                                   computeStatistics: true, residual: residual, relu: followedByReLU)
        return BatchNormResult(output: out, mean: mean, variance: variance)
    }

    /// Batch norm of [N, C, …] with given per-channel statistics (evaluation mode); `residual` and
    /// `followedByReLU` as in training mode.
    public func batchNorm(mean: Tensor, variance: Tensor, weight: Tensor?, bias: Tensor?, epsilon: Double = 1e-5,
                          adding residual: Tensor? = nil, followedByReLU: Bool = false) -> Tensor {
        let c = batchNormChannels(weight, bias, residual: residual)
        for s in [mean, variance] {
            check(s.shape == [c] && s.dtype == dtype, "batchNorm",
                  "statistics \(describe(s.shape)) \(s.dtype) do not match \(c) channels \(dtype)")
        }
        return batchNormForward(mean: mean.contiguous(), variance: variance.contiguous(), weight: weight, bias: bias,
                                epsilon: epsilon, computeStatistics: false, residual: residual, relu: followedByReLU)
    }

    /// Gradients of batch norm with respect to the input, weight and bias from the output gradient
    /// `g`, the input and the statistics the forward pass used; `batchStatistics` says whether those
    /// came from this batch (and so depend on the input) or were given. `reluOutput` is the forward's
    /// output when it was `followedByReLU`: the gradient then passes only where that output is positive.
    public static func batchNormBackward(gradient g: Tensor, input x: Tensor, mean: Tensor, variance: Tensor,
                                         weight: Tensor?, epsilon: Double = 1e-5, batchStatistics: Bool,
                                         reluOutput: Tensor? = nil)
        -> (input: Tensor, weight: Tensor, bias: Tensor) {
        let c = x.batchNormChannels(weight, nil)
        for (name, t) in [("gradient", g), ("ReLU output", reluOutput ?? x)] {
            check(t.shape == x.shape && t.dtype == x.dtype, "batchNormBackward",
                  "\(name) \(describe(t.shape)) \(t.dtype) does not match input \(describe(x.shape)) \(x.dtype)")
        }
        let dx = Tensor(empty: x.shape, dtype: x.dtype)
        let dw = Tensor(empty: [c], dtype: x.dtype), db = Tensor(empty: [c], dtype: x.dtype)
        let (planes, n) = (x.shape[0], x.shape.dropFirst(2).reduce(1, *))
        // The float32 kernel masks the gradient itself; the other paths take ReLU's backward first.
        let inKernel = x.dtype == .float32 && n > 1
        let masked = reluOutput.map { inKernel ? g : reluBackward(gradient: g, input: $0) } ?? g
        let (gc, xc, mc, vc, wc) = (masked.contiguous(), x.contiguous(), mean.contiguous(),
                                    variance.contiguous(), weight?.contiguous())
        let yc = inKernel ? reluOutput?.contiguous() : nil
        func run<T: FloatElement>(_: T.Type) {
            let gp = SendablePointer(gc.pointer(as: T.self)), xp = SendablePointer(xc.pointer(as: T.self))
            let yp = yc.map { SendablePointer($0.pointer(as: Float.self)) }
            let dxp = SendablePointer(dx.pointer(as: T.self)), dwp = SendablePointer(dw.pointer(as: T.self))
            let dbp = SendablePointer(db.pointer(as: T.self))
            let mp = mc.pointer(as: T.self), vp = vc.pointer(as: T.self), wp = wc?.pointer(as: T.self)
            let stats = SendablePointer(UnsafeMutablePointer<T>.allocate(capacity: 3 * c))
            defer { stats.p.deallocate() }
            for k in 0..<c {  // mean, 1/sqrt(var + eps), weight per channel
                stats.p[3 * k] = mp[k]
                stats.p[3 * k + 1] = 1 / (vp[k] + T(fromDouble: epsilon)).squareRoot()
                stats.p[3 * k + 2] = wp?[k] ?? 1
            }
            if n == 1 {
                batchNormRowsBackward(gp, xp, dxp, dwp, dbp, stats,
                                      rows: planes, channels: c, batchStatistics: batchStatistics)
                return
            }
            let kernel = currentKernels.batch_norm_backward_channel
            parallelChunks(c, costPerItem: 3 * planes * n) { channels in
                for k in channels {
                    let o = k * n, (mu, rstd, w) = (stats.p[3 * k], stats.p[3 * k + 1], stats.p[3 * k + 2])
                    if T.self == Float.self {  // CKernels' kernel for the current level
                        kernel(
                            floats(gp.p + o), floats(xp.p + o), yp.map { UnsafePointer($0.p + o) }, floats(dxp.p + o),
                            planes, n, c * n,
                            Float(mu.doubleValue), Float(rstd.doubleValue), Float(w.doubleValue),
                            batchStatistics ? 1 : 0, floats(dwp.p + k), floats(dbp.p + k))
                        continue
                    }
                    var sg = T.zero, sgx = T.zero
                    for p in 0..<planes {
                        sg += rowSum(gp.p + o + p * c * n, n)
                        sgx += rowDot(gp.p + o + p * c * n, xp.p + o + p * c * n, n)
                    }
                    let f = BatchNormBackwardTerms(sumG: sg, sumGX: sgx, mean: mu, rstd: rstd, weight: w,
                                                   count: T(fromDouble: Double(planes * n)),
                                                   batchStatistics: batchStatistics)
                    (dwp.p[k], dbp.p[k]) = (f.weight, f.bias)
                    for p in 0..<planes {
                        let base = o + p * c * n
                        for i in 0..<n { dxp.p[base + i] = f.g * gp.p[base + i] + f.x * xp.p[base + i] + f.constant }
                    }
                }
            }
        }
        withExtendedLifetime((gc, xc, yc, mc, vc, wc)) {
            if x.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        }
        return (dx, dw, db)
    }

    /// Checks the [N, C, …] input, the per-channel weight and bias and a residual of the input's shape; returns C.
    private func batchNormChannels(_ weight: Tensor?, _ bias: Tensor?, residual: Tensor? = nil) -> Int {
        if let residual {
            check(residual.shape == shape && residual.dtype == dtype, "batchNorm",
                  "residual \(describe(residual.shape)) \(residual.dtype) does not match input "
                  + "\(describe(shape)) \(dtype)")
        }
        check(dtype.isFloatingPoint, "batchNorm", "expects a floating-point tensor, got \(dtype)")
        check(rank >= 2, "batchNorm", "expects an input [N, C, …], got \(describe(shape))")
        for p in [weight, bias].compactMap({ $0 }) {
            check(p.shape == [shape[1]] && p.dtype == dtype, "batchNorm",
                  "weight/bias \(describe(p.shape)) \(p.dtype) do not match "
                  + "the \(shape[1]) channels \(dtype) of input \(describe(shape))")
        }
        return shape[1]
    }

    private func batchNormForward(mean: Tensor, variance: Tensor, weight: Tensor?, bias: Tensor?, epsilon: Double,
                                  computeStatistics: Bool, residual: Tensor?, relu: Bool) -> Tensor {
        let x = contiguous(), out = Tensor(empty: shape, dtype: dtype), w = weight?.contiguous(), b = bias?.contiguous()
        let (planes, c, n) = (shape[0], shape[1], shape.dropFirst(2).reduce(1, *))
        let inKernel = dtype == .float32 && n > 1, r = inKernel ? residual?.contiguous() : nil
        let rp = r.map { SendablePointer($0.pointer(as: Float.self)) }
        func run<T: FloatElement>(_: T.Type) {
            let xp = SendablePointer(x.pointer(as: T.self)), op = SendablePointer(out.pointer(as: T.self))
            let mp = SendablePointer(mean.pointer(as: T.self)), vp = SendablePointer(variance.pointer(as: T.self))
            let wp = w.map { SendablePointer($0.pointer(as: T.self)) },
                bp = b.map { SendablePointer($0.pointer(as: T.self)) }
            if n == 1 {
                batchNormRowsForward(xp, op, mp, vp, wp, bp, rows: planes, channels: c, epsilon: epsilon,
                                     computeStatistics: computeStatistics)
                return
            }
            let count = T(fromDouble: Double(planes * n))
            let kernel = currentKernels.batch_norm_channel
            parallelChunks(c, costPerItem: 3 * planes * n) { channels in
                for k in channels {
                    let o = k * n, scale = wp?.p[k] ?? 1, offset = bp?.p[k] ?? 0
                    if T.self == Float.self {  // CKernels' kernel for the current level
                        kernel(floats(xp.p + o), rp.map { UnsafePointer($0.p + o) }, floats(op.p + o), planes, n,
                               c * n, Float(scale.doubleValue), Float(offset.doubleValue), Float(epsilon),
                               computeStatistics ? 1 : 0, relu ? 1 : 0, floats(mp.p + k), floats(vp.p + k))
                        continue
                    }
                    if computeStatistics {
                        var s = T.zero
                        for p in 0..<planes { s += rowSum(xp.p + o + p * c * n, n) }
                        let mu = s / count
                        var ss = T.zero
                        for p in 0..<planes { ss += rowSquaredDeviations(xp.p + o + p * c * n, n, from: mu) }
                        (mp.p[k], vp.p[k]) = (mu, ss / count)
                    }
                    let a = scale / (vp.p[k] + T(fromDouble: epsilon)).squareRoot(), shift = offset - mp.p[k] * a
                    for p in 0..<planes {
                        let base = o + p * c * n
                        for i in 0..<n { op.p[base + i] = xp.p[base + i] * a + shift }
                    }
                }
            }
        }
        withExtendedLifetime((x, r, w, b, mean, variance)) {
            if dtype == .float32 { run(Float.self) } else { run(Double.self) }
        }
        // The float32 kernel added and applied the ReLU; the other paths (float64, one value per channel and
        // row) do it here.
        if inKernel { return out }
        let sum = residual.map { out + $0 } ?? out
        return relu ? sum.relu() : sum
    }
}

/// Batch norm of [N, C] (`BatchNorm1d` in heads and projectors): one value per channel and row,
/// so a task takes a block of channels and sums down the rows, each row's block a contiguous,
/// vectorisable run (per channel the values would be C apart).
private func batchNormRowsForward<T: FloatElement>(
    _ xp: SendablePointer<T>, _ op: SendablePointer<T>, _ mp: SendablePointer<T>, _ vp: SendablePointer<T>,
    _ wp: SendablePointer<T>?, _ bp: SendablePointer<T>?, rows: Int, channels c: Int,
    epsilon: Double, computeStatistics: Bool
) {
    let count = T(fromDouble: Double(rows)), block = 256
    parallelChunks((c + block - 1) / block, costPerItem: 3 * rows * block) { blocks in
        let scale = UnsafeMutablePointer<T>.allocate(capacity: 2 * block), shift = scale + block
        defer { scale.deallocate() }
        for blockIndex in blocks {
            let k0 = blockIndex * block, width = Swift.min(block, c - k0)
            let (mean, variance) = (mp.p + k0, vp.p + k0)
            if computeStatistics {  // two passes (mean, then centred squares), as per channel
                mean.update(repeating: 0, count: width)
                variance.update(repeating: 0, count: width)
                for r in 0..<rows {
                    let x = xp.p + r * c + k0
                    for j in 0..<width { mean[j] += x[j] }
                }
                for j in 0..<width { mean[j] /= count }
                for r in 0..<rows {
                    let x = xp.p + r * c + k0
                    for j in 0..<width { variance[j] += (x[j] - mean[j]) * (x[j] - mean[j]) }
                }
                for j in 0..<width { variance[j] /= count }
            }
            for j in 0..<width {
                scale[j] = (wp?.p[k0 + j] ?? 1) / (variance[j] + T(fromDouble: epsilon)).squareRoot()
                shift[j] = (bp?.p[k0 + j] ?? 0) - mean[j] * scale[j]
            }
            for r in 0..<rows {
                let x = xp.p + r * c + k0, y = op.p + r * c + k0
                for j in 0..<width { y[j] = x[j] * scale[j] + shift[j] }
            }
        }
    }
}

/// The backward of ``batchNormRowsForward``: Σg and Σg·x per channel down the rows, then
/// ∂x = a·g + b·x + c per channel, as the per-channel kernel; `stats` holds (mean, rstd, weight).
private func batchNormRowsBackward<T: FloatElement>(
    _ gp: SendablePointer<T>, _ xp: SendablePointer<T>, _ dxp: SendablePointer<T>, _ dwp: SendablePointer<T>,
    _ dbp: SendablePointer<T>, _ stats: SendablePointer<T>, rows: Int, channels c: Int, batchStatistics: Bool
) {
    let count = T(fromDouble: Double(rows)), block = 256
    parallelChunks((c + block - 1) / block, costPerItem: 3 * rows * block) { blocks in
        let sums = UnsafeMutablePointer<T>.allocate(capacity: 5 * block)
        defer { sums.deallocate() }
        let (sg, sgx, a, b, d) = (sums, sums + block, sums + 2 * block, sums + 3 * block, sums + 4 * block)
        for blockIndex in blocks {
            let k0 = blockIndex * block, width = Swift.min(block, c - k0)
            sg.update(repeating: 0, count: 2 * block)
            for r in 0..<rows {
                let g = gp.p + r * c + k0, x = xp.p + r * c + k0
                for j in 0..<width {
                    sg[j] += g[j]
                    sgx[j] += g[j] * x[j]
                }
            }
            for j in 0..<width {
                let (mu, rstd, w) = (stats.p[3 * (k0 + j)], stats.p[3 * (k0 + j) + 1], stats.p[3 * (k0 + j) + 2])
                let f = BatchNormBackwardTerms(sumG: sg[j], sumGX: sgx[j], mean: mu, rstd: rstd, weight: w,
                                               count: count, batchStatistics: batchStatistics)
                (dwp.p[k0 + j], dbp.p[k0 + j]) = (f.weight, f.bias)
                (a[j], b[j], d[j]) = (f.g, f.x, f.constant)
            }
            for r in 0..<rows {
                let g = gp.p + r * c + k0, x = xp.p + r * c + k0, dx = dxp.p + r * c + k0
                for j in 0..<width { dx[j] = a[j] * g[j] + b[j] * x[j] + d[j] }
            }
        }
    }
}

/// One channel's backward from Σg and Σg·x: ∂W = Σ g·x̂ = rstd·(Σg·x − mean·Σg), ∂b = Σg, and
/// ∂x = g·(g term) + x·(x term) + constant, the x̂ term expanded so the pass reads g and x once
/// (the formula of the CKernels clone, for the Swift paths).
private struct BatchNormBackwardTerms<T: FloatElement> {
    let weight, bias, g, x, constant: T

    init(sumG: T, sumGX: T, mean: T, rstd: T, weight w: T, count: T, batchStatistics: Bool) {
        weight = rstd * (sumGX - mean * sumG)
        bias = sumG
        g = w * rstd
        x = batchStatistics ? -g * rstd * weight / count : 0
        constant = batchStatistics ? -g * sumG / count - x * mean : 0
    }
}
