/// Elementwise operations with NumPy broadcasting.
///
/// Each family has one entry point (`unary`, `binary`, `compare`) that checks dtypes and shapes,
/// broadcasts by stride-0 views, and hands raw pointers to a kernel that runs over
/// ``RowIterator`` rows, so contiguous inputs are one flat loop split across cores.

/// A one-input elementwise function.
public enum UnaryOp: Sendable, Equatable {
    case neg, abs, exp, log, sqrt, rsqrt, square, reciprocal, tanh, sigmoid, relu, sin, cos, sign
    /// GELU, exact (erf) form, and its derivative.
    case gelu, geluDerivative
    /// GELU, tanh approximation, and its derivative.
    case geluTanh, geluTanhDerivative
    /// `min(max(x, low), high)`.
    case clamp(low: Double, high: Double)
    /// `x ** exponent`.
    case power(Double)
}

/// A two-input elementwise function.
public enum BinaryOp: String, Sendable {
    case add, sub, mul, div, pow, maximum, minimum
}

/// An elementwise comparison giving a bool tensor.
public enum ComparisonOp: String, Sendable {
    case equal, notEqual, less, lessEqual, greater, greaterEqual
}

/// Numeric element types (every dtype but bool).
public protocol NumericElement: TensorElement, Numeric, Comparable {
    static func divide(_ a: Self, _ b: Self) -> Self
    static func power(_ a: Self, _ b: Self) -> Self
}

extension Float: NumericElement {
    @inlinable public static func divide(_ a: Float, _ b: Float) -> Float { a / b }
    @inlinable public static func power(_ a: Float, _ b: Float) -> Float { pow(a, b) }
}
extension Double: NumericElement {
    @inlinable public static func divide(_ a: Double, _ b: Double) -> Double { a / b }
    @inlinable public static func power(_ a: Double, _ b: Double) -> Double { pow(a, b) }
}
extension Int64: NumericElement {
    @inlinable public static func divide(_ a: Int64, _ b: Int64) -> Int64 { a / b }
    @inlinable public static func power(_ a: Int64, _ b: Int64) -> Int64 { Int64(Double.pow(Double(a), Double(b))) }
}
extension Int32: NumericElement {
    @inlinable public static func divide(_ a: Int32, _ b: Int32) -> Int32 { a / b }
    @inlinable public static func power(_ a: Int32, _ b: Int32) -> Int32 { Int32(Double.pow(Double(a), Double(b))) }
}

/// The shape two shapes broadcast to, or a stop naming `op` and both shapes.
public func broadcastShapes(_ a: [Int], _ b: [Int], op: String) -> [Int] {
    let n = max(a.count, b.count)
    return (0..<n).map { i in
        let x = i < n - a.count ? 1 : a[i - (n - a.count)]
        let y = i < n - b.count ? 1 : b[i - (n - b.count)]
        check(x == y || x == 1 || y == 1, op, "shapes \(describe(a)) and \(describe(b)) cannot be broadcast together")
        return x == 1 ? y : x
    }
}

// MARK: - Kernels over raw pointers

/// out[i] = f(x[i]) over same-shaped strided views; `out` may alias `x` exactly.
@inline(__always) @usableFromInline
func mapKernel<A: TensorElement, R: TensorElement>(_ x: Tensor, _ out: Tensor, cost: Int = 1, _ f: (A) -> R) {
    let xp = x.pointer(as: A.self), op = out.pointer(as: R.self)
    let it = RowIterator(shape: out.shape, strides: [x.strides, out.strides])
    let n = it.rowLength, xs = it.innerStride(0), os = it.innerStride(1)
    if it.rowCount == 1 && xs == 1 && os == 1 {
        let x = SendablePointer(xp), o = SendablePointer(op)
        parallelChunks(n, costPerItem: cost) { r in
            for i in r { o.p[i] = f(x.p[i]) }
        }
        return
    }
    parallelChunks(it.rowCount, costPerItem: n * cost) { rows in
        it.forEachRow(in: rows) { o in
            let xr = xp + o[0], orow = op + o[1]
            for i in 0..<n { orow[i * os] = f(xr[i * xs]) }
        }
    }
}

