import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A seeded, reproducible pseudo-random generator (xoshiro256**, seeded through SplitMix64).
///
/// The same seed gives the same numbers on every platform. One generator is not meant to be
/// shared between threads; the default generator used when none is given is guarded by a lock.
public final class RandomGenerator: @unchecked Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    private var spareNormal: Double?

    /// A generator whose whole sequence is determined by `seed`.
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The next 64 random bits.
    public func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 53 random bits.
    public func nextUniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Standard normal (Box–Muller; the second value of each pair is kept for the next call).
    public func nextNormal() -> Double {
        if let z = spareNormal { spareNormal = nil; return z }
        var u1 = nextUniform()
        while u1 == 0 { u1 = nextUniform() }
        let u2 = nextUniform()
        let r = (-2 * log(u1)).squareRoot()
        spareNormal = r * sin(2 * .pi * u2)
        return r * cos(2 * .pi * u2)
    }

    /// Uniform integer in `0..<n` without modulo bias.
    public func nextInt(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        let limit = UInt64.max - UInt64.max % bound
        var x = next()
        while x >= limit { x = next() }
        return Int(x % bound)
    }

    /// The generator's complete state, to save in a training checkpoint and restore exactly.
    public var state: [UInt64] {
        get { [s.0, s.1, s.2, s.3, spareNormal == nil ? 0 : 1, spareNormal?.bitPattern ?? 0] }
        set {
            precondition(newValue.count == 6, "RandomGenerator.state needs 6 values")
            s = (newValue[0], newValue[1], newValue[2], newValue[3])
            spareNormal = newValue[4] == 0 ? nil : Double(bitPattern: newValue[5])
        }
    }

    /// The generator used when an op is given none; reseed it with ``Random/seed(_:)``.
    static let shared = Mutex(RandomGenerator(seed: 0))
}

/// The process-wide default random generator.
public enum Random {
    /// A generator that replaces the process-wide one inside ``withGenerator(_:_:)`` (task-local,
    /// so concurrent tasks each keep their own sequence).
    @TaskLocal static var scoped: RandomGenerator?

    /// Runs `body` with `generator` as the default generator of this task and its children.
    public static func withGenerator<R>(_ generator: RandomGenerator, _ body: () throws -> R) rethrows -> R {
        try $scoped.withValue(generator) { try body() }
    }

    /// Reseeds the default generator (like `torch.manual_seed`): the scoped one inside
    /// ``withGenerator(_:_:)``, else the process-wide one.
    public static func seed(_ seed: UInt64) {
        if let scoped {
            scoped.state = RandomGenerator(seed: seed).state
        } else {
            RandomGenerator.shared.withLock { $0 = RandomGenerator(seed: seed) }
        }
    }

    /// The default generator's state (see ``RandomGenerator/state``).
    public static var state: [UInt64] {
        get { scoped?.state ?? RandomGenerator.shared.withLock { $0.state } }
        set {
            if let scoped { scoped.state = newValue } else { RandomGenerator.shared.withLock { $0.state = newValue } }
        }
    }

    /// Runs `body` with `generator`, or with the locked default generator when it is `nil`.
    public static func using<R>(_ generator: RandomGenerator?, _ body: (RandomGenerator) -> R) -> R {
        if let generator = generator ?? scoped { return body(generator) }
        return RandomGenerator.shared.withLock { body($0) }
    }
}

extension Tensor {
    private static func generate(_ shape: [Int], dtype: DType, generator: RandomGenerator?,
                                 _ value: (RandomGenerator) -> Double) -> Tensor {
        let t = Tensor(empty: shape, dtype: dtype)
        let n = t.count
        Random.using(generator) { g in
            switch dtype {
            case .float32:
                let p = t.pointer(as: Float.self)
                for i in 0..<n { p[i] = Float(value(g)) }
            default:
                for i in 0..<n { t.setElement(atOffset: i, value(g)) }
            }
        }
        return t
    }

