import Testing
@testable import Tensor

/// The primitives log1p / expm1 / erf / logaddexp against PyTorch, and the cases an outside
/// operator suite found where Tessera differed from PyTorch and NumPy
/// (scripts/make_primitive_fixtures.py writes the reference values).
@Suite struct ConformanceTests {
    let fixture = Fixture("primitives.safetensors")

    @Test func newPrimitivesMatchPyTorch() {
        let x = fixture.t("x")
        expectClose(x.expm1(), fixture.t("expm1"), atol: 1e-300, rtol: 1e-15)
        expectClose(x.erf(), fixture.t("erf"), atol: 1e-16, rtol: 1e-15)
        expectClose(fixture.t("log1p_x").log1p(), fixture.t("log1p"), atol: 1e-300, rtol: 1e-15)
        let (a, b) = (fixture.t("logaddexp_a"), fixture.t("logaddexp_b"))
        expectClose(a.logaddexp(b), fixture.t("logaddexp"), atol: 1e-12, rtol: 1e-14)
        // float32 goes through the same element functions.
        expectClose(a.converted(to: .float32).logaddexp(b.converted(to: .float32)).converted(to: .float64),
                    fixture.t("logaddexp"), atol: 1e-4, rtol: 1e-6)
        // Near 0 exp(x) − 1 in float32 is 0; expm1 keeps the digits.
        let tiny = Tensor([Float(1e-8)])
        #expect(Swift.abs(tiny.expm1().item() / tiny.item() - 1) < 1e-6 && (tiny.exp() - 1).item() == 0)
        #expect(Swift.abs(tiny.log1p().item() / tiny.item() - 1) < 1e-6)
    }

    /// log-softmax of a row at the scale of 1e4: (x − m) − log Σ, not x − (m + log Σ), which
    /// rounds at the scale of m (−0.44043 instead of −0.44019). Cross-entropy goes through it.
    @Test func logSoftmaxOfLargeInputsKeepsItsDigits() {
        let logits = fixture.t("big_logits32")
        expectClose(logits.logSoftmax(axis: 1).converted(to: .float64),
                    fixture.t("big_log_softmax32").converted(to: .float64), atol: 2e-6, rtol: 0)
        expectClose(logits.converted(to: .float64).logSoftmax(axis: 1),
                    fixture.t("big_log_softmax64"), atol: 1e-12, rtol: 0)
        let softmaxOfShifted = (logits - 10000).converted(to: .float64).logSoftmax(axis: 1)
        expectClose(logits.logSoftmax(axis: 1).converted(to: .float64), softmaxOfShifted, atol: 2e-6, rtol: 0)
    }

    /// `torch.matmul` of two vectors is a 0-d tensor; vector × matrix and matrix × vector drop one axis.
    @Test func vectorProductsHaveNumPysShapes() {
        let u = Tensor([1.0, 2, 3]), v = Tensor([4.0, 5, 6])
        let dot = u.matmul(v)
        #expect(dot.shape == [] && dot.item() == 32)
        let m = Tensor([1.0, 2, 3, 4, 5, 6], shape: [3, 2])
        #expect(u.matmul(m).shape == [2] && m.transposed().matmul(u).shape == [2])
        #expect(Tensor.zeros([4, 2, 3], dtype: .float64).matmul(v).shape == [4, 2])
        #expect(u.matmul(Tensor.zeros([4, 3, 5], dtype: .float64)).shape == [4, 5])
    }

    /// `clamp(min: 3, max: 1)` is `min(max(x, 3), 1)`: all 1, as torch.clamp and the doc comment say.
    @Test func clampWithCrossedBoundsGivesTheUpperBound() {
        let x = fixture.t("clamp_x")
        expectClose(x.clamped(min: 3, max: 1), fixture.t("clamp_low3_high1"), atol: 0, rtol: 0)
        expectClose(x.converted(to: .float32).clamped(min: 3, max: 1).converted(to: .float64),
                    fixture.t("clamp_low3_high1"), atol: 0, rtol: 0)
        #expect(Tensor([Int64(-5), 0, 5]).clamped(min: 3, max: 1).scalars(as: Int64.self) == [1, 1, 1])
        #expect(Tensor([Double.nan]).clamped(min: 0, max: 1).item().isNaN)
    }

