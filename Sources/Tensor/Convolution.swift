import CKernels

/// 2-D convolution as im2col + GEMM per image (torch.nn.functional.conv2d semantics), or for
/// stride-1 convolutions as a sum over kernel taps of products with the padded image (see
/// `shifts`): CKernels' fused loop in float32 where `fusesTaps` (AVX-512 and AVX2), one
/// GEMM per tap otherwise.
///
/// An image's column buffer is laid out [groups, C/groups·kh·kw, Hout·Wout], so its product with
/// the weight viewed as [groups, O/groups, C/groups·kh·kw] writes straight into the image's NCHW
/// output — no permute. A 1×1 convolution with stride 1 and no padding needs no column buffer:
/// the input already is one.
/// Zero padding of a convolution's input, per side, when it is not symmetric.
public struct Conv2dPadding: Equatable, Sendable {
    public var top: Int, bottom: Int, left: Int, right: Int

    public init(top: Int, bottom: Int, left: Int, right: Int) {
        check([top, bottom, left, right].allSatisfy { $0 >= 0 }, "Conv2dPadding",
              "padding must not be negative, got \([top, bottom, left, right])")
        (self.top, self.bottom, self.left, self.right) = (top, bottom, left, right)
    }

    /// TensorFlow's and timm's "SAME" padding (`get_same_padding`): the output has ⌈size / stride⌉
    /// positions, and an odd total puts the extra row or column at the bottom or right.
    public static func same(height: Int, width: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                            dilation: (Int, Int) = (1, 1)) -> Conv2dPadding {
        func total(_ size: Int, _ k: Int, _ s: Int, _ d: Int) -> Int {
            Swift.max(((size + s - 1) / s - 1) * s + (k - 1) * d + 1 - size, 0)
        }
        let h = total(height, kernel.0, stride.0, dilation.0), w = total(width, kernel.1, stride.1, dilation.1)
        return Conv2dPadding(top: h / 2, bottom: h - h / 2, left: w / 2, right: w - w / 2)
    }
}

public struct Conv2dGeometry: Equatable, Sendable {
    public var stride: (Int, Int)
    public var padding: (Int, Int)
    public var dilation: (Int, Int)
    public var groups: Int

    public init(stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1), groups: Int = 1) {
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

}

extension Tensor {
    /// Cross-correlation of `self` [N, C, H, W] with `weight` [O, C/groups, kh, kw] plus `bias` [O].
    public func conv2d(weight: Tensor, bias: Tensor? = nil, geometry g: Conv2dGeometry = Conv2dGeometry()) -> Tensor {
        let (n, oh, ow) = checkConv2d(weight: weight, bias: bias, geometry: g)
        let layout = ConvLayout(input: shape, weight: weight.shape, geometry: g, output: (oh, ow))
        let x = contiguous()
        var result: Tensor
        if layout.usesShifts(dtype) {
            result = layout.shiftedCorrelation(x, taps: layout.taps(of: weight))
        } else if layout.imagesPerProduct(n) > 1 {
            result = layout.batchedForward(x, weight: weight).reshaped([n, weight.shape[0], oh, ow])
        } else {
            let w = weight.contiguous().reshaped([g.groups, layout.outPerGroup, layout.ckk])
            let out = Tensor(empty: [n, g.groups, layout.outPerGroup, layout.hw], dtype: dtype)
            layout.forEachImage(n, scratch: layout.columnScratch(buffers: 1), dtype: dtype) { i, _, scratch in
                let cols = layout.columns(of: x, image: i, into: scratch.select(axis: 0, index: 0))
                Tensor.gemm(w, cols, into: out.select(axis: 0, index: i), beta: 0, serial: true)
            }
            result = out.reshaped([n, weight.shape[0], oh, ow])
        }
        if let bias { result += bias.reshaped([1, weight.shape[0], 1, 1]) }
        return result
    }