/// out[i] = f(a[i], b[i]) over same-shaped strided views (a, b already broadcast).
@inline(__always) @usableFromInline
func zipKernel<A: TensorElement, B: TensorElement, R: TensorElement>(
    _ a: Tensor, _ b: Tensor, _ out: Tensor, _ f: (A, B) -> R
) {
    let ap = a.pointer(as: A.self), bp = b.pointer(as: B.self), op = out.pointer(as: R.self)
    let it = RowIterator(shape: out.shape, strides: [a.strides, b.strides, out.strides])
    let n = it.rowLength, sa = it.innerStride(0), sb = it.innerStride(1), so = it.innerStride(2)
    @inline(__always) func row(_ a: UnsafeMutablePointer<A>, _ b: UnsafeMutablePointer<B>,
                               _ o: UnsafeMutablePointer<R>, _ range: Range<Int>) {
        // Separate loops for the common stride patterns so each one vectorises.
        if so == 1 && sa == 1 && sb == 1 {
            for i in range { o[i] = f(a[i], b[i]) }
        } else if so == 1 && sa == 1 && sb == 0 {
            let s = b[0]
            for i in range { o[i] = f(a[i], s) }
        } else if so == 1 && sa == 0 && sb == 1 {
            let s = a[0]
            for i in range { o[i] = f(s, b[i]) }
        } else {
            for i in range { o[i * so] = f(a[i * sa], b[i * sb]) }
        }
    }
    if it.rowCount == 1 {
        let a = SendablePointer(ap), b = SendablePointer(bp), o = SendablePointer(op)
        parallelChunks(n) { r in row(a.p, b.p, o.p, r) }
        return
    }
    parallelChunks(it.rowCount, costPerItem: n) { rows in
        it.forEachRow(in: rows) { o in row(ap + o[0], bp + o[1], op + o[2], 0..<n) }
    }
}

/// Contiguous float32 map through a SIMD16 function, with a scalar tail through the same function.
@inline(__always) @usableFromInline
func simdMapKernel(_ x: Tensor, _ out: Tensor, _ f: (F16) -> F16) {
    let xp = SendablePointer(x.pointer(as: Float.self)), op = SendablePointer(out.pointer(as: Float.self))
    let n = x.count
    parallelChunks(n / 16 + 1, costPerItem: 64) { r in
        let lo = r.lowerBound * 16, hi = min(r.upperBound * 16, n)
        var i = lo
        while i + 16 <= hi {
            let v = UnsafeRawPointer(xp.p + i).loadUnaligned(as: F16.self)
            UnsafeMutableRawPointer(op.p + i).storeBytes(of: f(v), as: F16.self)
            i += 16
        }
        if i < hi {
            var v = F16(repeating: 0)
            for j in i..<hi { v[j - i] = xp.p[j] }
            let y = f(v)
            for j in i..<hi { op.p[j] = y[j - i] }
        }
    }
}

// MARK: - Unary

extension Tensor {
    /// Applies `op` elementwise (floating-point tensors; `neg`, `abs`, `square`, `sign` also for integers).
    public func map(_ op: UnaryOp) -> Tensor {
        let out = Tensor(empty: shape, dtype: dtype)
        applyUnary(op, from: self, into: out)
        return out
    }

    /// Applies `op` to this tensor's elements in place.
    public func mapInPlace(_ op: UnaryOp) { applyUnary(op, from: self, into: self) }

    public func exp() -> Tensor { map(.exp) }
    public func log() -> Tensor { map(.log) }
    public func sqrt() -> Tensor { map(.sqrt) }
    public func rsqrt() -> Tensor { map(.rsqrt) }
    public func tanh() -> Tensor { map(.tanh) }
    public func sigmoid() -> Tensor { map(.sigmoid) }
    public func relu() -> Tensor { map(.relu) }
    public func sin() -> Tensor { map(.sin) }
    public func cos() -> Tensor { map(.cos) }
    public func abs() -> Tensor { map(.abs) }
    public func square() -> Tensor { map(.square) }
    /// GELU; `approximate: true` uses the tanh form (`approximate='tanh'` in PyTorch).
    public func gelu(approximate: Bool = false) -> Tensor { map(approximate ? .geluTanh : .gelu) }
    public func clamped(min low: Double = -.infinity, max high: Double = .infinity) -> Tensor {
        map(.clamp(low: low, high: high))
    }
    public func pow(_ exponent: Double) -> Tensor { map(.power(exponent)) }
    public static prefix func - (x: Tensor) -> Tensor { x.map(.neg) }
}

