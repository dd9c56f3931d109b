import Tensor

// Views. The forward makes no copy; the gradient is the inverse view of the output gradient,
// or the gradient written into a zero tensor of the input's shape through the same view.

extension Variable {
    /// A new shape for the same elements (a view when strides allow).
    public func reshaped(_ newShape: [Int]) -> Variable {
        let inShape = shape
        return Variable.record("reshape", data.reshaped(newShape), inputs: [self]) { g in [g.reshaped(inShape)] }
    }

    /// Reorders the axes.
    public func permuted(_ order: [Int]) -> Variable {
        let y = data.permuted(order)
        let axes = order.map { normalizeAxis($0, rank: rank, op: "permute") }
        var inverse = [Int](repeating: 0, count: axes.count)
        for (i, a) in axes.enumerated() { inverse[a] = i }
        return Variable.record("permute", y, inputs: [self]) { g in [g.permuted(inverse)] }
    }

    /// Swaps two axes (by default the last two).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Variable {
        var order = Array(0..<rank)
        order.swapAt(normalizeAxis(a, rank: rank, op: "transpose"), normalizeAxis(b, rank: rank, op: "transpose"))
        return permuted(order)
    }

    /// Broadcasts to `target` without copying.
    public func expanded(to target: [Int]) -> Variable {
        let inShape = shape
        return Variable.record("expand", data.expanded(to: target), inputs: [self]) { g in [reduceToShape(g, inShape)] }
    }

    /// Removes size-1 axes (one, or all).
    public func squeezed(_ axis: Int? = nil) -> Variable {
        let inShape = shape
        return Variable.record("squeeze", data.squeezed(axis), inputs: [self]) { g in [g.reshaped(inShape)] }
    }

    /// Inserts a size-1 axis.
    public func unsqueezed(_ axis: Int) -> Variable {
        let inShape = shape
        return Variable.record("unsqueeze", data.unsqueezed(axis), inputs: [self]) { g in [g.reshaped(inShape)] }
    }

    /// Merges axes `start...end`.
    public func flattened(from start: Int = 0, to end: Int = -1) -> Variable {
        let inShape = shape
        return Variable.record("flatten", data.flattened(from: start, to: end), inputs: [self]) { g in
            [g.reshaped(inShape)]
        }
    }

    /// A contiguous copy when needed; gradient passes through.
    public func contiguous() -> Variable {
        Variable.record("contiguous", data.contiguous(), inputs: [self]) { g in [g] }
    }

    /// Any view of the input made by `view`; the gradient is scattered back through the same view.
    private func viewed(_ name: String, _ view: @escaping (Tensor) -> Tensor) -> Variable {
        let inShape = shape
        return Variable.record(name, view(data), inputs: [self]) { g in [g.scattered(name, into: inShape, view)] }
    }

    /// Zeros of `shape` with `self` written through `view`: the view's adjoint, so its own gradient is
    /// the view again (which keeps gradients of views differentiable).
    private func scattered(_ name: String, into shape: [Int], _ view: @escaping (Tensor) -> Tensor) -> Variable {
        let result = Tensor.zeros(shape, dtype: dtype)
        view(result).assign(data)
        return Variable.record(name + "Backward", result, inputs: [self]) { u in [u.viewed(name, view)] }
    }

    /// Elements `start..<end` by `step` along `axis` (Python slicing rules).
    public func slice(axis: Int, start: Int? = nil, end: Int? = nil, step: Int = 1) -> Variable {
        viewed("slice") { $0.slice(axis: axis, start: start, end: end, step: step) }
    }

    /// The sub-tensor at `index` along `axis`, with that axis removed.
    public func select(axis: Int, index: Int) -> Variable {
        viewed("select") { $0.select(axis: axis, index: index) }
    }

    /// NumPy-style indexing with integers, ranges, steps and new axes.
    public subscript(_ indices: any TensorIndexExpression...) -> Variable { index(indices.map(\.tensorIndex)) }

    /// Indexing with a list of `TensorIndex`.
    public func index(_ indices: [TensorIndex]) -> Variable { viewed("index") { $0.index(indices) } }
}
