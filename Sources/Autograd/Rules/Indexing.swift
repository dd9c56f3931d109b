import Tensor

// Joining, splitting, gathering, padding.

extension Variable {
    /// Joins variables along `axis`; each gets back its slice of the gradient.
    public static func concat(_ parts: [Variable], axis: Int = 0) -> Variable {
        let y = Tensor.concat(parts.map(\.data), axis: axis)
        let a = normalizeAxis(axis, rank: y.rank, op: "concat")
        let sizes = parts.map { $0.shape[a] }
        return record("concat", y, inputs: parts) { g in g.split(sizes: sizes, axis: a) }
    }

    /// Stacks variables of equal shape along a new axis.
    public static func stack(_ parts: [Variable], axis: Int = 0) -> Variable {
        let a = normalizeAxis(axis, rank: (parts.first?.rank ?? 0) + 1, op: "stack")
        return concat(parts.map { $0.unsqueezed(a) }, axis: a)
    }

    /// `torch.roll` (`Tensor.rolled(shifts:axes:)`); the gradient rolls back by the opposite shifts.
    public func rolled(shifts: [Int], axes: [Int]) -> Variable {
        Variable.record("roll", data.rolled(shifts: shifts, axes: axes), inputs: [self]) { g in
            [g.rolled(shifts: shifts.map { -$0 }, axes: axes)]
        }
    }

    /// Consecutive pieces of the given sizes along `axis`.
    public func split(sizes: [Int], axis: Int = 0) -> [Variable] {
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return slice(axis: axis, start: start, end: start + size)
        }
    }

    /// Pieces of `size` along `axis` (the last may be smaller).
    public func split(size: Int, axis: Int = 0) -> [Variable] {
        let a = normalizeAxis(axis, rank: rank, op: "split")
        return split(sizes: data.split(size: size, axis: a).map { $0.shape[a] }, axis: a)
    }

    /// `count` pieces of nearly equal size along `axis`.
    public func chunked(_ count: Int, axis: Int = 0) -> [Variable] {
        let a = normalizeAxis(axis, rank: rank, op: "chunk")
        return split(sizes: data.chunked(count, axis: a).map { $0.shape[a] }, axis: a)
    }

    /// Slices at integer `indices` along `axis`; the gradient is scatter-added back.
    public func indexSelect(axis: Int, indices: Tensor) -> Variable {
        let (inShape, dtype) = (shape, self.dtype)
        let a = normalizeAxis(axis, rank: rank, op: "indexSelect")
        return Variable.record("indexSelect", data.indexSelect(axis: a, indices: indices), inputs: [self]) { g in
            var shape = Array(repeating: 1, count: inShape.count)
            shape[a] = indices.count
            let index = indices.reshaped(shape).expanded(to: g.shape).contiguous()
            return [Variable(Tensor.zeros(inShape, dtype: dtype)).scatterAdding(axis: a, index: index, source: g)]
        }
    }

    /// `torch.gather` along `axis`; the gradient is scatter-added back.
    public func gather(axis: Int, index: Tensor) -> Variable {
        let (inShape, dtype) = (shape, self.dtype)
        return Variable.record("gather", data.gather(axis: axis, index: index), inputs: [self]) { g in
            [Variable(Tensor.zeros(inShape, dtype: dtype)).scatterAdding(axis: axis, index: index, source: g)]
        }
    }

    /// A copy with `source` added at `index` along `axis`; `source` gets the gathered gradient.
    public func scatterAdding(axis: Int, index: Tensor, source: Variable) -> Variable {
        let y = data.scatterAdding(axis: axis, index: index, source: source.data)
        return Variable.record("scatterAdd", y, inputs: [self, source]) { g in [g, g.gather(axis: axis, index: index)] }
    }

    /// Pads the trailing axes with a constant; the gradient is the unpadded centre.
    public func padded(_ widths: [(before: Int, after: Int)], value: Double = 0) -> Variable {
        let inShape = shape
        return Variable.record("pad", data.padded(widths, value: value), inputs: [self]) { g in
            var view = g
            let lead = g.rank - widths.count
            for (i, w) in widths.enumerated() {
                view = view.slice(axis: lead + i, start: w.before, end: w.before + inShape[lead + i])
            }
            return [view.contiguous()]
        }
    }
}
