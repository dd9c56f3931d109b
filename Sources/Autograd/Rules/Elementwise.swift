import Tensor

// Elementwise ops: forward kernel call and vector-Jacobian product side by side.
// Broadcast inputs get their gradient summed back to their own shape by `reduceToShape`.

extension Variable {
    /// `op(self, other)` with broadcasting.
    public func binary(_ op: BinaryOp, _ other: Variable) -> Variable {
        let a = data, b = other.data
        let y = a.binary(op, b)
        return Variable.record(op.rawValue, y, inputs: [self, other]) { g in
            let ga: Tensor, gb: Tensor
            switch op {
            case .add: (ga, gb) = (g, g)
            case .sub: (ga, gb) = (g, -g)
            case .mul: (ga, gb) = (g * b, g * a)
            case .div: (ga, gb) = (g / b, -g * y / b)
            case .pow:
                // d(a^b)/da = b·a^(b−1); d(a^b)/db = a^b·log a (0 where a = 0, as PyTorch).
                ga = g * b * a.pow(b - 1)
                let logA = Tensor.where(a .== 0, a.zerosLike(), a.log())
                gb = g * y * logA
            case .logaddexp:
                // ∂y/∂a = exp(a − y) = σ(a − b), ∂y/∂b = exp(b − y).
                (ga, gb) = (g * (a - y).exp(), g * (b - y).exp())
            case .maximum, .minimum:
                // The gradient goes to the chosen input; ties split it evenly, as in PyTorch.
                let pickA = (op == .maximum ? a .> b : a .< b).converted(to: a.dtype)
                let tie = (a .== b).converted(to: a.dtype) * 0.5
                ga = g * (pickA + tie)
                gb = g * (1 - pickA - tie)
            }
            return [reduceToShape(ga, a.shape), reduceToShape(gb, b.shape)]
        }
    }

    /// A constant of this variable's dtype, outside the graph.
    func constant(_ value: Double) -> Variable { Variable(data.scalarLike(value)) }

    public static func + (a: Variable, b: Variable) -> Variable { a.binary(.add, b) }
    public static func - (a: Variable, b: Variable) -> Variable { a.binary(.sub, b) }
    public static func * (a: Variable, b: Variable) -> Variable { a.binary(.mul, b) }
    public static func / (a: Variable, b: Variable) -> Variable { a.binary(.div, b) }
    public static func + (a: Variable, b: Double) -> Variable { a.binary(.add, a.constant(b)) }
    public static func - (a: Variable, b: Double) -> Variable { a.binary(.sub, a.constant(b)) }
    public static func * (a: Variable, b: Double) -> Variable { a.scaled(by: b) }
    public static func / (a: Variable, b: Double) -> Variable { a.scaled(by: 1 / b) }
    public static func + (a: Double, b: Variable) -> Variable { b.constant(a).binary(.add, b) }
    public static func - (a: Double, b: Variable) -> Variable { b.constant(a).binary(.sub, b) }
    public static func * (a: Double, b: Variable) -> Variable { b.scaled(by: a) }
    public static func / (a: Double, b: Variable) -> Variable { b.constant(a).binary(.div, b) }
    public static prefix func - (x: Variable) -> Variable { x.map(.neg) }

    /// `self * factor`, with one saved scalar rather than a broadcast operand.
    public func scaled(by factor: Double) -> Variable {
        Variable.record("mul", data * factor, inputs: [self]) { g in [g * factor] }
    }

    /// `self ** exponent` elementwise.
    public func pow(_ exponent: Variable) -> Variable { binary(.pow, exponent) }
    /// Elementwise larger value.
    public func maximum(_ other: Variable) -> Variable { binary(.maximum, other) }
    /// Elementwise smaller value.
    public func minimum(_ other: Variable) -> Variable { binary(.minimum, other) }
    /// log(exp(self) + exp(other)) without overflow.
    public func logaddexp(_ other: Variable) -> Variable { binary(.logaddexp, other) }

    /// Applies a one-input function; its backward is below, beside the others.
    public func map(_ op: UnaryOp) -> Variable {
        let x = data
        let y = x.map(op)
        return Variable.record("\(op)", y, inputs: [self]) { g in [Variable.backward(op, gradient: g, x: x, y: y)] }
    }

    /// g · dy/dx of a unary op at `x`, given `y = op(x)` (ReLU and GELU in one fused pass).
    static func backward(_ op: UnaryOp, gradient g: Tensor, x: Tensor, y: Tensor) -> Tensor {
        switch op {
        case .relu: return Tensor.reluBackward(gradient: g, input: x)
        case .gelu: return Tensor.geluBackward(gradient: g, input: x)
        case .neg: return -g
        case .abs: return g * x.map(.sign)
        case .sign: return g * x.zerosLike()
        case .exp: return g * y
        case .expm1: return g * (y + 1)
        case .log: return g / x
        case .log1p: return g / (x + 1)
        case .erf: return g * ((x * x).map(.neg).exp() * (2 / Double.pi.squareRoot()))
        case .sqrt: return g * (0.5 / y)
        case .rsqrt: return g * (-0.5 * y * y * y)
        case .square: return g * (2 * x)
        case .reciprocal: return g * -(y * y)
        case .tanh: return g * (1 - y * y)
        case .sigmoid: return g * (y * (1 - y))
        case .sin: return g * x.cos()
        case .cos: return g * -x.sin()
        case .geluTanh: return Tensor.geluTanhBackward(gradient: g, input: x)
        case let .clamp(low, high):
            return g * (x .>= low).logicalAnd(x .<= high).converted(to: x.dtype)
        case let .power(e):
            return g * (e == 2 ? 2 * x : e * x.pow(e - 1))
        }
    }

    public func exp() -> Variable { map(.exp) }
    public func log() -> Variable { map(.log) }
    public func expm1() -> Variable { map(.expm1) }
    public func log1p() -> Variable { map(.log1p) }
    public func erf() -> Variable { map(.erf) }
    public func sqrt() -> Variable { map(.sqrt) }
    public func rsqrt() -> Variable { map(.rsqrt) }
    public func tanh() -> Variable { map(.tanh) }
    public func sigmoid() -> Variable { map(.sigmoid) }
    public func relu() -> Variable { map(.relu) }
    public func sin() -> Variable { map(.sin) }
    public func cos() -> Variable { map(.cos) }
    public func abs() -> Variable { map(.abs) }
    public func square() -> Variable { map(.square) }
    /// GELU; `approximate: true` uses the tanh form.
    public func gelu(approximate: Bool = false) -> Variable { map(approximate ? .geluTanh : .gelu) }
    public func clamped(min low: Double = -.infinity, max high: Double = .infinity) -> Variable {
        map(.clamp(low: low, high: high))
    }
    public func pow(_ exponent: Double) -> Variable { map(.power(exponent)) }

    /// Picks `a` where `condition` (a bool tensor) holds and `b` elsewhere.
    public static func `where`(_ condition: Tensor, _ a: Variable, _ b: Variable) -> Variable {
        let y = Tensor.where(condition, a.data, b.data)
        return record("where", y, inputs: [a, b]) { g in
            let zero = g.zerosLike()
            return [reduceToShape(Tensor.where(condition, g, zero), a.shape),
                    reduceToShape(Tensor.where(condition, zero, g), b.shape)]
        }
    }
}
