import Testing
@testable import Tensor

/// Float32 stride-1 convolutions at every kernel level this CPU runs (the fused loop at AVX-512,
/// one GEMM per tap at AVX2 and baseline by default) against the same convolution in float64,
/// forward and both gradients, at sizes that leave partial tiles: output channels not a multiple
/// of 8, rows not a multiple of 48 pixels; and a 1×1 convolution of 96 pixels (full tiles: fused
/// forward on AVX-512, GEMM backward). Each level's fused loops, AVX2's included, are checked
/// against the per-tap GEMMs below.
@Suite struct ConvolutionTests {
    @Test(arguments: [(3, 5, 11, 9, 13, 3, 3, 1, 1), (4, 7, 16, 6, 20, 3, 5, 1, 2), (1, 64, 64, 12, 12, 3, 3, 1, 1),
                      (2, 70, 13, 8, 12, 1, 1, 0, 0)])
    func float32MatchesFloat64(_ n: Int, _ c: Int, _ o: Int, _ h: Int, _ w: Int, _ kh: Int, _ kw: Int,
                               _ ph: Int, _ pw: Int) {
        expectFloat32MatchesFloat64(n, c, o, h, w, kh, kw, Conv2dGeometry(padding: (ph, pw)))
    }

    /// Stride 2 through the stride phases (ResNet's 3×3/2 with odd and even inputs, a 3×2 kernel
    /// strided in one axis only, the sizes of the float64 gradient checks, a 3-channel 7×7/2 stem),
    /// checked to take that path.
    @Test(arguments: [(2, 16, 11, 14, 16, 3, 3, 2, 2, 1, 1), (3, 20, 9, 13, 17, 3, 3, 2, 2, 1, 1),
                      (2, 16, 8, 9, 12, 3, 2, 2, 1, 1, 0), (2, 16, 3, 7, 17, 3, 3, 2, 2, 1, 1),
                      (2, 16, 3, 8, 18, 3, 3, 2, 2, 1, 1), (2, 16, 3, 5, 17, 3, 3, 2, 1, 0, 1),
                      (2, 3, 8, 9, 50, 7, 7, 2, 2, 3, 3)])
    func stridedFloat32MatchesFloat64(_ n: Int, _ c: Int, _ o: Int, _ h: Int, _ w: Int, _ kh: Int, _ kw: Int,
                                      _ sh: Int, _ sw: Int, _ ph: Int, _ pw: Int) {
        let geometry = Conv2dGeometry(stride: (sh, sw), padding: (ph, pw))
        let output = (geometry.outputSize(h, kernel: kh, axis: 0), geometry.outputSize(w, kernel: kw, axis: 1))
        #expect(ConvLayout(input: [n, c, h, w], weight: [o, c, kh, kw], geometry: geometry, output: output).shifts)
        expectFloat32MatchesFloat64(n, c, o, h, w, kh, kw, geometry)
        // The strided output is the stride-1 output subsampled (an independent path).
        let x = Tensor.randn([n, c, h, w], generator: RandomGenerator(seed: 1)).converted(to: .float64)
        let weight = Tensor.randn([o, c, kh, kw], generator: RandomGenerator(seed: 2)).converted(to: .float64)
        let unstrided = x.conv2d(weight: weight, geometry: Conv2dGeometry(padding: (ph, pw)))
        expectClose(x.conv2d(weight: weight, geometry: geometry),
                    unstrided[.all, .all, .stride(by: sh), .stride(by: sw)].contiguous(), atol: 1e-10)
    }

    private func expectFloat32MatchesFloat64(_ n: Int, _ c: Int, _ o: Int, _ h: Int, _ w: Int, _ kh: Int, _ kw: Int,
                                             _ geometry: Conv2dGeometry) {
        for level in KernelLevel.supported {
            level.run { expectFloat32MatchesFloat64(n, c, o, h, w, kh, kw, geometry, level: level) }
        }
    }

    private func expectFloat32MatchesFloat64(_ n: Int, _ c: Int, _ o: Int, _ h: Int, _ w: Int, _ kh: Int, _ kw: Int,
                                             _ geometry: Conv2dGeometry, level: KernelLevel) {
        #expect(KernelLevel.current == level)
        let x = Tensor.randn([n, c, h, w], generator: RandomGenerator(seed: 1))
        let weight = Tensor.randn([o, c, kh, kw], generator: RandomGenerator(seed: 2))
        let y32 = x.conv2d(weight: weight, geometry: geometry)
        let (x64, w64) = (x.converted(to: .float64), weight.converted(to: .float64))
        let y64 = x64.conv2d(weight: w64, geometry: geometry)
        expectClose(y32.converted(to: .float64), y64, atol: 1e-4, rtol: 1e-4)
        let g = Tensor.randn(y32.shape, generator: RandomGenerator(seed: 3))
        let (gx32, gw32, _) = Tensor.conv2dBackward(gradient: g, input: x, weight: weight,
                                                    hasBias: false, geometry: geometry)
        let (gx64, gw64, _) = Tensor.conv2dBackward(gradient: g.converted(to: .float64), input: x64, weight: w64,
                                                    hasBias: false, geometry: geometry)
        expectClose(gx32!.converted(to: .float64), gx64!, atol: 1e-4, rtol: 1e-4)
        expectClose(gw32.converted(to: .float64), gw64, atol: 1e-3, rtol: 1e-4)
    }
}

