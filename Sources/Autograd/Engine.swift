import Tensor

// The reverse pass: `backward` accumulates into leaves, `grad(of:with:)` returns chosen gradients.
// Both run each node's rule once, after every gradient reaching it has been summed.

extension Variable {
    /// Back-propagates from this variable. A scalar needs no `gradient` (it is 1); otherwise pass
    /// the gradient of the final objective with respect to this variable. The graph is freed
    /// afterwards unless `retainGraph` is set (it defaults to `createGraph`); each node's saved
    /// tensors go as soon as its rule has run. With `createGraph` the gradients are recorded too:
    /// each leaf's ``gradVariable`` is then differentiable (PyTorch's `create_graph=True`).
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool? = nil, createGraph: Bool = false) {
        let seed = Variable.seed(gradient.map { Variable($0) }, for: self, op: "backward")
        Variable.propagate([(self, seed)], createGraph: createGraph, retainGraph: retainGraph ?? createGraph,
                           targets: nil)
    }

    /// The gradient `self` should start from: `gradient`, checked, or 1 for a one-element output.
    fileprivate static func seed(_ gradient: Variable?, for output: Variable, op: String) -> Variable {
        check(output.requiresGrad, op, "this variable does not require gradients (no input requires them)")
        if let gradient {
            check(gradient.shape == output.shape && gradient.dtype == output.dtype, op,
                  "gradient \(gradient.shape) \(gradient.dtype) does not match the output "
                  + "\(output.shape) \(output.dtype)")
            return gradient
        }
        check(output.data.count == 1, op,
              "gradient can be implied only for one-element outputs, got shape \(output.shape)")
        return Variable(Tensor.ones(output.shape, dtype: output.dtype))
    }
}

/// The gradients of `outputs` with respect to `inputs` (`torch.autograd.grad`, JAX's `vjp`), without
/// touching any variable's `grad`. `gradients` seeds each output (needed unless it has one element)
/// and may itself be in the graph. With `createGraph` the results are in the graph, so they can be
/// differentiated again: `grad(of: [grad(of: [f], with: [x], createGraph: true)[0] · v], with: [x])`
/// is a Hessian-vector product. An input the outputs do not depend on gets zeros (as JAX). The graph
/// is kept when `retainGraph` is set (by default, when `createGraph` is).
public func grad(of outputs: [Variable], with inputs: [Variable], gradients: [Variable]? = nil,
                 createGraph: Bool = false, retainGraph: Bool? = nil) -> [Variable] {
    check(gradients == nil || gradients!.count == outputs.count, "grad",
          "\(gradients?.count ?? 0) gradients for \(outputs.count) outputs; pass one per output")
    let seeds = outputs.enumerated().map { i, output in
        (output, Variable.seed(gradients?[i], for: output, op: "grad"))
    }
    let targets = Targets(inputs)
    let found = Variable.propagate(seeds, createGraph: createGraph, retainGraph: retainGraph ?? createGraph,
                                   targets: targets)
    return inputs.map { input in
        found[Targets.key(input)] ?? input.zerosLike()
    }
}

/// What `grad(of:with:)` collects: leaves by identity, non-leaves by the node that made them.
struct Targets {
    let keys: Set<ObjectIdentifier>

    init(_ inputs: [Variable]) { keys = Set(inputs.map(Targets.key)) }

    static func key(_ v: Variable) -> ObjectIdentifier { v.node.map(ObjectIdentifier.init) ?? ObjectIdentifier(v) }
}

