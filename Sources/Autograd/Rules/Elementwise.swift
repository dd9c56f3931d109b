import Tensor

// Elementwise ops: forward kernel call and vector-Jacobian product side by side.
// Broadcast inputs get their gradient summed back to their own shape by `reduceToShape`.

extension Variable {
    /// `op(self, other)` with broadcasting. The graph keeps only the values the op's backward reads
    /// (an addition keeps none, so its inputs are freed as soon as nothing else needs them).
    public func binary(_ op: BinaryOp, _ other: Variable) -> Variable {
        let y = data.binary(op, other.data)
        let (shapeA, shapeB) = (shape, other.shape)
        let reads: (a: Bool, b: Bool) = switch op {
        case .add, .sub: (false, false)
        case .mul, .maximum, .minimum, .pow, .logaddexp: (true, true)
        case .div: (false, true)
        }
        let savedA = reads.a ? self : nil, savedB = reads.b ? other : nil
        let rule = { (g: Variable, y: Variable?) -> [Variable?] in
            let ga: Variable, gb: Variable
            // `savedA`, `savedB` and `y` are there exactly for the cases that read them (above).
            switch op {
            case .add: (ga, gb) = (g, g)
            case .sub: (ga, gb) = (g, -g)
            case .mul:
                let (a, b) = (savedA!, savedB!)
                (ga, gb) = (g * b, g * a)
            case .div:
                let (b, y) = (savedB!, y!)
                (ga, gb) = (g / b, -g * y / b)
            case .pow:
                // d(a^b)/da = b·a^(b−1); d(a^b)/db = a^b·log a (0 where a = 0, as PyTorch).
                let (a, b) = (savedA!, savedB!)
                ga = g * b * a.pow(b - 1)
                gb = g * y! * Variable.where(a.data .== 0, a.zerosLike(), a.log())
            case .logaddexp:
                // ∂y/∂a = exp(a − y) = σ(a − b), ∂y/∂b = exp(b − y).
                let (a, b, y) = (savedA!, savedB!, y!)
                (ga, gb) = (g * (a - y).exp(), g * (b - y).exp())
            case .maximum, .minimum:
                // The gradient goes to the chosen input; ties split it evenly, as in PyTorch.
                let (a, b) = (savedA!.data, savedB!.data)
                let pickA = (op == .maximum ? a .> b : a .< b).converted(to: a.dtype)
                let tie = (a .== b).converted(to: a.dtype) * 0.5
                ga = g * Variable(pickA + tie)
                gb = g * Variable(1 - pickA - tie)
            }
            return [reduceToShape(ga, shapeA), reduceToShape(gb, shapeB)]
        }
        switch op {
        case .div, .pow, .logaddexp:
            return Variable.record(op.rawValue, y, inputs: [self, other], ruleReadingOutput: rule)
        default:
            return Variable.record(op.rawValue, y, inputs: [self, other]) { g in rule(g, nil) }
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
    /// `a` times a constant tensor (a mask, a weight) that broadcasts with it.
    public static func * (a: Variable, b: Tensor) -> Variable { a.binary(.mul, Variable(b)) }
    public static func / (a: Variable, b: Double) -> Variable { a.scaled(by: 1 / b) }
    public static func + (a: Double, b: Variable) -> Variable { b.constant(a).binary(.add, b) }
    public static func - (a: Double, b: Variable) -> Variable { b.constant(a).binary(.sub, b) }
    public static func * (a: Double, b: Variable) -> Variable { b.scaled(by: a) }
    public static func / (a: Double, b: Variable) -> Variable { b.constant(a).binary(.div, b) }
    public static prefix func - (x: Variable) -> Variable { x.map(.neg) }

    /// `self * factor`, with one saved scalar rather than a broadcast operand.
    public func scaled(by factor: Double) -> Variable {
        Variable.record("mul", data * factor, inputs: [self]) { g in [g.scaled(by: factor)] }
    }

    /// `self ** exponent` elementwise.
    public func pow(_ exponent: Variable) -> Variable { binary(.pow, exponent) }
    /// Elementwise larger value.
    public func maximum(_ other: Variable) -> Variable { binary(.maximum, other) }
    /// Elementwise smaller value.
    public func minimum(_ other: Variable) -> Variable { binary(.minimum, other) }
    /// log(exp(self) + exp(other)) without overflow.
    public func logaddexp(_ other: Variable) -> Variable { binary(.logaddexp, other) }

    /// Applies a one-input function; its backward is below, beside the others. The graph keeps only
    /// the one value the backward reads (`savedValue(_:)`), so ReLU's input, for one, is freed.
    public func map(_ op: UnaryOp) -> Variable {
        let y = data.map(op)
        switch Variable.savedValue(op) {
        case .input: return Variable.record("\(op)", y, inputs: [self]) { [self] g in [Variable.backward(op, g, self)] }
        case .output: return Variable.record("\(op)", y, inputs: [self]) { g, y in [Variable.backward(op, g, y)] }
        case .nothing: return Variable.record("\(op)", y, inputs: [self]) { g in [op == .neg ? -g : g.zerosLike()] }
        }
    }

    /// What a unary op's backward reads: its input x, its output y, or nothing.
    enum SavedValue { case input, output, nothing }

    static func savedValue(_ op: UnaryOp) -> SavedValue {
        switch op {
        case .neg, .sign: .nothing
        // ReLU's output is positive exactly where its input is, so its mask needs only y.
        case .relu, .exp, .expm1, .sqrt, .rsqrt, .reciprocal, .tanh, .sigmoid: .output
        case .gelu, .geluTanh, .abs, .log, .log1p, .erf, .square, .sin, .cos, .clamp, .power: .input
        }
    }

    /// g · dy/dx of a unary op from the value `savedValue(_:)` names: x = `v` for ops that read their
    /// input, y = `v` for those that read their output. Every term is an op on variables, so the
    /// result differentiates again; ReLU and GELU keep their fused kernels (see `Activations.swift`).
    static func backward(_ op: UnaryOp, _ g: Variable, _ v: Variable) -> Variable {
        let (x, y) = (v, v)
        switch op {
        case .relu: return g.reluBackward(output: y.data)
        case .gelu: return g.geluBackward(input: x, approximate: false)
        case .geluTanh: return g.geluBackward(input: x, approximate: true)
        case .neg: return -g
        case .abs: return g * x.data.map(.sign)
        case .sign: return g.zerosLike()
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
        case let .clamp(low, high):
            return g * (x.data .>= low).logicalAnd(x.data .<= high).converted(to: x.dtype)
        case let .power(e):
            return g * (e == 2 ? 2 * x : e * x.pow(e - 1))
        }
    }

    /// Zeros of this variable's shape and dtype, outside the graph.
    public func zerosLike() -> Variable { Variable(data.zerosLike()) }

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
        let (shapeA, shapeB) = (a.shape, b.shape)
        return record("where", y, inputs: [a, b]) { g in
            let zero = g.zerosLike()
            return [reduceToShape(Variable.where(condition, g, zero), shapeA),
                    reduceToShape(Variable.where(condition, zero, g), shapeB)]
        }
    }
}
