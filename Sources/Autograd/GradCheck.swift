import Tensor

/// The outcome of ``gradCheck(_:inputs:epsilon:absoluteTolerance:relativeTolerance:seed:)``.
public struct GradCheckResult: CustomStringConvertible {
    /// Largest |analytic − numeric| over all input elements.
    public let maxAbsoluteError: Double
    /// Whether every element satisfied |a − n| ≤ atol + rtol·|n|.
    public let passed: Bool
    /// The first failing element, described, if any.
    public let firstFailure: String?

    public var description: String {
        passed ? "gradCheck passed (max abs error \(maxAbsoluteError))" : "gradCheck failed: \(firstFailure ?? "")"
    }
}

/// Compares the gradients backward computes for `f` with central finite differences, as
/// `torch.autograd.gradcheck` does. Inputs must be float64. For a non-scalar output the check
/// runs on the scalar v·f(x) for a fixed random v, which tests the whole vector-Jacobian product
/// of every input element. Inputs may be non-contiguous views (each storage element is perturbed
/// through its view), but not broadcast (stride 0) views.
public func gradCheck(_ f: ([Variable]) -> Variable, inputs: [Tensor], epsilon: Double = 1e-6,
                      absoluteTolerance: Double = 1e-5, relativeTolerance: Double = 1e-3,
                      seed: UInt64 = 0) -> GradCheckResult {
    for t in inputs {
        check(t.dtype == .float64, "gradCheck", "inputs must be float64, got \(t.dtype)")
        check(!zip(t.shape, t.strides).contains { $0.0 > 1 && $0.1 == 0 }, "gradCheck",
              "inputs must not be broadcast views")
    }
    let variables = inputs.map { Variable($0, requiresGrad: true) }
    let output = f(variables)
    let projection = Tensor.randn(output.shape, dtype: .float64, generator: RandomGenerator(seed: seed))
    func objective() -> Double { noGrad { (f(variables).data * projection).sum().item() } }

    // An output that no input reaches (a gradient that is a constant) has zero derivatives.
    if output.requiresGrad { (output * Variable(projection)).sum().backward() }
    var maxError = 0.0
    var failure: String?
    for (k, x) in inputs.enumerated() {
        let analytic = variables[k].grad?.doubles ?? [Double](repeating: 0, count: x.count)
        let numeric = numericGradient(of: objective, at: x, epsilon: epsilon).doubles
        for linear in 0..<x.count {
            let error = Swift.abs(analytic[linear] - numeric[linear])
            maxError = Swift.max(maxError, error)
            if failure == nil && !(error <= absoluteTolerance + relativeTolerance * Swift.abs(numeric[linear])) {
                failure = "input \(k) element \(linear) (output op \(output.opName)): analytic \(analytic[linear]), "
                    + "numeric \(numeric[linear])"
            }
        }
    }
    return GradCheckResult(maxAbsoluteError: maxError, passed: failure == nil, firstFailure: failure)
}

/// Checks second derivatives as `torch.autograd.gradgradcheck` does:
/// ``gradCheck(_:inputs:epsilon:absoluteTolerance:relativeTolerance:seed:)`` of the function
/// (x, u) ↦ ∂(u·f(x))/∂x, the gradient taken with `createGraph`, so both the rules' derivatives in x
/// and their linearity in the output gradient u are compared with finite differences.
/// It also requires that gradient to equal the ordinary (fused) backward pass's, to 1e-10.
public func gradGradCheck(_ f: @escaping ([Variable]) -> Variable, inputs: [Tensor], epsilon: Double = 1e-6,
                          absoluteTolerance: Double = 1e-5, relativeTolerance: Double = 1e-3,
                          seed: UInt64 = 0) -> GradCheckResult {
    let outputShape = noGrad { f(inputs.map { Variable($0) }).shape }
    let u = Tensor.randn(outputShape, dtype: .float64, generator: RandomGenerator(seed: seed &+ 1))
    func firstDerivatives(_ v: [Variable], createGraph: Bool) -> Variable {
        enableGrad {
            let x = Array(v.dropLast())
            let grads = grad(of: [f(x)], with: x, gradients: [v.last!], createGraph: createGraph)
            return Variable.concat(grads.map { $0.reshaped([$0.data.count]) })
        }
    }
    let leaves = (inputs + [u]).map { Variable($0, requiresGrad: true) }
    let composed = firstDerivatives(leaves, createGraph: true).data
    let fused = firstDerivatives(leaves, createGraph: false).data
    let difference = (composed - fused).abs().doubles.max() ?? 0
    guard difference <= 1e-10 else {
        return GradCheckResult(maxAbsoluteError: difference, passed: false,
                               firstFailure: "the gradient with createGraph differs from the ordinary one "
                                   + "by \(difference)")
    }
    return gradCheck({ firstDerivatives($0, createGraph: true) }, inputs: inputs + [u], epsilon: epsilon,
                     absoluteTolerance: absoluteTolerance, relativeTolerance: relativeTolerance, seed: seed)
}

/// Central finite differences of the scalar `f` with respect to every element of `x`, which `f`
/// reads: each element is moved by ±`epsilon` in place and restored. The result has `x`'s shape,
/// in float64. (Works through non-contiguous views; not through broadcast ones.)
public func numericGradient(of f: () -> Double, at x: Tensor, epsilon: Double = 1e-6) -> Tensor {
    var values: [Double] = []
    values.reserveCapacity(x.count)
    var index = [Int](repeating: 0, count: x.rank)
    for _ in 0..<x.count {
        let original = x[elementAt: index]
        x[elementAt: index] = original + epsilon
        let plus = f()
        x[elementAt: index] = original - epsilon
        let minus = f()
        x[elementAt: index] = original
        values.append((plus - minus) / (2 * epsilon))
        for d in stride(from: x.rank - 1, through: 0, by: -1) {
            index[d] += 1
            if index[d] < x.shape[d] { break }
            index[d] = 0
        }
    }
    return Tensor(values, shape: x.shape)
}
