/// 2-D convolution as im2col + batched GEMM (torch.nn.functional.conv2d semantics).
///
/// The column buffer is laid out [N, groups, C/groups·kh·kw, Hout·Wout], so the product with the
/// weight viewed as [groups, O/groups, C/groups·kh·kw] is one broadcast batched matmul that
/// writes straight into the NCHW output — no permute. A 1×1 convolution with stride 1 and no
/// padding needs no column buffer at all: the input already is one.
public struct Conv2dGeometry: Equatable, Sendable {
    public var stride: (Int, Int)
    public var padding: (Int, Int)
    public var dilation: (Int, Int)
    public var groups: Int

    public init(stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) {
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public static func == (a: Conv2dGeometry, b: Conv2dGeometry) -> Bool {
        a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation && a.groups == b.groups
    }

    /// Output size along one axis.
    func outputSize(_ size: Int, kernel: Int, axis: Int) -> Int {
        let (s, p, d) = axis == 0 ? (stride.0, padding.0, dilation.0) : (stride.1, padding.1, dilation.1)
        return (size + 2 * p - d * (kernel - 1) - 1) / s + 1
    }

    /// Whether the input itself is the column buffer (1×1 kernel, stride 1, no padding).
    func isPointwise(kernel: (Int, Int)) -> Bool {
        kernel == (1, 1) && stride == (1, 1) && padding == (0, 0)
    }
}

extension Tensor {
    /// Cross-correlation of `self` [N, C, H, W] with `weight` [O, C/groups, kh, kw] plus `bias` [O].
    public func conv2d(weight: Tensor, bias: Tensor? = nil, geometry g: Conv2dGeometry = Conv2dGeometry()) -> Tensor {
        let (n, oh, ow) = checkConv2d(weight: weight, bias: bias, geometry: g)
        let o = weight.shape[0], groups = g.groups
        let cols = im2col(kernel: (weight.shape[2], weight.shape[3]), geometry: g)
        let w = weight.contiguous().reshaped([1, groups, o / groups, cols.shape[2]])
        var out = w.matmul(cols).reshaped([n, o, oh, ow])
        if let bias { out += bias.reshaped([1, o, 1, 1]) }
        return out
    }

    /// Gradients of ``conv2d(weight:bias:geometry:)`` with respect to input, weight and bias.
    public static func conv2dBackward(gradient gOut: Tensor, input x: Tensor, weight: Tensor, hasBias: Bool,
                                      geometry g: Conv2dGeometry) -> (input: Tensor, weight: Tensor, bias: Tensor?) {
        let n = x.shape[0], o = weight.shape[0], groups = g.groups
        let kernel = (weight.shape[2], weight.shape[3])
        let cols = x.im2col(kernel: kernel, geometry: g)  // recomputed: cheaper in memory than saving it
        let ckk = cols.shape[2], hw = cols.shape[3]
        let gy = gOut.contiguous().reshaped([n, groups, o / groups, hw])
        // ∂W = Σ_n gY_n · cols_nᵀ, accumulated by GEMM with beta = 1 (cols_nᵀ is a free transposed view).
        let gw = Tensor(empty: [groups, o / groups, ckk], dtype: x.dtype, zeroed: true)
        for i in 0..<n {
            Tensor.gemm(gy.select(axis: 0, index: i), cols.select(axis: 0, index: i).transposed(), into: gw, beta: 1)
        }
        // ∂cols = Wᵀ · gY, then scattered back onto the image.
        let wT = weight.contiguous().reshaped([1, groups, o / groups, ckk]).transposed()
        let gCols = wT.matmul(gy)
        let gx = col2im(gCols, inputShape: x.shape, kernel: kernel, geometry: g)
        let gb = hasBias ? gOut.sum(axes: [0, 2, 3]) : nil
        return (gx, gw.reshaped(weight.shape), gb)
    }

    private func checkConv2d(weight: Tensor, bias: Tensor?, geometry g: Conv2dGeometry) -> (Int, Int, Int) {
        let op = "conv2d"
        check(rank == 4, op, "expects input [N, C, H, W], got \(describe(shape))")
        check(weight.rank == 4, op, "expects weight [O, C/groups, kh, kw], got \(describe(weight.shape))")
        check(dtype.isFloatingPoint && weight.dtype == dtype, op, "dtypes differ or are not floating point: \(dtype) and \(weight.dtype)")
        check(g.groups >= 1 && shape[1] % g.groups == 0 && weight.shape[0] % g.groups == 0, op,
              "groups \(g.groups) must divide input channels \(shape[1]) and output channels \(weight.shape[0])")
        check(weight.shape[1] * g.groups == shape[1], op,
              "weight \(describe(weight.shape)) expects \(weight.shape[1] * g.groups) input channels, input \(describe(shape)) has \(shape[1])")
        check(g.stride.0 > 0 && g.stride.1 > 0 && g.dilation.0 > 0 && g.dilation.1 > 0 && g.padding.0 >= 0 && g.padding.1 >= 0,
              op, "stride and dilation must be positive and padding non-negative")
        if let bias { check(bias.shape == [weight.shape[0]] && bias.dtype == dtype, op, "bias \(describe(bias.shape)) does not match \(weight.shape[0]) output channels") }
        let oh = g.outputSize(shape[2], kernel: weight.shape[2], axis: 0)
        let ow = g.outputSize(shape[3], kernel: weight.shape[3], axis: 1)
        check(oh > 0 && ow > 0, op, "input \(describe(shape)) is too small for kernel \(describe(Array(weight.shape.suffix(2)))) with this padding and dilation")
        return (shape[0], oh, ow)
    }