    /// Uniform in [low, high).
    public static func uniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
                               generator: RandomGenerator? = nil) -> Tensor {
        generate(shape, dtype: dtype, generator: generator) { low + (high - low) * $0.nextUniform() }
    }

    /// Normal with the given mean and standard deviation (`torch.randn` for the defaults).
    public static func randn(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                             generator: RandomGenerator? = nil) -> Tensor {
        generate(shape, dtype: dtype, generator: generator) { mean + std * $0.nextNormal() }
    }

    /// Normal(mean, std) restricted to [a, b] by inverting the CDF, as timm's `trunc_normal_`
    /// (`a`, `b` are absolute bounds, defaults −2 and 2).
    public static func truncatedNormal(_ shape: [Int], mean: Double = 0, std: Double = 1, a: Double = -2, b: Double = 2,
                                       dtype: DType = .float32, generator: RandomGenerator? = nil) -> Tensor {
        check(a < b && std > 0, "truncatedNormal", "needs a < b and std > 0, got a=\(a) b=\(b) std=\(std)")
        func cdf(_ x: Double) -> Double { (1 + Double.erf(x / 2.0.squareRoot())) / 2 }
        let lo = cdf((a - mean) / std), hi = cdf((b - mean) / std)
        return generate(shape, dtype: dtype, generator: generator) { g in
            let u = 2 * (lo + (hi - lo) * g.nextUniform()) - 1
            let x = mean + std * 2.0.squareRoot() * inverseErf(u)
            return Swift.min(Swift.max(x, a), b)
        }
    }

    /// 1 with probability `p`, else 0.
    public static func bernoulli(_ shape: [Int], p: Double, dtype: DType = .float32,
                                 generator: RandomGenerator? = nil) -> Tensor {
        check(p >= 0 && p <= 1, "bernoulli", "probability \(p) is outside [0, 1]")
        return generate(shape, dtype: dtype, generator: generator) { $0.nextUniform() < p ? 1 : 0 }
    }

    /// Uniform integers in `low..<high` (int64).
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int], generator: RandomGenerator? = nil) -> Tensor {
        check(high > low, "randint", "empty range \(low)..<\(high)")
        return generate(shape, dtype: .int64, generator: generator) { Double(low + $0.nextInt(below: high - low)) }
    }

    /// A random permutation of `0..<n` (int64), by Fisher–Yates.
    public static func randperm(_ n: Int, generator: RandomGenerator? = nil) -> Tensor {
        var values = (0..<Int64(n)).map { $0 }
        Random.using(generator) { g in
            for i in stride(from: n - 1, to: 0, by: -1) { values.swapAt(i, g.nextInt(below: i + 1)) }
        }
        return Tensor(values)
    }

    /// Draws `samples` category indices from each row of non-negative `weights` (1-D or 2-D),
    /// like `torch.multinomial`; without replacement each index is drawn at most once.
    public static func multinomial(_ weights: Tensor, samples: Int, replacement: Bool = false,
                                   generator: RandomGenerator? = nil) -> Tensor {
        check(weights.rank == 1 || weights.rank == 2, "multinomial",
              "expects 1-D or 2-D weights, got \(describe(weights.shape))")
        let rows = weights.rank == 1 ? 1 : weights.shape[0], k = weights.shape.last!
        let w = weights.doubles
        check(w.allSatisfy { $0 >= 0 && $0.isFinite }, "multinomial", "weights must be finite and non-negative")
        check(replacement || samples <= k, "multinomial",
              "cannot draw \(samples) of \(k) categories without replacement")
        var out = [Int64]()
        out.reserveCapacity(rows * samples)
        Random.using(generator) { g in
            for r in 0..<rows {
                var row = Array(w[(r * k)..<((r + 1) * k)])
                for _ in 0..<samples {
                    let total = row.reduce(0, +)
                    check(total > 0, "multinomial", "row \(r) has no positive weight left")
                    var u = g.nextUniform() * total, choice = k - 1
                    for (i, v) in row.enumerated() where v > 0 {
                        if u < v { choice = i; break }
                        u -= v
                    }
                    out.append(Int64(choice))
                    if !replacement { row[choice] = 0 }
                }
            }
        }
        return Tensor(out, shape: weights.rank == 1 ? [samples] : [rows, samples])
    }
}

/// erf⁻¹ on (−1, 1): Giles' approximation refined by two Newton steps to double precision.
func inverseErf(_ y: Double) -> Double {
    if y <= -1 { return -.infinity }
    if y >= 1 { return .infinity }
    var w = -log((1 - y) * (1 + y)), x: Double
    if w < 5 {
        w -= 2.5
        var p = 2.81022636e-08
        for c in [3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                  -0.00417768164, 0.246640727, 1.50140941] { p = c + p * w }
        x = p * y
    } else {
        w = w.squareRoot() - 3
        var p = -0.000200214257
        for c in [0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                  0.00943887047, 1.00167406, 2.83297682] { p = c + p * w }
        x = p * y
    }
    for _ in 0..<2 { x -= (erf(x) - y) / (2 / Double.pi.squareRoot() * exp(-x * x)) }
    return x
}
