import CKernels

/// Reductions over any set of axes, with or without keeping them as size-1 axes.
///
/// Every reduction is brought to the shape [outer, reduced, inner] over contiguous memory
/// (a permuted copy only when the reduced axes are not one contiguous block), then one kernel
/// reduces rows (inner = 1, SIMD accumulators) or accumulates whole rows into the output.
public enum ReduceOp: String, Sendable { case sum, max, min }

extension Tensor {
    /// Sum over `axes` (all axes when empty).
    public func sum(axes: [Int] = [], keepDim: Bool = false) -> Tensor { reduce(.sum, axes: axes, keepDim: keepDim) }
    /// Sum over one axis.
    public func sum(axis: Int, keepDim: Bool = false) -> Tensor { reduce(.sum, axes: [axis], keepDim: keepDim) }

    /// Mean over `axes` (all axes when empty).
    public func mean(axes: [Int] = [], keepDim: Bool = false) -> Tensor {
        check(dtype.isFloatingPoint, "mean", "expects a floating-point tensor, got \(dtype)")
        let n = reducedCount(axes)
        return sum(axes: axes, keepDim: keepDim) / Double(Swift.max(n, 1)) * (n == 0 ? .nan : 1)
    }
    public func mean(axis: Int, keepDim: Bool = false) -> Tensor { mean(axes: [axis], keepDim: keepDim) }

    /// Variance over `axes`; `unbiased` divides by n − 1 (Bessel), as `torch.var` does by default.
    public func variance(axes: [Int] = [], unbiased: Bool = true, keepDim: Bool = false) -> Tensor {
        let n = reducedCount(axes)
        let centred = self - mean(axes: axes, keepDim: true)
        return (centred * centred).sum(axes: axes, keepDim: keepDim) / Double(Swift.max(n - (unbiased ? 1 : 0), 0))
    }

    /// Standard deviation over `axes`.
    public func standardDeviation(axes: [Int] = [], unbiased: Bool = true, keepDim: Bool = false) -> Tensor {
        variance(axes: axes, unbiased: unbiased, keepDim: keepDim).sqrt()
    }

    /// Largest value over `axes` (all when empty).
    public func max(axes: [Int] = [], keepDim: Bool = false) -> Tensor { reduce(.max, axes: axes, keepDim: keepDim) }
    /// Smallest value over `axes` (all when empty).
    public func min(axes: [Int] = [], keepDim: Bool = false) -> Tensor { reduce(.min, axes: axes, keepDim: keepDim) }

    /// log Σ exp over `axes`, computed stably around the maximum.
    public func logSumExp(axes: [Int] = [], keepDim: Bool = false) -> Tensor {
        let m = self.max(axes: axes, keepDim: true)
        let safeMax = Tensor.where(m.map(.abs) .== .infinity, m.zerosLike(), m)
        let lse = (self - safeMax).exp().sum(axes: axes, keepDim: true).log() + safeMax
        return keepDim ? lse : lse.squeezing(axes: normalizedAxes(axes, op: "logSumExp"))
    }

    /// The p-norm over `axes`: p = 2 (default), 1, or `.infinity`.
    public func norm(_ p: Double = 2, axes: [Int] = [], keepDim: Bool = false) -> Tensor {
        switch p {
        case 2: return (self * self).sum(axes: axes, keepDim: keepDim).sqrt()
        case 1: return abs().sum(axes: axes, keepDim: keepDim)
        case .infinity: return abs().max(axes: axes, keepDim: keepDim)
        default: return abs().pow(p).sum(axes: axes, keepDim: keepDim).pow(1 / p)
        }
    }

