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

    /// Applies a one-input function; its derivative is below, beside the others.
    public func map(_ op: UnaryOp) -> Variable {
        let x = data
        let y = x.map(op)
        return Variable.record("\(op)", y, inputs: [self]) { g in [g * Variable.derivative(op, x: x, y: y)] }
    }

    /// dy/dx of a unary op at `x`, given `y = op(x)`.
    static func derivative(_ op: UnaryOp, x: Tensor, y: Tensor) -> Tensor {
        switch op {
        case .neg: return x.scalarLike(-1).expanded(to: x.shape)
        case .abs, .sign: return op == .abs ? x.map(.sign) : x.zerosLike()
        case .exp: return y
        case .log: return x.map(.reciprocal)
        case .sqrt: return 0.5 / y
        case .rsqrt: return -0.5 * y * y * y
        case .square: return 2 * x
        case .reciprocal: return -(y * y)
        case .tanh: return 1 - y * y
        case .sigmoid: return y * (1 - y)
        case .relu: return (x .> 0).converted(to: x.dtype)
        case .sin: return x.cos()
        case .cos: return -x.sin()
        case .gelu: return x.map(.geluDerivative)
        case .geluTanh: return x.map(.geluTanhDerivative)
        case .geluDerivative, .geluTanhDerivative:
            fail("\(op)", "has no derivative rule (second derivatives are not supported)")
        case let .clamp(low, high):
            return (x .>= low).logicalAnd(x .<= high).converted(to: x.dtype)
        case let .power(e):
            return e == 2 ? 2 * x : e * x.pow(e - 1)
        }
    }

    public func exp() -> Variable { map(.exp) }
    public func log() -> Variable { map(.log) }
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
