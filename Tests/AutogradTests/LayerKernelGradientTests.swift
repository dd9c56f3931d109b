import Testing
@testable import Autograd
import Tensor
import TestSupport

/// Float64 gradient checks of the fused layer kernels' backward rules.
@Suite struct LayerKernelGradientTests {
    @Test func linearOnRank3InputWithAndWithoutBias() {
        expectGradients([randn([2, 3, 4], seed: 1), randn([5, 4], seed: 2), randn([5], seed: 3)]) {
            $0[0].linear(weight: $0[1], bias: $0[2])
        }
        expectGradients([randn([3, 4], seed: 4), randn([2, 4], seed: 5)]) { $0[0].linear(weight: $0[1]) }
    }

    /// LayerNorm into a Linear as one node (the normalised input recomputed in the backward), with and
    /// without the norm's affine parameters (`LayerNorm(affine:)`: both or neither) and the Linear's bias.
    @Test func layerNormLinear() {
        let x = randn([2, 3, 4], seed: 44), gamma = randn([4], seed: 45), beta = randn([4], seed: 46)
        let w = randn([5, 4], seed: 47), b = randn([5], seed: 48)
        expectGradients([x, gamma, beta, w, b]) {
            $0[0].layerNormLinear(normWeight: $0[1], normBias: $0[2], weight: $0[3], bias: $0[4])
        }
        expectGradients([x, w]) { $0[0].layerNormLinear(normWeight: nil, normBias: nil, weight: $0[1]) }
        let apart = Variable(x).layerNorm(weight: Variable(gamma), bias: Variable(beta))
            .linear(weight: Variable(w), bias: Variable(b))
        let fused = Variable(x).layerNormLinear(normWeight: Variable(gamma), normBias: Variable(beta),
                                                weight: Variable(w), bias: Variable(b))
        expectClose(fused.data, apart.data, atol: 1e-12, rtol: 1e-12)
    }

    /// GELU into a Linear as one node (GELU recomputed in the backward), erf and tanh forms, against
    /// finite differences and against the two ops apart.
    @Test(arguments: [false, true])
    func geluLinear(approximate: Bool) {
        let x = randn([2, 3, 4], seed: 41), w = randn([5, 4], seed: 42), b = randn([5], seed: 43)
        expectGradients([x, w, b]) { $0[0].geluLinear(weight: $0[1], bias: $0[2], approximate: approximate) }
        expectGradients([x, w]) { $0[0].geluLinear(weight: $0[1], approximate: approximate) }
        let fused = x.gelu(approximate: approximate).reshaped([6, 4]).matmul(w.transposed()) + b
        let apart = Variable(x).gelu(approximate: approximate).linear(weight: Variable(w), bias: Variable(b))
        expectClose(fused.reshaped([2, 3, 5]), apart.data, atol: 1e-12, rtol: 1e-12)
    }

    /// Weight norm into a Linear as one node, against finite differences (g free, as weight_norm trains it), and
    /// bit for bit against the composed ops (values and gradients, float64 and float32): it does their arithmetic.
    @Test func weightNormLinear() {
        let x = randn([2, 3, 4], seed: 44), v = randn([5, 4], seed: 45), g = randn([5, 1], seed: 46)
        expectGradients([x, g, v]) { $0[0].weightNormLinear(weightG: $0[1], weightV: $0[2]) }
        // 4099 rows: two of the backward's row blocks, the second partial.
        let wide = [randn([3, 4], seed: 48), randn([4099, 1], seed: 49), randn([4099, 4], seed: 50)]
        for (tensors, dtype) in [([x, g, v], DType.float64), ([x, g, v], .float32), (wide, .float32)] {
            let inputs = tensors.map { Variable($0.converted(to: dtype), requiresGrad: true) }
            let fused = inputs[0].weightNormLinear(weightG: inputs[1], weightV: inputs[2])
            let composed = inputs[0].linear(weight: inputs[2] * (inputs[1] / inputs[2].norm(2, axes: [1],
                                                                                            keepDim: true)))
            expectClose(fused.data, composed.data, atol: 0, rtol: 0)
            let probe = Variable(randn(fused.shape, seed: 47).converted(to: dtype))
            let a = Autograd.grad(of: [fused], with: inputs, gradients: [probe])
            let b = Autograd.grad(of: [composed], with: inputs, gradients: [probe])
            for (u, w) in zip(a, b) { expectClose(u.data, w.data, atol: 0, rtol: 0) }
        }
    }