    /// Largest values along `axis` and their indices (int64), like `torch.max(x, dim)`.
    public func max(axis: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        extremum(axis: axis, keepDim: keepDim, largest: true)
    }
    /// Smallest values along `axis` and their indices (int64).
    public func min(axis: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        extremum(axis: axis, keepDim: keepDim, largest: false)
    }
    /// Index of the largest value along `axis` (the first one on ties), int64.
    public func argmax(axis: Int, keepDim: Bool = false) -> Tensor { max(axis: axis, keepDim: keepDim).indices }
    /// Index of the smallest value along `axis`, int64.
    public func argmin(axis: Int, keepDim: Bool = false) -> Tensor { min(axis: axis, keepDim: keepDim).indices }

    // MARK: Machinery

    func normalizedAxes(_ axes: [Int], op: String) -> [Int] {
        if axes.isEmpty { return Array(0..<rank) }
        let a = axes.map { normalizeAxis($0, rank: rank, op: op) }
        check(Set(a).count == a.count, op, "repeated axis in \(describe(axes))")
        return a.sorted()
    }

    func reducedCount(_ axes: [Int]) -> Int {
        normalizedAxes(axes, op: "reduce").reduce(1) { $0 * (rank == 0 ? 1 : shape[$1]) }
    }

    /// Removes the given (sorted, size-1) axes.
    func squeezing(axes: [Int]) -> Tensor {
        var keep = Array(0..<rank)
        keep.removeAll { axes.contains($0) }
        return Tensor(storage: storage, dtype: dtype, shape: keep.map { shape[$0] }, strides: keep.map { strides[$0] },
                      offset: offset)
    }

    /// `op` over `axes` (all when empty).
    public func reduce(_ op: ReduceOp, axes: [Int] = [], keepDim: Bool = false) -> Tensor {
        if dtype == .bool {
            // Sums count (int64, as PyTorch); max and min stay bool (any / all).
            let widened = converted(to: .int64).reduce(op, axes: axes, keepDim: keepDim)
            return op == .sum ? widened : widened.converted(to: .bool)
        }
        let ax = rank == 0 ? [] : normalizedAxes(axes, op: op.rawValue)
        let keptShape = shape.enumerated().map { ax.contains($0.offset) ? 1 : $0.element }
        let reduced = ax.reduce(1) { $0 * shape[$1] }
        check(op == .sum || reduced > 0, op.rawValue, "cannot reduce an empty axis of \(describe(shape))")
        // Arrange as [outer, reduced, inner] over contiguous memory.
        var source = self
        var outer = 1, inner = 1
        if let first = ax.first, ax.last! - first + 1 == ax.count, isContiguous {
            outer = shape[..<first].reduce(1, *)
            inner = shape[(ax.last! + 1)...].reduce(1, *)
        } else if !ax.isEmpty {
            let kept = (0..<rank).filter { !ax.contains($0) }
            source = permuted(kept + ax).contiguous()
            outer = kept.reduce(1) { $0 * shape[$1] }
        }
        let out = Tensor(empty: keptShape, dtype: dtype)
        switch dtype {
        case .float32: reduceKernel(Float.self, op, source, out, outer, reduced, inner)
        case .float64: reduceKernel(Double.self, op, source, out, outer, reduced, inner)
        case .int64: reduceKernel(Int64.self, op, source, out, outer, reduced, inner)
        case .int32: reduceKernel(Int32.self, op, source, out, outer, reduced, inner)
        case .bool: fatalError("unreachable")
        }
        return keepDim ? out : out.squeezing(axes: ax)
    }

