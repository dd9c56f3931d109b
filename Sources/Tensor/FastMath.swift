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
    return p * scale
}

/// erfc(z) for z ≥ 0 (Numerical Recipes' Chebyshev fit, fractional error < 1.2e-7).
@inline(__always) @usableFromInline
func simdErfcPositive(_ z: F16) -> F16 {
    let t = 1 / (1 + 0.5 * z)
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
    return t * simdExp(p - z * z)
}

@inline(__always) @usableFromInline
func simdAbs(_ x: F16) -> F16 { x.replacing(with: -x, where: x .< 0) }

@inline(__always) @usableFromInline
func simdSigmoid(_ x: F16) -> F16 { 1 / (1 + simdExp(-x)) }

@inline(__always) @usableFromInline
func simdTanh(_ x: F16) -> F16 {
    let a = simdAbs(x)
    let e = simdExp(-2 * a)
    var t = (1 - e) / (1 + e)
    let a2 = a * a
    t.replace(with: a * (1 - a2 * (1.0 / 3 - a2 * (2.0 / 15))), where: a .< 0.04)
    return t.replacing(with: -t, where: x .< 0)
}

/// GELU, erf form: x·Φ(x), with Φ from erfc so large negative inputs keep their relative accuracy.
@inline(__always) @usableFromInline
func simdGelu(_ x: F16) -> F16 {
    let half = 0.5 * simdErfcPositive(simdAbs(x) * 0.707_106_77)
    let phi = half.replacing(with: 1 - half, where: x .> 0)
    return x * phi
}

/// d/dx GELU = Φ(x) + x·φ(x).
@inline(__always) @usableFromInline
func simdGeluDerivative(_ x: F16) -> F16 {
    let half = 0.5 * simdErfcPositive(simdAbs(x) * 0.707_106_77)
    let phi = half.replacing(with: 1 - half, where: x .> 0)
    return phi + x * 0.398_942_28 * simdExp(-0.5 * x * x)
}

/// GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
@inline(__always) @usableFromInline
func simdGeluTanh(_ x: F16) -> F16 {
    let inner: F16 = x + 0.044_715 * x * x * x
    return 0.5 * x * (1 + simdTanh(0.797_884_56 * inner))
}

@inline(__always) @usableFromInline
func simdGeluTanhDerivative(_ x: F16) -> F16 {
    let x2: F16 = x * x
    let inner: F16 = x + 0.044_715 * x2 * x
    let t = simdTanh(0.797_884_56 * inner)
    let dInner: F16 = 0.797_884_56 * (1 + 0.134_145 * x2)
    let sech2: F16 = 1 - t * t
    return 0.5 * (1 + t) + 0.5 * x * sech2 * dInner
}