    @Test(arguments: [
        Conv2dGeometry(),
        Conv2dGeometry(stride: (2, 1), padding: (1, 2)),
        Conv2dGeometry(padding: (2, 2), dilation: (2, 2)),
        Conv2dGeometry(stride: (2, 2), padding: (1, 1), groups: 2),
    ])
    func conv2d(_ geometry: Conv2dGeometry) {
        let x = randn([2, 4, 6, 5], seed: 6), w = randn([4, 4 / geometry.groups, 3, 3], seed: 7),
            b = randn([4], seed: 8)
        expectGradients([x, w, b]) { $0[0].conv2d(weight: $0[1], bias: $0[2], geometry: geometry) }
    }

    /// Wide enough that stride-1 convolutions take the shifted-GEMM path (rectangular kernel, uneven padding).
    @Test(arguments: [(1, 2), (0, 0), (2, 4)])
    func shiftedConvolution(_ padding: (Int, Int)) {
        let x = randn([2, 3, 7, 18], seed: 11), w = randn([4, 3, 3, 5], seed: 12), b = randn([4], seed: 13)
        expectGradients([x, w, b]) {
            $0[0].conv2d(weight: $0[1], bias: $0[2], geometry: Conv2dGeometry(padding: padding))
        }
    }

    /// Wide enough that stride 2 takes the phase-split path (odd and even sizes, one axis strided).
    @Test(arguments: [((2, 2), (1, 1), 7, 17), ((2, 2), (1, 1), 8, 18), ((2, 1), (0, 1), 5, 17)])
    func stridedShiftedConvolution(_ stride: (Int, Int), _ padding: (Int, Int), _ h: Int, _ w: Int) {
        let x = randn([2, 16, h, w], seed: 21), weight = randn([3, 16, 3, 3], seed: 22), b = randn([3], seed: 23)
        expectGradients([x, weight, b]) {
            $0[0].conv2d(weight: $0[1], bias: $0[2], geometry: Conv2dGeometry(stride: stride, padding: padding))
        }
    }

    @Test func pointwiseConvolutionAndNonContiguousInput() {
        let x = randn([3, 2, 4, 5], seed: 9).permuted([1, 0, 2, 3])  // [2, 3, 4, 5], not contiguous
        expectGradients([x, randn([4, 3, 1, 1], seed: 10)]) { $0[0].conv2d(weight: $0[1]) }
    }

    @Test func pooling() {
        // Distinct values so max pooling has no ties for the finite differences to straddle.
        let x = (Tensor.randperm(2 * 3 * 7 * 6, generator: RandomGenerator(seed: 11)).converted(to: .float64) * 0.1)
            .reshaped([2, 3, 7, 6])
        let rows = PoolWindows.sliding(size: 7, kernel: 3, stride: 2, padding: 1)
        let columns = PoolWindows.sliding(size: 6, kernel: 3, stride: 2, padding: 1)
        expectGradients([x]) { $0[0].maxPool2d(rows: rows, columns: columns) }
        expectGradients([x]) { $0[0].avgPool2d(rows: rows, columns: columns) }
        expectGradients([x]) { $0[0].avgPool2d(rows: rows, columns: columns, countIncludePad: false) }
        expectGradients([x]) {
            $0[0].avgPool2d(rows: .adaptive(size: 7, output: 3), columns: .adaptive(size: 6, output: 4))
        }
        // ceil_mode's partial last windows and asymmetric padding.
        let ceilRows = PoolWindows.sliding(size: 7, kernel: 3, stride: 2, padding: 1, ceilMode: true)
        let asymmetric = PoolWindows.sliding(size: 6, kernel: 2, stride: 2, padding: (before: 1, after: 0))
        expectGradients([x]) { $0[0].maxPool2d(rows: ceilRows, columns: asymmetric) }
        expectGradients([x]) { $0[0].avgPool2d(rows: ceilRows, columns: asymmetric, countIncludePad: false) }
        let dilated = PoolWindows.sliding(size: 7, kernel: 2, stride: 1, padding: 1, dilation: 3)
        expectGradients([x]) { $0[0].maxPool2d(rows: dilated, columns: asymmetric) }
    }

