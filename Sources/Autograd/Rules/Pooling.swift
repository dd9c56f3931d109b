import Tensor

// Each pooling's backward is linear in the gradient and an op of its own, whose adjoint is the
// forward selection again, so pooling stays differentiable to any order.

extension Variable {
    /// Max pooling over [N, C, H, W]; the gradient goes to each window's chosen input.
    public func maxPool2d(rows: PoolWindows, columns: PoolWindows) -> Variable {
        let (y, indices) = data.maxPool2d(rows: rows, columns: columns)
        let inputShape = shape
        return Variable.record("maxPool2d", y, inputs: [self]) { g in
            [g.maxPool2dBackward(indices: indices, inputShape: inputShape)]
        }
    }

    /// Scatters the output gradient `self` to the inputs max pooling chose (flat `indices` per plane).
    private func maxPool2dBackward(indices: Tensor, inputShape: [Int]) -> Variable {
        let value = Tensor.maxPool2dBackward(gradient: data, indices: indices, inputShape: inputShape)
        let outputShape = shape
        return Variable.record("maxPool2dBackward", value, inputs: [self]) { u in
            let (n, c) = (inputShape[0], inputShape[1])
            let flat = indices.reshaped([n, c, indices.count / Swift.max(n * c, 1)]).converted(to: .int64)
            let planes = u.reshaped([n, c, inputShape[2] * inputShape[3]])
            return [planes.gather(axis: 2, index: flat).reshaped(outputShape)]
        }
    }

    /// Average pooling over [N, C, H, W]; the gradient is spread evenly over each window.
    public func avgPool2d(rows: PoolWindows, columns: PoolWindows, countIncludePad: Bool = true) -> Variable {
        let y = data.avgPool2d(rows: rows, columns: columns, countIncludePad: countIncludePad)
        let inputShape = shape
        return Variable.record("avgPool2d", y, inputs: [self]) { g in
            [g.avgPool2dBackward(inputShape: inputShape, rows: rows, columns: columns,
                                 countIncludePad: countIncludePad)]
        }
    }

    /// Spreads the output gradient `self` over the windows: the transpose of average pooling.
    private func avgPool2dBackward(inputShape: [Int], rows: PoolWindows, columns: PoolWindows,
                                   countIncludePad: Bool) -> Variable {
        let value = Tensor.avgPool2dBackward(gradient: data, inputShape: inputShape, rows: rows, columns: columns,
                                             countIncludePad: countIncludePad)
        return Variable.record("avgPool2dBackward", value, inputs: [self]) { u in
            [u.avgPool2d(rows: rows, columns: columns, countIncludePad: countIncludePad)]
        }
    }
}