private func applyUnary(_ op: UnaryOp, from x: Tensor, into out: Tensor) {
    switch x.dtype {
    case .float32:
        if x.isContiguous && out.isContiguous, let f = simdFunction(op) {
            simdMapKernel(x, out, f)
        } else {
            floatUnary(Float.self, op, x, out)
        }
    case .float64: floatUnary(Double.self, op, x, out)
    case .int64: integerUnary(Int64.self, op, x, out)
    case .int32: integerUnary(Int32.self, op, x, out)
    case .bool: fail("\(op)", "not defined for bool tensors")
    }
}

private func simdFunction(_ op: UnaryOp) -> ((F16) -> F16)? {
    switch op {
    case .exp: simdExp
    case .sigmoid: simdSigmoid
    case .tanh: simdTanh
    case .gelu: simdGelu
    case .geluDerivative: simdGeluDerivative
    case .geluTanh: simdGeluTanh
    case .geluTanhDerivative: simdGeluTanhDerivative
    default: nil
    }
}

private func floatUnary<T: FloatElement>(_: T.Type, _ op: UnaryOp, _ x: Tensor, _ out: Tensor) {
    let invSqrt2: T = 0.707_106_781_186_547_5, invSqrt2Pi: T = 0.398_942_280_401_432_7
    let k: T = 0.797_884_560_802_865_4, c: T = 0.044_715
    switch op {
    case .neg: mapKernel(x, out) { (v: T) in -v }
    case .abs: mapKernel(x, out) { (v: T) in v < 0 ? -v : v }
    case .exp: mapKernel(x, out, cost: 16) { (v: T) in T.exp(v) }
    case .log: mapKernel(x, out, cost: 16) { (v: T) in T.log(v) }
    case .sqrt: mapKernel(x, out) { (v: T) in v.squareRoot() }
    case .rsqrt: mapKernel(x, out) { (v: T) in 1 / v.squareRoot() }
    case .square: mapKernel(x, out) { (v: T) in v * v }
    case .reciprocal: mapKernel(x, out) { (v: T) in 1 / v }
    case .tanh: mapKernel(x, out, cost: 16) { (v: T) in T.tanh(v) }
    case .sigmoid: mapKernel(x, out, cost: 16) { (v: T) in 1 / (1 + T.exp(-v)) }
    case .relu: mapKernel(x, out) { (v: T) in v > 0 ? v : 0 }
    case .sin: mapKernel(x, out, cost: 16) { (v: T) in T.sin(v) }
    case .cos: mapKernel(x, out, cost: 16) { (v: T) in T.cos(v) }
    case .sign: mapKernel(x, out) { (v: T) in v > 0 ? 1 : (v < 0 ? -1 : 0) }
    case .gelu: mapKernel(x, out, cost: 16) { (v: T) in v * (1 + T.erf(v * invSqrt2)) / 2 }
    case .geluDerivative:
        mapKernel(x, out, cost: 16) { (v: T) in
            let cdf: T = (1 + T.erf(v * invSqrt2)) / 2
            return cdf + v * invSqrt2Pi * T.exp(-v * v / 2)
        }
    case .geluTanh:
        // x·σ(2u) equals 0.5·x·(1 + tanh u) without the cancellation for negative x.
        mapKernel(x, out, cost: 16) { (v: T) in
            let inner: T = v + c * v * v * v
            return v / (1 + T.exp(-2 * k * inner))
        }
    case .geluTanhDerivative:
        mapKernel(x, out, cost: 16) { (v: T) in
            let v2: T = v * v
            let e = T.exp(-2 * k * (v + c * v2 * v))
            let s: T = 1 / (1 + e)
            let du: T = k * (1 + 3 * c * v2)
            return e.isInfinite ? 0 : s + 2 * v * s * (e * s) * du
        }
    case let .clamp(low, high):
        let lo = T(low), hi = T(high)
        mapKernel(x, out) { (v: T) in v < lo ? lo : (v > hi ? hi : v) }
    case let .power(e):
        let p = T(e)
        if e == 2 { mapKernel(x, out) { (v: T) in v * v } } else { mapKernel(x, out, cost: 16) { (v: T) in T.pow(v, p) } }
    }
}

