/// SIMD approximations of the transcendental functions the hot float32 kernels need.
///
/// libm costs 12–15 ns per element here; these run 16 lanes at a time with SSE2 and stay within
/// a few float32 ulps (max relative error ≈ 2e-7 for exp, 3e-7 for erfc). Only comparisons and
/// `replacing(with:where:)` are used for selection: `pointwiseMin`, `rounded` and SIMD Int
/// conversions compile to per-lane calls.
@usableFromInline typealias F16 = SIMD16<Float>

@inline(__always) @usableFromInline
func simdExp(_ input: F16) -> F16 {
    var x = input.replacing(with: 88.37626, where: input .> 88.37626)
    x.replace(with: -87.33654, where: x .< -87.33654)
    // x = n·ln2 + r with |r| ≤ ln2/2; n rounded to nearest by the 1.5·2²³ trick.
    let magic = F16(repeating: 12_582_912)
    let shifted = x * 1.442_695_04 + magic
    let n = shifted - magic
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6
    var p = F16(repeating: 1.0 / 720)
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    // 2ⁿ built from the exponent bits: n sits in the low mantissa bits of `shifted`.
    let ni = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    let scale = unsafeBitCast((ni &+ 127) &<< 23, to: F16.self)
    // Past the float range the answer is 0 or ∞ (the clamps above only keep the bit tricks valid).
    var y = (p * scale).replacing(with: 0, where: input .< -87.33654)
    y.replace(with: .infinity, where: input .> 88.72283)
    return y
}

/// exp(p − a²/2), with a²/2 kept exact: a = aₕ + aₗ where aₕ holds 12 significant bits, so aₕ²
/// is exact in float32 and the small rest enters through a short series. A plain exp(−a²/2)
/// would lose ≈ a²·6e-8 of relative accuracy in the tails.
@inline(__always) @usableFromInline
func simdExpMinusHalfSquare(_ a: F16, plus p: F16) -> F16 {
    let ah = unsafeBitCast(unsafeBitCast(a, to: SIMD16<UInt32>.self) & 0xFFFF_F000, to: F16.self)
    let al = a - ah
    let r = -0.5 * al * (ah + ah + al)
    var er = F16(repeating: 1.0 / 24)
    er = er * r + 1.0 / 6
    er = er * r + 0.5
    er = er * r + 1
    er = er * r + 1
    return simdExp(p - 0.5 * ah * ah) * er
}

/// 2Φ(−a) = erfc(a/√2) for a ≥ 0 (Numerical Recipes' Chebyshev fit of erfc, fractional error < 1.2e-7).
@inline(__always) @usableFromInline
func simdGaussianTail(_ a: F16) -> F16 {
    let t = 1 / (1 + 0.353_553_39 * a)
    var p = F16(repeating: 0.170_872_77)
    p = p * t - 0.822_152_23
    p = p * t + 1.488_515_87
    p = p * t - 1.135_203_98
    p = p * t + 0.278_868_07
    p = p * t - 0.186_288_06
    p = p * t + 0.096_784_18
    p = p * t + 0.374_091_96
    p = p * t + 1.000_023_68
    p = p * t - 1.265_512_23
    return t * simdExpMinusHalfSquare(a, plus: p)
}

@inline(__always) @usableFromInline
func simdAbs(_ x: F16) -> F16 { x.replacing(with: -x, where: x .< 0) }

@inline(__always) @usableFromInline
func simdSigmoid(_ x: F16) -> F16 { 1 / (1 + simdExp(-x)) }

/// tanh as a 13/6 rational minimax fit on [−7.9053, 7.9053] (the fit Eigen uses); max relative
/// error 3.7e-7 with no cancellation near 0, where exp-based forms lose digits.
@inline(__always) @usableFromInline
func simdTanh(_ input: F16) -> F16 {
    var x = input.replacing(with: 7.905_311_1, where: input .> 7.905_311_1)
    x.replace(with: -7.905_311_1, where: x .< -7.905_311_1)
    let x2 = x * x
    var p = F16(repeating: -2.760_768_5e-16)
    p = p * x2 + 2.000_187_9e-13
    p = p * x2 - 8.604_671_5e-11
    p = p * x2 + 5.122_297_1e-08
    p = p * x2 + 1.485_722_4e-05
    p = p * x2 + 6.372_619_3e-04
    p = p * x2 + 4.893_524_6e-03
    var q = F16(repeating: 1.198_258_4e-06)
    q = q * x2 + 1.185_347_1e-04
    q = q * x2 + 2.268_434_6e-03
    q = q * x2 + 4.893_525_2e-03
    return (x * p / q).replacing(with: input, where: simdAbs(input) .< 0.000_4)
}

