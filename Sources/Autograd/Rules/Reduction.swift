import Tensor

// Reductions. Sums broadcast the gradient back; max/min send it to the extreme elements.

extension Variable {
    /// Sum over `axes` (all when empty).
    public func sum(axes: [Int] = [], keepDim: Bool = false) -> Variable {
        let inShape = shape
        let kept = data.sum(axes: axes, keepDim: true)
        let keptShape = kept.shape
        return Variable.record("sum", keepDim ? kept : dropReduced(kept, axes), inputs: [self]) { g in
            [g.reshaped(keptShape).expanded(to: inShape).contiguous()]
        }
    }
    public func sum(axis: Int, keepDim: Bool = false) -> Variable { sum(axes: [axis], keepDim: keepDim) }

    /// Mean over `axes` (all when empty).
    public func mean(axes: [Int] = [], keepDim: Bool = false) -> Variable {
        sum(axes: axes, keepDim: keepDim) / Double(reducedCount(axes))
    }
    public func mean(axis: Int, keepDim: Bool = false) -> Variable { mean(axes: [axis], keepDim: keepDim) }

    /// Variance over `axes` (Bessel-corrected when `unbiased`).
    public func variance(axes: [Int] = [], unbiased: Bool = true, keepDim: Bool = false) -> Variable {
        let centred = self - mean(axes: axes, keepDim: true)
        return (centred * centred).sum(axes: axes, keepDim: keepDim) / Double(reducedCount(axes) - (unbiased ? 1 : 0))
    }

    /// The axes a reduction over `axes` combines (all when empty), normalised.
    private func reducedAxes(_ axes: [Int]) -> Set<Int> {
        axes.isEmpty ? Set(0..<rank) : Set(axes.map { normalizeAxis($0, rank: rank, op: "reduction") })
    }

    /// The number of elements each output of a reduction over `axes` combines.
    private func reducedCount(_ axes: [Int]) -> Int { reducedAxes(axes).reduce(1) { $0 * shape[$1] } }

    /// A keepDim reduction's result with the reduced axes removed.
    private func dropReduced(_ kept: Tensor, _ axes: [Int]) -> Tensor {
        let reduced = reducedAxes(axes)
        return kept.reshaped(kept.shape.indices.filter { !reduced.contains($0) }.map { kept.shape[$0] })
    }

    /// Standard deviation over `axes`.
    public func standardDeviation(axes: [Int] = [], unbiased: Bool = true, keepDim: Bool = false) -> Variable {
        variance(axes: axes, unbiased: unbiased, keepDim: keepDim).sqrt()
    }

    /// Largest value over `axes`; ties share the gradient evenly (as `torch.amax`).
    public func max(axes: [Int] = [], keepDim: Bool = false) -> Variable { extreme(.max, axes: axes, keepDim: keepDim) }
    /// Smallest value over `axes`.
    public func min(axes: [Int] = [], keepDim: Bool = false) -> Variable { extreme(.min, axes: axes, keepDim: keepDim) }

    private func extreme(_ op: ReduceOp, axes: [Int], keepDim: Bool) -> Variable {
        let x = data
        let kept = x.reduce(op, axes: axes, keepDim: true)
        return Variable.record(op.rawValue, keepDim ? kept : dropReduced(kept, axes), inputs: [self]) { g in
            let mask = (x .== kept).converted(to: x.dtype)
            return [g.reshaped(kept.shape) * (mask / mask.sum(axes: axes, keepDim: true))]
        }
    }

    /// Largest values along `axis` and their int64 indices; the gradient goes to the indexed element.
    public func max(axis: Int, keepDim: Bool = false) -> (values: Variable, indices: Tensor) {
        selectExtreme(axis: axis, keepDim: keepDim, largest: true)
    }
    /// Smallest values along `axis` and their int64 indices.
    public func min(axis: Int, keepDim: Bool = false) -> (values: Variable, indices: Tensor) {
        selectExtreme(axis: axis, keepDim: keepDim, largest: false)
    }

    private func selectExtreme(axis: Int, keepDim: Bool, largest: Bool) -> (values: Variable, indices: Tensor) {
        let a = normalizeAxis(axis, rank: rank, op: largest ? "max" : "min")
        let (values, indices) = largest ? data.max(axis: a, keepDim: true) : data.min(axis: a, keepDim: true)
        let (inShape, dtype) = (shape, self.dtype)
        let v = Variable.record(largest ? "max" : "min", keepDim ? values : values.squeezed(a), inputs: [self]) { g in
            [Variable(Tensor.zeros(inShape, dtype: dtype))
                .scatterAdding(axis: a, index: indices, source: g.reshaped(values.shape))]
        }
        return (v, keepDim ? indices : indices.squeezed(a))
    }

    /// log Σ exp over `axes`; its gradient is the softmax of the input.
    public func logSumExp(axes: [Int] = [], keepDim: Bool = false) -> Variable {
        let kept = data.logSumExp(axes: axes, keepDim: true), keptShape = kept.shape
        return Variable.record("logSumExp", keepDim ? kept : dropReduced(kept, axes), inputs: [self]) { [self] g, y in
            [(self - y.reshaped(keptShape)).exp() * g.reshaped(keptShape)]
        }
    }

    /// The p-norm over `axes` (p = 2 by default).
    public func norm(_ p: Double = 2, axes: [Int] = [], keepDim: Bool = false) -> Variable {
        switch p {
        case 2: return square().sum(axes: axes, keepDim: keepDim).sqrt()
        case 1: return abs().sum(axes: axes, keepDim: keepDim)
        case .infinity: return abs().max(axes: axes, keepDim: keepDim)
        default: return abs().pow(p).sum(axes: axes, keepDim: keepDim).pow(1 / p)
        }
    }
}
