import Testing
@testable import Autograd
import Tensor

@Suite struct ElementwiseGradientTests {
    // Broadcasting [3, 1, 4] with [5, 1] sums the gradient back to each input's shape.
    let a = randn([3, 1, 4], seed: 1), b = awayFromZero([5, 1], seed: 2)

    @Test func binaryOpsWithBroadcasting() {
        expectGradients([a, b]) { $0[0] + $0[1] }
        expectGradients([a, b]) { $0[0] - $0[1] }
        expectGradients([a, b]) { $0[0] * $0[1] }
        expectGradients([a, b]) { $0[0] / $0[1] }
        expectGradients([awayFromZero([3, 1, 4], seed: 3, positive: true), randn([5, 1], seed: 4)]) { $0[0].pow($0[1]) }
        expectGradients([a, randn([5, 1], seed: 5)]) { $0[0].maximum($0[1]) }
        expectGradients([a, randn([5, 1], seed: 6)]) { $0[0].minimum($0[1]) }
        expectGradients([a, randn([5, 1], seed: 6) * 3]) { $0[0].logaddexp($0[1]) }
    }

    /// softplus, logSigmoid, silu and mish are compositions of the primitives: checked against
    /// finite differences, and value and gradient against PyTorch (scripts/make_primitive_fixtures.py).
    @Test func composedActivations() {
        let x = randn([4, 5], seed: 17) * 4
        let activations: [(String, (Variable) -> Variable)] = [
            ("softplus", { $0.softplus() }), ("logsigmoid", { $0.logSigmoid() }),
            ("silu", { $0.silu() }), ("mish", { $0.mish() }),
        ]
        let fixture = Fixture("primitives.safetensors")
        let (input, upstream) = (fixture.t("act_x"), fixture.t("act_g"))
        for (name, f) in activations {
            let result = gradCheck({ f($0[0]) }, inputs: [x])
            #expect(result.passed, "\(name): \(result)")
            let v = Variable(input, requiresGrad: true)
            let y = f(v)
            (y * Variable(upstream)).sum().backward()
            expectClose(y.data, fixture.t(name), atol: 1e-12, rtol: 1e-12)
            expectClose(v.grad!, fixture.t(name + "_grad"), atol: 1e-12, rtol: 1e-12)
        }
    }

    @Test func scalarOperands() {
        expectGradients([a]) { $0[0] * 3 + 2 }
        expectGradients([b]) { 2 / $0[0] - 1 }
        expectGradients([a]) { 1 - $0[0] / 4 }
        expectGradients([a]) { -$0[0] }
    }

    @Test func unaryOps() {
        let x = randn([4, 5], seed: 7), nonzero = awayFromZero([4, 5], seed: 8),
            positive = awayFromZero([4, 5], seed: 9, positive: true)
        let ops: [(UnaryOp, Tensor)] = [
            (.neg, x), (.abs, nonzero), (.exp, x), (.log, positive), (.sqrt, positive), (.rsqrt, positive),
            (.square, x), (.reciprocal, nonzero), (.tanh, x), (.sigmoid, x), (.relu, nonzero), (.sin, x), (.cos, x),
            (.gelu, x), (.geluTanh, x), (.power(3), x), (.power(0.5), positive), (.power(2), x),
            (.clamp(low: -0.4, high: 0.4), nonzero), (.expm1, x), (.log1p, positive), (.erf, x),
        ]
        for (op, input) in ops {
            let result = gradCheck({ $0[0].map(op) }, inputs: [input])
            #expect(result.passed, "\(op): \(result)")
        }
    }

    /// The float32 one-pass activation backwards (GELU's a CKernels clone) agree with float64, on
    /// a contiguous tensor with a vector tail and on a transposed one.
    @Test func activationBackwardsInFloat32MatchFloat64() {
        let x = randn([37, 53], seed: 15), g = randn([37, 53], seed: 16)
        for (input, gradient) in [(x, g), (x.transposed(), g.transposed())] {
            let (x32, g32) = (input.converted(to: .float32), gradient.converted(to: .float32))
            expectClose(Tensor.geluBackward(gradient: g32, input: x32).converted(to: .float64),
                        Tensor.geluBackward(gradient: gradient, input: input), atol: 1e-5)
            expectClose(Tensor.reluBackward(gradient: g32, input: x32).converted(to: .float64),
                        gradient * (input .> 0).converted(to: .float64), atol: 0)
        }
    }

    @Test func whereRoutesEachSide() {
        let condition = randn([3, 4], seed: 10) .> 0
        expectGradients([randn([3, 4], seed: 11), randn([4], seed: 12)]) { Variable.where(condition, $0[0], $0[1]) }
    }

    @Test func nonContiguousInputs() {
        let base = randn([4, 6], seed: 13)
        let transposed = base.transposed()          // strides [1, 6]
        let stepped = randn([3, 8], seed: 14)[.all, .stride(by: 2)]
        expectGradients([transposed, stepped]) { ($0[0].tanh() * $0[1].sum(axis: 0, keepDim: true)).exp() }
    }

    @Test func zeroSizeInputs() {
        let empty = randn([0, 3], seed: 15)
        expectGradients([empty, randn([3], seed: 16)]) { ($0[0] * $0[1]).exp().sum() + $0[1].sum() }
    }
}