    /// The column buffer [N, groups, C/groups·kh·kw, Hout·Wout] of an [N, C, H, W] input.
    public func im2col(kernel: (Int, Int), geometry g: Conv2dGeometry) -> Tensor {
        let n = shape[0], c = shape[1], h = shape[2], w = shape[3]
        let oh = g.outputSize(h, kernel: kernel.0, axis: 0), ow = g.outputSize(w, kernel: kernel.1, axis: 1)
        let ckk = c / g.groups * kernel.0 * kernel.1
        if g.isPointwise(kernel: kernel) { return contiguous().reshaped([n, g.groups, ckk, oh * ow]) }
        let x = contiguous()
        let cols = Tensor(empty: [n, g.groups, ckk, oh * ow], dtype: dtype)
        let plan = ColumnPlan(h: h, w: w, oh: oh, ow: ow, kernel: kernel, geometry: g)
        if dtype == .float32 { plan.im2col(Float.self, x, cols, planes: n * c) } else { plan.im2col(Double.self, x, cols, planes: n * c) }
        return cols
    }

    /// Scatter-adds a column buffer back onto an image of `inputShape` (the adjoint of ``im2col(kernel:geometry:)``).
    public static func col2im(_ cols: Tensor, inputShape: [Int], kernel: (Int, Int), geometry g: Conv2dGeometry) -> Tensor {
        let n = inputShape[0], c = inputShape[1], h = inputShape[2], w = inputShape[3]
        if g.isPointwise(kernel: kernel) { return cols.contiguous().reshaped(inputShape) }
        let oh = g.outputSize(h, kernel: kernel.0, axis: 0), ow = g.outputSize(w, kernel: kernel.1, axis: 1)
        let image = Tensor(empty: inputShape, dtype: cols.dtype, zeroed: true)
        let plan = ColumnPlan(h: h, w: w, oh: oh, ow: ow, kernel: kernel, geometry: g)
        let src = cols.contiguous()
        if src.dtype == .float32 { plan.col2im(Float.self, src, image, planes: n * c) } else { plan.col2im(Double.self, src, image, planes: n * c) }
        return image
    }
}

/// Index arithmetic shared by im2col and col2im. One (image, channel) plane maps to kh·kw
/// consecutive rows of the column buffer, so planes are independent and split across cores.
private struct ColumnPlan {
    let h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw: Int

    init(h: Int, w: Int, oh: Int, ow: Int, kernel: (Int, Int), geometry g: Conv2dGeometry) {
        (self.h, self.w, self.oh, self.ow) = (h, w, oh, ow)
        (kh, kw) = kernel
        (sh, sw) = g.stride
        (ph, pw) = g.padding
        (dh, dw) = g.dilation
    }

    /// Output columns `lo..<hi` whose input column `ox·sw − pw + j·dw` lies inside the image.
    @inline(__always)
    func validColumns(_ j: Int) -> (Int, Int) {
        let offset = j * dw - pw
        let lo = offset >= 0 ? 0 : (-offset + sw - 1) / sw
        let hi = w - offset <= 0 ? 0 : Swift.min(ow, (w - offset + sw - 1) / sw)
        return (lo, Swift.max(lo, hi))
    }

    func im2col<T: FloatElement>(_: T.Type, _ x: Tensor, _ cols: Tensor, planes: Int) {
        let xp = SendablePointer(x.pointer(as: T.self)), cp = SendablePointer(cols.pointer(as: T.self))
        parallelChunks(planes, costPerItem: kh * kw * oh * ow) { range in
            for plane in range {
                let src = xp.p + plane * h * w
                var dst = cp.p + plane * kh * kw * oh * ow
                for i in 0..<kh {
                    for j in 0..<kw {
                        let (lo, hi) = validColumns(j)
                        for oy in 0..<oh {
                            let row = dst + oy * ow
                            let iy = oy * sh - ph + i * dh
                            guard iy >= 0 && iy < h else { row.update(repeating: 0, count: ow); continue }
                            if lo > 0 { row.update(repeating: 0, count: lo) }
                            if hi < ow { (row + hi).update(repeating: 0, count: ow - hi) }
                            let srcRow = src + iy * w + j * dw - pw
                            if sw == 1 {
                                (row + lo).update(from: srcRow + lo, count: hi - lo)
                            } else {
                                for ox in lo..<hi { row[ox] = srcRow[ox * sw] }
                            }
                        }
                        dst += oh * ow
                    }
                }
            }
        }
    }

    func col2im<T: FloatElement>(_: T.Type, _ cols: Tensor, _ image: Tensor, planes: Int) {
        let ip = SendablePointer(image.pointer(as: T.self)), cp = SendablePointer(cols.pointer(as: T.self))
        parallelChunks(planes, costPerItem: kh * kw * oh * ow) { range in
            for plane in range {
                let dst = ip.p + plane * h * w
                var src = cp.p + plane * kh * kw * oh * ow
                for i in 0..<kh {
                    for j in 0..<kw {
                        let (lo, hi) = validColumns(j)
                        for oy in 0..<oh {
                            let iy = oy * sh - ph + i * dh
                            guard iy >= 0 && iy < h else { continue }
                            let row = src + oy * ow
                            let dstRow = dst + iy * w + j * dw - pw
                            for ox in lo..<hi { dstRow[ox * sw] += row[ox] }
                        }
                        src += oh * ow
                    }
                }
            }
        }
    }
}