private func integerUnary<T: NumericElement & SignedInteger>(_: T.Type, _ op: UnaryOp, _ x: Tensor, _ out: Tensor) {
    switch op {
    case .neg: mapKernel(x, out) { (v: T) in -v }
    case .abs: mapKernel(x, out) { (v: T) in v < 0 ? -v : v }
    case .square: mapKernel(x, out) { (v: T) in v * v }
    case .sign: mapKernel(x, out) { (v: T) in v > 0 ? 1 : (v < 0 ? -1 : 0) }
    case let .clamp(low, high):
        mapKernel(x, out) { (v: T) in T(Swift.min(Swift.max(Double(v), low), high)) }
    default: fail("\(op)", "not defined for \(T.dtype) tensors; convert with converted(to: .float32)")
    }
}

// MARK: - Binary

extension Tensor {
    /// `op(self, other)` elementwise with broadcasting; both operands must have the same dtype.
    public func binary(_ op: BinaryOp, _ other: Tensor) -> Tensor {
        check(dtype == other.dtype, op.rawValue, "dtypes differ: \(dtype) \(describe(shape)) and \(other.dtype) \(describe(other.shape))")
        let outShape = broadcastShapes(shape, other.shape, op: op.rawValue)
        let out = Tensor(empty: outShape, dtype: dtype)
        applyBinary(op, expanded(to: outShape), other.expanded(to: outShape), into: out)
        return out
    }

    /// `self = op(self, other)` in place; `other` must broadcast to this tensor's shape.
    public func binaryInPlace(_ op: BinaryOp, _ other: Tensor) {
        check(dtype == other.dtype, op.rawValue, "dtypes differ: \(dtype) \(describe(shape)) and \(other.dtype) \(describe(other.shape))")
        let s = broadcastShapes(shape, other.shape, op: op.rawValue)
        check(s == shape, op.rawValue, "in-place result \(describe(s)) does not fit \(describe(shape))")
        applyBinary(op, self, other.expanded(to: shape), into: self)
    }

    /// A rank-0 tensor of this tensor's dtype.
    public func scalarLike(_ value: Double) -> Tensor { Tensor(scalar: value, dtype: dtype) }

    public static func + (a: Tensor, b: Tensor) -> Tensor { a.binary(.add, b) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.binary(.sub, b) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.binary(.mul, b) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { a.binary(.div, b) }
    public static func + (a: Tensor, b: Double) -> Tensor { a.binary(.add, a.scalarLike(b)) }
    public static func - (a: Tensor, b: Double) -> Tensor { a.binary(.sub, a.scalarLike(b)) }
    public static func * (a: Tensor, b: Double) -> Tensor { a.binary(.mul, a.scalarLike(b)) }
    public static func / (a: Tensor, b: Double) -> Tensor { a.binary(.div, a.scalarLike(b)) }
    public static func + (a: Double, b: Tensor) -> Tensor { b.scalarLike(a).binary(.add, b) }
    public static func - (a: Double, b: Tensor) -> Tensor { b.scalarLike(a).binary(.sub, b) }
    public static func * (a: Double, b: Tensor) -> Tensor { b.scalarLike(a).binary(.mul, b) }
    public static func / (a: Double, b: Tensor) -> Tensor { b.scalarLike(a).binary(.div, b) }
    public static func += (a: inout Tensor, b: Tensor) { a.binaryInPlace(.add, b) }
    public static func -= (a: inout Tensor, b: Tensor) { a.binaryInPlace(.sub, b) }
    public static func *= (a: inout Tensor, b: Tensor) { a.binaryInPlace(.mul, b) }
    public static func /= (a: inout Tensor, b: Tensor) { a.binaryInPlace(.div, b) }
    public static func += (a: inout Tensor, b: Double) { a.binaryInPlace(.add, a.scalarLike(b)) }
    public static func -= (a: inout Tensor, b: Double) { a.binaryInPlace(.sub, a.scalarLike(b)) }
    public static func *= (a: inout Tensor, b: Double) { a.binaryInPlace(.mul, a.scalarLike(b)) }
    public static func /= (a: inout Tensor, b: Double) { a.binaryInPlace(.div, a.scalarLike(b)) }

    /// `self ** exponent` elementwise with broadcasting.
    public func pow(_ exponent: Tensor) -> Tensor { binary(.pow, exponent) }
    /// Elementwise larger value.
    public func maximum(_ other: Tensor) -> Tensor { binary(.maximum, other) }
    /// Elementwise smaller value.
    public func minimum(_ other: Tensor) -> Tensor { binary(.minimum, other) }
}

private func applyBinary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, into out: Tensor) {
    switch a.dtype {
    case .float32: typedBinary(Float.self, op, a, b, out)
    case .float64: typedBinary(Double.self, op, a, b, out)
    case .int64: typedBinary(Int64.self, op, a, b, out)
    case .int32: typedBinary(Int32.self, op, a, b, out)
    case .bool: fail(op.rawValue, "not defined for bool tensors; use logicalAnd/logicalOr")
    }
}

