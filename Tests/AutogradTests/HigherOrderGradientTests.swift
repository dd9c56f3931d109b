import Foundation
import Testing
@testable import Autograd
import Tensor

/// Second derivatives (`createGraph`) of every op with a rule on variables, checked as
/// `torch.autograd.gradgradcheck` does, in float64; and the functional API built on them.
@Suite struct HigherOrderGradientTests {
    private func expectSecondDerivatives(_ inputs: [Tensor], _ name: String,
                                         sourceLocation: SourceLocation = #_sourceLocation,
                                         _ f: @escaping ([Variable]) -> Variable) {
        let result = gradGradCheck(f, inputs: inputs)
        #expect(result.passed, "\(name): \(result)", sourceLocation: sourceLocation)
    }

    @Test func unaryOps() {
        let x = awayFromZero([2, 3], seed: 1), positive = awayFromZero([2, 3], seed: 2, positive: true)
        let cases: [(String, Tensor, (Variable) -> Variable)] = [
            ("exp", x, { $0.exp() }), ("log", positive, { $0.log() }), ("expm1", x, { $0.expm1() }),
            ("log1p", positive, { $0.log1p() }), ("erf", x, { $0.erf() }), ("sqrt", positive, { $0.sqrt() }),
            ("rsqrt", positive, { $0.rsqrt() }), ("tanh", x, { $0.tanh() }), ("sigmoid", x, { $0.sigmoid() }),
            ("relu", x, { $0.relu() }), ("sin", x, { $0.sin() }), ("cos", x, { $0.cos() }),
            ("abs", x, { $0.abs() }), ("square", x, { $0.square() }), ("gelu", x, { $0.gelu() }),
            ("gelu tanh", x, { $0.gelu(approximate: true) }), ("clamp", x, { $0.clamped(min: -0.9, max: 0.8) }),
            ("pow 3", x, { $0.pow(3) }), ("pow 2", x, { $0.pow(2) }), ("reciprocal", x, { 1 / $0 }),
            ("neg", x, { -$0 }), ("softplus", x, { $0.softplus() }), ("silu", x, { $0.silu() }),
            ("mish", x, { $0.mish() }), ("logSigmoid", x, { $0.logSigmoid() }),
        ]
        for (name, input, f) in cases { expectSecondDerivatives([input], name) { f($0[0]) } }
    }

    @Test func binaryOpsWithBroadcasting() {
        let a = awayFromZero([2, 3], seed: 3, positive: true), b = awayFromZero([3], seed: 4)
        let cases: [(String, (Variable, Variable) -> Variable)] = [
            ("add", { $0 + $1 }), ("sub", { $0 - $1 }), ("mul", { $0 * $1 }), ("div", { $0 / $1 }),
            ("pow", { $0.pow($1) }), ("logaddexp", { $0.logaddexp($1) }),
            ("maximum", { $0.maximum($1) }), ("minimum", { $0.minimum($1) }),
        ]
        for (name, f) in cases { expectSecondDerivatives([a, b], name) { f($0[0], $0[1]) } }
        let condition = Tensor([true, false, true, false, false, true], shape: [2, 3])
        expectSecondDerivatives([a, b], "where") { Variable.where(condition, $0[0] * $0[0], $0[1] * $0[0]) }
    }

    @Test func reductions() {
        let x = randn([3, 4], seed: 5)
        let cases: [(String, (Variable) -> Variable)] = [
            ("sum", { ($0 * $0).sum(axes: [1]) }), ("mean", { ($0 * $0).mean(axes: [0], keepDim: true) }),
            ("variance", { $0.variance(axes: [1]) }), ("std", { $0.standardDeviation(axes: [1]) }),
            ("amax", { ($0 * $0).max(axes: [1]) }), ("max along", { ($0 * $0).max(axis: 0).values }),
            ("logSumExp", { $0.logSumExp(axes: [1]) }), ("norm", { $0.norm(axes: [1]) }),
        ]
        for (name, f) in cases { expectSecondDerivatives([x], name) { f($0[0]) } }
    }

