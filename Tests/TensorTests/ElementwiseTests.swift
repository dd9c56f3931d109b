import Testing
@testable import Tensor

@Suite struct ElementwiseTests {
    /// ReLU passes NaN through, as PyTorch does, so a diverged activation is not silently zeroed.
    @Test func reluKeepsNaN() {
        for dtype in [DType.float32, .float64] {
            let y = Tensor([-1.0, .nan, 2, 0]).converted(to: dtype).relu().doubles
            #expect(y[0] == 0 && y[1].isNaN && y[2] == 2 && y[3] == 0, "\(dtype): \(y)")
        }
    }

    @Test func handComputedArithmetic() {
        let a = Tensor([1.0, 2, 3]), b = Tensor([4.0, 5, 6])
        #expect((a + b).doubles == [5, 7, 9])
        #expect((a - b).doubles == [-3, -3, -3])
        #expect((a * b).doubles == [4, 10, 18])
        #expect((b / a).doubles == [4, 2.5, 2])
        #expect((2.0 - a).doubles == [1, 0, -1])
        #expect((a.pow(2)).doubles == [1, 4, 9])
        #expect(a.pow(b).doubles == [1, 32, 729])
        #expect((-a).doubles == [-1, -2, -3])
        #expect(Tensor([-1.0, 0.5, 3]).clamped(min: 0, max: 1).doubles == [0, 0.5, 1])
        #expect(Tensor([-1.0, 0.5]).relu().doubles == [0, 0.5])
        #expect(Tensor([Int64(7), -7]).binary(.div, Tensor([Int64(2), 2])).doubles == [3, -3])
    }

    @Test func broadcastingMatchesNumPy() {
        let a = Fixtures.op("bcast.a"), b = Fixtures.op("bcast.b")
        expectClose(a + b, Fixtures.op("bcast.add"))
        expectClose(a * b, Fixtures.op("bcast.mul"))
        expectClose(a - b, Fixtures.op("bcast.sub"))
        expectClose(a / (b.abs() + 0.5), Fixtures.op("bcast.div"))
        expectClose(a.maximum(b), Fixtures.op("bcast.max"))
        // Same in float32, and with a non-contiguous left operand.
        let a32 = a.converted(to: .float32).permuted([2, 1, 0]).contiguous().permuted([2, 1, 0])
        #expect(!a32.isContiguous)
        expectClose((a32 * b.converted(to: .float32)).converted(to: .float64),
                    Fixtures.op("bcast.mul"), atol: 1e-6, rtol: 1e-6)
    }

    @Test func float32SimdKernelsMatchReference() {
        // The float64 path (libm) must match NumPy/SciPy to rounding.
        let x = Fixtures.op("unary.x")
        expectClose(x.exp(), Fixtures.op("unary.exp"), atol: 0, rtol: 1e-15)
        expectClose(x.tanh(), Fixtures.op("unary.tanh"), atol: 1e-16, rtol: 1e-15)
        expectClose(x.sigmoid(), Fixtures.op("unary.sigmoid"), atol: 1e-16, rtol: 1e-14)
        expectClose(x.gelu(), Fixtures.op("unary.gelu"), atol: 1e-16, rtol: 1e-13)
        expectClose(x.gelu(approximate: true), Fixtures.op("unary.gelu_tanh"), atol: 1e-15, rtol: 1e-13)
        expectClose((x.abs() + 1e-3).log(), Fixtures.op("unary.log_abs"), atol: 1e-15, rtol: 1e-13)
        // The float32 SIMD approximations, against float64 libm on the same (float32-rounded) inputs;
        // the absolute tolerance covers the far tails, where the float64 reference itself cancels.
        let x32 = x.converted(to: .float32), exact = x32.converted(to: .float64)
        for (op, rtol) in [(UnaryOp.exp, 2.5e-7), (.tanh, 4e-7), (.sigmoid, 2.5e-7), (.gelu, 1e-6), (.geluTanh, 2e-6)] {
            // geluTanh's exponent 2u reaches ≈ 10 in the range: its float32 rounding sets the 2e-6.
            expectClose(x32.map(op).converted(to: .float64), exact.map(op), atol: 1e-10, rtol: rtol)
        }
        // The derivatives are Φ(x) + x·φ(x): where the two terms cancel, float32 keeps absolute accuracy.
        let ones32 = x32.onesLike(), ones = exact.onesLike()
        expectClose(Tensor.geluBackward(gradient: ones32, input: x32).converted(to: .float64),
                    Tensor.geluBackward(gradient: ones, input: exact), atol: 2e-7, rtol: 1e-6)
        expectClose(Tensor.geluTanhBackward(gradient: ones32, input: x32).converted(to: .float64),
                    Tensor.geluTanhBackward(gradient: ones, input: exact), atol: 2e-7, rtol: 1e-6)
    }

