import Tensor

/// A tensor in the reverse-mode autodiff graph.
///
/// A `Variable` wraps a `Tensor` value. Leaves are made by you (`requiresGrad: true` for
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
    public var retainsGrad = false {
        didSet { node?.retainer = retainsGrad ? self : nil }
    }
    /// The op that made this variable; `nil` for leaves.
    let node: Node?
    /// Called on a leaf during ``backward(_:retainGraph:)`` as soon as this pass has accumulated all of
    /// its gradient (PyTorch's `register_post_accumulate_grad_hook`): data-parallel training starts a
    /// bucket's all-reduce there, while the rest of the backward pass runs.
    public var onGradientReady: ((Variable) -> Void)?

    /// A leaf holding `data`.
    public init(_ data: Tensor, requiresGrad: Bool = false) {
        check(!requiresGrad || data.dtype.isFloatingPoint, "Variable",
              "only floating-point tensors can require gradients, got \(data.dtype)")
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
    ///
    /// The graph keeps what `backward` captures and links to the inputs' own graph nodes, not the
    /// input variables: an intermediate value lives only as long as a rule (or your code) needs it.
    public static func record(_ name: String, _ value: Tensor, inputs: [Variable],
                              backward: @escaping (Tensor) -> [Tensor?]) -> Variable {
        guard GradMode.isEnabled, inputs.contains(where: \.requiresGrad) else { return Variable(value) }
        let edges = inputs.map { input -> Edge in
            guard input.requiresGrad else { return .none }
            return input.node.map(Edge.node) ?? .leaf(input)
        }
        return Variable(value, node: Node(name: name, shape: value.shape, edges: edges, backward: backward))
    }

    /// Back-propagates from this variable. A scalar needs no `gradient` (it is 1); otherwise pass
    /// the gradient of the final objective with respect to this variable. The graph is freed
    /// afterwards unless `retainGraph` is set; each node's saved tensors go as soon as its rule has run.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) {
        check(requiresGrad, "backward", "this variable does not require gradients (no input requires them)")
        let seed: Tensor
        if let gradient {
            check(gradient.shape == shape && gradient.dtype == dtype, "backward",
                  "gradient \(gradient.shape) \(gradient.dtype) does not match the output \(shape) \(dtype)")
            seed = gradient
        } else {
            check(data.count == 1, "backward",
                  "gradient can be implied only for one-element outputs, got shape \(shape)")
            seed = Tensor.ones(shape, dtype: dtype)
        }
        guard let root = node else {
            grad = grad.map { $0 + seed } ?? seed.contiguous()
            onGradientReady?(self)
            return
        }
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
        let order = root.topologicalOrder()
        var pendingEdges = Self.hookedLeafEdgeCounts(order)
        for node in order.reversed() {
            let edges = node.edges
            defer { if !pendingEdges.isEmpty { Self.countDown(edges, &pendingEdges) } }
            guard let g = grads.removeValue(forKey: ObjectIdentifier(node)) else { continue }
            if let retainer = node.retainer { retainer.grad = retainer.grad.map { $0 + g } ?? g.contiguous() }
            guard let rule = node.backward else {
                fail("backward",
                     "the graph through \(node.name) was already freed; pass retainGraph: true to the first backward")
            }
            let inputGrads = GradMode.$isEnabled.withValue(false) { rule(g) }
            for (edge, inputGrad) in zip(edges, inputGrads) {
                guard let inputGrad else { continue }
                switch edge {
                case .none:
                    continue
                case .leaf(let leaf):
                    guard leaf.requiresGrad else { continue }
                    check(inputGrad.shape == leaf.shape, "backward",
                          "rule of \(node.name) gave gradient \(inputGrad.shape) for input \(leaf.shape)")
                    leaf.grad = leaf.grad.map { $0 + inputGrad } ?? inputGrad.contiguous()
                case .node(let input):
                    check(inputGrad.shape == input.shape, "backward",
                          "rule of \(node.name) gave gradient \(inputGrad.shape) for input \(input.shape)")
                    let key = ObjectIdentifier(input)
                    grads[key] = grads[key].map { $0 + inputGrad } ?? inputGrad
                }
            }
            if !retainGraph { node.release() }
        }
    }
}

extension Variable {
    /// How many edges of `order` lead to each leaf that has an ``onGradientReady`` hook.
    fileprivate static func hookedLeafEdgeCounts(_ order: [Node]) -> [ObjectIdentifier: Int] {
        var counts: [ObjectIdentifier: Int] = [:]
        for node in order {
            for case .leaf(let leaf) in node.edges where leaf.onGradientReady != nil && leaf.requiresGrad {
                counts[ObjectIdentifier(leaf), default: 0] += 1
            }
        }
        return counts
    }

    /// Counts down the hooked leaves of a node that has run (or was skipped); runs the hook of each
    /// leaf whose last edge this was, whether or not any gradient reached it (so that every process
    /// of a data-parallel job runs the same hooks in the same order for the same graph).
    fileprivate static func countDown(_ edges: [Edge], _ pending: inout [ObjectIdentifier: Int]) {
        for case .leaf(let leaf) in edges {
            let key = ObjectIdentifier(leaf)
            guard let left = pending[key] else { continue }
            if left > 1 {
                pending[key] = left - 1
            } else {
                pending[key] = nil
                leaf.onGradientReady?(leaf)
            }
        }
    }
}

/// Where an op's input sends its gradient: a leaf's `grad`, the node that made the input, or
/// nowhere (the input needs no gradient).
enum Edge {
    case none
    case leaf(Variable)
    case node(Node)
}

/// The op that produced a variable: the output's shape, links to its inputs' nodes and leaves,
/// and its vector-Jacobian product with the tensors it saved.
final class Node {
    let name: String
    let shape: [Int]
    private(set) var edges: [Edge]
    private(set) var backward: ((Tensor) -> [Tensor?])?
    /// The output variable, while it asks to keep its gradient (``Variable/retainsGrad``).
    weak var retainer: Variable?

    init(name: String, shape: [Int], edges: [Edge], backward: @escaping (Tensor) -> [Tensor?]) {
        (self.name, self.shape, self.edges, self.backward) = (name, shape, edges, backward)
    }

    /// Drops the saved tensors and the links to the inputs.
    func release() {
        backward = nil
        edges = []
    }

    /// This node and every node it depends on, each after all of its inputs (iterative DFS).
    func topologicalOrder() -> [Node] {
        var order: [Node] = []
        var visited: Set<ObjectIdentifier> = []
        var stack: [(Node, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
            stack.append((node, true))
            for case .node(let input) in node.edges where !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }
        return order
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
