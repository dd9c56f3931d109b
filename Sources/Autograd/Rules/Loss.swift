import Tensor

extension Variable {
    /// Mean cross-entropy of `logits` [N, C] against a target distribution per row, `targets` [N, C]
    /// (rows need not sum to 1), computed through log-softmax so large logits stay finite.
    /// `labelSmoothing` ε mixes the targets with the uniform distribution: (1 − ε)·q + ε/C.
    /// Composed from log-softmax (one fused kernel each way) and a weighted sum, so it is twice differentiable.
    public func crossEntropy(targetDistribution targets: Tensor, labelSmoothing: Double = 0) -> Variable {
        let op = "crossEntropy"
        check(rank == 2, op, "expects logits [N, C], got \(describe(shape))")
        check(targets.shape == shape && targets.dtype == dtype, op,
              "targets \(describe(targets.shape)) \(targets.dtype) do not match logits \(describe(shape)) \(dtype)")
        check(labelSmoothing >= 0 && labelSmoothing <= 1, op,
              "labelSmoothing must lie in [0, 1], got \(labelSmoothing)")
        let q = labelSmoothing == 0 ? targets : targets * (1 - labelSmoothing) + labelSmoothing / Double(shape[1])
        return (logSoftmax(axis: -1) * q).sum() * (-1 / Double(Swift.max(shape[0], 1)))
    }

    /// Mean cross-entropy of `logits` [N, C] against class indices `labels` [N] (int64 or int32).
    public func crossEntropy(labels: Tensor, labelSmoothing: Double = 0) -> Variable {
        check(rank == 2 && labels.shape == [shape[0]], "crossEntropy",
              "expects logits [N, C] and labels [N], got \(describe(shape)) and \(describe(labels.shape))")
        let classes = labels.doubles
        check(classes.allSatisfy { $0 >= 0 && $0 < Double(shape[1]) }, "crossEntropy",
              "labels must lie in 0..<\(shape[1]); got values from \(classes.min() ?? 0) to \(classes.max() ?? 0)")
        return crossEntropy(targetDistribution: labels.oneHot(classes: shape[1], dtype: dtype),
                            labelSmoothing: labelSmoothing)
    }
}