    /// Gradients of ``conv2d(weight:bias:geometry:)`` with respect to input, weight and bias; the
    /// input's only when `inputGradient` (images fed to a network's first layer need none).
    public static func conv2dBackward(gradient gOut: Tensor, input: Tensor, weight: Tensor, hasBias: Bool,
                                      geometry g: Conv2dGeometry, inputGradient: Bool = true)
        -> (input: Tensor?, weight: Tensor, bias: Tensor?) {
        let layout = ConvLayout(input: input.shape, weight: weight.shape, geometry: g,
                                output: (gOut.shape[2], gOut.shape[3]))
        let x = input.contiguous(), gy = gOut.contiguous()
        let gb = hasBias ? gOut.sum(axes: [0, 2, 3]) : nil
        let strided = layout.sh > 1 || layout.sw > 1
        if layout.shifts && layout.ph < layout.kh && layout.pw < layout.kw {
            // ∂x is the correlation of gY with the transposed, flipped kernel, padded by k − 1 − p
            // (per stride phase when strided). `shifts`, not `usesShifts`: a 1×1 backward is faster
            // as the two GEMMs below.
            var gx: Tensor?
            if inputGradient && strided {
                gx = layout.phaseInputGradient(gy, weight: weight)
            } else if inputGradient {
                let flipped = Conv2dGeometry(padding: (layout.kh - 1 - layout.ph, layout.kw - 1 - layout.pw))
                let back = ConvLayout(input: gOut.shape, weight: [layout.c, weight.shape[0], layout.kh, layout.kw],
                                      geometry: flipped, output: (layout.h, layout.w))
                gx = back.shiftedCorrelation(gy, taps: layout.flippedTaps(layout.taps(of: weight), phase: (0, 0)))
            }
            // Strided ∂W stays im2col's one GEMM per image: the fused loop over the phases, a source
            // four times the output, was slower (ResNet's 128-channel 3×3/2, batch 8: 10.6 against 9.3 ms).
            // So does ∂W of an image's few channels under the fused loop, whose 16-lane vectors run over the
            // input channels (RGB fills 3: compare's 3 → 12 stem at 32², batch 64, 1.5–3.0 → 0.4–0.8 ms).
            if strided || (x.dtype == .float32 && layout.fusesTaps(.current) && layout.c < 8) {
                return (gx, layout.columnBackward(x, gy, weight: weight, inputGradient: false).weight, gb)
            }
            let gw = layout.shiftedWeightGradient(x, gy)
            return (gx,
                    gw.reshaped([layout.kh, layout.kw, weight.shape[0], layout.c]).permuted([2, 3, 0, 1]).contiguous(),
                    gb)
        }
        let grads = layout.columnBackward(x, gy, weight: weight, inputGradient: inputGradient)
        return (grads.input, grads.weight, gb)
    }

    private func checkConv2d(weight: Tensor, bias: Tensor?, geometry g: Conv2dGeometry) -> (Int, Int, Int) {
        let op = "conv2d"
        check(rank == 4, op, "expects input [N, C, H, W], got \(describe(shape))")
        check(weight.rank == 4, op, "expects weight [O, C/groups, kh, kw], got \(describe(weight.shape))")
        check(dtype.isFloatingPoint && weight.dtype == dtype, op,
              "dtypes differ or are not floating point: \(dtype) and \(weight.dtype)")
        check(g.groups >= 1 && shape[1] % g.groups == 0 && weight.shape[0] % g.groups == 0, op,
              "groups \(g.groups) must divide input channels \(shape[1]) and output channels \(weight.shape[0])")
        check(weight.shape[1] * g.groups == shape[1], op,
              "weight \(describe(weight.shape)) expects \(weight.shape[1] * g.groups) input channels, "
              + "input \(describe(shape)) has \(shape[1])")
        check(g.stride.0 > 0 && g.stride.1 > 0 && g.dilation.0 > 0 && g.dilation.1 > 0
              && g.padding.0 >= 0 && g.padding.1 >= 0,
              op, "stride and dilation must be positive and padding non-negative")
        if let bias {
            check(bias.shape == [weight.shape[0]] && bias.dtype == dtype, op,
                  "bias \(describe(bias.shape)) does not match \(weight.shape[0]) output channels")
        }
        let oh = g.outputSize(shape[2], kernel: weight.shape[2], axis: 0)
        let ow = g.outputSize(shape[3], kernel: weight.shape[3], axis: 1)
        check(oh > 0 && ow > 0, op,
              "input \(describe(shape)) is too small for kernel \(describe(Array(weight.shape.suffix(2)))) "
              + "with this padding and dilation")
        return (shape[0], oh, ow)
    }

}

/// The sizes of one convolution and the per-image work: im2col of image i into a column buffer
/// [groups, C/groups·kh·kw, Hout·Wout] (one (channel) plane maps to kh·kw consecutive rows), and
/// its adjoint col2im. Images are split across cores, each core running single-threaded GEMMs on
/// its own column buffer, which stays in cache between im2col and the GEMM.
struct ConvLayout {
    let c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, groups, outPerGroup: Int

    init(input: [Int], weight: [Int], geometry g: Conv2dGeometry, output: (Int, Int)) {
        (c, h, w) = (input[1], input[2], input[3])
        (oh, ow) = output
        (kh, kw) = (weight[2], weight[3])
        (sh, sw) = g.stride
        (ph, pw) = g.padding
        (dh, dw) = g.dilation
        groups = g.groups
        outPerGroup = weight[0] / g.groups
    }