/// Each vector level's fused loops (forward and ∂W) agree with the per-tap GEMMs on one layout with
/// partial tiles at both levels (6-, 8- and 12-channel blocks, 16-, 32- and 48-pixel rows), on the levels
/// this CPU runs (none off x86-64).
@Test(arguments: KernelLevel.supported.filter { $0 > .baseline })
func fusedConvolutionKernelMatchesPerTapGEMMs(level: KernelLevel) {
    #expect(level.kernels.shifted_conv != nil && KernelLevel.baseline.kernels.shifted_conv == nil)
    let x = Tensor.randn([2, 19, 10, 23], generator: RandomGenerator(seed: 4))
    let weight = Tensor.randn([13, 19, 3, 3], generator: RandomGenerator(seed: 5))
    let layout = ConvLayout(input: x.shape, weight: weight.shape,
                            geometry: Conv2dGeometry(padding: (1, 1)), output: (10, 23))
    #expect(layout.shifts)
    let taps = layout.taps(of: weight)
    expectClose(layout.shiftedCorrelation(x, taps: taps, level: level, fused: true),
                layout.shiftedCorrelation(x, taps: taps, level: .baseline), atol: 1e-4, rtol: 1e-5)
    // AVX-512's 12-channel blocks (12 × 32 tiles) for multiples of 12 that 8 does not divide, beside its 8-channel
    // ones (24 channels), with partial pixel tiles (10 rows of 25 padded pixels: 250 = 7 × 32 + 26 = 5 × 48 + 10).
    for outputs in [12, 36, 24] {
        let w = Tensor.randn([outputs, 19, 3, 3], generator: RandomGenerator(seed: 8))
        let taps = layout.taps(of: w)
        expectClose(layout.shiftedCorrelation(x, taps: taps, level: level, fused: true),
                    layout.shiftedCorrelation(x, taps: taps, level: .baseline), atol: 1e-4, rtol: 1e-5)
    }
    if level == .avx512 {
        #expect(level.kernels.conv_block_channels.map { [$0(12), $0(36), $0(24), $0(13)] } == [12, 12, 8, 8])
    }
    // By default the loops run on every vector level; 1×1 convolutions on AVX-512 only, when its pixel
    // tiles are at least 80% full.
    #expect(layout.fusesTaps(level) && !layout.fusesTaps(.baseline))
    func pointwise(_ h: Int, _ w: Int) -> ConvLayout {
        ConvLayout(input: [8, 16, h, w], weight: [8, 16, 1, 1], geometry: Conv2dGeometry(), output: (h, w))
    }
    #expect(pointwise(8, 12).usesShifts(.float32, level: level) == (level == .avx512))
    #expect(!pointwise(7, 7).usesShifts(.float32, level: level))
    #expect(!pointwise(8, 12).usesShifts(.float64, level: level))
    #expect(!pointwise(8, 12).usesShifts(.float32, level: .baseline))
    // ∂W at channel counts that take each AVX-512 tile (24 × 16, 12 × 32, 8 × 48 and 6 × 64 channels, and
    // 70 = 64 + 6) and AVX2's 16-channel groups, full and partial, with 7, 12, 13 and 30 output channels
    // (partial tiles of each height).
    for (channels, outputs) in [(3, 30), (12, 13), (12, 12), (5, 7), (24, 30), (40, 13), (70, 13)] {
        let xc = Tensor.randn([3, channels, 10, 23], generator: RandomGenerator(seed: 6))
        let wide = ConvLayout(input: xc.shape, weight: [outputs, channels, 3, 3],
                              geometry: Conv2dGeometry(padding: (1, 1)), output: (10, 23))
        let gy = Tensor.randn([3, outputs, 10, 23], generator: RandomGenerator(seed: 7))
        expectClose(wide.shiftedWeightGradient(xc, gy, level: level, fused: true),
                    wide.shiftedWeightGradient(xc, gy, level: .baseline), atol: 1e-3, rtol: 1e-5)
    }
}

/// CKernels' im2col against its definition, entry by entry, and col2im as its adjoint (⟨im2col x, c⟩ =
/// ⟨x, col2im c⟩), in both dtypes, for strides 1–3, dilation and padding wider than the kernel's reach, on rows
/// long enough for the stride-2 shuffles and their tails (37 columns) and rows shorter than one vector, and small
/// stride-1 images (the zero-padded plane's path: rows of 4 and 8 as fixed-size copies, and of 7 with padding past
/// the kernel's reach). The backward in blocks of rows equals the whole image's, and several small images side by
/// side in one product equal one product per image.
@Test(arguments: [(3, 9, 37, 3, 3, 2, 2, 1, 1, 1, 1), (2, 8, 36, 1, 1, 2, 2, 0, 0, 1, 1),
                  (2, 7, 40, 3, 5, 1, 3, 2, 2, 2, 1), (3, 5, 9, 3, 3, 2, 2, 1, 1, 1, 1),
                  (2, 11, 38, 2, 3, 2, 2, 3, 4, 1, 2), (3, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1),
                  (2, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1), (2, 6, 5, 3, 3, 1, 1, 3, 2, 1, 1)])
