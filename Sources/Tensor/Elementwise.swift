import CKernels
/// Elementwise operations with NumPy broadcasting.
///
/// Each family has one entry point (`unary`, `binary`, `compare`) that checks dtypes and shapes,
/// broadcasts by stride-0 views, and hands raw pointers to a kernel that runs over
/// ``RowIterator`` rows, so contiguous inputs are one flat loop split across cores.

/// A one-input elementwise function.
///
/// The primitives from which `softplus`, `logSigmoid`, `silu` and `mish` are composed (in
/// Autograd's Rules/Activations.swift). The switches that define an op — the float kernel
/// (`Transcendental`) and the gradient rule — are exhaustive, so a new case does not compile until
/// both exist; the fast paths pick the ops they speed up and fall back to the kernel for the rest.
public enum UnaryOp: Sendable, Equatable {
    case neg, abs, exp, log, sqrt, rsqrt, square, reciprocal, tanh, sigmoid, relu, sin, cos, sign
    /// exp(x) − 1 and log(1 + x), exact near 0 where exp and log round away the answer.
    case expm1, log1p
    /// The error function.
    case erf
    /// GELU, exact (erf) form.
    case gelu
    /// GELU, tanh approximation.
    case geluTanh
    /// `min(max(x, low), high)`: all `high` when low > high, as `torch.clamp`.
    case clamp(low: Double, high: Double)
    /// `x ** exponent`.
    case power(Double)
}

/// The derivatives of the activations whose backward runs as its own kernel; internal to the
/// backward functions (``Tensor/geluBackward(gradient:input:)``), never a user-facing op.
enum ActivationDerivative: Sendable {
    case gelu, geluTanh
}