    @Test func simdAndScalarPathsAgreeOnEveryLength() {
        // Lengths around the 16-lane width exercise the vector body and the scalar tail.
        for n in [1, 15, 16, 17, 33] {
            let x = Tensor.randn([n], std: 3, generator: RandomGenerator(seed: UInt64(n)))
            let strided = Tensor.stack([x, x], axis: 1)[.all, 0]   // non-contiguous: scalar path
            #expect(!strided.isContiguous || n == 1)
            for op in [UnaryOp.exp, .tanh, .sigmoid, .gelu, .geluTanh] {
                expectClose(x.map(op), strided.map(op), atol: 1e-6, rtol: 2e-6)
            }
            let ones = x.onesLike(), stridedOnes = strided.onesLike()
            expectClose(Tensor.geluBackward(gradient: ones, input: x),
                        Tensor.geluBackward(gradient: stridedOnes, input: strided), atol: 1e-6, rtol: 2e-6)
            expectClose(Tensor.geluTanhBackward(gradient: ones, input: x),
                        Tensor.geluTanhBackward(gradient: stridedOnes, input: strided), atol: 1e-6, rtol: 2e-6)
        }
    }

    @Test func extremeInputsStayFinite() {
        let x = Tensor([Float(-1000), -90, 0, 90, 1000])
        #expect(x.exp().doubles[0] == 0)
        let s = x.sigmoid().doubles
        #expect(s[0] < 1e-30 && s[2] == 0.5 && s[3] == 1 && s[4] == 1)
        #expect(x.tanh().doubles == [-1, -1, 0, 1, 1])
        #expect(x.gelu().doubles[4] == 1000 && x.gelu().doubles[0] == 0)
    }

    @Test func comparisonsWhereAndLogic() {
        let a = Tensor([1.0, 5, 3]), b = Tensor([2.0, 5, 1])
        #expect((a .< b).doubles == [1, 0, 0])
        #expect((a .== b).doubles == [0, 1, 0])
        #expect((a .>= 3).doubles == [0, 1, 1])
        #expect(Tensor.where(a .> b, a, b).doubles == [2, 5, 3])
        let m = a .> 2
        #expect(m.logicalNot().doubles == [1, 0, 0])
        #expect(m.logicalAnd(b .> 2).doubles == [0, 1, 0])
        #expect(m.logicalOr(a .< 2).doubles == [1, 1, 1])
        #expect(Tensor.where(Tensor([true, false]).reshaped([2, 1]), Tensor([1.0, 2]),
                             Tensor(scalar: 0.0)).doubles == [1, 2, 0, 0])
    }

    @Test func inPlaceOpsWriteThroughAndBroadcast() {
        var t = Tensor.ones([2, 3])
        t += Tensor([Float(1), 2, 3])
        #expect(t.doubles == [2, 3, 4, 2, 3, 4])
        t *= 2
        #expect(t.doubles == [4, 6, 8, 4, 6, 8])
        t.mapInPlace(.sqrt)
        #expect(Swift.abs(t[element: 0, 0] - 2) < 1e-7)
        // Rows past the vector widths, a row of bias, a tensor and a scalar: the in-place loops (one pointer,
        // so that they vectorise) give the out-of-place results.
        let x = Tensor.randn([37, 45], generator: RandomGenerator(seed: 1))
        let bias = Tensor.randn([45], generator: RandomGenerator(seed: 2))
        let other = Tensor.randn([37, 45], generator: RandomGenerator(seed: 3))
        var (a, b, c) = (x.copy(), x.copy(), x.copy())
        a += bias
        b *= other
        c -= 2.5
        #expect(a.scalars(as: Float.self) == (x + bias).scalars(as: Float.self))
        #expect(b.scalars(as: Float.self) == (x * other).scalars(as: Float.self))
        #expect(c.scalars(as: Float.self) == (x - 2.5).scalars(as: Float.self))
        let d = x.copy()
        d.mapInPlace(.relu)
        #expect(d.scalars(as: Float.self) == x.relu().scalars(as: Float.self))
    }

    @Test func conversions() {
        let x = Tensor([1.7, -1.7, 0])
        #expect(x.converted(to: .int64).doubles == [1, -1, 0])
        #expect(x.converted(to: .float32).dtype == .float32)
        #expect((x .> 0).converted(to: .float32).doubles == [1, 0, 0])
        #expect(Tensor([Int32(3)]).converted(to: .float64).doubles == [3])
    }

    @Test func largeTensorsSplitAcrossCoresGiveTheSameAnswer() {
        let n = 1 << 20
        let x = Tensor.randn([n], generator: RandomGenerator(seed: 5)),
            y = Tensor.randn([n], generator: RandomGenerator(seed: 6))
        let z = x + y
        let xs = x.scalars(as: Float.self), ys = y.scalars(as: Float.self), zs = z.scalars(as: Float.self)
        #expect((0..<n).allSatisfy { zs[$0] == xs[$0] + ys[$0] })
    }
}
