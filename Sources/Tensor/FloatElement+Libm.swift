#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// File-scope wrappers: inside the static methods below the names would refer to the methods themselves.
@inline(__always) private func libmExp(_ x: Double) -> Double { exp(x) }
@inline(__always) private func libmLog(_ x: Double) -> Double { log(x) }
@inline(__always) private func libmExpm1(_ x: Double) -> Double { expm1(x) }
@inline(__always) private func libmLog1p(_ x: Double) -> Double { log1p(x) }
@inline(__always) private func libmTanh(_ x: Double) -> Double { tanh(x) }
@inline(__always) private func libmErf(_ x: Double) -> Double { erf(x) }
@inline(__always) private func libmSin(_ x: Double) -> Double { sin(x) }
@inline(__always) private func libmCos(_ x: Double) -> Double { cos(x) }
@inline(__always) private func libmPow(_ x: Double, _ y: Double) -> Double { pow(x, y) }

extension Float: FloatElement {
    public static func exp(_ x: Float) -> Float { expf(x) }
    public static func log(_ x: Float) -> Float { logf(x) }
    public static func expm1(_ x: Float) -> Float { expm1f(x) }
    public static func log1p(_ x: Float) -> Float { log1pf(x) }
    public static func tanh(_ x: Float) -> Float { tanhf(x) }
    public static func erf(_ x: Float) -> Float { erff(x) }
    public static func sin(_ x: Float) -> Float { sinf(x) }
    public static func cos(_ x: Float) -> Float { cosf(x) }
    public static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
}

extension Double: FloatElement {
    public static func exp(_ x: Double) -> Double { libmExp(x) }
    public static func log(_ x: Double) -> Double { libmLog(x) }
    public static func expm1(_ x: Double) -> Double { libmExpm1(x) }
    public static func log1p(_ x: Double) -> Double { libmLog1p(x) }
    public static func tanh(_ x: Double) -> Double { libmTanh(x) }
    public static func erf(_ x: Double) -> Double { libmErf(x) }
    public static func sin(_ x: Double) -> Double { libmSin(x) }
    public static func cos(_ x: Double) -> Double { libmCos(x) }
    public static func pow(_ x: Double, _ y: Double) -> Double { libmPow(x, y) }
}
