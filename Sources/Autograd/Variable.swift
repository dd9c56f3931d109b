import Tensor

/// A tensor in the reverse-mode autodiff graph.
///
/// A `Variable` wraps a `Tensor` value. Leaves are made by you (`requiresGrad: true` for
/// parameters); every op on variables records, beside its result, the rule that maps the
/// result's gradient to its inputs' gradients. ``backward(_:retainGraph:createGraph:)`` walks the
/// graph in reverse topological order and accumulates `grad` on the leaves that require it;
/// ``grad(of:with:gradients:createGraph:retainGraph:)`` returns the gradients of chosen inputs instead.
/// Rules are written on variables, so with `createGraph` the gradient is itself in the graph and can be
/// differentiated again (gradient penalties, Hessian-vector products).
public final class Variable {
    /// The value.
    public var data: Tensor
    /// The accumulated gradient (leaves, and non-leaves with ``retainsGrad``), same shape as `data`.
    public var grad: Tensor?
    /// The accumulated gradient as a variable in the graph, kept on leaves by
    /// ``backward(_:retainGraph:createGraph:)`` with `createGraph` (PyTorch's `x.grad` after
    /// `backward(create_graph=True)`); `grad` holds its value.
    public var gradVariable: Variable?
    /// Whether gradients flow to this variable.
    public private(set) var requiresGrad: Bool
    /// Keep `grad` on this non-leaf too during backward (like `retain_grad()`).
    public var retainsGrad = false {
        didSet { node?.retainer = retainsGrad ? self : nil }
    }
    /// The op that made this variable; `nil` for leaves.
    let node: Node?
    /// Called on a leaf during ``backward(_:retainGraph:createGraph:)`` as soon as this pass has accumulated all of
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

    /// Records an op's result with its vector-Jacobian product on variables: `rule` maps the result's
    /// gradient to one gradient per input (`nil` for inputs that need none). It captures the inputs
    /// (or constants) it reads, never the result (see ``record(_:_:inputs:ruleReadingOutput:)``).
    /// An ordinary backward pass runs it with recording off, so it only computes tensors; with
    /// `createGraph` it records, and the gradient it returns can be differentiated again.
    ///
    /// The graph links to the inputs' own graph nodes, not to the input variables: an intermediate
    /// value lives only as long as a rule (or your code) needs it.
    public static func record(_ name: String, _ value: Tensor, inputs: [Variable],
                              rule: @escaping (Variable) -> [Variable?]) -> Variable {
        record(name, value, inputs: inputs, savesOutput: false, differentiable: true) { g, _ in rule(g) }
    }

    /// Records an op whose rule reads its own result: `rule` gets the gradient and the result, the
    /// latter as a variable made by this op while a graph is being created (so that its gradient
    /// differentiates through the result too), as a constant otherwise.
    public static func record(_ name: String, _ value: Tensor, inputs: [Variable],
                              ruleReadingOutput rule: @escaping (Variable, Variable) -> [Variable?]) -> Variable {
        record(name, value, inputs: inputs, savesOutput: true, differentiable: true) { g, y in rule(g, y!) }
    }

    /// Records an op with a rule on tensors (a custom op with a hand-written kernel): first-order only.
    /// Its gradient is a constant, so a backward pass with `createGraph` through it stops with an error;
    /// write the rule on variables (``record(_:_:inputs:rule:)``) to make it twice differentiable.
    public static func recordFirstOrder(_ name: String, _ value: Tensor, inputs: [Variable],
                                        backward: @escaping (Tensor) -> [Tensor?]) -> Variable {
        record(name, value, inputs: inputs, savesOutput: false, differentiable: false) { g, _ in
            backward(g.data).map { $0.map { Variable($0) } }
        }
    }

    private static func record(_ name: String, _ value: Tensor, inputs: [Variable], savesOutput: Bool,
                               differentiable: Bool,
                               rule: @escaping (Variable, Variable?) -> [Variable?]) -> Variable {
        guard GradMode.isEnabled, inputs.contains(where: \.requiresGrad) else { return Variable(value) }
        let edges = inputs.map { input -> Edge in
            guard input.requiresGrad else { return .none }
            return input.node.map(Edge.node) ?? .leaf(input)
        }
        let node = Node(name: name, shape: value.shape, edges: edges, output: savesOutput ? value : nil,
                        differentiable: differentiable, rule: rule)
        return Variable(value, node: node)
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

/// Runs `body` recording the graph even inside ``noGrad(_:)`` (`torch.enable_grad`).
public func enableGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$isEnabled.withValue(true, operation: body)
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
    g.shape == shape ? g : g.sum(axes: broadcastAxes(g.shape, shape), keepDim: true).reshaped(shape)
}

/// Sums `g` down to `shape` as ``reduceToShape(_:_:)-(Tensor,_)`` does, in the graph.
public func reduceToShape(_ g: Variable, _ shape: [Int]) -> Variable {
    g.shape == shape ? g : g.sum(axes: broadcastAxes(g.shape, shape), keepDim: true).reshaped(shape)
}

/// The axes of `broadcast` that broadcasting `shape` to it added or expanded.
private func broadcastAxes(_ broadcast: [Int], _ shape: [Int]) -> [Int] {
    let lead = broadcast.count - shape.count
    return Array(0..<lead) + shape.indices.filter { shape[$0] == 1 && broadcast[lead + $0] != 1 }.map { lead + $0 }
}
