import Autograd
import CKernels
import Foundation
import Tensor

/// Parameters that share a learning rate and weight decay (PyTorch's param_groups).
public struct ParameterGroup {
    public var parameters: [Variable]
    public var learningRate: Double
    public var weightDecay: Double

    public init(_ parameters: [Variable], learningRate: Double, weightDecay: Double = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }

    /// DINO's `get_params_groups`: trainable parameters split into a decayed group and one without
    /// weight decay for biases and every 1-D parameter (norm weights, LayerScale, tokens of rank 1).
    public static func dinoGroups(_ module: Module, learningRate: Double, weightDecay: Double) -> [ParameterGroup] {
        var decayed: [Variable] = [], plain: [Variable] = []
        for (name, p) in module.namedParameters() where p.requiresGrad {
            if name.hasSuffix(".bias") || name == "bias" || p.rank == 1 { plain.append(p) } else { decayed.append(p) }
        }
        return [ParameterGroup(decayed, learningRate: learningRate, weightDecay: weightDecay),
                ParameterGroup(plain, learningRate: learningRate, weightDecay: 0)]
    }
}

/// The base of the optimisers: parameter groups, per-parameter state, and a state dict that
/// restores training exactly. Subclasses implement ``update(_:gradient:state:group:)``.
open class Optimizer {
    public var groups: [ParameterGroup]
    /// Steps taken.
    public private(set) var stepCount = 0
    /// Per-parameter state tensors by name (`exp_avg`, `momentum_buffer`, …), indexed like ``parameters``.
    var states: [[String: Tensor]]

    public init(_ groups: [ParameterGroup]) {
        self.groups = groups
        states = Array(repeating: [:], count: groups.reduce(0) { $0 + $1.parameters.count })
    }

    /// Every parameter, group after group (the index used by the state dict).
    public var parameters: [Variable] { groups.flatMap(\.parameters) }

    /// Sets every group's learning rate (schedules call this each iteration).
    public func setLearningRate(_ lr: Double) { for i in groups.indices { groups[i].learningRate = lr } }

    /// Applies one update to every parameter that has a gradient.
    public func step() {
        stepCount += 1
        var index = 0
        noGrad {
            for group in groups {
                for p in group.parameters {
                    defer { index += 1 }
                    guard let g = p.grad else { continue }
                    check(g.shape == p.shape, "\(type(of: self)).step",
                          "gradient \(describe(g.shape)) does not match parameter \(describe(p.shape))")
                    if !p.data.isContiguous { p.data = p.data.contiguous() }
                    update(p.data, gradient: g.contiguous(), state: &states[index], group: group)
                }
            }
        }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() { for p in parameters { p.grad = nil } }

    /// Updates `parameter` in place from `gradient`, reading and writing its `state`.
    open func update(_ parameter: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        fail("Optimizer", "subclasses implement update")
    }

    /// The optimiser's state: `step`, `state.<i>.<name>` per parameter, and each group's
    /// `param_groups.<g>.lr` / `.weight_decay`; saved beside the model so training resumes exactly.
    public func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor(scalar: Int64(stepCount))]
        for (i, s) in states.enumerated() { for (k, v) in s { out["state.\(i).\(k)"] = v } }
        for (g, group) in groups.enumerated() {
            out["param_groups.\(g).lr"] = Tensor(scalar: group.learningRate)
            out["param_groups.\(g).weight_decay"] = Tensor(scalar: group.weightDecay)
        }
        return out
    }

    /// Restores a ``stateDict()`` of an optimiser over the same parameters.
    public func loadStateDict(_ state: [String: Tensor]) throws {
        guard let step = state["step"], step.count == 1 else { throw OptimizerStateError.missing("step") }
        var restored = Array(repeating: [String: Tensor](), count: states.count)
        let params = parameters
        for (key, value) in state where key.hasPrefix("state.") {
            let parts = key.split(separator: ".", maxSplits: 2)
            guard parts.count == 3, let i = Int(parts[1]), i >= 0, i < params.count else {
                throw OptimizerStateError.unexpected(key)
            }
            guard value.shape == params[i].shape || value.count == 1 else {
                throw OptimizerStateError.shape(key, expected: params[i].shape, found: value.shape)
            }
            restored[i][String(parts[2])] = value.copy()
        }
        for g in groups.indices {
            if let lr = state["param_groups.\(g).lr"] { groups[g].learningRate = lr.item() }
            if let wd = state["param_groups.\(g).weight_decay"] { groups[g].weightDecay = wd.item() }
        }
        states = restored
        stepCount = Int(step.item())
    }
}

