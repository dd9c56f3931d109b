import Tensor

/// A tensor in the reverse-mode autodiff graph.
///
/// A `Variable` wraps a ``Tensor`` value. Leaves are made by you (`requiresGrad: true` for
/// parameters); every op on variables records, beside its result, the rule that maps the
/// result's gradient to its inputs' gradients. ``backward(_:retainGraph:)`` walks the graph
/// in reverse topological order and accumulates `grad` on the leaves that require it.
public final class Variable {
    /// The value.
    public var data: Tensor
    /// The accumulated gradient (leaves, and non-leaves with ``retainsGrad``), same shape as `data`.
    public var grad: Tensor?
    /// Whether gradients flow to this variable.
    public private(set) var requiresGrad: Bool
    /// Keep `grad` on this non-leaf too during backward (like `retain_grad()`).
    public var retainsGrad = false
    /// The op that made this variable; `nil` for leaves.
    let node: Node?

    /// A leaf holding `data`.
    public init(_ data: Tensor, requiresGrad: Bool = false) {
        check(!requiresGrad || data.dtype.isFloatingPoint, "Variable", "only floating-point tensors can require gradients, got \(data.dtype)")
        self.data = data
        self.requiresGrad = requiresGrad
        node = nil
    }

    init(_ data: Tensor, node: Node) {
        self.data = data
        requiresGrad = true
        self.node = node
    }

    /// Whether this variable was made by you rather than by an op.
    public var isLeaf: Bool { node == nil }
    /// Shape of the value.
    public var shape: [Int] { data.shape }
    /// Rank of the value.
    public var rank: Int { data.rank }
    /// Element type of the value.
    public var dtype: DType { data.dtype }
    /// Name of the op that made this variable (`"leaf"` for leaves), for debugging.
    public var opName: String { node?.name ?? "leaf" }

    /// The same value cut from the graph.
    public func detached() -> Variable { Variable(data) }

    /// Marks a leaf as requiring gradients (or not).
    public func setRequiresGrad(_ flag: Bool) {
        check(isLeaf, "setRequiresGrad", "only leaves can change requiresGrad; use detached()")
        requiresGrad = flag
    }

    /// Records an op's result. `backward` maps the result's gradient to one gradient per input
    /// (`nil` for inputs that need none); it captures only tensors, never the result variable.
    public static func record(_ name: String, _ value: Tensor, inputs: [Variable],
                              backward: @escaping (Tensor) -> [Tensor?]) -> Variable {
        guard GradMode.isEnabled, inputs.contains(where: \.requiresGrad) else { return Variable(value) }
        return Variable(value, node: Node(name: name, inputs: inputs, backward: backward))
    }

    /// Back-propagates from this variable. A scalar needs no `gradient` (it is 1); otherwise pass
    /// the gradient of the final objective with respect to this variable. The graph is freed
    /// afterwards unless `retainGraph` is set.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) {
        check(requiresGrad, "backward", "this variable does not require gradients (no input requires them)")
        let seed: Tensor
        if let gradient {
            check(gradient.shape == shape && gradient.dtype == dtype, "backward",
                  "gradient \(gradient.shape) \(gradient.dtype) does not match the output \(shape) \(dtype)")
            seed = gradient
        } else {
            check(data.count == 1, "backward", "gradient can be implied only for one-element outputs, got shape \(shape)")
            seed = Tensor.ones(shape, dtype: dtype)
        }
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        for v in topologicalOrder().reversed() {
            guard let g = grads.removeValue(forKey: ObjectIdentifier(v)) else { continue }
            if v.isLeaf || v.retainsGrad { v.grad = v.grad.map { $0 + g } ?? g.contiguous() }
            guard let node = v.node else { continue }
            guard let rule = node.backward else {
                fail("backward", "the graph through \(node.name) was already freed; pass retainGraph: true to the first backward")
            }
            let inputGrads = GradMode.$isEnabled.withValue(false) { rule(g) }
            for (input, ig) in zip(node.inputs, inputGrads) where input.requiresGrad {
                guard let ig else { continue }
                check(ig.shape == input.shape, "backward", "rule of \(node.name) gave gradient \(ig.shape) for input \(input.shape)")
                let key = ObjectIdentifier(input)
                grads[key] = grads[key].map { $0 + ig } ?? ig
            }
            if !retainGraph { node.release() }
        }
    }

    /// Variables reachable from this one, each after all of its inputs (iterative DFS).
    private func topologicalOrder() -> [Variable] {
        var order: [Variable] = []
        var visited: Set<ObjectIdentifier> = []
        var stack: [(Variable, Bool)] = [(self, false)]
        while let (v, expanded) = stack.popLast() {
            if expanded { order.append(v); continue }
            guard visited.insert(ObjectIdentifier(v)).inserted else { continue }
            stack.append((v, true))
            for input in v.node?.inputs ?? [] where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }
        return order
    }
}

/// The op that produced a variable: its inputs and its vector-Jacobian product.
final class Node {
    let name: String
    private(set) var inputs: [Variable]
    private(set) var backward: ((Tensor) -> [Tensor?])?

    init(name: String, inputs: [Variable], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }

    /// Drops the saved tensors and the links to the inputs.
    func release() {
        backward = nil
        inputs = []
    }
}

/// Whether ops record the graph.
public enum GradMode {
    /// True unless inside ``noGrad(_:)``; task-local, so concurrent tasks do not interfere.
    @TaskLocal public static var isEnabled = true
}

/// Runs `body` without recording the graph (inference, optimiser steps, EMA updates).
public func noGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$isEnabled.withValue(false, operation: body)
}

extension Variable: CustomStringConvertible {
    public var description: String {
        var d = data.description
        d.removeLast()
        return d + (node.map { ", gradFn=\($0.name)" } ?? (requiresGrad ? ", requiresGrad=true" : "")) + ")"
    }
}

/// Sums `g` down to `shape`, undoing broadcasting (leading axes added, size-1 axes expanded).
public func reduceToShape(_ g: Tensor, _ shape: [Int]) -> Tensor {
    if g.shape == shape { return g }
    let lead = g.rank - shape.count
    var axes = Array(0..<lead)
    for (i, d) in shape.enumerated() where d == 1 && g.shape[lead + i] != 1 { axes.append(lead + i) }
    return g.sum(axes: axes, keepDim: true).reshaped(shape)
}
