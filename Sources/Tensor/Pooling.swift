/// 2-D max and average pooling over [N, C, H, W] (torch.nn.functional semantics, floor mode).
///
/// Every pooling is described by its windows along each axis — where each output's window starts
/// and ends in the input, and its size counting padding — so max pooling, average pooling and
/// adaptive average pooling share one pair of kernels. Planes (image, channel) run across cores.
public struct PoolWindows: Sendable {
    /// Clipped window bounds per output index, in input coordinates: the first tap inside the input
    /// and the end of the window's extent.
    let start: [Int], end: [Int]
    /// Window size counting padded positions (the divisor of average pooling with padding included).
    let paddedSize: [Int]
    /// The distance between a window's taps: the dilation (1 for every pool but dilated max pooling).
    let step: Int
    /// A sliding pool's grid, padding included: window o has `kernel` taps from o·stride − before, `step` apart.
    let grid: (kernel: Int, stride: Int, before: Int)?

    init(start: [Int], end: [Int], paddedSize: [Int], step: Int = 1,
         grid: (kernel: Int, stride: Int, before: Int)? = nil) {
        (self.start, self.end, self.paddedSize, self.step, self.grid) = (start, end, paddedSize, step, grid)
    }

    /// Windows of a sliding pool: kernel `k`, `stride`, `padding` over an axis of `size`, placed as
    /// `torch.nn.MaxPool2d` and `AvgPool2d` place them. With `ceilMode` (PyTorch's `ceil_mode=True`)
    /// a last, partial window is kept when it starts inside the input or the leading padding;
    /// `dilation` spaces a window's taps (max pooling only, as in PyTorch).
    public static func sliding(size: Int, kernel k: Int, stride: Int, padding: Int, ceilMode: Bool = false,
                               dilation: Int = 1) -> PoolWindows {
        sliding(size: size, kernel: k, stride: stride, padding: (padding, padding), ceilMode: ceilMode,
                dilation: dilation)
    }

    /// Windows of a sliding pool with different padding before and after the axis (the "same"
    /// padding of TensorFlow and timm, which PyTorch writes as `F.pad` then a pool).
    public static func sliding(size: Int, kernel k: Int, stride: Int, padding: (before: Int, after: Int),
                               ceilMode: Bool = false, dilation d: Int = 1) -> PoolWindows {
        check(k > 0 && stride > 0 && d > 0, "PoolWindows.sliding",
              "kernel, stride and dilation must be positive, got \(k), \(stride), \(d)")
        let extent = (k - 1) * d + 1, span = size + padding.before + padding.after - extent
        var count = span < 0 ? 0 : (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
        if ceilMode && count > 0 && (count - 1) * stride >= size + padding.before { count -= 1 }
        var start: [Int] = [], end: [Int] = [], padded: [Int] = []
        for o in 0..<count {
            let s = o * stride - padding.before, e = Swift.min(s + extent, size + padding.after)
            padded.append(e - s)
            // The first tap at or after 0 on the window's grid s, s + d, s + 2d, …
            start.append(s >= 0 ? s : s + (-s + d - 1) / d * d)
            end.append(Swift.min(e, size))
        }
        return PoolWindows(start: start, end: end, paddedSize: padded, step: d,
                           grid: (kernel: k, stride: stride, before: padding.before))
    }

    /// Windows of adaptive pooling to `output` cells: [⌊i·size/output⌋, ⌈(i+1)·size/output⌉).
    public static func adaptive(size: Int, output: Int) -> PoolWindows {
        let start = (0..<output).map { $0 * size / output }
        let end = (0..<output).map { (($0 + 1) * size + output - 1) / output }
        return PoolWindows(start: start, end: end, paddedSize: zip(start, end).map { $1 - $0 })
    }

    var count: Int { start.count }
}

extension Tensor {
    /// Max pooling; also returns, per output, the flat index (h·W + w) of the chosen input in its plane.
    public func maxPool2d(rows: PoolWindows, columns: PoolWindows) -> (output: Tensor, indices: Tensor) {
        checkPool("maxPool2d", rows, columns)
        let x = contiguous()
        let out = Tensor(empty: [shape[0], shape[1], rows.count, columns.count], dtype: dtype)
        let idx = Tensor(empty: out.shape, dtype: .int32)
        if dtype == .float32, let rowGrid = rows.grid, let columnGrid = columns.grid {
            slidingMaxPool(x, out, idx, rows, columns, rowGrid, columnGrid)
        } else if dtype == .float32 {
            poolMax(Float.self, x, out, idx, rows, columns)
        } else {
            poolMax(Double.self, x, out, idx, rows, columns)
        }
        return (out, idx)
    }