/// A two-input elementwise function.
public enum BinaryOp: String, Sendable {
    case add, sub, mul, div, pow, maximum, minimum
    /// log(exp(a) + exp(b)) without overflow: max(a, b) + log1p(exp(−|a − b|)).
    case logaddexp
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
//
// The per-element function is a value of a concrete struct type, not a closure: generic
// specialisation then inlines it into the loop (so it vectorises) even though the loop runs
// inside a Dispatch work item. A closure captured there would cost an indirect call per element.

/// A one-input elementwise function.
@usableFromInline protocol MapFunction {
    associatedtype A: TensorElement
    associatedtype R: TensorElement
    func callAsFunction(_ a: A) -> R
}

/// A two-input elementwise function.
@usableFromInline protocol ZipFunction {
    associatedtype A: TensorElement
    associatedtype B: TensorElement
    associatedtype R: TensorElement
    func callAsFunction(_ a: A, _ b: B) -> R
}

/// A 16-lane float32 function.
@usableFromInline protocol SIMDMapFunction {
    func callAsFunction(_ x: F16) -> F16
}

/// out[i] = f(x[i]) over same-shaped strided views; `out` may alias `x` exactly.
@inline(__always) @usableFromInline
func mapKernel<F: MapFunction>(_ x: Tensor, _ out: Tensor, cost: Int = 1, _ f: F) {
    let xp = x.pointer(as: F.A.self), op = out.pointer(as: F.R.self)
    let it = RowIterator(shape: out.shape, strides: [x.strides, out.strides])
    let n = it.rowLength, xs = it.innerStride(0), os = it.innerStride(1)
    if it.rowCount == 1 && xs == 1 && os == 1 {
        let x = SendablePointer(xp), o = SendablePointer(op)
        // In place, one pointer, as in `zipKernel`: two equal ones would take the compiler's scalar path.
        let inPlace = Int(bitPattern: xp) == Int(bitPattern: op)
        let aliased = SendablePointer<F.A>(UnsafeMutableRawPointer(op).assumingMemoryBound(to: F.A.self))
        parallelChunks(n, costPerItem: cost) { r in
            if inPlace {
                for i in r { o.p[i] = f(aliased.p[i]) }
            } else {
                for i in r { o.p[i] = f(x.p[i]) }
            }
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
func zipKernel<F: ZipFunction>(_ a: Tensor, _ b: Tensor, _ out: Tensor, _ f: F) {
    let ap = a.pointer(as: F.A.self), bp = b.pointer(as: F.B.self), op = out.pointer(as: F.R.self)
    let it = RowIterator(shape: out.shape, strides: [a.strides, b.strides, out.strides])
    let n = it.rowLength, sa = it.innerStride(0), sb = it.innerStride(1), so = it.innerStride(2)
    @inline(__always) func row(_ a: UnsafeMutablePointer<F.A>, _ b: UnsafeMutablePointer<F.B>,
                               _ o: UnsafeMutablePointer<F.R>, _ range: Range<Int>) {
        // Separate loops for the common stride patterns so each one vectorises. In place (`x += bias`), the
        // loop reads and writes through one pointer: with two equal ones the compiler's overlap check would
        // send it down the scalar path.
        let inPlace = so == 1 && sa == 1 && UnsafeMutableRawPointer(a) == UnsafeMutableRawPointer(o)
        let aliased = UnsafeMutableRawPointer(o).assumingMemoryBound(to: F.A.self)
        if inPlace && sb == 1 {
            for i in range { o[i] = f(aliased[i], b[i]) }
        } else if inPlace && sb == 0 {
            let s = b[0]
            for i in range { o[i] = f(aliased[i], s) }
        } else if so == 1 && sa == 1 && sb == 1 {
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

/// Contiguous float32 map through a SIMD16 function, with the tail through the same function.
@inline(__always) @usableFromInline
func simdMapKernel<F: SIMDMapFunction>(_ x: Tensor, _ out: Tensor, _ f: F) {
    let xp = SendablePointer(x.pointer(as: Float.self)), op = SendablePointer(out.pointer(as: Float.self))
    let n = x.count
    parallelChunks(n / 16 + 1, costPerItem: 64) { r in
        let lo = r.lowerBound * 16, hi = Swift.min(r.upperBound * 16, n)
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
    public func expm1() -> Tensor { map(.expm1) }
    public func log1p() -> Tensor { map(.log1p) }
    public func erf() -> Tensor { map(.erf) }
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
        if x.isContiguous && out.isContiguous && simdMap(op, x, out) { return }
        floatUnary(Float.self, op, x, out)
    case .float64: floatUnary(Double.self, op, x, out)
    case .int64: integerUnary(Int64.self, op, x, out)
    case .int32: integerUnary(Int32.self, op, x, out)
    case .bool: fail("\(op)", "not defined for bool tensors")
    }
}

/// Runs the fastest kernel for `op` if it has one: CKernels' kernel for the current level or a
/// SIMD16 Swift kernel.
private func simdMap(_ op: UnaryOp, _ x: Tensor, _ out: Tensor) -> Bool {
    switch op {
    case .exp: cKernel(x, out, currentKernels.exp)
    case .gelu: cKernel(x, out, currentKernels.gelu)
    default: return swiftSIMDMap(op, x, out)
    }
    return true
}

/// `derivative` at every element of `x`: the fastest kernel for contiguous float32, libm's otherwise.
private func derivativeMap(_ derivative: ActivationDerivative, _ x: Tensor) -> Tensor {
    let out = Tensor(empty: x.shape, dtype: x.dtype)
    switch (x.dtype, derivative) {
    case (.float32, .gelu) where x.isContiguous: cKernel(x, out, currentKernels.gelu_derivative)
    case (.float32, .geluTanh) where x.isContiguous: simdMapKernel(x, out, SIMDGeluTanhDerivative())
    case (.float32, _): mapKernel(x, out, cost: 16, Derivative<Float>(of: derivative))
    case (.float64, _): mapKernel(x, out, cost: 16, Derivative<Double>(of: derivative))
    default: fail("\(derivative) derivative", "needs a floating-point tensor, got \(x.dtype)")
    }
    return out
}

/// Splits a contiguous float32 map across cores through a C kernel.
private func cKernel(_ x: Tensor, _ out: Tensor,
                     _ kernel: @convention(c) (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) {
    let xp = SendablePointer(x.pointer(as: Float.self)), op = SendablePointer(out.pointer(as: Float.self))
    let n = x.count
    parallelChunks(n / 256 + 1, costPerItem: 1024) { r in
        let lo = r.lowerBound * 256, hi = Swift.min(r.upperBound * 256, n)
        if hi > lo { kernel(xp.p + lo, op.p + lo, hi - lo) }
    }
}

private func swiftSIMDMap(_ op: UnaryOp, _ x: Tensor, _ out: Tensor) -> Bool {
    switch op {
    case .exp: simdMapKernel(x, out, SIMDExp())
    case .sigmoid: simdMapKernel(x, out, SIMDSigmoid())
    case .tanh: simdMapKernel(x, out, SIMDTanh())
    case .gelu: simdMapKernel(x, out, SIMDGelu())
    case .geluTanh: simdMapKernel(x, out, SIMDGeluTanh())
    default: return false
    }
    return true
}

// MARK: - Activation gradients in one pass

extension Tensor {
    /// The backward of `relu`: `gradient` where `input` > 0, zero elsewhere (and at NaN).
    public static func reluBackward(gradient g: Tensor, input x: Tensor) -> Tensor {
        checkActivationBackward("reluBackward", g, x)
        let out = Tensor(empty: x.shape, dtype: x.dtype)
        if x.dtype == .float32 {
            zipKernel(g, x, out, PassWherePositive<Float>())
        } else {
            zipKernel(g, x, out, PassWherePositive<Double>())
        }
        return out
    }

    /// The backward of `gelu(approximate:)`: gradient · GELU′(input), of the tanh form when `approximate`.
    /// With `out` (of `x`'s shape and dtype; it may be `g` itself) the float32 kernel writes there.
    public static func geluBackward(gradient g: Tensor, input x: Tensor, approximate: Bool = false,
                                    into out: Tensor? = nil) -> Tensor {
        if approximate { return geluTanhBackward(gradient: g, input: x) }
        checkActivationBackward("geluBackward", g, x)
        guard x.dtype == .float32, x.isContiguous, g.isContiguous else { return g * derivativeMap(.gelu, x) }
        if let out {
            check(out.isContiguous && out.shape == x.shape && out.dtype == x.dtype, "geluBackward",
                  "output \(describe(out.shape)) \(out.dtype) must be contiguous with the input's shape "
                  + "\(describe(x.shape)) and dtype \(x.dtype)")
        }
        let out = out ?? Tensor(empty: x.shape, dtype: .float32)
        let n = x.count
        let xp = SendablePointer(x.pointer(as: Float.self)), gp = SendablePointer(g.pointer(as: Float.self))
        let op = SendablePointer(out.pointer(as: Float.self)), kernel = currentKernels.gelu_backward
        parallelChunks(n / 256 + 1, costPerItem: 1024) { r in
            let lo = r.lowerBound * 256, hi = Swift.min(r.upperBound * 256, n)
            if hi > lo { kernel(xp.p + lo, gp.p + lo, op.p + lo, hi - lo) }
        }
        return out
    }

    /// The backward of tanh-approximated `gelu`: gradient · GELU′(input).
    public static func geluTanhBackward(gradient g: Tensor, input x: Tensor) -> Tensor {
        checkActivationBackward("geluTanhBackward", g, x)
        return g * derivativeMap(.geluTanh, x)
    }

    private static func checkActivationBackward(_ op: String, _ g: Tensor, _ x: Tensor) {
        check(g.shape == x.shape && g.dtype == x.dtype && x.dtype.isFloatingPoint, op,
              "gradient \(describe(g.shape)) \(g.dtype) does not match input \(describe(x.shape)) \(x.dtype)")
    }
}

struct PassWherePositive<T: FloatElement>: ZipFunction { func callAsFunction(_ g: T, _ x: T) -> T { x > 0 ? g : 0 } }

struct SIMDExp: SIMDMapFunction { func callAsFunction(_ x: F16) -> F16 { simdExp(x) } }
struct SIMDSigmoid: SIMDMapFunction { func callAsFunction(_ x: F16) -> F16 { simdSigmoid(x) } }
struct SIMDTanh: SIMDMapFunction { func callAsFunction(_ x: F16) -> F16 { simdTanh(x) } }
struct SIMDGelu: SIMDMapFunction { func callAsFunction(_ x: F16) -> F16 { simdGelu(x) } }
struct SIMDGeluTanh: SIMDMapFunction { func callAsFunction(_ x: F16) -> F16 { simdGeluTanh(x) } }
struct SIMDGeluTanhDerivative: SIMDMapFunction { func callAsFunction(_ x: F16) -> F16 { simdGeluTanhDerivative(x) } }

private func floatUnary<T: FloatElement>(_: T.Type, _ op: UnaryOp, _ x: Tensor, _ out: Tensor) {
    switch op {
    case .neg: mapKernel(x, out, Negate<T>())
    case .abs: mapKernel(x, out, Absolute<T>())
    case .square: mapKernel(x, out, Square<T>())
    case .sign: mapKernel(x, out, Sign<T>())
    case .relu: mapKernel(x, out, Relu<T>())
    case .sqrt: mapKernel(x, out, SquareRoot<T>())
    case .rsqrt: mapKernel(x, out, ReciprocalSquareRoot<T>())
    case .reciprocal: mapKernel(x, out, Reciprocal<T>())
    case let .clamp(low, high): mapKernel(x, out, Clamp<T>(low: T(low), high: T(high)))
    case .power(2): mapKernel(x, out, Square<T>())
    default: mapKernel(x, out, cost: 16, Transcendental<T>(op: op))
    }
}

private func integerUnary<T: NumericElement & SignedInteger & FixedWidthInteger>(_: T.Type, _ op: UnaryOp,
                                                                                 _ x: Tensor, _ out: Tensor) {
    switch op {
    case .neg: mapKernel(x, out, Negate<T>())
    case .abs: mapKernel(x, out, Absolute<T>())
    case .square: mapKernel(x, out, Square<T>())
    case .sign: mapKernel(x, out, Sign<T>())
    case let .clamp(low, high):
        mapKernel(x, out, Clamp<T>(low: T(Swift.max(low, Double(T.min))), high: T(Swift.min(high, Double(T.max)))))
    default: fail("\(op)", "not defined for \(T.dtype) tensors; convert with converted(to: .float32)")
    }
}

struct Negate<T: NumericElement & SignedNumeric>: MapFunction { func callAsFunction(_ v: T) -> T { -v } }
struct Absolute<T: NumericElement & SignedNumeric>: MapFunction { func callAsFunction(_ v: T) -> T { v < 0 ? -v : v } }
struct Square<T: NumericElement>: MapFunction { func callAsFunction(_ v: T) -> T { v * v } }
struct Sign<T: NumericElement & SignedNumeric>: MapFunction {
    func callAsFunction(_ v: T) -> T { v > 0 ? 1 : (v < 0 ? -1 : 0) }
}
/// NaN stays NaN, as in PyTorch: `v <= 0` is false for it (a `v > 0 ? v : 0` would hide a diverged run).
struct Relu<T: FloatElement>: MapFunction { func callAsFunction(_ v: T) -> T { v <= 0 ? 0 : v } }
struct SquareRoot<T: FloatElement>: MapFunction { func callAsFunction(_ v: T) -> T { v.squareRoot() } }
struct ReciprocalSquareRoot<T: FloatElement>: MapFunction { func callAsFunction(_ v: T) -> T { 1 / v.squareRoot() } }
struct Reciprocal<T: FloatElement>: MapFunction { func callAsFunction(_ v: T) -> T { 1 / v } }
struct Clamp<T: NumericElement>: MapFunction {
    let low: T, high: T
    func callAsFunction(_ v: T) -> T {
        let raised = v < low ? low : v
        return raised > high ? high : raised
    }
}

/// Every unary function through libm (float64, and float32 where no SIMD kernel applies); the
/// cheap ones have dedicated kernels in `floatUnary` but are here too, so the switch is exhaustive.
struct Transcendental<T: FloatElement>: MapFunction {
    let op: UnaryOp

    func callAsFunction(_ v: T) -> T {
        let invSqrt2: T = 0.707_106_781_186_547_5, k: T = 0.797_884_560_802_865_4, c: T = 0.044_715
        switch op {
        case .neg: return -v
        case .abs: return Swift.abs(v)
        case .square: return v * v
        case .sign: return v > 0 ? 1 : (v < 0 ? -1 : 0)
        case .relu: return v <= 0 ? 0 : v
        case .sqrt: return v.squareRoot()
        case .rsqrt: return 1 / v.squareRoot()
        case .reciprocal: return 1 / v
        case let .clamp(low, high): return Clamp<T>(low: T(low), high: T(high))(v)
        case .exp: return T.exp(v)
        case .expm1: return T.expm1(v)
        case .log: return T.log(v)
        case .log1p: return T.log1p(v)
        case .erf: return T.erf(v)
        case .tanh: return T.tanh(v)
        case .sigmoid: return 1 / (1 + T.exp(-v))
        case .sin: return T.sin(v)
        case .cos: return T.cos(v)
        case .gelu: return v * (1 + T.erf(v * invSqrt2)) / 2
        case .geluTanh:
            // x·σ(2u) equals 0.5·x·(1 + tanh u) without the cancellation for negative x.
            let inner: T = v + c * v * v * v
            return v / (1 + T.exp(-2 * k * inner))
        case let .power(e): return T.pow(v, T(e))
        }
    }
}

/// The activation derivatives through libm.
struct Derivative<T: FloatElement>: MapFunction {
    let derivative: ActivationDerivative
    init(of derivative: ActivationDerivative) { self.derivative = derivative }

    func callAsFunction(_ v: T) -> T {
        let invSqrt2: T = 0.707_106_781_186_547_5, invSqrt2Pi: T = 0.398_942_280_401_432_7
        let k: T = 0.797_884_560_802_865_4, c: T = 0.044_715
        switch derivative {
        case .gelu:
            let cdf: T = (1 + T.erf(v * invSqrt2)) / 2
            return cdf + v * invSqrt2Pi * T.exp(-v * v / 2)
        case .geluTanh:
            let v2: T = v * v
            let e = T.exp(-2 * k * (v + c * v2 * v))
            let s: T = 1 / (1 + e)
            let du: T = k * (1 + 3 * c * v2)
            return e.isInfinite ? 0 : s + 2 * v * s * (e * s) * du
        }
    }
}

// MARK: - Binary

extension Tensor {
    /// `op(self, other)` elementwise with broadcasting; both operands must have the same dtype.
    public func binary(_ op: BinaryOp, _ other: Tensor) -> Tensor {
        check(dtype == other.dtype, op.rawValue,
              "dtypes differ: \(dtype) \(describe(shape)) and \(other.dtype) \(describe(other.shape))")
        let outShape = broadcastShapes(shape, other.shape, op: op.rawValue)
        let out = Tensor(empty: outShape, dtype: dtype)
        applyBinary(op, expanded(to: outShape), other.expanded(to: outShape), into: out)
        return out
    }

    /// `self = op(self, other)` in place; `other` must broadcast to this tensor's shape.
    public func binaryInPlace(_ op: BinaryOp, _ other: Tensor) {
        check(dtype == other.dtype, op.rawValue,
              "dtypes differ: \(dtype) \(describe(shape)) and \(other.dtype) \(describe(other.shape))")
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
    /// log(exp(self) + exp(other)) elementwise, without overflow (`torch.logaddexp`).
    public func logaddexp(_ other: Tensor) -> Tensor { binary(.logaddexp, other) }
}

private func applyBinary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, into out: Tensor) {
    if op == .logaddexp && a.dtype.isFloatingPoint {
        if a.dtype == .float32 {
            zipKernel(a, b, out, LogAddExp<Float>())
        } else {
            zipKernel(a, b, out, LogAddExp<Double>())
        }
        return
    }
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
    case .add: zipKernel(a, b, out, Add<T>())
    case .sub: zipKernel(a, b, out, Subtract<T>())
    case .mul: zipKernel(a, b, out, Multiply<T>())
    case .div: zipKernel(a, b, out, Divide<T>())
    case .pow: zipKernel(a, b, out, Power<T>())
    case .maximum: zipKernel(a, b, out, Maximum<T>())
    case .minimum: zipKernel(a, b, out, Minimum<T>())
    case .logaddexp: fail(op.rawValue, "needs floating-point tensors, got \(T.dtype)")
    }
}

/// max(a, b) + log1p(exp(−|a − b|)); infinities give ±∞, not NaN from ∞ − ∞.
struct LogAddExp<T: FloatElement>: ZipFunction {
    func callAsFunction(_ a: T, _ b: T) -> T {
        if a.isNaN || b.isNaN { return .nan }
        let high = a > b ? a : b
        if high.isInfinite { return high }
        return high + T.log1p(T.exp(-Swift.abs(a - b)))
    }
}

struct Add<T: NumericElement>: ZipFunction { func callAsFunction(_ a: T, _ b: T) -> T { a + b } }
struct Subtract<T: NumericElement>: ZipFunction { func callAsFunction(_ a: T, _ b: T) -> T { a - b } }
struct Multiply<T: NumericElement>: ZipFunction { func callAsFunction(_ a: T, _ b: T) -> T { a * b } }
struct Divide<T: NumericElement>: ZipFunction { func callAsFunction(_ a: T, _ b: T) -> T { T.divide(a, b) } }
struct Power<T: NumericElement>: ZipFunction { func callAsFunction(_ a: T, _ b: T) -> T { T.power(a, b) } }
/// NaN wins, as in `torch.maximum`.
struct Maximum<T: NumericElement>: ZipFunction { func callAsFunction(_ a: T, _ b: T) -> T { a >= b || a != a ? a : b } }
struct Minimum<T: NumericElement>: ZipFunction { func callAsFunction(_ a: T, _ b: T) -> T { a <= b || a != a ? a : b } }

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
            zipKernel(a, b, out, BoolEquals(equal: op == .equal))
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
    public func logicalAnd(_ other: Tensor) -> Tensor { logical("logicalAnd", other, Logical(and: true)) }
    /// Elementwise OR of bool tensors.
    public func logicalOr(_ other: Tensor) -> Tensor { logical("logicalOr", other, Logical(and: false)) }
    /// Elementwise NOT of a bool tensor.
    public func logicalNot() -> Tensor {
        check(dtype == .bool, "logicalNot", "expects a bool tensor, got \(dtype)")
        let out = Tensor(empty: shape, dtype: .bool)
        mapKernel(self, out, Not())
        return out
    }

    private func logical(_ op: String, _ other: Tensor, _ f: Logical) -> Tensor {
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
        func convert<A: TensorElement>(_: A.Type) {
            switch target {
            case .float32: mapKernel(self, out, Convert<A, Float>())
            case .float64: mapKernel(self, out, Convert<A, Double>())
            case .int64: mapKernel(self, out, Convert<A, Int64>())
            case .int32: mapKernel(self, out, Convert<A, Int32>())
            case .bool: mapKernel(self, out, Convert<A, Bool>())
            }
        }
        switch dtype {
        case .float32: convert(Float.self)
        case .float64: convert(Double.self)
        case .int64: convert(Int64.self)
        case .int32: convert(Int32.self)
        case .bool: convert(Bool.self)
        }
        return out
    }
}

private func typedCompare<T: NumericElement>(_: T.Type, _ op: ComparisonOp, _ a: Tensor, _ b: Tensor, _ out: Tensor) {
    zipKernel(a, b, out, Compare<T>(op: op))
}

struct Compare<T: TensorElement & Comparable>: ZipFunction {
    let op: ComparisonOp
    func callAsFunction(_ a: T, _ b: T) -> Bool {
        switch op {
        case .equal: a == b
        case .notEqual: a != b
        case .less: a < b
        case .lessEqual: a <= b
        case .greater: a > b
        case .greaterEqual: a >= b
        }
    }
}

struct Logical: ZipFunction {
    let and: Bool
    func callAsFunction(_ a: Bool, _ b: Bool) -> Bool { and ? a && b : a || b }
}

struct BoolEquals: ZipFunction {
    let equal: Bool
    func callAsFunction(_ a: Bool, _ b: Bool) -> Bool { (a == b) == equal }
}

struct Not: MapFunction { func callAsFunction(_ a: Bool) -> Bool { !a } }

struct Convert<A: TensorElement, R: TensorElement>: MapFunction {
    func callAsFunction(_ a: A) -> R { R(fromDouble: a.doubleValue) }
}
