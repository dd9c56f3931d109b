/// A strided n-dimensional array: a view (shape, strides, offset) over shared ``TensorStorage``.
///
/// Like a PyTorch tensor, copying a `Tensor` value copies the view, not the data: views made by
/// ``reshaped(_:)``, ``permuted(_:)``, slicing and ``expanded(to:)`` share storage, and the
/// in-place operations write through every view of it. Strides and offsets count elements.
public struct Tensor: @unchecked Sendable {
    /// The memory this view reads.
    public let storage: TensorStorage
    /// The element type.
    public let dtype: DType
    /// Size of each axis.
    public let shape: [Int]
    /// Elements to step in storage per unit step along each axis (0 for broadcast axes).
    public let strides: [Int]
    /// Index of the first element in storage.
    public let offset: Int

    /// A view over existing storage. The caller guarantees the view stays inside it.
    public init(storage: TensorStorage, dtype: DType, shape: [Int], strides: [Int], offset: Int = 0) {
        precondition(shape.count == strides.count, "Tensor: shape and strides differ in rank")
        self.storage = storage
        self.dtype = dtype
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// A new contiguous tensor with uninitialised (`zeroed: false`) or zero memory.
    public init(empty shape: [Int], dtype: DType = .float32, zeroed: Bool = false) {
        for d in shape { check(d >= 0, "Tensor", "negative dimension in shape \(describe(shape))") }
        let count = shape.reduce(1, *)
        self.init(storage: TensorStorage(byteCount: count * dtype.byteSize, zeroed: zeroed),
                  dtype: dtype, shape: shape, strides: Tensor.contiguousStrides(for: shape))
    }

    /// A contiguous tensor holding `scalars` in row-major order.
    public init<T: TensorElement>(_ scalars: [T], shape: [Int]) {
        let count = shape.reduce(1, *)
        check(count == scalars.count, "Tensor", "\(scalars.count) values do not fill shape \(describe(shape))")
        self.init(empty: shape, dtype: T.dtype)
        scalars.withUnsafeBufferPointer { src in
            pointer(as: T.self).update(from: src.baseAddress!, count: count)
        }
    }

    /// A 1-D tensor.
    public init<T: TensorElement>(_ scalars: [T]) { self.init(scalars, shape: [scalars.count]) }

    /// A 2-D tensor from rows of equal length.
    public init<T: TensorElement>(_ rows: [[T]]) {
        let cols = rows.first?.count ?? 0
        check(rows.allSatisfy { $0.count == cols }, "Tensor", "rows have different lengths")
        self.init(rows.flatMap { $0 }, shape: [rows.count, cols])
    }

    /// A rank-0 tensor holding one value.
    public init<T: TensorElement>(scalar: T) { self.init([scalar], shape: []) }

    /// A rank-0 tensor of the given dtype holding `value` converted.
    public init(scalar value: Double, dtype: DType) {
        self.init(empty: [], dtype: dtype)
        setElement(atOffset: offset, value)
    }

    // MARK: Layout

    /// Number of axes.
    public var rank: Int { shape.count }
    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Row-major strides for a shape.
    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = step
            step *= Swift.max(shape[i], 1)
        }
        return strides
    }

    /// Whether the elements lie in storage in row-major order without gaps.
    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: rank - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// A typed pointer to the first element of the view (at `offset`).
    @inlinable
    public func pointer<T: TensorElement>(as type: T.Type) -> UnsafeMutablePointer<T> {
        check(T.dtype == dtype, "Tensor", "element type \(T.self) does not match dtype \(dtype)")
        return storage.base.assumingMemoryBound(to: T.self) + offset
    }

    // MARK: Reading values

    /// The elements in row-major order.
    public func scalars<T: TensorElement>(as type: T.Type = T.self) -> [T] {
        let c = contiguous()
        return Array(UnsafeBufferPointer(start: c.pointer(as: T.self), count: c.count))
    }

    /// Every element converted to `Double`, in row-major order.
    public var doubles: [Double] {
        switch dtype {
        case .float32: scalars(as: Float.self).map(Double.init)
        case .float64: scalars(as: Double.self)
        case .int64: scalars(as: Int64.self).map(Double.init)
        case .int32: scalars(as: Int32.self).map(Double.init)
        case .bool: scalars(as: Bool.self).map { $0 ? 1 : 0 }
        }
    }

    /// The single value of a one-element tensor, as `Double`.
    public func item() -> Double {
        check(count == 1, "item", "tensor of shape \(describe(shape)) has \(count) elements, not 1")
        return element(atOffset: offset)
    }

    /// The element at a full index, as `Double`.
    public subscript(element index: Int...) -> Double {
        get { element(atOffset: storageOffset(of: index)) }
        nonmutating set { setElement(atOffset: storageOffset(of: index), newValue) }
    }

    /// The element at a full index given as an array, as `Double`.
    public subscript(elementAt index: [Int]) -> Double {
        get { element(atOffset: storageOffset(of: index)) }
        nonmutating set { setElement(atOffset: storageOffset(of: index), newValue) }
    }

    func storageOffset(of index: [Int]) -> Int {
        check(index.count == rank, "subscript", "\(index.count) indices for a tensor of shape \(describe(shape))")
        var o = offset
        for (axis, i) in index.enumerated() {
            let j = i < 0 ? i + shape[axis] : i
            check(j >= 0 && j < shape[axis], "subscript",
                  "index \(i) is out of range for axis \(axis) of size \(shape[axis])")
            o += j * strides[axis]
        }
        return o
    }

    func element(atOffset o: Int) -> Double {
        let p = storage.base
        switch dtype {
        case .float32: return Double(p.assumingMemoryBound(to: Float.self)[o])
        case .float64: return p.assumingMemoryBound(to: Double.self)[o]
        case .int64: return Double(p.assumingMemoryBound(to: Int64.self)[o])
        case .int32: return Double(p.assumingMemoryBound(to: Int32.self)[o])
        case .bool: return p.assumingMemoryBound(to: Bool.self)[o] ? 1 : 0
        }
    }

    func setElement(atOffset o: Int, _ v: Double) {
        let p = storage.base
        switch dtype {
        case .float32: p.assumingMemoryBound(to: Float.self)[o] = Float(v)
        case .float64: p.assumingMemoryBound(to: Double.self)[o] = v
        case .int64: p.assumingMemoryBound(to: Int64.self)[o] = Int64(fromDouble: v)
        case .int32: p.assumingMemoryBound(to: Int32.self)[o] = Int32(fromDouble: v)
        case .bool: p.assumingMemoryBound(to: Bool.self)[o] = v != 0
        }
    }
}