    /// Average pooling; `countIncludePad` divides by the padded window size, as PyTorch's default.
    public func avgPool2d(rows: PoolWindows, columns: PoolWindows, countIncludePad: Bool = true) -> Tensor {
        checkPool("avgPool2d", rows, columns)
        check(rows.step == 1 && columns.step == 1, "avgPool2d", "dilation is for max pooling only, as in PyTorch")
        let out = Tensor(empty: [shape[0], shape[1], rows.count, columns.count], dtype: dtype)
        let x = contiguous()
        if dtype == .float32 {
            poolAverage(Float.self, x, out, rows, columns, countIncludePad, backward: false)
        } else {
            poolAverage(Double.self, x, out, rows, columns, countIncludePad, backward: false)
        }
        return out
    }

    /// Input gradient of max pooling: each output gradient goes to the input it chose.
    public static func maxPool2dBackward(gradient g: Tensor, indices: Tensor, inputShape: [Int]) -> Tensor {
        let gx = Tensor(empty: inputShape, dtype: g.dtype, zeroed: true)
        let gc = g.contiguous()
        if g.dtype == .float32 {
            unpoolMax(Float.self, gc, indices, gx)
        } else {
            unpoolMax(Double.self, gc, indices, gx)
        }
        return gx
    }

    /// Input gradient of average pooling: each output gradient spread evenly over its window.
    public static func avgPool2dBackward(gradient g: Tensor, inputShape: [Int], rows: PoolWindows, columns: PoolWindows,
                                         countIncludePad: Bool = true) -> Tensor {
        let gx = Tensor(empty: inputShape, dtype: g.dtype, zeroed: true)
        let gc = g.contiguous()
        if g.dtype == .float32 {
            poolAverage(Float.self, gx, gc, rows, columns, countIncludePad, backward: true)
        } else {
            poolAverage(Double.self, gx, gc, rows, columns, countIncludePad, backward: true)
        }
        return gx
    }