    @Test func viewsAndIndexing() {
        let x = randn([2, 3, 4], seed: 6), y = randn([2, 3, 2], seed: 7)
        let index = Tensor([0, 2, 1, 1, 0, 2], shape: [2, 3, 1]).converted(to: .int64)
        let cases: [(String, (Variable) -> Variable)] = [
            ("reshape", { ($0 * $0).reshaped([6, 4]) }), ("permute", { ($0 * $0).permuted([2, 0, 1]) }),
            ("slice", { ($0 * $0).slice(axis: 2, start: 1, end: 4, step: 2) }),
            ("select", { ($0 * $0).select(axis: 1, index: 2) }),
            ("expand", { ($0 * $0).slice(axis: 0, start: 0, end: 1).expanded(to: [3, 3, 4]) }),
            ("roll", { ($0 * $0).rolled(shifts: [1], axes: [2]) }),
            ("gather", { ($0 * $0).gather(axis: 2, index: index) }),
            ("indexSelect", { ($0 * $0).indexSelect(axis: 2, indices: Tensor([3, 0, 3]).converted(to: .int64)) }),
        ]
        for (name, f) in cases { expectSecondDerivatives([x], name) { f($0[0]) } }
        let pairs: [(String, (Variable, Variable) -> Variable)] = [
            ("concat", { a, b in Variable.concat([a * a, b * a.slice(axis: 2, start: 0, end: 2)], axis: 2) }),
            ("scatterAdd", { a, b in
                (a * a).scatterAdding(axis: 2, index: index, source: (b * b).slice(axis: 2, end: 1))
            }),
            ("squeeze", { a, b in (a * b.sum(axes: [2], keepDim: true)).unsqueezed(0).squeezed(0).flattened() }),
        ]
        for (name, f) in pairs { expectSecondDerivatives([x, y], name) { f($0[0], $0[1]) } }
        expectSecondDerivatives([x], "index") { v -> Variable in
            let square = v[0] * v[0]
            return square[0, 1...]
        }
        let widths: [(before: Int, after: Int)] = [(1, 0), (0, 2)]
        expectSecondDerivatives([x], "pad") { ($0[0] * $0[0]).padded(widths) }
    }

    @Test func matrixProductsAndLosses() {
        let a = randn([2, 3, 4], seed: 8), b = randn([4, 5], seed: 9), w = randn([5, 4], seed: 10)
        expectSecondDerivatives([a, b], "matmul") { ($0[0] * $0[0]).matmul($0[1]) }
        expectSecondDerivatives([a, w, randn([5], seed: 11)], "linear") {
            $0[0].tanh().linear(weight: $0[1], bias: $0[2])
        }
        expectSecondDerivatives([a, randn([4], seed: 34), randn([4], seed: 35), w, randn([5], seed: 11)],
                                "layerNormLinear") {
            $0[0].layerNormLinear(normWeight: $0[1], normBias: $0[2], weight: $0[3], bias: $0[4])
        }
        expectSecondDerivatives([a, w, randn([5], seed: 11)], "geluLinear") {
            $0[0].geluLinear(weight: $0[1], bias: $0[2])
        }
        expectSecondDerivatives([a, randn([5, 1], seed: 36), w], "weightNormLinear") {
            $0[0].weightNormLinear(weightG: $0[1], weightV: $0[2])
        }
        let logits = randn([4, 5], seed: 12), labels = Tensor([0, 3, 4, 1]).converted(to: .int64)
        expectSecondDerivatives([logits], "softmax") { $0[0].softmax(axis: 1) }
        expectSecondDerivatives([logits], "logSoftmax") { $0[0].logSoftmax(axis: 0) }
        expectSecondDerivatives([logits], "crossEntropy") { $0[0].crossEntropy(labels: labels, labelSmoothing: 0.1) }
    }

