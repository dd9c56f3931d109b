import Tensor

extension Variable {
    /// Max pooling over [N, C, H, W]; the gradient goes to each window's chosen input.
    public func maxPool2d(rows: PoolWindows, columns: PoolWindows) -> Variable {
        let (y, indices) = data.maxPool2d(rows: rows, columns: columns)
        let inputShape = shape
        return Variable.record("maxPool2d", y, inputs: [self]) { g in
            [Tensor.maxPool2dBackward(gradient: g, indices: indices, inputShape: inputShape)]
        }
    }

    /// Average pooling over [N, C, H, W]; the gradient is spread evenly over each window.
    public func avgPool2d(rows: PoolWindows, columns: PoolWindows, countIncludePad: Bool = true) -> Variable {
        let y = data.avgPool2d(rows: rows, columns: columns, countIncludePad: countIncludePad)
        let inputShape = shape
        return Variable.record("avgPool2d", y, inputs: [self]) { g in
            [Tensor.avgPool2dBackward(gradient: g, inputShape: inputShape, rows: rows, columns: columns,
                                      countIncludePad: countIncludePad)]
        }
    }
}