    private func checkPool(_ op: String, _ rows: PoolWindows, _ columns: PoolWindows) {
        check(rank == 4, op, "expects input [N, C, H, W], got \(describe(shape))")
        check(dtype.isFloatingPoint, op, "expects a floating-point tensor, got \(dtype)")
        check(rows.count > 0 && columns.count > 0, op,
              "input \(describe(shape)) is too small for this kernel and padding")
        check(rows.end.last! <= shape[2] && columns.end.last! <= shape[3], op,
              "windows do not fit input \(describe(shape))")
        for (s, e) in Array(zip(rows.start, rows.end)) + Array(zip(columns.start, columns.end)) {
            check(e > s, op,
                  "a window of input \(describe(shape)) lies entirely in the padding; use padding ≤ kernel / 2")
        }
    }
}

private func poolMax<T: FloatElement>(_: T.Type, _ x: Tensor, _ out: Tensor, _ idx: Tensor,
                                      _ rows: PoolWindows, _ cols: PoolWindows) {
    let h = x.shape[2], w = x.shape[3], oh = rows.count, ow = cols.count, rowStep = rows.step, colStep = cols.step
    let xp = SendablePointer(x.pointer(as: T.self)), op = SendablePointer(out.pointer(as: T.self))
    let ip = SendablePointer(idx.pointer(as: Int32.self))
    // Float64 and adaptive windows; the windows as one plain buffer, as the arrays' bounds checks and stride
    // iterators cost more than the comparisons.
    let b = SendablePointer(UnsafeMutablePointer<Int>.allocate(capacity: 2 * (oh + ow)))
    defer { b.p.deallocate() }
    for (i, v) in (rows.start + rows.end + cols.start + cols.end).enumerated() { b.p[i] = v }
    parallelChunks(x.shape[0] * x.shape[1], costPerItem: h * w) { range in
        let rowStart = b.p, rowEnd = b.p + oh, colStart = b.p + 2 * oh, colEnd = colStart + ow
        for plane in range {
            let src = xp.p + plane * h * w, dst = op.p + plane * oh * ow, di = ip.p + plane * oh * ow
            for oy in 0..<oh {
                let y0 = rowStart[oy], y1 = rowEnd[oy]
                for ox in 0..<ow {
                    // PyTorch's rule: the first tap is kept until a larger one, any NaN replaces it.
                    let x0 = colStart[ox], x1 = colEnd[ox]
                    var at = y0 &* w &+ x0, best = src[at], y = y0
                    while y < y1 {
                        var column = x0
                        while column < x1 {
                            let position = y &* w &+ column, v = src[position]
                            if v > best || v != v { (best, at) = (v, position) }
                            column &+= colStep
                        }
                        y &+= rowStep
                    }
                    dst[oy &* ow &+ ox] = best
                    di[oy &* ow &+ ox] = Int32(truncatingIfNeeded: at)
                }
            }
        }
    }
}

/// Float32 max pooling of sliding windows through the level's kernel, which copies each plane inside a -inf
/// border so that every window is whole and its passes over a row of outputs need no clipping and vectorise
/// (ResNet-50's 3×3/2 pool at batch 8, forward: 26.6 ms in the generic loop, 3.2 / 2.5 / 5.8 ms at the
/// AVX-512 / AVX2 / baseline level; Zen 5 EPYC, 2 cores).
private func slidingMaxPool(_ x: Tensor, _ out: Tensor, _ idx: Tensor, _ rows: PoolWindows, _ cols: PoolWindows,
                            _ rowGrid: (kernel: Int, stride: Int, before: Int),
                            _ colGrid: (kernel: Int, stride: Int, before: Int)) {
    let h = x.shape[2], w = x.shape[3], oh = rows.count, ow = cols.count
    let paddedRows = (oh - 1) * rowGrid.stride + (rowGrid.kernel - 1) * rows.step + 1
    let paddedColumns = (ow - 1) * colGrid.stride + (colGrid.kernel - 1) * cols.step + 1
    let phaseWidth = (paddedColumns + colGrid.stride - 1) / colGrid.stride
    let scratch = paddedRows * colGrid.stride * phaseWidth
    let firstTaps = rows.start.flatMap { y in cols.start.map { Int32(y * w + $0) } }
    let xp = SendablePointer(x.pointer(as: Float.self)), op = SendablePointer(out.pointer(as: Float.self))
    let ip = SendablePointer(idx.pointer(as: Int32.self))
    let kernel = currentKernels.max_pool_plane
    firstTaps.withUnsafeBufferPointer { firstTaps in
        let firstPointer = SendablePointer(UnsafeMutablePointer(mutating: firstTaps.baseAddress!))
        parallelChunks(x.shape[0] * x.shape[1], costPerItem: h * w) { range in
            let padded = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
            defer { padded.deallocate() }
            padded.update(repeating: -.infinity, count: scratch)
            for plane in range {
                let at = ip.p + plane * oh * ow
                at.update(from: firstPointer.p, count: oh * ow)
                kernel(xp.p + plane * h * w, h, w, rowGrid.before, colGrid.before, padded, paddedRows, phaseWidth,
                       oh, ow, rowGrid.kernel, colGrid.kernel, rowGrid.stride, colGrid.stride, rows.step, cols.step,
                       op.p + plane * oh * ow, at)
            }
        }
    }
}

private func unpoolMax<T: FloatElement>(_: T.Type, _ g: Tensor, _ idx: Tensor, _ gx: Tensor) {
    let plane = g.shape[2] * g.shape[3], inPlane = gx.shape[2] * gx.shape[3]
    let gp = SendablePointer(g.pointer(as: T.self)), ip = SendablePointer(idx.contiguous().pointer(as: Int32.self))
    let xp = SendablePointer(gx.pointer(as: T.self))
    parallelChunks(g.shape[0] * g.shape[1], costPerItem: plane) { range in
        for p in range {
            for o in 0..<plane { xp.p[p * inPlane + Int(ip.p[p * plane + o])] += gp.p[p * plane + o] }
        }
    }
}

/// Forward: `a` is the input, `b` the output. Backward: `a` is the input gradient, `b` the output gradient.
private func poolAverage<T: FloatElement>(_: T.Type, _ a: Tensor, _ b: Tensor, _ rows: PoolWindows, _ cols: PoolWindows,
                                          _ countIncludePad: Bool, backward: Bool) {
    let h = a.shape[2], w = a.shape[3], oh = rows.count, ow = cols.count
    let ap = SendablePointer(a.pointer(as: T.self)), bp = SendablePointer(b.pointer(as: T.self))
    parallelChunks(a.shape[0] * a.shape[1], costPerItem: h * w) { range in
        for plane in range {
            let img = ap.p + plane * h * w, cells = bp.p + plane * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let area = countIncludePad ? rows.paddedSize[oy] * cols.paddedSize[ox]
                        : (rows.end[oy] - rows.start[oy]) * (cols.end[ox] - cols.start[ox])
                    let scale = 1 / T(fromDouble: Double(area))
                    if backward {
                        let g = cells[oy * ow + ox] * scale
                        for y in rows.start[oy]..<rows.end[oy] {
                            for xx in cols.start[ox]..<cols.end[ox] { img[y * w + xx] += g }
                        }
                    } else {
                        var s: T = 0
                        for y in rows.start[oy]..<rows.end[oy] {
                            for xx in cols.start[ox]..<cols.end[ox] { s += img[y * w + xx] }
                        }
                        cells[oy * ow + ox] = s * scale
                    }
                }
            }
        }
    }
}