    var ckk: Int { c / groups * kh * kw }
    var hw: Int { oh * ow }
    var columnShape: [Int] { [groups, ckk, hw] }
    /// 1×1, stride 1, no padding: the image itself is the column buffer.
    var pointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 }

    /// Cores used for a batch of `n` images (one when the batch is smaller than the core count:
    /// then each GEMM uses the threaded BLAS instead).
    func workers(_ n: Int) -> Int { n >= coreCount && coreCount > 1 ? coreCount : 1 }

    /// Calls `body(image, worker, scratch)` for every image, with a scratch tensor per worker.
    func forEachImage(_ n: Int, scratch shape: [Int], dtype: DType, _ body: (Int, Int, Tensor) -> Void) {
        let workers = workers(n)
        if workers == 1 {
            let scratch = Tensor(empty: shape, dtype: dtype)
            Tensor.withBLASThreads { for i in 0..<n { body(i, 0, scratch) } }
            return
        }
        Tensor.forEachItemPerCore(n, scratch: shape, dtype: dtype, body)
    }

    /// ∂x (when `inputGradient`) and ∂W through the column buffers: per image and block of output rows,
    /// ∂W += gY·colsᵀ and ∂cols = Wᵀ·gY scattered back onto the image (col2im).
    /// `rowBlock` overrides ``backwardRowBlock`` (tests).
    func columnBackward(_ x: Tensor, _ gy: Tensor, weight: Tensor, inputGradient: Bool, rowBlock: Int? = nil)
        -> (input: Tensor?, weight: Tensor) {
        let n = x.shape[0], block = pointwise ? oh : rowBlock ?? backwardRowBlock
        if rowBlock == nil && imagesPerProduct(n) > 1 {
            return batchedBackward(x, gy, weight: weight, inputGradient: inputGradient)
        }
        let gyGroups = gy.reshaped([n, groups, outPerGroup, hw])
        let wT = weight.contiguous().reshaped([groups, outPerGroup, ckk]).transposed()
        let gx = inputGradient ? Tensor(empty: x.shape, dtype: x.dtype, zeroed: !pointwise) : nil
        // One ∂W accumulator per worker, summed at the end.
        let gwPartials = Tensor(empty: [workers(n), groups, outPerGroup, ckk], dtype: x.dtype, zeroed: true)
        forEachImage(n, scratch: columnScratch(buffers: 2, rows: block), dtype: x.dtype) { i, worker, scratch in
            let gxi = gx?.select(axis: 0, index: i)
            for row0 in stride(from: 0, to: oh, by: block) {
                let rows = row0..<Swift.min(oh, row0 + block)
                let gyBlock = gyGroups.select(axis: 0, index: i)
                    .slice(axis: 2, start: row0 * ow, end: rows.upperBound * ow)
                // cols recomputed: cheaper in memory than saving them from the forward.
                let cols = columns(of: x, image: i, rows: rows, into: scratch.select(axis: 0, index: 0))
                Tensor.gemm(gyBlock, cols.transposed(), into: gwPartials.select(axis: 0, index: worker), beta: 1,
                            serial: true)
                guard let gxi else { continue }
                let gCols = pointwise ? gxi.reshaped(columnShape)
                                      : columnBlock(scratch.select(axis: 0, index: 1), rows: rows.count)
                Tensor.gemm(wT, gyBlock, into: gCols, beta: 0, serial: true)
                if !pointwise { scatter(gCols, rows: rows, into: gxi) }
            }
        }
        return (gx, gwPartials.sum(axes: [0]).reshaped(weight.shape))
    }

    /// Images whose column buffers sit side by side in one product, where an image has few output pixels: the
    /// products' N is then about 256 instead of Hout·Wout (compare's last stage, 16 pixels an image: its 3×3
    /// fwd+bwd at batch 64, 2.0 → 1.75 ms). At least one run of images per worker. Not for kernels that tile
    /// the image (a ViT's patch embedding, kernel = stride), whose step did not gain (compare's ViT: 36–38 ms
    /// either way).
    func imagesPerProduct(_ n: Int) -> Int {
        guard groups == 1 && !pointwise && hw < 128 && (kh > sh || kw > sw) else { return 1 }
        return Swift.max(1, Swift.min(256 / hw, (n + workers(n) - 1) / workers(n)))
    }

    /// Calls `body(images, worker, scratch)` for runs of ``imagesPerProduct(_:)`` images, split across cores.
    func forEachRun(_ n: Int, scratch: [Int], dtype: DType, _ body: (Range<Int>, Int, Tensor) -> Void) {
        let batch = imagesPerProduct(n)
        forEachImage((n + batch - 1) / batch, scratch: scratch, dtype: dtype) { run, worker, buffer in
            body(run * batch..<Swift.min(n, run * batch + batch), worker, buffer)
        }
    }

    /// `shape`'s elements of a flat scratch buffer from `offset` on.
    static func part(of buffer: Tensor, at offset: Int, shape: [Int]) -> Tensor {
        buffer.reshaped([buffer.count]).slice(axis: 0, start: offset, end: offset + shape.reduce(1, *)).reshaped(shape)
    }

    /// The column buffers of `images` side by side, [C·kh·kw, images·Hout·Wout], at the start of `buffer`.
    func columns(of x: Tensor, images: Range<Int>, into buffer: Tensor) -> Tensor {
        let ld = images.count * hw, cols = Self.part(of: buffer, at: 0, shape: [ckk, ld])
        for (k, i) in images.enumerated() {
            im2col(x, image: i, rows: 0..<oh, into: cols.slice(axis: 1, start: k * hw, end: (k + 1) * hw), ld: ld)
        }
        return cols
    }

    /// The forward of ungrouped convolutions through runs of images side by side: [N, O, Hout·Wout].
    func batchedForward(_ x: Tensor, weight: Tensor) -> Tensor {
        let n = x.shape[0], o = outPerGroup, w = weight.contiguous().reshaped([o, ckk])
        let out = Tensor(empty: [n, o, hw], dtype: x.dtype)
        forEachRun(n, scratch: [(ckk + o) * imagesPerProduct(n) * hw], dtype: x.dtype) { images, _, scratch in
            let cols = columns(of: x, images: images, into: scratch)
            let product = Self.part(of: scratch, at: cols.count, shape: [o, images.count * hw])
            Tensor.gemm(w, cols, into: product, beta: 0, serial: true)
            out.slice(axis: 0, start: images.lowerBound, end: images.upperBound)
                .assign(product.reshaped([o, images.count, hw]).permuted([1, 0, 2]))
        }
        return out
    }

    /// ``columnBackward(_:_:weight:inputGradient:rowBlock:)`` through runs of images side by side.
    func batchedBackward(_ x: Tensor, _ gy: Tensor, weight: Tensor, inputGradient: Bool)
        -> (input: Tensor?, weight: Tensor) {
        let n = x.shape[0], o = outPerGroup, batch = imagesPerProduct(n)
        let wT = weight.contiguous().reshaped([o, ckk]).transposed(), gyImages = gy.reshaped([n, o, hw])
        let gx = inputGradient ? Tensor(empty: x.shape, dtype: x.dtype, zeroed: true) : nil
        let gwPartials = Tensor(empty: [workers((n + batch - 1) / batch), o, ckk], dtype: x.dtype, zeroed: true)
        forEachRun(n, scratch: [(2 * ckk + o) * batch * hw], dtype: x.dtype) { images, worker, scratch in
            let ld = images.count * hw, cols = columns(of: x, images: images, into: scratch)
            let gyRun = Self.part(of: scratch, at: cols.count, shape: [o, ld])
            gyRun.reshaped([o, images.count, hw])
                .assign(gyImages.slice(axis: 0, start: images.lowerBound, end: images.upperBound).permuted([1, 0, 2]))
            Tensor.gemm(gyRun, cols.transposed(), into: gwPartials.select(axis: 0, index: worker), beta: 1,
                        serial: true)
            guard let gx else { return }
            let gCols = Self.part(of: scratch, at: cols.count + gyRun.count, shape: [ckk, ld])
            Tensor.gemm(wT, gyRun, into: gCols, beta: 0, serial: true)
            for (k, i) in images.enumerated() {
                col2im(gCols.slice(axis: 1, start: k * hw, end: (k + 1) * hw), ld: ld, rows: 0..<oh,
                       into: gx.select(axis: 0, index: i))
            }
        }
        return (gx, gwPartials.sum(axes: [0]).reshaped(weight.shape))
    }

    /// Output rows per block of the backward's column buffers: blocks of about 256 KB that stay in L2 between
    /// im2col and the products, where a whole image's buffer is larger and ∂W's accumulator small (ResNet-50's
    /// 7×7/2 stem: 7.4 MB an image went to memory and back; its ∂W at batch 8, 8.6 → 7.6 ms). Each block reads
    /// and writes the accumulator once, so large ones keep the whole image (ResNet-50's 3×3/2 at 56², 128 × 1152
    /// floats: 5.5 → 5.8 ms in 280-column blocks). At least 256 columns a block, the products' K.
    var backwardRowBlock: Int {
        let rowsPerBlock = Swift.max(1, 65_536 / Swift.max(1, c * kh * kw * ow))
        guard !pointwise && outPerGroup * c * kh * kw <= 16_384 && rowsPerBlock < oh else { return oh }
        return Swift.min(oh, Swift.max(rowsPerBlock, (256 + ow - 1) / ow))
    }

    /// The first [groups, C/groups·kh·kw, rows·Wout] elements of a scratch buffer.
    func columnBlock(_ buffer: Tensor, rows: Int) -> Tensor {
        Self.part(of: buffer, at: 0, shape: [groups, ckk, rows * ow])
    }

    /// Rows `rows` (all by default) of the column buffer of image `i` of `x` as [groups, C/groups·kh·kw, rows·Wout]:
    /// written into `buffer`, or a view of the image when pointwise (all rows).
    func columns(of x: Tensor, image i: Int, rows: Range<Int>? = nil, into buffer: Tensor) -> Tensor {
        if pointwise { return x.select(axis: 0, index: i).reshaped(columnShape) }
        let rows = rows ?? 0..<oh
        let cols = columnBlock(buffer, rows: rows.count)
        im2col(x, image: i, rows: rows, into: cols, ld: rows.count * ow)
        return cols
    }

    /// Adds rows `rows` (all by default) of a column buffer back onto its image (the adjoint of
    /// ``columns(of:image:rows:into:)``).
    func scatter(_ cols: Tensor, rows: Range<Int>? = nil, into image: Tensor) {
        let rows = rows ?? 0..<oh
        col2im(cols, ld: rows.count * ow, rows: rows, into: image)
    }

    /// im2col of rows `rows` of image `i` into the buffer that starts where `columns` does, its rows `ld` apart.
    func im2col(_ x: Tensor, image i: Int, rows: Range<Int>, into columns: Tensor, ld: Int) {
        let image = x.select(axis: 0, index: i)
        var g = geometry
        if x.dtype == .float32 {
            tessera_im2col_f32(&g, rows.lowerBound, rows.count, image.pointer(as: Float.self),
                               columns.pointer(as: Float.self), ld)
        } else {
            tessera_im2col_f64(&g, rows.lowerBound, rows.count, image.pointer(as: Double.self),
                               columns.pointer(as: Double.self), ld)
        }
    }

    /// col2im of rows `rows` from the buffer that starts where `columns` does, its rows `ld` apart, onto `image`.
    func col2im(_ columns: Tensor, ld: Int, rows: Range<Int>, into image: Tensor) {
        var g = geometry
        if columns.dtype == .float32 {
            tessera_col2im_f32(&g, rows.lowerBound, rows.count, columns.pointer(as: Float.self), ld,
                               image.pointer(as: Float.self))
        } else {
            tessera_col2im_f64(&g, rows.lowerBound, rows.count, columns.pointer(as: Double.self), ld,
                               image.pointer(as: Double.self))
        }
    }

    /// One image's sizes as CKernels' im2col and col2im take them.
    var geometry: TesseraConvGeometry {
        TesseraConvGeometry(c: c, h: h, w: w, kh: kh, kw: kw, sh: sh, sw: sw, ph: ph, pw: pw, dh: dh, dw: dw,
                            oh: oh, ow: ow)
    }

    // MARK: Shifted GEMMs (stride 1, no dilation, no groups)

    /// Stride-1 convolutions skip im2col: with the image zero-padded into a [C, Hp·Wp] buffer, tap
    /// (i, j) of the kernel is one GEMM of W[:, :, i, j] with that buffer read from offset i·Wp + j
    /// as a [C, Hout·Wp] matrix (row stride Hp·Wp). The kh·kw products accumulate into an output
    /// of padded width Wp whose last Wp − Wout columns (wrapped reads) are dropped. Same GEMM work
    /// as im2col's one product, without writing and re-reading a column buffer 9× the image, and
    /// the backward pass needs no col2im scatter (ResNet's 64-channel 56×56 layer, batch 8, fwd+bwd:
    /// 31.3 → 26.5 ms). Used while the dropped columns cost at most a quarter of the work.
    ///
    /// Stride 2 takes the same path on the image split into its stride phases (below): ResNet's
    /// 3×3/2 layers and 7×7/2 stem (batch 8: 128 channels at 56×56 fwd+bwd 28.6 → 21.3 ms, the
    /// stem 25.2 → 17.8 ms), not its 1×1/2 downsampling (one tap and three phases unread).
    var shifts: Bool {
        guard groups == 1 && dh == 1 && dw == 1 && !pointwise else { return false }
        if sh == 1 && sw == 1 { return 8 * pw <= ow }
        return sh <= 2 && sw <= 2 && kh >= sh && kw >= sw && 8 * (sourceWidth - ow) <= ow
    }
    /// Shifted products for stride 1, and for float32 1×1 convolutions too where AVX-512's fused loop
    /// runs and its 48-pixel tiles are at least 80% full: then it outpaces a K = C GEMM with
    /// OpenBLAS's AVX2 kernels (batch 8, 256 → 64 at 56×56: 3.8 → 2.5 ms; 1024 → 256 at 14×14:
    /// 3.5 → 2.3 ms); at 7×7 (49 pixels in two tiles, the second nearly empty) the GEMM is as fast
    /// (2048 → 512: 3.9–4.0 against 4.0–4.1 ms). AVX2's loop loses there (256 → 64 at 56×56 fwd+bwd
    /// 10.6 → 19.4 ms: its ∂W tile covers 16 input channels, so it streams the image 16 times as often).
    func usesShifts(_ dtype: DType, level: KernelLevel = .current) -> Bool {
        let tile = level.kernels.conv_tile_pixels, tiles = (hw + tile - 1) / max(tile, 1)
        return shifts || (pointwise && groups == 1 && dtype == .float32 && fusesTaps(level) && level >= .avx512
                          && 5 * hw >= 4 * tile * tiles)
    }

    /// Whether `level`'s fused loop replaces the per-tap GEMMs: on AVX-512 and AVX2. (The AVX2 loop
    /// lost to the GEMMs until its accumulators were named variables — clang had kept seven of them on
    /// the stack; compare's ResNet train step at the AVX2 level on the Zen 5: 45.5 → 30–38 ms.)
    func fusesTaps(_ level: KernelLevel) -> Bool {
        level.kernels.shifted_conv != nil && level >= .avx2
    }

    /// Scratch for `buffers` column buffers of `rows` output rows (all by default) per worker (none for 1×1: the
    /// image is its own).
    func columnScratch(buffers: Int, rows: Int? = nil) -> [Int] {
        pointwise ? [buffers, 0] : [buffers, groups, ckk, (rows ?? oh) * ow]
    }
    /// The source the taps read, per channel: the zero-padded image [Hp, Wp] split into its sh·sw
    /// stride phases, phase (a, b) holding padded pixels (sh·u + a, sw·v + b) as [Hq, Wq]. Tap
    /// (i, j) then reads phase (i mod sh, j mod sw) from (i / sh, j / sw), and every tap is a
    /// stride-1 read of Hout rows of width Wq, as in the unstrided case (one phase: the padded image).
    var sourceWidth: Int { (w + 2 * pw + sw - 1) / sw }
    var phasePlane: Int { (h + 2 * ph + sh - 1) / sh * sourceWidth }
    var sourcePlane: Int { sh * sw * phasePlane }
    /// The source of all channels, plus kw elements that the last channel's wrapped reads touch.
    var sourceCount: Int { c * sourcePlane + kw }

    /// The weight [O, C, kh, kw] as taps [kh·kw, O, C].
    func taps(of weight: Tensor) -> Tensor {
        weight.permuted([2, 3, 0, 1]).contiguous().reshaped([kh * kw, weight.shape[0], c])
    }

    /// Cross-correlation of x [N, C, H, W] with taps [kh·kw, O, C]: [N, O, Hout, Wout].
    /// `fused` overrides ``fusesTaps(_:)`` (tests).
    func shiftedCorrelation(_ x: Tensor, taps: Tensor, level: KernelLevel = .current, fused: Bool? = nil) -> Tensor {
        let out = Tensor(empty: [x.shape[0], taps.shape[1], oh, ow], dtype: x.dtype)
        shiftedCorrelation(x, taps: taps, level: level, fused: fused) { i, wide in
            copyRows(from: wide, widthFrom: sourceWidth, into: out.select(axis: 0, index: i),
                     widthTo: ow, width: ow, zeroTail: false)
        }
        return out
    }

    /// The correlation above, handing each image's result to `store` as it leaves the kernel: image i's
    /// [O, Hout·Wp] rows at the padded width Wp (their last Wp − Wout columns are wrapped reads).
    func shiftedCorrelation(_ x: Tensor, taps: Tensor, level: KernelLevel = .current, fused: Bool? = nil,
                            store: (Int, Tensor) -> Void) {
        let (n, o) = (x.shape[0], taps.shape[1])
        let kernel = x.dtype == .float32 && (fused ?? fusesTaps(level)) ? level.kernels.shifted_conv : nil
        let packed = kernel != nil ? packedTaps(taps, for: level.kernels) : nil
        let offsets = tapOffsets
        forEachImage(n, scratch: [sourceCount + o * oh * sourceWidth], dtype: x.dtype) { i, _, scratch in
            pad(x.select(axis: 0, index: i), into: scratch)
            let wide = wideOutput(scratch, channels: o)
            if let packed, let kernel {
                kernel(packed.pointer(as: Float.self), scratch.pointer(as: Float.self), wide.pointer(as: Float.self),
                       kh * kw, o, c, oh * sourceWidth, sourcePlane, offsets)
            } else {
                for t in 0..<(kh * kw) {
                    Tensor.gemm(taps.select(axis: 0, index: t), tap(t, of: scratch), into: wide,
                                beta: t == 0 ? 0 : 1, serial: true)
                }
            }
            store(i, wide)
        }
    }

    /// Taps [T, O, C] in the packed layout of a level's fused kernel.
    private func packedTaps(_ taps: Tensor, for kernels: TesseraKernels) -> Tensor {
        let (t, o) = (taps.shape[0], taps.shape[1])
        let block = kernels.conv_block_channels.map { $0(o) } ?? 1
        let packed = Tensor(empty: [(o + block - 1) / block * t * c * block], dtype: .float32)
        let source = taps.contiguous()
        tessera_pack_conv_taps_f32(source.pointer(as: Float.self), t, o, c, block, kernels.conv_taps_inner,
                                   packed.pointer(as: Float.self))
        return packed
    }

    /// ∂W of a stride-1 convolution as taps [kh·kw, O, C] = Σ over images of gY (widened to Wp
    /// with zero columns) · tapᵀ.
    /// With the fused kernel the padded image is transposed to [rows, C] after the widened gY, so
    /// that ∂W's 64 input channels are one vector per pixel (CKernels' weight-gradient loop).
    func shiftedWeightGradient(_ x: Tensor, _ gy: Tensor, level: KernelLevel = .current, fused: Bool? = nil) -> Tensor {
        let (n, o) = (x.shape[0], gy.shape[1])
        let kernel = x.dtype == .float32 && (fused ?? fusesTaps(level)) ? level.kernels.shifted_conv_weight_grad : nil
        let transposedRows = sourcePlane + kw
        let partials = Tensor(empty: [workers(n), kh * kw, o, c], dtype: x.dtype, zeroed: true)
        let length = oh * sourceWidth  // the kernel's scratch: 24 output channels' gradients interleaved
        let scratchCount = sourceCount + o * length + (kernel != nil ? transposedRows * c + 24 * length : 0)
        let offsets = tapOffsets
        forEachImage(n, scratch: [scratchCount], dtype: x.dtype) { i, worker, scratch in
            let wide = wideOutput(scratch, channels: o)
            copyRows(from: gy.select(axis: 0, index: i), widthFrom: ow, into: wide,
                     widthTo: sourceWidth, width: ow, zeroTail: true)
            let gw = partials.select(axis: 0, index: worker)
            if let kernel {
                let transposed = scratch.pointer(as: Float.self) + sourceCount + o * oh * sourceWidth
                tessera_pad_transpose_f32(x.select(axis: 0, index: i).pointer(as: Float.self), c, h, w, ph, pw,
                                          transposedRows, transposed)
                kernel(wide.pointer(as: Float.self), transposed, gw.pointer(as: Float.self), kh * kw, o, c,
                       length, offsets, transposed + transposedRows * c)
                return
            }
            pad(x.select(axis: 0, index: i), into: scratch)
            for t in 0..<(kh * kw) {
                Tensor.gemm(wide, tap(t, of: scratch).transposed(), into: gw.select(axis: 0, index: t),
                            beta: 1, serial: true)
            }
        }
        return partials.sum(axes: [0])
    }

    /// ∂x of a strided convolution [N, C, H, W]: phase (a, b) of the padded image met the taps
    /// (i, j) with i mod sh = a, j mod sw = b, at (i / sh, j / sw), so its gradient is the full
    /// stride-1 correlation of gY with those taps transposed and flipped; the phases' gradients
    /// are then interleaved back and the padding dropped.
    func phaseInputGradient(_ gy: Tensor, weight: Tensor) -> Tensor {
        let (n, o) = (gy.shape[0], gy.shape[1])
        let gx = Tensor(empty: [n, c, h, w], dtype: gy.dtype, zeroed: true)
        let taps = taps(of: weight)
        for a in 0..<sh {
            for b in 0..<sw {
                let (ka, kb) = phaseKernelSize(a, b)
                let (rows, columns) = (oh + ka - 1, ow + kb - 1)
                let back = ConvLayout(input: gy.shape, weight: [c, o, ka, kb],
                                      geometry: Conv2dGeometry(padding: (ka - 1, kb - 1)), output: (rows, columns))
                // Phase pixel (u, v) is padded pixel (sh·u + a, sw·v + b), image pixel that minus the padding.
                let (u0, v0) = ((ph - a + sh - 1) / sh, (pw - b + sw - 1) / sw)
                let u1 = Swift.min(rows, (h + ph - a + sh - 1) / sh),
                    v1 = Swift.min(columns, (w + pw - b + sw - 1) / sw)
                guard u1 > u0 && v1 > v0 else { continue }
                let (r0, c0) = (sh * u0 + a - ph, sw * v0 + b - pw)
                // Each image's phase goes straight from the kernel's rows to its pixels of ∂x (the phases
                // own disjoint pixels), without a phase tensor and a strided copy of it.
                back.shiftedCorrelation(gy, taps: flippedTaps(taps, phase: (a, b))) { i, wide in
                    interleave(wide, width: back.sourceWidth, rows: u0..<u1, columns: v0..<v1,
                               into: gx.select(axis: 0, index: i), at: (r0, c0))
                }
            }
        }
        return gx
    }

    /// Writes rows `rows`, columns `columns` of each channel's [rows · width] block of `wide` onto `image`
    /// [C, H, W] from (r0, c0) on, sh rows and sw columns apart.
    private func interleave(_ wide: Tensor, width: Int, rows: Range<Int>, columns: Range<Int>, into image: Tensor,
                            at origin: (r0: Int, c0: Int)) {
        let plane = wide.count / c
        func run<T: FloatElement>(_ s: UnsafeMutablePointer<T>, _ d: UnsafeMutablePointer<T>) {
            for channel in 0..<c {
                for (k, u) in rows.enumerated() {
                    let source = s + channel * plane + u * width + columns.lowerBound
                    let target = d + (channel * h + origin.r0 + sh * k) * w + origin.c0
                    for v in 0..<columns.count { target[sw * v] = source[v] }
                }
            }
        }
        if wide.dtype == .float32 { run(wide.pointer(as: Float.self), image.pointer(as: Float.self)) } else {
            run(wide.pointer(as: Double.self), image.pointer(as: Double.self))
        }
    }

    /// How many kernel rows and columns fall on stride phase (a, b): those i ≡ a (mod sh), j ≡ b (mod sw).
    func phaseKernelSize(_ a: Int, _ b: Int) -> (Int, Int) { ((kh - a + sh - 1) / sh, (kw - b + sw - 1) / sw) }

    /// The taps of stride phase (a, b) — kernel taps (sh·i′ + a, sw·j′ + b) — transposed to
    /// [C, O] and from last to first: the kernel of ∂x's correlation (all taps when unstrided).
    func flippedTaps(_ taps: Tensor, phase: (a: Int, b: Int)) -> Tensor {
        let (ka, kb) = phaseKernelSize(phase.a, phase.b)
        return Tensor.stack((0..<(ka * kb)).reversed().map { t in
            taps.select(axis: 0, index: (sh * (t / kb) + phase.a) * kw + sw * (t % kb) + phase.b).transposed()
        })
    }

    /// Where tap t = i·kw + j starts reading the source: its phase, then row i / sh, column j / sw.
    func tapOffset(_ t: Int) -> Int {
        let (i, j) = (t / kw, t % kw)
        return ((i % sh) * sw + j % sw) * phasePlane + (i / sh) * sourceWidth + j / sw
    }
    var tapOffsets: [Int] { (0..<(kh * kw)).map(tapOffset) }

    /// Tap t of the padded image in `scratch`: a [C, Hout·Wp] view from its offset.
    private func tap(_ t: Int, of scratch: Tensor) -> Tensor {
        Tensor(storage: scratch.storage, dtype: scratch.dtype, shape: [c, oh * sourceWidth], strides: [sourcePlane, 1],
               offset: scratch.offset + tapOffset(t))
    }

    /// The [channels, Hout·Wp] output area after the padded image in `scratch`.
    private func wideOutput(_ scratch: Tensor, channels: Int) -> Tensor {
        Tensor(storage: scratch.storage, dtype: scratch.dtype, shape: [channels, oh * sourceWidth],
               strides: [oh * sourceWidth, 1], offset: scratch.offset + sourceCount)
    }

    /// Writes image [C, H, W] into the start of `scratch` as its source: zero-padded to
    /// [C, H + 2ph, W + 2pw], split into stride phases when strided.
    private func pad(_ image: Tensor, into scratch: Tensor) {
        var g = geometry
        if image.dtype == .float32 {
            tessera_pad_phases_f32(&g, image.pointer(as: Float.self), scratch.pointer(as: Float.self))
        } else {
            tessera_pad_phases_f64(&g, image.pointer(as: Double.self), scratch.pointer(as: Double.self))
        }
    }

    /// Copies `width` values of each row between layouts of row length `widthFrom` and `widthTo`
    /// (same number of rows: channels · Hout), zeroing the rest of each destination row if asked.
    private func copyRows(from src: Tensor, widthFrom: Int, into dst: Tensor,
                          widthTo: Int, width: Int, zeroTail: Bool) {
        let rows = src.count / widthFrom
        func run<T: FloatElement>(_ s: UnsafeMutablePointer<T>, _ d: UnsafeMutablePointer<T>) {
            for r in 0..<rows {
                (d + r * widthTo).update(from: s + r * widthFrom, count: width)
                if zeroTail { (d + r * widthTo + width).update(repeating: 0, count: widthTo - width) }
            }
        }
        if src.dtype == .float32 { run(src.pointer(as: Float.self), dst.pointer(as: Float.self)) } else {
            run(src.pointer(as: Double.self), dst.pointer(as: Double.self))
        }
    }
}
