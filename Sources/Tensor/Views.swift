/// Views: new shapes and strides over the same storage, no copying.
extension Tensor {
    /// The same elements in a new shape; `-1` infers one axis. A view when the strides allow
    /// (always for contiguous tensors), otherwise a contiguous copy, like `torch.reshape`.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        let target = inferShape(newShape, op: "reshape")
        if let strides = viewStrides(for: target) {
            return Tensor(storage: storage, dtype: dtype, shape: target, strides: strides, offset: offset)
        }
        return contiguous().reshaped(target)
    }

    /// Like ``reshaped(_:)`` but never copies: stops if the strides do not allow a view (`torch.view`).
    public func view(_ newShape: [Int]) -> Tensor {
        let target = inferShape(newShape, op: "view")
        guard let strides = viewStrides(for: target) else {
            fail("view", "shape \(describe(shape)) with strides \(describe(self.strides)) "
                 + "cannot be viewed as \(describe(target)); use reshaped(_:)")
        }
        return Tensor(storage: storage, dtype: dtype, shape: target, strides: strides, offset: offset)
    }

    private func inferShape(_ newShape: [Int], op: String) -> [Int] {
        let unknown = newShape.indices.filter { newShape[$0] == -1 }
        check(unknown.count <= 1, op, "only one axis may be -1 in \(describe(newShape))")
        check(newShape.allSatisfy { $0 >= -1 }, op, "invalid shape \(describe(newShape))")
        var target = newShape
        if let u = unknown.first {
            let known = newShape.filter { $0 != -1 }.reduce(1, *)
            check(known != 0 && count % known == 0, op,
                  "shape \(describe(newShape)) is invalid for \(count) elements of \(describe(shape))")
            target[u] = count / known
        }
        check(target.reduce(1, *) == count, op,
              "shape \(describe(newShape)) is invalid for \(count) elements of \(describe(shape))")
        return target
    }

    /// Strides that view this tensor's elements in `target` shape, if any (PyTorch's computeStride).
    private func viewStrides(for target: [Int]) -> [Int]? {
        if isContiguous { return Tensor.contiguousStrides(for: target) }
        if count == 0 { return Tensor.contiguousStrides(for: target) }
        var newStrides = [Int](repeating: 0, count: target.count)
        var viewD = target.count - 1
        var chunkBase = strides.last ?? 1
        var tensorNumel = 1, viewNumel = 1
        for tensorD in stride(from: rank - 1, through: 0, by: -1) {
            tensorNumel *= shape[tensorD]
            if tensorD == 0 || (shape[tensorD - 1] != 1 && strides[tensorD - 1] != tensorNumel * chunkBase) {
                while viewD >= 0 && (viewNumel < tensorNumel || target[viewD] == 1) {
                    newStrides[viewD] = viewNumel * chunkBase
                    viewNumel *= target[viewD]
                    viewD -= 1
                }
                if viewNumel != tensorNumel { return nil }
                if tensorD > 0 {
                    chunkBase = strides[tensorD - 1]
                    tensorNumel = 1
                    viewNumel = 1
                }
            }
        }
        return viewD == -1 ? newStrides : nil
    }

    /// Reorders the axes: result axis `i` is this tensor's axis `order[i]`.
    public func permuted(_ order: [Int]) -> Tensor {
        check(order.count == rank, "permute", "\(describe(order)) does not name every axis of \(describe(shape))")
        let axes = order.map { normalizeAxis($0, rank: rank, op: "permute") }
        check(Set(axes).count == rank, "permute", "\(describe(order)) repeats an axis")
        return Tensor(storage: storage, dtype: dtype, shape: axes.map { shape[$0] },
                      strides: axes.map { strides[$0] }, offset: offset)
    }

    /// Swaps two axes (by default the last two, as for a matrix transpose).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        let i = normalizeAxis(a, rank: rank, op: "transpose"), j = normalizeAxis(b, rank: rank, op: "transpose")
        var order = Array(0..<rank)
        order.swapAt(i, j)
        return permuted(order)
    }

    /// Matrix transpose of a 2-D tensor.
    public var T: Tensor {
        check(rank == 2, "T", "expects a 2-D tensor, got shape \(describe(shape))")
        return transposed()
    }

    /// Elements `start..<end` in steps of `step` along `axis`; negative `start`/`end` count from
    /// the end and out-of-range bounds are clamped, as in Python slicing.
    public func slice(axis: Int, start: Int? = nil, end: Int? = nil, step: Int = 1) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, op: "slice")
        check(step > 0, "slice", "step must be positive, got \(step)")
        let n = shape[a]
        func clamp(_ i: Int) -> Int { Swift.min(Swift.max(i < 0 ? i + n : i, 0), n) }
        let lo = clamp(start ?? 0), hi = Swift.max(lo, clamp(end ?? n))
        var newShape = shape, newStrides = strides
        newShape[a] = (hi - lo + step - 1) / step
        newStrides[a] = strides[a] * step
        return Tensor(storage: storage, dtype: dtype, shape: newShape, strides: newStrides,
                      offset: offset + (newShape[a] > 0 ? lo * strides[a] : 0))
    }

    /// The sub-tensor at `index` along `axis`, with that axis removed (negative counts from the end).
    public func select(axis: Int, index: Int) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, op: "select")
        let i = index < 0 ? index + shape[a] : index
        check(i >= 0 && i < shape[a], "select",
              "index \(index) is out of range for axis \(axis) of size \(shape[a]) in \(describe(shape))")
        var newShape = shape, newStrides = strides
        newShape.remove(at: a)
        newStrides.remove(at: a)
        return Tensor(storage: storage, dtype: dtype, shape: newShape, strides: newStrides,
                      offset: offset + i * strides[a])
    }

    /// Indexes like NumPy: `x[0]`, `x[1..<3, .all]`, `x[.stride(by: 2)]`, `x[.newAxis, -1]`.
    /// Integers remove their axis; every other index keeps one; all results are views.
    public subscript(_ indices: any TensorIndexExpression...) -> Tensor { index(indices.map(\.tensorIndex)) }

    /// The tensor indexed by a list of ``TensorIndex`` values.
    public func index(_ indices: [TensorIndex]) -> Tensor {
        var result = self
        var axis = 0
        check(indices.filter({ if case .insertAxis = $0 { false } else { true } }).count <= rank,
              "subscript", "\(indices.count) indices for a tensor of shape \(describe(shape))")
        for i in indices {
            switch i {
            case .position(let k): result = result.select(axis: axis, index: k)
            case let .slice(lo, hi, step):
                result = result.slice(axis: axis, start: lo, end: hi, step: step)
                axis += 1
            case .insertAxis:
                result = result.unsqueezed(axis)
                axis += 1
            }
        }
        return result
    }

    /// Broadcasts to `target` without copying: size-1 axes get stride 0, new leading axes are added.
    public func expanded(to target: [Int]) -> Tensor {
        check(target.count >= rank, "expand", "cannot expand \(describe(shape)) to fewer axes \(describe(target))")
        let lead = target.count - rank
        var newStrides = [Int](repeating: 0, count: target.count)
        for i in 0..<target.count where i >= lead {
            let d = shape[i - lead]
            if d == target[i] {
                newStrides[i] = strides[i - lead]
            } else {
                check(d == 1, "expand", "cannot expand \(describe(shape)) to \(describe(target))")
            }
        }
        return Tensor(storage: storage, dtype: dtype, shape: target, strides: newStrides, offset: offset)
    }

    /// Removes size-1 axes: the given one, or all of them.
    public func squeezed(_ axis: Int? = nil) -> Tensor {
        var keep = Array(0..<rank)
        if let axis {
            let a = normalizeAxis(axis, rank: rank, op: "squeeze")
            if shape[a] == 1 { keep.remove(at: a) }
        } else {
            keep = keep.filter { shape[$0] != 1 }
        }
        return Tensor(storage: storage, dtype: dtype, shape: keep.map { shape[$0] },
                      strides: keep.map { strides[$0] }, offset: offset)
    }

    /// Inserts a size-1 axis at `axis` (negative counts from the end of the result).
    public func unsqueezed(_ axis: Int) -> Tensor {
        let a = normalizeAxis(axis, rank: rank + 1, op: "unsqueeze")
        var newShape = shape, newStrides = strides
        newShape.insert(1, at: a)
        newStrides.insert(a < rank ? strides[a] * shape[a] : 1, at: a)
        return Tensor(storage: storage, dtype: dtype, shape: newShape, strides: newStrides, offset: offset)
    }

    /// Merges axes `start...end` into one.
    public func flattened(from start: Int = 0, to end: Int = -1) -> Tensor {
        if rank == 0 { return reshaped([1]) }
        let s = normalizeAxis(start, rank: rank, op: "flatten"), e = normalizeAxis(end, rank: rank, op: "flatten")
        check(s <= e, "flatten", "start axis \(start) is after end axis \(end)")
        let merged = shape[s...e].reduce(1, *)
        return reshaped(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// This tensor if already contiguous, otherwise a contiguous copy.
    public func contiguous() -> Tensor {
        isContiguous ? self : copy()
    }

    /// A new contiguous tensor with the same values.
    public func copy() -> Tensor {
        let out = Tensor(empty: shape, dtype: dtype)
        out.assign(self)
        return out
    }

    /// Writes `source` (broadcast to this shape, same dtype) into this tensor's elements in place.
    public func assign(_ source: Tensor) {
        check(source.dtype == dtype, "assign", "dtypes differ: \(source.dtype) into \(dtype)")
        let src = source.expanded(to: shape)
        switch dtype.byteSize {
        case 1: stridedCopy(UInt8.self, from: src, to: self)
        case 4: stridedCopy(UInt32.self, from: src, to: self)
        default: stridedCopy(UInt64.self, from: src, to: self)
        }
    }
}

private func stridedCopy<T>(_: T.Type, from src: Tensor, to dst: Tensor) {
    let s = src.storage.base.assumingMemoryBound(to: T.self) + src.offset
    let d = dst.storage.base.assumingMemoryBound(to: T.self) + dst.offset
    let it = RowIterator(shape: dst.shape, strides: [src.strides, dst.strides])
    let n = it.rowLength, ss = it.innerStride(0), ds = it.innerStride(1)
    parallelChunks(it.rowCount, costPerItem: n) { rows in
        it.forEachRow(in: rows) { o in
            let sp = s + o[0], dp = d + o[1]
            if ss == 1 && ds == 1 {
                dp.update(from: sp, count: n)
            } else {
                for i in 0..<n { dp[i * ds] = sp[i * ss] }
            }
        }
    }
}

/// One entry of a subscript: a position, a stepped range of positions, or a new axis.
public enum TensorIndex: Sendable {
    /// One position (removes the axis); negative counts from the end.
    case position(Int)
    /// `start..<end` stepping by `step`; `nil` bounds mean the ends of the axis.
    case slice(start: Int?, end: Int?, step: Int)
    /// Inserts a size-1 axis.
    case insertAxis
}

/// Anything that can index one axis: `Int`, Swift ranges (`1..<3`, `2...`, `..<(-1)`),
/// `.all`, `.stride(from:to:by:)` and `.newAxis`.
public protocol TensorIndexExpression {
    var tensorIndex: TensorIndex { get }
}

extension TensorIndexExpression where Self == TensorIndex {
    /// The whole axis.
    public static var all: TensorIndex { .slice(start: nil, end: nil, step: 1) }
    /// A new size-1 axis (NumPy's `None`).
    public static var newAxis: TensorIndex { .insertAxis }
    /// Every `step`-th position from `start` up to (not including) `end`.
    public static func stride(from start: Int? = nil, to end: Int? = nil, by step: Int) -> TensorIndex {
        .slice(start: start, end: end, step: step)
    }
}

extension TensorIndex: TensorIndexExpression { public var tensorIndex: TensorIndex { self } }
extension Int: TensorIndexExpression { public var tensorIndex: TensorIndex { .position(self) } }
extension Range<Int>: TensorIndexExpression {
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: upperBound, step: 1) }
}
extension ClosedRange<Int>: TensorIndexExpression {
    public var tensorIndex: TensorIndex {
        .slice(start: lowerBound, end: upperBound == -1 ? nil : upperBound + 1, step: 1)
    }
}
extension PartialRangeFrom<Int>: TensorIndexExpression {
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: nil, step: 1) }
}
extension PartialRangeUpTo<Int>: TensorIndexExpression {
    public var tensorIndex: TensorIndex { .slice(start: nil, end: upperBound, step: 1) }
}
extension PartialRangeThrough<Int>: TensorIndexExpression {
    public var tensorIndex: TensorIndex { .slice(start: nil, end: upperBound == -1 ? nil : upperBound + 1, step: 1) }
}