    /// max and min of a bool tensor stay bool (any / all), as in PyTorch; sums count in int64.
    @Test func boolExtremaStayBool() {
        let flags = Tensor([true, false, true, true, true, true], shape: [2, 3])
        #expect(flags.max().dtype == .bool && flags.min().dtype == .bool)
        #expect(flags.max(axes: [1]).scalars(as: Bool.self) == [true, true])
        #expect(flags.min(axes: [1]).scalars(as: Bool.self) == [false, true])
        let (values, indices) = flags.min(axis: 1)
        #expect(values.dtype == .bool && values.scalars(as: Bool.self) == [false, true]
                && indices.scalars(as: Int64.self) == [1, 0])
        #expect(flags.sum().dtype == .int64 && flags.sum().item() == 5)
    }

    /// Pooling with `ceil_mode` (a last partial window), with padding that differs before and after
    /// an axis (PyTorch: `F.pad`, then the pool), and dilated max pooling, against PyTorch.
    @Test func poolingWithCeilModeAndAsymmetricPadding() {
        let x = fixture.t("pool_x")
        let k3 = { (size: Int) in PoolWindows.sliding(size: size, kernel: 3, stride: 2, padding: 1, ceilMode: true) }
        #expect(k3(6).count == 4 && PoolWindows.sliding(size: 6, kernel: 3, stride: 2, padding: 1).count == 3)
        expectClose(x.maxPool2d(rows: k3(7), columns: k3(6)).output, fixture.t("pool_max_ceil_k3s2p1"), atol: 0)
        expectClose(x.avgPool2d(rows: k3(7), columns: k3(6), countIncludePad: true), fixture.t("pool_avg_ceil_k3s2p1"),
                    atol: 1e-15)
        expectClose(x.avgPool2d(rows: k3(7), columns: k3(6), countIncludePad: false),
                    fixture.t("pool_avg_ceil_nopad_k3s2p1"), atol: 1e-15)
        let k2 = { (size: Int) in PoolWindows.sliding(size: size, kernel: 2, stride: 2, padding: 0, ceilMode: true) }
        expectClose(x.maxPool2d(rows: k2(7), columns: k2(6)).output, fixture.t("pool_max_ceil_k2s2"), atol: 0)
        expectClose(x.avgPool2d(rows: k2(7), columns: k2(6), countIncludePad: true), fixture.t("pool_avg_ceil_k2s2"),
                    atol: 1e-15)
        let rows = PoolWindows.sliding(size: 7, kernel: 2, stride: 2, padding: (before: 0, after: 1))
        let columns = PoolWindows.sliding(size: 6, kernel: 2, stride: 2, padding: (before: 1, after: 0))
        expectClose(x.maxPool2d(rows: rows, columns: columns).output, fixture.t("pool_max_asym_k2s2"), atol: 0)
        expectClose(x.avgPool2d(rows: rows, columns: columns, countIncludePad: true), fixture.t("pool_avg_asym_k2s2"),
                    atol: 1e-15)
        // Dilated max pooling (taps 2 apart), with padding and with ceil_mode.
        let d3 = { (size: Int) in PoolWindows.sliding(size: size, kernel: 3, stride: 2, padding: 1, dilation: 2) }
        expectClose(x.maxPool2d(rows: d3(7), columns: d3(6)).output, fixture.t("pool_max_dilated_k3s2p1d2"), atol: 0)
        let d2 = { (size: Int) in
            PoolWindows.sliding(size: size, kernel: 2, stride: 2, padding: 0, ceilMode: true, dilation: 2)
        }
        expectClose(x.maxPool2d(rows: d2(7), columns: d2(6)).output, fixture.t("pool_max_dilated_ceil_k2s2d2"), atol: 0)
    }
}