    @Test func layerNorm() {
        let x = randn([3, 4, 6], seed: 12), w = randn([6], seed: 13), b = randn([6], seed: 14)
        expectGradients([x, w, b]) { $0[0].layerNorm(weight: $0[1], bias: $0[2]) }
        expectGradients([x]) { $0[0].layerNorm(weight: nil, bias: nil) }
        expectGradients([x, randn([4, 6], seed: 15), randn([4, 6], seed: 16)]) {
            $0[0].layerNorm(normalizedRank: 2, weight: $0[1], bias: $0[2], epsilon: 1e-6)
        }
    }

    /// The float32 kernels (a CKernels clone) agree with the float64 ones checked above, with and
    /// without weights, on rows long enough for the vector loops and with a tail (n = 37).
    @Test func layerNormFloat32MatchesFloat64() {
        let x = randn([300, 37], seed: 17), g = randn([300, 37], seed: 18), w = randn([37], seed: 19),
            b = randn([37], seed: 20)
        for (weight, bias) in [(w, b), (w, nil), (nil, nil)] as [(Tensor?, Tensor?)] {
            let ref = x.layerNorm(weight: weight, bias: bias)
            let f32 = x.converted(to: .float32).layerNorm(weight: weight?.converted(to: .float32),
                                                          bias: bias?.converted(to: .float32))
            expectClose(f32.output.converted(to: .float64), ref.output, atol: 1e-5)
            expectClose(f32.rstd.converted(to: .float64), ref.rstd, atol: 1e-5)
            let gradRef = Tensor.layerNormBackward(gradient: g, input: x, mean: ref.mean, rstd: ref.rstd,
                                                   weight: weight)
            let grad32 = Tensor.layerNormBackward(gradient: g.converted(to: .float32),
                                                  input: x.converted(to: .float32), mean: f32.mean, rstd: f32.rstd,
                                                  weight: weight?.converted(to: .float32))
            expectClose(grad32.input.converted(to: .float64), gradRef.input, atol: 1e-4)
            expectClose(grad32.weight.converted(to: .float64), gradRef.weight, atol: 1e-3)
            expectClose(grad32.bias.converted(to: .float64), gradRef.bias, atol: 1e-3)
        }
    }

    @Test func batchNorm() {
        let x = randn([4, 3, 2, 5], seed: 24), w = randn([3], seed: 25), b = randn([3], seed: 26)
        expectGradients([x, w, b]) { $0[0].batchNorm(weight: $0[1], bias: $0[2]).output }
        expectGradients([x, w, b]) { $0[0].batchNorm(weight: $0[1], bias: $0[2], followedByReLU: true).output }
        let shortcut = randn([4, 3, 2, 5], seed: 44)
        for relu in [false, true] {
            expectGradients([x, shortcut, w, b]) {
                $0[0].batchNorm(weight: $0[2], bias: $0[3], adding: $0[1], followedByReLU: relu).output
            }
        }
        expectGradients([randn([5, 3], seed: 27)]) { $0[0].batchNorm(weight: nil, bias: nil, epsilon: 1e-3).output }
        let mean = randn([3], seed: 28), variance = randn([3], seed: 29).abs() + 0.5
        expectGradients([x, w, b]) { $0[0].batchNorm(mean: mean, variance: variance, weight: $0[1], bias: $0[2]) }
        expectGradients([x, shortcut, w, b]) {
            $0[0].batchNorm(mean: mean, variance: variance, weight: $0[2], bias: $0[3], adding: $0[1],
                            followedByReLU: true)
        }
    }