func columnBuffersFollowTheirDefinition(_ c: Int, _ h: Int, _ w: Int, _ kh: Int, _ kw: Int, _ sh: Int, _ sw: Int,
                                        _ ph: Int, _ pw: Int, _ dh: Int, _ dw: Int) {
    let geometry = Conv2dGeometry(stride: (sh, sw), padding: (ph, pw), dilation: (dh, dw))
    let (oh, ow) = (geometry.outputSize(h, kernel: kh, axis: 0), geometry.outputSize(w, kernel: kw, axis: 1))
    let layout = ConvLayout(input: [1, c, h, w], weight: [1, c, kh, kw], geometry: geometry, output: (oh, ow))
    for dtype in [DType.float32, .float64] {
        let x = Tensor.randn([1, c, h, w], generator: RandomGenerator(seed: 8)).converted(to: dtype)
        let cols = layout.columns(of: x, image: 0, into: Tensor(empty: layout.columnShape, dtype: dtype))
            .converted(to: .float64).reshaped([c, kh, kw, oh, ow])
        let image = x.converted(to: .float64).reshaped([c, h, w])
        var mismatches = 0
        for ci in 0..<c {
            for i in 0..<kh {
                for j in 0..<kw {
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            let (iy, ix) = (oy * sh - ph + i * dh, ox * sw - pw + j * dw)
                            let inside = iy >= 0 && iy < h && ix >= 0 && ix < w
                            let expected = inside ? image[element: ci, iy, ix] : 0
                            if cols[element: ci, i, j, oy, ox] != expected { mismatches += 1 }
                        }
                    }
                }
            }
        }
        #expect(mismatches == 0, "\(dtype)")
        let probe = Tensor.randn(layout.columnShape, generator: RandomGenerator(seed: 9)).converted(to: dtype)
        let back = Tensor(empty: [c, h, w], dtype: dtype, zeroed: true)
        layout.scatter(probe, into: back)
        let lhs = (cols * probe.converted(to: .float64).reshaped(cols.shape)).sum().item()
        let rhs = (image * back.converted(to: .float64)).sum().item()
        #expect(abs(lhs - rhs) <= 1e-4 * max(1, abs(lhs)), "\(dtype): \(lhs) against \(rhs)")
    }
    // The backward in blocks of output rows (1, 2 and 3 rows, the last block partial) equals the whole image's.
    let (x, gy) = (Tensor.randn([2, c, h, w], generator: RandomGenerator(seed: 10)),
                   Tensor.randn([2, 4, oh, ow], generator: RandomGenerator(seed: 11)))
    let weight = Tensor.randn([4, c, kh, kw], generator: RandomGenerator(seed: 12))
    let batch = ConvLayout(input: x.shape, weight: weight.shape, geometry: geometry, output: (oh, ow))
    let whole = batch.columnBackward(x, gy, weight: weight, inputGradient: true, rowBlock: oh)
    for block in [1, 2, 3] {
        let blocked = batch.columnBackward(x, gy, weight: weight, inputGradient: true, rowBlock: block)
        expectClose(blocked.weight, whole.weight, atol: 1e-4, rtol: 1e-5)
        expectClose(blocked.input!, whole.input!, atol: 1e-5, rtol: 1e-5)
    }
    let images = Tensor.randn([9, c, h, w], generator: RandomGenerator(seed: 13))
    let gyImages = Tensor.randn([9, 4, oh, ow], generator: RandomGenerator(seed: 14))
    let runs = ConvLayout(input: images.shape, weight: weight.shape, geometry: geometry, output: (oh, ow))
    #expect(runs.imagesPerProduct(9) > 1 || oh * ow >= 128 || (kh <= sh && kw <= sw))
    let sideBySide = runs.batchedBackward(images, gyImages, weight: weight, inputGradient: true)
    let perImage = runs.columnBackward(images, gyImages, weight: weight, inputGradient: true, rowBlock: oh)
    expectClose(sideBySide.weight, perImage.weight, atol: 1e-4, rtol: 1e-5)
    expectClose(sideBySide.input!, perImage.input!, atol: 1e-5, rtol: 1e-5)
    let forward = (0..<9).map { i in
        images.slice(axis: 0, start: i, end: i + 1).conv2d(weight: weight, geometry: geometry)
    }
    expectClose(runs.batchedForward(images, weight: weight).reshaped([9, 4, oh, ow]), Tensor.concat(forward, axis: 0),
                atol: 1e-5, rtol: 1e-5)
}
