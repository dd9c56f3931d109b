import Tensor

extension Variable {
    /// Softmax along `axis`; the fused backward kernel computes y·(g − Σ g·y).
    public func softmax(axis: Int = -1) -> Variable {
        let y = data.softmax(axis: axis)
        return Variable.record("softmax", y, inputs: [self]) { g in
            [Tensor.softmaxBackward(output: y, gradient: g, axis: axis)]
        }
    }

    /// Log-softmax along `axis`; the fused backward kernel computes g − exp(y)·Σ g.
    public func logSoftmax(axis: Int = -1) -> Variable {
        let y = data.logSoftmax(axis: axis)
        return Variable.record("logSoftmax", y, inputs: [self]) { g in
            [Tensor.logSoftmaxBackward(output: y, gradient: g, axis: axis)]
        }
    }
}