    /// The float32 kernels (a CKernels clone) agree with the float64 ones checked above: batch and
    /// given statistics, with and without weights, spatial runs with a vector tail (n = 37), [N, C].
    /// SyncBatchNorm's rule with one process (the sum over processes is the identity): the same
    /// output as batch norm, and gradients that pass the finite-difference check. With a sum that
    /// doubles (two identical processes) the statistics, and so the output, are unchanged.
    @Test func synchronizedBatchNorm() {
        let (x, w, b) = (randn([4, 3, 2, 2], seed: 41), randn([3], seed: 42), randn([3], seed: 43))
        let plain = Variable(x).batchNorm(weight: Variable(w), bias: Variable(b)).output.data
        for sum in [{ (t: Tensor) in t }, { (t: Tensor) in t * 2 }] {
            let synced = Variable(x).batchNorm(weight: Variable(w), bias: Variable(b), sumOverProcesses: sum)
            #expect((synced.output.data - plain).abs().max().item() < 1e-12)
            #expect(synced.count == (sum(Tensor([1.0])).item() == 1 ? 16 : 32))
        }
        expectGradients([x, w, b]) { $0[0].batchNorm(weight: $0[1], bias: $0[2], sumOverProcesses: { $0 }).output }
    }

    @Test func batchNormFloat32MatchesFloat64() {
        let w = randn([6], seed: 30), b = randn([6], seed: 31), mean = randn([6], seed: 32),
            variance = randn([6], seed: 33).abs() + 0.5
        for shape in [[5, 6, 37], [40, 6]] {
            let x = randn(shape, seed: 34) * 3 + 2, g = randn(shape, seed: 35)
            let (x32, g32) = (x.converted(to: .float32), g.converted(to: .float32))
            for (weight, bias) in [(w, b), (nil, nil)] as [(Tensor?, Tensor?)] {
                let (w32, b32) = (weight?.converted(to: .float32), bias?.converted(to: .float32))
                let ref = x.batchNorm(weight: weight, bias: bias), f32 = x32.batchNorm(weight: w32, bias: b32)
                expectClose(f32.output.converted(to: .float64), ref.output, atol: 1e-5)
                expectClose(f32.variance.converted(to: .float64), ref.variance, atol: 1e-5, rtol: 1e-5)
                expectClose(x32.batchNorm(mean: mean.converted(to: .float32),
                                          variance: variance.converted(to: .float32), weight: w32,
                                          bias: b32).converted(to: .float64),
                            x.batchNorm(mean: mean, variance: variance, weight: weight, bias: bias), atol: 1e-5)
                for batchStatistics in [true, false] {
                    let (m, v) = batchStatistics ? (ref.mean, ref.variance) : (mean, variance)
                    let gradRef = Tensor.batchNormBackward(gradient: g, input: x, mean: m, variance: v, weight: weight,
                                                           batchStatistics: batchStatistics)
                    let grad32 = Tensor.batchNormBackward(gradient: g32, input: x32, mean: m.converted(to: .float32),
                                                          variance: v.converted(to: .float32), weight: w32,
                                                          batchStatistics: batchStatistics)
                    expectClose(grad32.input.converted(to: .float64), gradRef.input, atol: 1e-4)
                    expectClose(grad32.weight.converted(to: .float64), gradRef.weight, atol: 1e-3)
                    expectClose(grad32.bias.converted(to: .float64), gradRef.bias, atol: 1e-3)
                }
            }
        }
    }

    @Test func scaledDotProductAttention() {
        let q = randn([2, 3, 5, 4], seed: 17), k = randn([2, 3, 6, 4], seed: 18), v = randn([2, 3, 6, 2], seed: 19)
        expectGradients([q, k, v]) { Variable.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2]).output }
        expectGradients([q, k, v]) {
            Variable.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], scale: 0.3).output
        }
    }

    @Test func crossEntropy() {
        let labels = Tensor([Int64(2), 0, 4, 4])
        expectGradients([randn([4, 5], seed: 20)]) { $0[0].crossEntropy(labels: labels) }
        expectGradients([randn([4, 5], seed: 21)]) { $0[0].crossEntropy(labels: labels, labelSmoothing: 0.2) }
        let soft = randn([4, 5], seed: 22).softmax(axis: -1)
        expectGradients([randn([4, 5], seed: 23)]) { $0[0].crossEntropy(targetDistribution: soft, labelSmoothing: 0.1) }
    }
}

