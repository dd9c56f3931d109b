/// Joining, splitting, gathering and padding.
extension Tensor {
    /// Joins tensors of equal dtype and shape (except along `axis`) along `axis`.
    public static func concat(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        check(!tensors.isEmpty, "concat", "needs at least one tensor")
        let first = tensors[0]
        let a = normalizeAxis(axis, rank: first.rank, op: "concat")
        for t in tensors {
            check(t.dtype == first.dtype, "concat", "dtypes differ: \(first.dtype) and \(t.dtype)")
            var s1 = t.shape, s0 = first.shape
            check(s1.count == s0.count, "concat", "ranks differ: \(describe(s0)) and \(describe(s1))")
            s1[a] = 0; s0[a] = 0
            check(s1 == s0, "concat",
                  "shapes \(describe(first.shape)) and \(describe(t.shape)) differ outside axis \(axis)")
        }
        var shape = first.shape
        shape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
        let out = Tensor(empty: shape, dtype: first.dtype)
        var start = 0
        for t in tensors {
            out.slice(axis: a, start: start, end: start + t.shape[a]).assign(t)
            start += t.shape[a]
        }
        return out
    }

    /// Stacks tensors of equal shape along a new axis.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        check(!tensors.isEmpty, "stack", "needs at least one tensor")
        for t in tensors {
            check(t.shape == tensors[0].shape, "stack",
                  "shapes differ: \(describe(tensors[0].shape)) and \(describe(t.shape))")
        }
        let a = normalizeAxis(axis, rank: tensors[0].rank + 1, op: "stack")
        return concat(tensors.map { $0.unsqueezed(a) }, axis: a)
    }

    /// Views of consecutive pieces of the given sizes along `axis`.
    public func split(sizes: [Int], axis: Int = 0) -> [Tensor] {
        let a = normalizeAxis(axis, rank: rank, op: "split")
        check(sizes.reduce(0, +) == shape[a] && sizes.allSatisfy { $0 >= 0 }, "split",
              "sizes \(describe(sizes)) do not add up to axis \(axis) of \(describe(shape))")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return slice(axis: a, start: start, end: start + size)
        }
    }

    /// Views of pieces of `size` along `axis` (the last may be smaller), like `torch.split`.
    public func split(size: Int, axis: Int = 0) -> [Tensor] {
        check(size > 0, "split", "size must be positive, got \(size)")
        let n = shape[normalizeAxis(axis, rank: rank, op: "split")]
        return split(sizes: stride(from: 0, to: n, by: size).map { Swift.min(size, n - $0) }, axis: axis)
    }

    /// `count` views of nearly equal size along `axis`, like `torch.chunk`.
    public func chunked(_ count: Int, axis: Int = 0) -> [Tensor] {
        check(count > 0, "chunk", "count must be positive, got \(count)")
        let n = shape[normalizeAxis(axis, rank: rank, op: "chunk")]
        return split(size: Swift.max(1, (n + count - 1) / count), axis: axis)
    }

    /// The slices at `indices` (a 1-D integer tensor) along `axis`, copied.
    public func indexSelect(axis: Int, indices: Tensor) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, op: "indexSelect")
        let idx = integerValues(indices, op: "indexSelect", bound: shape[a])
        check(indices.rank == 1, "indexSelect", "indices must be 1-D, got \(describe(indices.shape))")
        var outShape = shape
        outShape[a] = idx.count
        let out = Tensor(empty: outShape, dtype: dtype)
        for (j, i) in idx.enumerated() { out.select(axis: a, index: j).assign(select(axis: a, index: i)) }
        return out
    }

    /// `out[…, i, …] = self[…, index[…, i, …], …]` along `axis`, like `torch.gather`.
    public func gather(axis: Int, index: Tensor) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, op: "gather")
        check(index.rank == rank, "gather",
              "index \(describe(index.shape)) and input \(describe(shape)) differ in rank")
        for d in 0..<rank where d != a {
            check(index.shape[d] <= shape[d], "gather",
                  "index \(describe(index.shape)) is larger than input \(describe(shape)) on axis \(d)")
        }
        let idx = integerValues(index, op: "gather", bound: shape[a])
        let out = Tensor(empty: index.shape, dtype: dtype)
        forEachIndexed(index.shape, axis: a, idx) { outOffset, sourceIndex in
            out.setElement(atOffset: outOffset, element(atOffset: storageOffset(of: sourceIndex)))
        }
        return out
    }

    /// A copy of this tensor with `source` added at `index` along `axis`, like `torch.scatter_add`.
    public func scatterAdding(axis: Int, index: Tensor, source: Tensor) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, op: "scatterAdd")
        check(index.shape == source.shape, "scatterAdd",
              "index \(describe(index.shape)) and source \(describe(source.shape)) differ")
        check(source.dtype == dtype, "scatterAdd", "dtypes differ: \(dtype) and \(source.dtype)")
        check(index.rank == rank, "scatterAdd",
              "index \(describe(index.shape)) and input \(describe(shape)) differ in rank")
        let idx = integerValues(index, op: "scatterAdd", bound: shape[a])
        let out = copy(), src = source.contiguous()
        forEachIndexed(index.shape, axis: a, idx) { position, target in
            let o = out.storageOffset(of: target)
            out.setElement(atOffset: o, out.element(atOffset: o) + src.element(atOffset: src.offset + position))
        }
        return out
    }

    /// One-hot float32 encoding of integer class labels: shape + [classes].
    public func oneHot(classes: Int, dtype: DType = .float32) -> Tensor {
        let idx = integerValues(self, op: "oneHot", bound: classes)
        let out = Tensor.zeros(shape + [classes], dtype: dtype)
        for (i, c) in idx.enumerated() { out.setElement(atOffset: i * classes + c, 1) }
        return out
    }

    /// Pads the last `widths.count` axes with `value`: `(before, after)` per axis, in axis order.
    public func padded(_ widths: [(before: Int, after: Int)], value: Double = 0) -> Tensor {
        check(widths.count <= rank, "pad", "\(widths.count) pad widths for a tensor of shape \(describe(shape))")
        check(widths.allSatisfy { $0.before >= 0 && $0.after >= 0 }, "pad", "pad widths must be non-negative")
        var outShape = shape
        let lead = rank - widths.count
        for (i, w) in widths.enumerated() { outShape[lead + i] += w.before + w.after }
        let out = Tensor.full(outShape, value, dtype: dtype)
        var view = out
        for (i, w) in widths.enumerated() {
            view = view.slice(axis: lead + i, start: w.before, end: w.before + shape[lead + i])
        }
        view.assign(self)
        return out
    }
}

