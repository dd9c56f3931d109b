import Autograd
import Testing
@testable import NN
import Tensor

/// Float64 gradient checks through whole modules, with their parameters as checked inputs.
@Suite struct ModuleGradientTests {
    /// Checks `module` on `input` with respect to the input and every parameter.
    func expectModuleGradients(_ module: Module, _ input: Tensor, sourceLocation: SourceLocation = #_sourceLocation) {
        let params = module.parameters()
        let saved = params.map(\.data)
        let result = gradCheck({ vars in
            for (p, v) in zip(params, vars.dropFirst()) { p.data = v.data }
            // Route gradients through the checked variables: parameters are re-expressed as them.
            return Self.apply(module, vars[0], params: params, vars: Array(vars.dropFirst()))
        }, inputs: [input] + saved.map { $0.copy() })
        for (p, s) in zip(params, saved) { p.data = s }
        #expect(result.passed, "\(type(of: module)): \(result)", sourceLocation: sourceLocation)
    }

    /// Runs the module with each parameter's gradient forwarded to the matching checked variable.
    static func apply(_ module: Module, _ x: Variable, params: [Variable], vars: [Variable]) -> Variable {
        let y = module(x)
        // A parameter is a leaf; its contribution reaches `vars` through this identity rule.
        return Variable.record("parameters", y.data, inputs: [y] + vars) { g in
            y.backward(g, retainGraph: true)
            defer { for p in params { p.grad = nil } }
            return [nil] + params.map { $0.grad ?? $0.data.zerosLike() }
        }
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
                                         AdaptiveAvgPool2d(1), Flatten(), LayerScale(3, initValue: 0.5, dtype: .float64)),
                              randn([2, 2, 4, 4], seed: 8))
    }
}