extension Variable {
    /// The reverse pass from `seeds` (output, its gradient). With `targets` it returns the gradients
    /// of those variables, running only the nodes that lead to one; without, it accumulates every
    /// leaf's `grad` (and runs the hooks and retainers). Rules record while `createGraph` is set.
    @discardableResult
    static func propagate(_ seeds: [(Variable, Variable)], createGraph: Bool, retainGraph: Bool,
                          targets: Targets?) -> [ObjectIdentifier: Variable] {
        GradMode.$isEnabled.withValue(createGraph) {
            var found: [ObjectIdentifier: Variable] = [:]
            var grads: [ObjectIdentifier: Variable] = [:]
            func deliver(_ g: Variable, toLeaf leaf: Variable) {
                if let targets {
                    let key = ObjectIdentifier(leaf)
                    if targets.keys.contains(key) { found[key] = found[key].map { $0 + g } ?? g }
                    return
                }
                leaf.grad = leaf.grad.map { $0 + g.data } ?? g.data.contiguous()
                if createGraph { leaf.gradVariable = leaf.gradVariable.map { $0 + g } ?? g }
            }
            var roots: [Node] = []
            for (output, seed) in seeds {
                guard let node = output.node else {
                    deliver(seed, toLeaf: output)
                    if targets == nil { output.onGradientReady?(output) }
                    continue
                }
                roots.append(node)
                let key = ObjectIdentifier(node)
                grads[key] = grads[key].map { $0 + seed } ?? seed
            }
            let order = Node.topologicalOrder(from: roots)
            let needed = targets.map { Node.leadingTo($0, in: order) }
            var pendingEdges = targets == nil ? hookedLeafEdgeCounts(order) : [:]
            for node in order.reversed() {
                let edges = node.edges, key = ObjectIdentifier(node)
                defer { if !pendingEdges.isEmpty { countDown(edges, &pendingEdges) } }
                guard let g = grads.removeValue(forKey: key) else { continue }
                if let targets, targets.keys.contains(key) { found[key] = g }
                if targets == nil, let retainer = node.retainer {
                    retainer.grad = retainer.grad.map { $0 + g.data } ?? g.data.contiguous()
                }
                if let needed, !needed.contains(key) { continue }
                let inputGrads = node.run(g, createGraph: createGraph)
                for (edge, inputGrad) in zip(edges, inputGrads) {
                    guard let inputGrad else { continue }
                    switch edge {
                    case .none:
                        continue
                    case .leaf(let leaf):
                        guard leaf.requiresGrad else { continue }
                        check(inputGrad.shape == leaf.shape, "backward",
                              "rule of \(node.name) gave gradient \(inputGrad.shape) for input \(leaf.shape)")
                        deliver(inputGrad, toLeaf: leaf)
                    case .node(let input):
                        check(inputGrad.shape == input.shape, "backward",
                              "rule of \(node.name) gave gradient \(inputGrad.shape) for input \(input.shape)")
                        let inputKey = ObjectIdentifier(input)
                        grads[inputKey] = grads[inputKey].map { $0 + inputGrad } ?? inputGrad
                    }
                }
                if !retainGraph { node.release() }
            }
            return found
        }
    }

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
/// and its vector-Jacobian product with the values it saved.
final class Node {
    let name: String
    let shape: [Int]
    private(set) var edges: [Edge]
    /// The result, for rules that read it; a tensor rather than the variable, so no cycle forms.
    private(set) var output: Tensor?
    /// Whether the rule is written on variables (false for a custom op's tensor rule).
    let differentiable: Bool
    private(set) var rule: ((Variable, Variable?) -> [Variable?])?
    /// The output variable, while it asks to keep its gradient (``Variable/retainsGrad``).
    weak var retainer: Variable?

    init(name: String, shape: [Int], edges: [Edge], output: Tensor?, differentiable: Bool,
         rule: @escaping (Variable, Variable?) -> [Variable?]) {
        (self.name, self.shape, self.edges, self.output) = (name, shape, edges, output)
        (self.differentiable, self.rule) = (differentiable, rule)
    }

    /// The inputs' gradients for the output's gradient `g`. While a graph is created, the result the
    /// rule reads is a variable made by this node, so second derivatives pass through it.
    func run(_ g: Variable, createGraph: Bool) -> [Variable?] {
        guard let rule else {
            fail("backward",
                 "the graph through \(name) was already freed; pass retainGraph: true to the first backward")
        }
        check(!createGraph || differentiable, "backward",
              "createGraph: \(name) was recorded with a rule on tensors, so its gradient cannot be differentiated")
        return rule(g, output.map { createGraph ? Variable($0, node: self) : Variable($0) })
    }

    /// Drops the saved values and the links to the inputs.
    func release() {
        rule = nil
        output = nil
        edges = []
    }

    /// Every node the `roots` depend on, each after all of its inputs (iterative DFS).
    static func topologicalOrder(from roots: [Node]) -> [Node] {
        var order: [Node] = []
        var visited: Set<ObjectIdentifier> = []
        var stack: [(Node, Bool)] = roots.reversed().map { ($0, false) }
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

    /// The nodes of `order` through which a gradient reaches one of `targets` (inputs come first).
    static func leadingTo(_ targets: Targets, in order: [Node]) -> Set<ObjectIdentifier> {
        var leading: Set<ObjectIdentifier> = []
        for node in order {
            let reaches = node.edges.contains { edge in
                switch edge {
                case .none: false
                case .leaf(let leaf): targets.keys.contains(ObjectIdentifier(leaf))
                case .node(let input):
                    leading.contains(ObjectIdentifier(input)) || targets.keys.contains(ObjectIdentifier(input))
                }
            }
            if reaches { leading.insert(ObjectIdentifier(node)) }
        }
        return leading
    }
}