private func typedBinary<T: NumericElement>(_: T.Type, _ op: BinaryOp, _ a: Tensor, _ b: Tensor, _ out: Tensor) {
    switch op {
    case .add: zipKernel(a, b, out) { (x: T, y: T) in x + y }
    case .sub: zipKernel(a, b, out) { (x: T, y: T) in x - y }
    case .mul: zipKernel(a, b, out) { (x: T, y: T) in x * y }
    case .div: zipKernel(a, b, out) { (x: T, y: T) in T.divide(x, y) }
    case .pow: zipKernel(a, b, out) { (x: T, y: T) in T.power(x, y) }
    case .maximum: zipKernel(a, b, out) { (x: T, y: T) in x >= y || x != x ? x : y }
    case .minimum: zipKernel(a, b, out) { (x: T, y: T) in x <= y || x != x ? x : y }
    }
}

// MARK: - Comparison, selection, logic, conversion

extension Tensor {
    /// `op(self, other)` elementwise with broadcasting, as a bool tensor.
    public func compare(_ op: ComparisonOp, _ other: Tensor) -> Tensor {
        check(dtype == other.dtype, op.rawValue, "dtypes differ: \(dtype) and \(other.dtype)")
        let s = broadcastShapes(shape, other.shape, op: op.rawValue)
        let out = Tensor(empty: s, dtype: .bool)
        let a = expanded(to: s), b = other.expanded(to: s)
        switch dtype {
        case .float32: typedCompare(Float.self, op, a, b, out)
        case .float64: typedCompare(Double.self, op, a, b, out)
        case .int64: typedCompare(Int64.self, op, a, b, out)
        case .int32: typedCompare(Int32.self, op, a, b, out)
        case .bool:
            check(op == .equal || op == .notEqual, op.rawValue, "bool tensors support only equal/notEqual")
            let eq = op == .equal
            zipKernel(a, b, out) { (x: Bool, y: Bool) in (x == y) == eq }
        }
        return out
    }

    public static func .== (a: Tensor, b: Tensor) -> Tensor { a.compare(.equal, b) }
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { a.compare(.notEqual, b) }
    public static func .< (a: Tensor, b: Tensor) -> Tensor { a.compare(.less, b) }
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { a.compare(.lessEqual, b) }
    public static func .> (a: Tensor, b: Tensor) -> Tensor { a.compare(.greater, b) }
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { a.compare(.greaterEqual, b) }
    public static func .== (a: Tensor, b: Double) -> Tensor { a.compare(.equal, a.scalarLike(b)) }
    public static func .< (a: Tensor, b: Double) -> Tensor { a.compare(.less, a.scalarLike(b)) }
    public static func .<= (a: Tensor, b: Double) -> Tensor { a.compare(.lessEqual, a.scalarLike(b)) }
    public static func .> (a: Tensor, b: Double) -> Tensor { a.compare(.greater, a.scalarLike(b)) }
    public static func .>= (a: Tensor, b: Double) -> Tensor { a.compare(.greaterEqual, a.scalarLike(b)) }