extension Tensor {
    /// Calls `body(linearPosition, sourceIndex)` for each position of `indexShape`, where
    /// `sourceIndex` is the position with its `axis` coordinate replaced by the index value.
    fileprivate func forEachIndexed(_ indexShape: [Int], axis: Int, _ idx: [Int], _ body: (Int, [Int]) -> Void) {
        var position = [Int](repeating: 0, count: indexShape.count)
        for linear in 0..<idx.count {
            var source = position
            source[axis] = idx[linear]
            body(linear, source)
            for d in stride(from: indexShape.count - 1, through: 0, by: -1) {
                position[d] += 1
                if position[d] < indexShape[d] { break }
                position[d] = 0
            }
        }
    }
}

/// The values of an integer tensor in row-major order, each checked against `0..<bound`
/// (negative values count from the end, as in PyTorch).
func integerValues(_ t: Tensor, op: String, bound: Int) -> [Int] {
    check(t.dtype == .int64 || t.dtype == .int32, op, "indices must be int64 or int32, got \(t.dtype)")
    return t.doubles.map { v in
        let i = Int(v) < 0 ? Int(v) + bound : Int(v)
        check(i >= 0 && i < bound, op, "index \(Int(v)) is out of range for size \(bound)")
        return i
    }
}

extension Tensor {
    /// `torch.roll`: elements shifted by `shifts[i]` along `axes[i]`, those pushed past the end
    /// coming back at the start (a negative shift moves them the other way). A copy.
    public func rolled(shifts: [Int], axes: [Int]) -> Tensor {
        check(shifts.count == axes.count, "roll", "needs one shift per axis, got \(shifts.count) and \(axes.count)")
        var y = self
        for (shift, axis) in zip(shifts, axes) {
            let a = normalizeAxis(axis, rank: rank, op: "roll")
            let n = shape[a]
            guard n > 0 else { continue }
            let s = ((shift % n) + n) % n
            if s == 0 { continue }
            y = Tensor.concat([y.slice(axis: a, start: n - s), y.slice(axis: a, start: 0, end: n - s)], axis: a)
        }
        return y.contiguous()
    }
}