    @Test func fusedNormalisationAndAttention() {
        let x = randn([3, 2, 5], seed: 13), gamma = randn([5], seed: 14), beta = randn([5], seed: 15)
        expectSecondDerivatives([x, gamma, beta], "layerNorm") {
            $0[0].layerNorm(weight: $0[1], bias: $0[2])
        }
        expectSecondDerivatives([x], "layerNorm without affine") { $0[0].layerNorm(weight: nil, bias: nil) }
        let image = randn([3, 2, 2, 2], seed: 16), scale = randn([2], seed: 17), shift = randn([2], seed: 18)
        expectSecondDerivatives([image, scale, shift], "batchNorm") {
            $0[0].batchNorm(weight: $0[1], bias: $0[2]).output
        }
        expectSecondDerivatives([image, scale, shift], "batchNorm followed by ReLU") {
            $0[0].batchNorm(weight: $0[1], bias: $0[2], followedByReLU: true).output
        }
        let shortcut = randn([3, 2, 2, 2], seed: 24)
        expectSecondDerivatives([image, shortcut, scale, shift], "batchNorm, shortcut added, ReLU") {
            $0[0].batchNorm(weight: $0[2], bias: $0[3], adding: $0[1], followedByReLU: true).output
        }
        let mean = randn([2], seed: 19), variance = awayFromZero([2], seed: 20, positive: true)
        expectSecondDerivatives([image, scale], "batchNorm with statistics") {
            $0[0].batchNorm(mean: mean, variance: variance, weight: $0[1], bias: nil)
        }
        let q = randn([2, 3, 4], seed: 21), k = randn([2, 3, 4], seed: 22), v = randn([2, 3, 4], seed: 23)
        expectSecondDerivatives([q, k, v, randn([3, 3], seed: 24)], "attention") {
            Variable.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], bias: $0[3]).output
        }
        expectSecondDerivatives([randn([2, 3, 12], seed: 25)], "packed attention") {
            $0[0].packedAttention(heads: 2).output
        }
    }

    /// H·v of a small MLP's loss in its first weight, against central differences of the gradient.
    @Test func hessianVectorProductOfAnMLP() {
        let x = randn([5, 3], seed: 30), labels = Tensor([0, 1, 1, 0, 1]).converted(to: .int64)
        let w1 = Variable(randn([4, 3], seed: 31), requiresGrad: true)
        let w2 = Variable(randn([2, 4], seed: 32), requiresGrad: true)
        let direction = randn([4, 3], seed: 33)
        func loss() -> Variable {
            Variable(x).linear(weight: w1).gelu().linear(weight: w2).crossEntropy(labels: labels)
        }
        let g = grad(of: [loss()], with: [w1], createGraph: true)[0]
        let hvp = grad(of: [(g * Variable(direction)).sum()], with: [w1])[0].data
        let epsilon = 1e-5, original = w1.data
        func gradient(at w: Tensor) -> Tensor {
            w1.data = w
            return grad(of: [loss()], with: [w1])[0].data
        }
        let numeric = (gradient(at: original + direction * epsilon) - gradient(at: original - direction * epsilon))
            / (2 * epsilon)
        w1.data = original
        let error = (hvp - numeric).abs().doubles.max() ?? .infinity
        #expect(error < 1e-7, "H·v differs from finite differences by \(error)")
        #expect((hvp.abs().doubles.max() ?? 0) > 1e-3)  // not trivially zero
    }

    /// `backward(createGraph:)` leaves a differentiable gradient, and a second backward accumulates.
    @Test func backwardWithCreateGraphAccumulatesLikePyTorch() {
        let x = Variable(Tensor([2.0, -1]), requiresGrad: true)
        (x * x * x).sum().backward(createGraph: true)
        #expect(x.grad!.doubles == [12, 3])
        x.gradVariable!.sum().backward()
        #expect(x.grad!.doubles == [24, -3])  // 3x² + 6x
    }

    /// `grad(of:with:)` does not touch `grad`, returns zeros for unused inputs, and takes non-leaves.
    @Test func functionalGradient() {
        let x = Variable(Tensor([1.0, 2]), requiresGrad: true), unused = Variable(Tensor([5.0]), requiresGrad: true)
        let h = x * 3
        let y = (h * h).sum()
        let grads = grad(of: [y], with: [x, h, unused])
        #expect(grads[0].data.doubles == [18, 36] && grads[1].data.doubles == [6, 12])
        #expect(grads[2].data.doubles == [0])
        #expect(x.grad == nil && h.grad == nil)
    }

    /// A rule right at first order but detached (so wrong at second order) must fail the check.
    @Test func gradGradCheckCatchesADetachedRule() {
        func wrongCube(_ x: Variable) -> Variable {
            Variable.record("wrongCube", x.data * x.data * x.data, inputs: [x]) { g in [g * (x.data * x.data * 3)] }
        }
        let x = randn([3], seed: 40)
        #expect(gradCheck({ wrongCube($0[0]) }, inputs: [x]).passed)
        let result = gradGradCheck({ wrongCube($0[0]) }, inputs: [x])
        #expect(!result.passed && result.firstFailure!.contains("input 0"))
        #expect(gradGradCheck({ $0[0] * $0[0] * $0[0] }, inputs: [x]).passed)
    }

    @Test func createGraphThroughATensorRuleStopsWithAMessage() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Variable(Tensor([1.0]), requiresGrad: true)
            let y = Variable.recordFirstOrder("custom", x.data * 2, inputs: [x]) { g in [g * 2] }
            _ = grad(of: [y.sum()], with: [x], createGraph: true)
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("createGraph: custom was recorded with a rule on tensors"))
    }
}
