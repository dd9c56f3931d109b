/// Tensors made from nothing: constants, ranges, identity.
extension Tensor {
    /// All zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        Tensor(empty: shape, dtype: dtype, zeroed: true)
    }

    /// All ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        full(shape, 1, dtype: dtype)
    }

    /// Every element equal to `value`.
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32) -> Tensor {
        let t = Tensor(empty: shape, dtype: dtype)
        t.fill(value)
        return t
    }

    /// Zeros with this tensor's shape and dtype.
    public func zerosLike() -> Tensor { .zeros(shape, dtype: dtype) }
    /// Ones with this tensor's shape and dtype.
    public func onesLike() -> Tensor { .ones(shape, dtype: dtype) }

    /// `start, start + step, …` below `end` (above it for a negative step).
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        check(step != 0, "arange", "step must not be zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        let t = Tensor(empty: [n], dtype: dtype)
        for i in 0..<n { t.setElement(atOffset: i, start + Double(i) * step) }
        return t
    }

    /// Integers `0..<end` (int64 by default, as PyTorch).
    public static func arange(_ end: Int, dtype: DType = .int64) -> Tensor {
        arange(0, Double(end), dtype: dtype)
    }

    /// `count` evenly spaced values from `start` to `end` inclusive.
    public static func linspace(_ start: Double, _ end: Double, count: Int, dtype: DType = .float32) -> Tensor {
        check(count >= 0, "linspace", "count must be non-negative, got \(count)")
        let t = Tensor(empty: [count], dtype: dtype)
        let step = count > 1 ? (end - start) / Double(count - 1) : 0
        // Fill from both ends so the last value is exactly `end`, as torch.linspace does.
        for i in 0..<count {
            t.setElement(atOffset: i, i < count / 2 ? start + step * Double(i) : end - step * Double(count - 1 - i))
        }
        return t
    }

    /// The `n × m` identity matrix (square when `m` is omitted).
    public static func eye(_ n: Int, _ m: Int? = nil, dtype: DType = .float32) -> Tensor {
        let cols = m ?? n
        let t = zeros([n, cols], dtype: dtype)
        for i in 0..<Swift.min(n, cols) { t.setElement(atOffset: i * cols + i, 1) }
        return t
    }

    /// Sets every element of this view to `value`, in place.
    public func fill(_ value: Double) {
        switch dtype {
        case .float32: fillKernel(self, Float(value))
        case .float64: fillKernel(self, value)
        case .int64: fillKernel(self, Int64(value))
        case .int32: fillKernel(self, Int32(value))
        case .bool: fillKernel(self, value != 0)
        }
    }
}

private func fillKernel<T: TensorElement>(_ t: Tensor, _ value: T) {
    let p = t.pointer(as: T.self)
    let it = RowIterator(shape: t.shape, strides: [t.strides])
    let n = it.rowLength, s = it.innerStride(0)
    it.forEachRow(in: 0..<it.rowCount) { o in
        let row = p + o[0]
        if s == 1 { row.update(repeating: value, count: n) } else { for i in 0..<n { row[i * s] = value } }
    }
}