@Suite struct PackedAttentionGradientTests {
    @Test func packedAttentionMatchesUnpackedAndChecks() {
        let qkv = randn([2, 5, 12], seed: 30)  // C = 4, 2 heads of 2
        expectGradients([qkv]) { $0[0].packedAttention(heads: 2).output }
        let parts = Variable(qkv).reshaped([2, 5, 3, 2, 2]).permuted([2, 0, 3, 1, 4])
        let reference = Variable.scaledDotProductAttention(query: parts.select(axis: 0, index: 0),
                                                           key: parts.select(axis: 0, index: 1),
                                                           value: parts.select(axis: 0, index: 2)).output
        expectClose(Variable(qkv).packedAttention(heads: 2).output.data,
                    reference.transposed(1, 2).reshaped([2, 5, 4]).data, atol: 1e-12)
    }

    /// The fused float32 kernel (one head at a time, scale as the products' alpha, output written into merged
    /// columns) against the composed primitives, forward and backward, on a view that starts inside its storage,
    /// under both GEMM backends.
    @Test(arguments: GEMMBackend.allCases)
    func packedAttentionFloat32MatchesComposedPrimitives(backend: GEMMBackend) {
        let stored = Tensor.randn([4, 17, 288], dtype: .float32, generator: RandomGenerator(seed: 31))
        let qkv = stored[1..<2], batch = stored[1...]  // batch 1 and 3, both starting past the storage's first row
        let upstream = Tensor.randn([3, 17, 96], dtype: .float32, generator: RandomGenerator(seed: 32))
        for input in [qkv, batch] {
            backend.run {
                let fused = Variable(input, requiresGrad: true), composed = Variable(input, requiresGrad: true)
                let (b, n) = (input.shape[0], input.shape[1])
                let out = fused.packedAttention(heads: 3).output
                let parts = composed.reshaped([b, n, 3, 3, 32]).permuted([2, 0, 3, 1, 4])
                let reference = Variable.composedAttention(parts.select(axis: 0, index: 0),
                                                           parts.select(axis: 0, index: 1),
                                                           parts.select(axis: 0, index: 2), bias: nil,
                                                           scale: 1 / 32.0.squareRoot())
                    .permuted([0, 2, 1, 3]).reshaped([b, n, 96])
                expectClose(out.data, reference.data, atol: 1e-5, rtol: 1e-4)
                let g = upstream[0..<b]
                out.backward(g)
                reference.backward(g)
                expectClose(fused.grad!, composed.grad!, atol: 1e-5, rtol: 1e-4)
            }
        }
    }

    /// "SAME" padding, asymmetric for an even kernel or a stride, against PyTorch's `padding="same"`
    /// and timm's `pad_same` (scripts/make_primitive_fixtures.py), and its gradients.
    @Test func convolutionWithSamePadding() {
        let fixture = Fixture("primitives.safetensors")
        let x = Variable(fixture.t("conv_x")), w = Variable(fixture.t("conv_w")), b = Variable(fixture.t("conv_b"))
        let stride1 = Conv2dPadding.same(height: 7, width: 6, kernel: (4, 3))
        #expect(stride1 == Conv2dPadding(top: 1, bottom: 2, left: 1, right: 1))
        expectClose(x.conv2d(weight: w, bias: b, padding: stride1).data, fixture.t("conv_same_s1"), atol: 1e-12)
        let stride2 = Conv2dPadding.same(height: 7, width: 6, kernel: (4, 3), stride: (2, 2))
        let y = x.conv2d(weight: w, bias: b, padding: stride2, geometry: Conv2dGeometry(stride: (2, 2)))
        expectClose(y.data, fixture.t("conv_same_s2"), atol: 1e-12)
        expectGradients([randn([1, 2, 5, 4], seed: 40), randn([3, 2, 2, 3], seed: 41)]) {
            $0[0].conv2d(weight: $0[1], padding: Conv2dPadding(top: 0, bottom: 1, left: 2, right: 1))
        }
    }
}
