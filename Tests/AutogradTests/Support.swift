import Testing
@testable import Autograd
import Tensor

/// A float64 normal tensor, reproducible from `seed`.
func randn(_ shape: [Int], seed: UInt64) -> Tensor {
    Tensor.randn(shape, dtype: .float64, generator: RandomGenerator(seed: seed))
}

/// Values bounded away from 0 (for log, sqrt, division, abs, relu kinks): ±[0.5, 1.5).
func awayFromZero(_ shape: [Int], seed: UInt64, positive: Bool = false) -> Tensor {
    let g = RandomGenerator(seed: seed)
    let magnitude = Tensor.uniform(shape, low: 0.5, high: 1.5, dtype: .float64, generator: g)
    if positive { return magnitude }
    let sign = Tensor.bernoulli(shape, p: 0.5, dtype: .float64, generator: g) * 2 - 1
    return magnitude * sign
}

/// Expects backward's gradients of `f` to match central differences for every input element.
func expectGradients(_ inputs: [Tensor], sourceLocation: SourceLocation = #_sourceLocation,
                     _ f: @escaping ([Variable]) -> Variable) {
    let result = gradCheck(f, inputs: inputs)
    #expect(result.passed, "\(result)", sourceLocation: sourceLocation)
}