/// GELU, erf form: x·Φ(x), with Φ from the Gaussian tail so large negative inputs keep their relative accuracy.
@inline(__always) @usableFromInline
func simdGelu(_ x: F16) -> F16 {
    let half = 0.5 * simdGaussianTail(simdAbs(x))
    let phi = half.replacing(with: 1 - half, where: x .> 0)
    return x * phi
}

/// GELU, tanh form: 0.5·x·(1 + tanh u) with u = √(2/π)(x + 0.044715x³), evaluated as x·σ(2u)
/// (the same value) so that 1 + tanh u never cancels for negative x.
@inline(__always) @usableFromInline
func simdGeluTanh(_ x: F16) -> F16 {
    let inner: F16 = x + 0.044_715 * x * x * x
    var e = -1.595_769_1 * inner
    e.replace(with: 88, where: e .> 88)
    return x / (1 + simdExp(e))
}

/// d/dx of the tanh form: σ(2u) + 2x·σ(2u)·σ(−2u)·u′.
@inline(__always) @usableFromInline
func simdGeluTanhDerivative(_ x: F16) -> F16 {
    let x2: F16 = x * x
    let inner: F16 = x + 0.044_715 * x2 * x
    var arg = -1.595_769_1 * inner
    arg.replace(with: 88, where: arg .> 88)
    let e = simdExp(arg)
    let s = 1 / (1 + e)
    let du: F16 = 0.797_884_56 * (1 + 0.134_145 * x2)
    return s + 2 * x * s * (e * s) * du
}

// MARK: Row reductions (SIMD for float32, scalar otherwise)

/// Σ a·b over a row (SIMD for float32).
@inline(__always)
func rowDot<T: FloatElement>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, _ n: Int) -> T {
    var i = 0
    var total: T = 0
    if T.self == Float.self {
        let ra = UnsafeMutableRawPointer(a), rb = UnsafeMutableRawPointer(b)
        var acc = F16()
        while i + 16 <= n {
            acc += ra.loadUnaligned(fromByteOffset: i * 4, as: F16.self)
                * rb.loadUnaligned(fromByteOffset: i * 4, as: F16.self)
            i += 16
        }
        total = acc.sum() as! T
    }
    while i < n { total += a[i] * b[i]; i += 1 }
    return total
}

/// Σ p over a row.
@inline(__always)
func rowSum<T: FloatElement>(_ p: UnsafeMutablePointer<T>, _ n: Int) -> T {
    var i = 0
    var total: T = 0
    if T.self == Float.self {
        let raw = UnsafeMutableRawPointer(p)
        var acc = F16()
        while i + 16 <= n { acc += raw.loadUnaligned(fromByteOffset: i * 4, as: F16.self); i += 16 }
        total = acc.sum() as! T
    }
    while i < n { total += p[i]; i += 1 }
    return total
}

/// Σ (p − c)² over a row.
@inline(__always)
func rowSquaredDeviations<T: FloatElement>(_ p: UnsafeMutablePointer<T>, _ n: Int, from c: T) -> T {
    var i = 0
    var total: T = 0
    if T.self == Float.self {
        let raw = UnsafeMutableRawPointer(p)
        let cv = F16(repeating: c as! Float)
        var acc = F16()
        while i + 16 <= n {
            let d = raw.loadUnaligned(fromByteOffset: i * 4, as: F16.self) - cv
            acc += d * d
            i += 16
        }
        total = acc.sum() as! T
    }
    while i < n { let d = p[i] - c; total += d * d; i += 1 }
    return total
}
