/// The element type of a ``Tensor``.
///
/// `float32` is the default for models and data; `float64` is for gradient checks and
/// numerically sensitive work; `int64`/`int32` hold labels and indices; `bool` holds masks.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float64, int64, int32, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: 4
        case .float64, .int64: 8
        case .bool: 1
        }
    }

    /// Whether the type is a floating-point type (the only ones that carry gradients).
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    public var description: String { rawValue }
}

/// A Swift scalar type that a ``Tensor`` can hold.
public protocol TensorElement: Sendable {
    static var dtype: DType { get }
    /// The value converted to `Double` (exact for every dtype except large int64s).
    var doubleValue: Double { get }
    init(fromDouble value: Double)
}

extension Float: TensorElement {
    public static var dtype: DType { .float32 }
    public var doubleValue: Double { Double(self) }
    public init(fromDouble value: Double) { self = Float(value) }
}

extension Double: TensorElement {
    public static var dtype: DType { .float64 }
    public var doubleValue: Double { self }
    public init(fromDouble value: Double) { self = value }
}

extension Int64: TensorElement {
    public static var dtype: DType { .int64 }
    public var doubleValue: Double { Double(self) }
    /// Saturates out-of-range values and maps NaN to 0 instead of trapping.
    public init(fromDouble value: Double) {
        self = value.isNaN ? 0 : Int64(Swift.min(Swift.max(value, -9.223_372_036_854_775e18), 9.223_372_036_854_775e18))
    }
}

extension Int32: TensorElement {
    public static var dtype: DType { .int32 }
    public var doubleValue: Double { Double(self) }
    public init(fromDouble value: Double) {
        self = value.isNaN ? 0 : Int32(Swift.min(Swift.max(value, -2_147_483_648), 2_147_483_647))
    }
}

extension Bool: TensorElement {
    public static var dtype: DType { .bool }
    public var doubleValue: Double { self ? 1 : 0 }
    public init(fromDouble value: Double) { self = value != 0 }
}

/// A floating-point element: the kernels that do arithmetic are generic over this. (`Codable` is stated
/// because `SIMDScalar`'s storage requirements imply it, which the compiler otherwise warns about.)
public protocol FloatElement: NumericElement, BinaryFloatingPoint, SIMDScalar, Codable
where Self.RawSignificand: FixedWidthInteger {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    /// exp(x) − 1, exact near 0.
    static func expm1(_ x: Self) -> Self
    /// log(1 + x), exact near 0.
    static func log1p(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func sin(_ x: Self) -> Self
    static func cos(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
}
