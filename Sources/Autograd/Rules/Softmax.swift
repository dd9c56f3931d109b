import Tensor

extension Variable {
    /// Softmax along `axis`; the fused backward kernel computes y·(g − Σ g·y).
    public func softmax(axis: Int = -1) -> Variable {
        Variable.record("softmax", data.softmax(axis: axis), inputs: [self]) { g, y in
            guard GradMode.isEnabled else {
                return [Variable(Tensor.softmaxBackward(output: y.data, gradient: g.data, axis: axis))]
            }
            return [y * (g - (g * y).sum(axis: axis, keepDim: true))]
        }
    }

    /// Log-softmax along `axis`; the fused backward kernel computes g − exp(y)·Σ g.
    public func logSoftmax(axis: Int = -1) -> Variable {
        Variable.record("logSoftmax", data.logSoftmax(axis: axis), inputs: [self]) { g, y in
            guard GradMode.isEnabled else {
                return [Variable(Tensor.logSoftmaxBackward(output: y.data, gradient: g.data, axis: axis))]
            }
            return [g - y.exp() * g.sum(axis: axis, keepDim: true)]
        }
    }
}