/// Why an optimiser state dict did not load.
public enum OptimizerStateError: Error, CustomStringConvertible {
    case missing(String), unexpected(String), shape(String, expected: [Int], found: [Int])
    public var description: String {
        switch self {
        case .missing(let k): "optimizer state has no \(k)"
        case .unexpected(let k): "optimizer state key \(k) names no parameter of this optimizer"
        case .shape(let k, let e, let f): "optimizer state \(k) has shape \(describe(f)), parameter has \(describe(e))"
        }
    }
}

/// Stochastic gradient descent with momentum, Nesterov and (L2) weight decay, as `torch.optim.SGD`.
public final class SGD: Optimizer {
    public let momentum: Double, dampening: Double, nesterov: Bool

    public init(_ groups: [ParameterGroup], momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false) {
        (self.momentum, self.dampening, self.nesterov) = (momentum, dampening, nesterov)
        super.init(groups)
    }

    public override func update(_ p: Tensor, gradient g: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        var d = group.weightDecay == 0 ? g : g + p * group.weightDecay
        if momentum != 0 {
            if let buf = state["momentum_buffer"] {
                buf.binaryInPlace(.mul, buf.scalarLike(momentum))
                buf.binaryInPlace(.add, d * (1 - dampening))
            } else {
                state["momentum_buffer"] = d.copy()
            }
            let buf = state["momentum_buffer"]!
            d = nesterov ? d + buf * momentum : buf
        }
        p.binaryInPlace(.sub, d * group.learningRate)
    }
}

/// Adam with decoupled weight decay, as `torch.optim.AdamW` (one fused pass per parameter).
public final class AdamW: Optimizer {
    public let beta1: Double, beta2: Double, epsilon: Double

    public init(_ groups: [ParameterGroup], beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8) {
        (self.beta1, self.beta2, self.epsilon) = (beta1, beta2, epsilon)
        super.init(groups)
    }

    public override func update(_ p: Tensor, gradient g: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        let m = state["exp_avg"] ?? Tensor(empty: p.shape, dtype: p.dtype, zeroed: true)
        let v = state["exp_avg_sq"] ?? Tensor(empty: p.shape, dtype: p.dtype, zeroed: true)
        // Steps count per parameter, as PyTorch: a parameter without a gradient (DINO's frozen
        // last layer in the first epoch) keeps its own bias correction.
        let t = (state["step"]?.item() ?? 0) + 1
        (state["exp_avg"], state["exp_avg_sq"], state["step"]) = (m, v, Tensor(scalar: t))
        let c = AdamConstants(lr: group.learningRate, decay: 1 - group.learningRate * group.weightDecay,
                              beta1: beta1, beta2: beta2, stepSize: group.learningRate / (1 - pow(beta1, t)),
                              sqrtBias2: (1 - pow(beta2, t)).squareRoot(), epsilon: epsilon)
        adamKernel(p, g, m, v, c)
    }
}

struct AdamConstants { let lr, decay, beta1, beta2, stepSize, sqrtBias2, epsilon: Double }