    /// Picks `a` where `condition` is true and `b` elsewhere, broadcasting all three.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        check(condition.dtype == .bool, "where", "condition must be bool, got \(condition.dtype)")
        check(a.dtype == b.dtype, "where", "dtypes differ: \(a.dtype) and \(b.dtype)")
        let s = broadcastShapes(broadcastShapes(condition.shape, a.shape, op: "where"), b.shape, op: "where")
        let out = b.expanded(to: s).copy()
        let c = condition.expanded(to: s), x = a.expanded(to: s)
        // out = b, then overwrite where the condition holds: one select kernel per element size.
        func select<T: TensorElement>(_: T.Type) {
            let cp = c.pointer(as: Bool.self), xp = x.pointer(as: T.self), op = out.pointer(as: T.self)
            let it = RowIterator(shape: s, strides: [c.strides, x.strides, out.strides])
            let n = it.rowLength, cs = it.innerStride(0), xs = it.innerStride(1), os = it.innerStride(2)
            it.forEachRow(in: 0..<it.rowCount) { o in
                for i in 0..<n where cp[o[0] + i * cs] { op[o[2] + i * os] = xp[o[1] + i * xs] }
            }
        }
        switch a.dtype {
        case .float32: select(Float.self)
        case .float64: select(Double.self)
        case .int64: select(Int64.self)
        case .int32: select(Int32.self)
        case .bool: select(Bool.self)
        }
        return out
    }

    /// Elementwise AND of bool tensors.
    public func logicalAnd(_ other: Tensor) -> Tensor { logical("logicalAnd", other) { $0 && $1 } }
    /// Elementwise OR of bool tensors.
    public func logicalOr(_ other: Tensor) -> Tensor { logical("logicalOr", other) { $0 || $1 } }
    /// Elementwise NOT of a bool tensor.
    public func logicalNot() -> Tensor {
        check(dtype == .bool, "logicalNot", "expects a bool tensor, got \(dtype)")
        let out = Tensor(empty: shape, dtype: .bool)
        mapKernel(self, out) { (v: Bool) in !v }
        return out
    }

    private func logical(_ op: String, _ other: Tensor, _ f: (Bool, Bool) -> Bool) -> Tensor {
        check(dtype == .bool && other.dtype == .bool, op, "expects bool tensors, got \(dtype) and \(other.dtype)")
        let s = broadcastShapes(shape, other.shape, op: op)
        let out = Tensor(empty: s, dtype: .bool)
        zipKernel(expanded(to: s), other.expanded(to: s), out, f)
        return out
    }

    /// The same values as another dtype (floats to integers truncate toward zero).
    public func converted(to target: DType) -> Tensor {
        if target == dtype { return self }
        let out = Tensor(empty: shape, dtype: target)
        switch (dtype, target) {
        case (.float32, .float64): mapKernel(self, out) { (v: Float) in Double(v) }
        case (.float64, .float32): mapKernel(self, out) { (v: Double) in Float(v) }
        case (.int64, .float32): mapKernel(self, out) { (v: Int64) in Float(v) }
        case (.float32, .int64): mapKernel(self, out) { (v: Float) in Int64(v) }
        case (.bool, .float32): mapKernel(self, out) { (v: Bool) in v ? Float(1) : 0 }
        default:
            let src = contiguous(), n = count
            for i in 0..<n { out.setElement(atOffset: i, src.element(atOffset: src.offset + i)) }
        }
        return out
    }
}

private func typedCompare<T: NumericElement>(_: T.Type, _ op: ComparisonOp, _ a: Tensor, _ b: Tensor, _ out: Tensor) {
    switch op {
    case .equal: zipKernel(a, b, out) { (x: T, y: T) in x == y }
    case .notEqual: zipKernel(a, b, out) { (x: T, y: T) in x != y }
    case .less: zipKernel(a, b, out) { (x: T, y: T) in x < y }
    case .lessEqual: zipKernel(a, b, out) { (x: T, y: T) in x <= y }
    case .greater: zipKernel(a, b, out) { (x: T, y: T) in x > y }
    case .greaterEqual: zipKernel(a, b, out) { (x: T, y: T) in x >= y }
    }
}
