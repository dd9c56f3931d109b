import Autograd
import Testing
@testable import NN
import Tensor

/// Float64 gradient checks through whole modules, with their parameters as checked inputs.
@Suite struct ModuleGradientTests {
    /// Checks `module` on `input` with respect to the input (``gradCheck``) and every parameter
    /// (``valueAndGrad(_:_:)`` against central differences of the same objective).
    func expectModuleGradients(_ module: Module, _ input: Tensor, sourceLocation: SourceLocation = #_sourceLocation) {
        let result = gradCheck({ module($0[0]) }, inputs: [input])
        #expect(result.passed, "\(type(of: module)) input: \(result)", sourceLocation: sourceLocation)
        let x = Variable(input)
        let projection = Variable(randn(noGrad { module(x) }.shape, seed: 99))
        let objective = { (module(x) * projection).sum() }
        let (_, gradients) = valueAndGrad(module, objective)
        for (name, p) in module.namedParameters() {
            let numeric = numericGradient(of: { noGrad { objective().data.item() } }, at: p.data)
            let error = (gradients[name]! - numeric).abs().max().item()
            let scale = numeric.abs().max().item()
            #expect(error <= 1e-5 + 1e-3 * scale, "\(type(of: module)).\(name): max error \(error)",
                    sourceLocation: sourceLocation)
        }
    }

    @Test func valueAndGradLeavesGradientsAsTheyWere() {
        let linear = Linear(3, 2, dtype: .float64)
        linear.weight.grad = Tensor.ones([2, 3], dtype: .float64)
        let x = Variable(randn([4, 3], seed: 10))
        let (value, gradients) = valueAndGrad(linear) { linear(x).square().sum() }
        #expect(linear.weight.grad!.doubles == [Double](repeating: 1, count: 6) && linear.bias!.grad == nil)
        #expect(Set(gradients.keys) == ["weight", "bias"])
        #expect(Swift.abs(value.item() - noGrad { linear(x).square().sum() }.data.item()) < 1e-12)
        // ∂/∂b Σ (xWᵀ + b)² = 2 Σ_rows (xWᵀ + b).
        expectClose(gradients["bias"]!, noGrad { (linear(x) * 2).sum(axes: [0]) }.data, atol: 1e-12)
    }

    @Test func batchNormInTraining() {
        expectModuleGradients(BatchNorm2d(3, dtype: .float64), randn([4, 3, 2, 3], seed: 1))
        expectModuleGradients(BatchNorm1d(3, dtype: .float64), randn([5, 3], seed: 2))
    }

    @Test func batchNormInEvaluation() {
        let bn = BatchNorm2d(3, dtype: .float64)
        bn.runningMean!.value = randn([3], seed: 3)
        bn.eval()
        expectModuleGradients(bn, randn([2, 3, 2, 2], seed: 4))
    }

    @Test func weightNormLinear() {
        expectModuleGradients(WeightNormLinear(4, 3, dtype: .float64), randn([2, 4], seed: 5))
    }

    @Test func attentionAndMLP() {
        expectModuleGradients(Attention(8, heads: 2, qkvBias: true, dtype: .float64), randn([2, 3, 8], seed: 6))
        expectModuleGradients(MLP(4, hidden: 6, dtype: .float64), randn([2, 3, 4], seed: 7))
    }

    @Test func convolutionWithLayerScale() {
        expectModuleGradients(Sequential(Conv2d(2, 3, kernelSize: 3, padding: 1, dtype: .float64), ReLU(),
                                         AdaptiveAvgPool2d(1), Flatten(),
                                         LayerScale(3, initValue: 0.5, dtype: .float64)),
                              randn([2, 2, 4, 4], seed: 8))
    }
}