    private func extremum(axis: Int, keepDim: Bool, largest: Bool) -> (values: Tensor, indices: Tensor) {
        let op = largest ? "max" : "min"
        let a = normalizeAxis(axis, rank: rank, op: op)
        check(rank > 0 && shape[a] > 0, op, "cannot reduce an empty axis of \(describe(shape))")
        let moved = (a == rank - 1 ? self : permuted((0..<rank).filter { $0 != a } + [a])).contiguous()
        let n = shape[a], rows = count / n
        var keptShape = shape
        keptShape[a] = 1
        let values = Tensor(empty: keptShape, dtype: dtype), indices = Tensor(empty: keptShape, dtype: .int64)
        let ip = indices.pointer(as: Int64.self)
        func scan<T: NumericElement>(_: T.Type) {
            let xp = moved.pointer(as: T.self), vp = values.pointer(as: T.self)
            for r in 0..<rows {
                let row = xp + r * n
                var best = row[0], bi = 0
                for i in 1..<Swift.max(n, 1) {
                    let v = row[i]
                    if best != best { break }  // NaN wins, as in PyTorch
                    if v != v || (largest ? v > best : v < best) { best = v; bi = i }
                }
                vp[r] = best
                ip[r] = Int64(bi)
            }
        }
        switch dtype {
        case .float32: scan(Float.self)
        case .float64: scan(Double.self)
        case .int64: scan(Int64.self)
        case .int32: scan(Int32.self)
        case .bool:
            let widened = converted(to: .int64).extremum(axis: axis, keepDim: keepDim, largest: largest)
            return (widened.values.converted(to: .bool), widened.indices)
        }
        return keepDim ? (values, indices) : (values.squeezing(axes: [a]), indices.squeezing(axes: [a]))
    }
}

private func reduceKernel<T: NumericElement>(_: T.Type, _ op: ReduceOp, _ x: Tensor, _ out: Tensor,
                                             _ outer: Int, _ reduced: Int, _ inner: Int) {
    let xp = SendablePointer(x.pointer(as: T.self)), op_ = SendablePointer(out.pointer(as: T.self))
    if inner == 1 {
        parallelChunks(outer, costPerItem: reduced) { rows in
            for r in rows { op_.p[r] = reduceRow(op, xp.p + r * reduced, reduced) }
        }
        return
    }
    parallelChunks(outer, costPerItem: reduced * inner) { rows in
        for r in rows {
            let o = op_.p + r * inner, base = xp.p + r * reduced * inner
            if reduced == 0 { o.update(repeating: 0, count: inner); continue }
            o.update(from: base, count: inner)
            for k in 1..<reduced {
                let row = base + k * inner
                switch op {
                case .sum: for i in 0..<inner { o[i] += row[i] }
                case .max: for i in 0..<inner where row[i] > o[i] || row[i] != row[i] { o[i] = row[i] }
                case .min: for i in 0..<inner where row[i] < o[i] || row[i] != row[i] { o[i] = row[i] }
                }
            }
        }
    }
}

/// Reduces `n` contiguous values; float32 sums use eight SIMD accumulators (pairwise-like accuracy).
@inline(__always)
private func reduceRow<T: NumericElement>(_ op: ReduceOp, _ p: UnsafeMutablePointer<T>, _ n: Int) -> T {
    if op == .sum, T.self == Float.self, n >= 128 {
        let fp = UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
        return unsafeBitCast(sumFloats(fp, n), to: T.self)
    }
    switch op {
    case .sum:
        var s: T = 0
        for i in 0..<n { s += p[i] }
        return s
    case .max:
        var m = p[0]
        for i in 1..<n where p[i] > m || p[i] != p[i] { m = p[i]; if m != m { break } }
        return m
    case .min:
        var m = p[0]
        for i in 1..<n where p[i] < m || p[i] != p[i] { m = p[i]; if m != m { break } }
        return m
    }
}

/// Sum of `n` floats, parallel for large `n`.
func sumFloats(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
    let sum = currentKernels.sum   // CKernels' kernel for the current level
    let chunks = Swift.min(coreCount, n / 262_144)
    if chunks >= 2 {
        var partial = [Float](repeating: 0, count: chunks)
        let sp = SendablePointer(p)
        partial.withUnsafeMutableBufferPointer { buf in
            let out = SendablePointer(buf.baseAddress!)
            parallelFor(chunks) { c in
                let lo = n * c / chunks, hi = n * (c + 1) / chunks
                out.p[c] = Float(sum(sp.p + lo, hi - lo))
            }
        }
        return partial.reduce(0, +)
    }
    return Float(sum(p, n))
}