/// p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
/// p ← p − stepSize·m / (√v / √(1 − β2ᵗ) + ε). Float32 runs the CPU level's vectorised kernel:
/// this loop's scalar square roots and divisions took 27.9 ms for ResNet-50's 25.6 M parameters, the kernel
/// 10.0 ms.
private func adamKernel(_ p: Tensor, _ g: Tensor, _ m: Tensor, _ v: Tensor, _ c: AdamConstants) {
    if p.dtype == .float32 {
        let (pp, gp, mp, vp) = (SendablePointer(p.pointer(as: Float.self)), SendablePointer(g.pointer(as: Float.self)),
                                SendablePointer(m.pointer(as: Float.self)), SendablePointer(v.pointer(as: Float.self)))
        let kernel = KernelLevel.current.kernels.adam_update  // resolved before the work leaves this thread
        parallelChunks(p.count, costPerItem: 8) { range in
            let i = range.lowerBound
            kernel(pp.p + i, gp.p + i, mp.p + i, vp.p + i, range.count, Float(c.decay), Float(c.beta1),
                   Float(c.beta2), Float(c.stepSize), Float(1 / c.sqrtBias2), Float(c.epsilon))
        }
        return
    }
    let (pp, gp, mp, vp) = (SendablePointer(p.pointer(as: Double.self)), SendablePointer(g.pointer(as: Double.self)),
                            SendablePointer(m.pointer(as: Double.self)), SendablePointer(v.pointer(as: Double.self)))
    let (decay, b1, b2, stepSize, invBias2, eps) = (c.decay, c.beta1, c.beta2, c.stepSize, 1 / c.sqrtBias2, c.epsilon)
    parallelChunks(p.count, costPerItem: 8) { range in
        for i in range {
            let gi = gp.p[i]
            let mi = b1 * mp.p[i] + (1 - b1) * gi
            let vi = b2 * vp.p[i] + (1 - b2) * gi * gi
            mp.p[i] = mi
            vp.p[i] = vi
            pp.p[i] = pp.p[i] * decay - stepSize * mi / (vi.squareRoot() * invBias2 + eps)
        }
    }
}

/// LARS as in the DINO and MoCo v3 repositories: for parameters of rank > 1, weight decay is added
/// to the gradient and the update scaled by the trust ratio η·‖p‖/‖d‖; biases and norms (rank 1)
/// get neither. Then μ ← momentum·μ + d; p ← p − lr·μ.
public final class LARS: Optimizer {
    public let momentum: Double, trustCoefficient: Double

    public init(_ groups: [ParameterGroup], momentum: Double = 0.9, trustCoefficient eta: Double = 0.001) {
        (self.momentum, self.trustCoefficient) = (momentum, eta)
        super.init(groups)
    }

    public override func update(_ p: Tensor, gradient g: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        var d = g
        if p.rank != 1 {
            d = g + p * group.weightDecay
            let paramNorm = p.norm().item(), updateNorm = d.norm().item()
            if paramNorm > 0 && updateNorm > 0 { d = d * (trustCoefficient * paramNorm / updateNorm) }
        }
        let mu = state["mu"] ?? Tensor(empty: p.shape, dtype: p.dtype, zeroed: true)
        state["mu"] = mu
        mu.binaryInPlace(.mul, mu.scalarLike(momentum))
        mu.binaryInPlace(.add, d)
        p.binaryInPlace(.sub, mu * group.learningRate)
    }
}

// MARK: Gradient clipping

/// Scales all gradients together so their global L2 norm is at most `maxNorm`
/// (`torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Variable], maxNorm: Double) -> Double {
    let grads = parameters.compactMap(\.grad)
    let total = grads.reduce(0.0) { $0 + $1.square().sum().item() }.squareRoot()
    let coefficient = maxNorm / (total + 1e-6)
    if coefficient < 1 { for p in parameters { if let g = p.grad { p.grad = g * coefficient } } }
    return total
}

/// DINO's `clip_gradients`: each parameter's gradient scaled to norm at most `clip` on its own;
/// returns the norms before clipping.
@discardableResult
public func clipGradientsPerParameter(_ parameters: [Variable], clip: Double) -> [Double] {
    parameters.compactMap { p in
        guard let g = p.grad else { return nil }
        let norm = g.norm().item()
        let coefficient = clip / (norm + 1e-6)
        if coefficient < 1 { p.grad = g * coefficient }
        return norm
    }
}
