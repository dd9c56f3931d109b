import Autograd
import Tensor

/// The identity (`torch.nn.Identity`), a placeholder for an absent head or norm.
public final class Identity: Module {
    public override init() {}
    public override func callAsFunction(_ x: Variable) -> Variable { x }
}

/// GELU, exact (erf) by default or the tanh approximation (`torch.nn.GELU`).
public final class GELU: Module {
    public let approximate: Bool
    public init(approximate: Bool = false) { self.approximate = approximate }
    public override func callAsFunction(_ x: Variable) -> Variable { x.gelu(approximate: approximate) }
}

/// max(x, 0) (`torch.nn.ReLU`).
public final class ReLU: Module {
    public override init() {}
    public override func callAsFunction(_ x: Variable) -> Variable { x.relu() }
}

/// Flattens axes `start...end` into one (`torch.nn.Flatten`, default from axis 1).
public final class Flatten: Module {
    public let start: Int, end: Int
    public init(start: Int = 1, end: Int = -1) { (self.start, self.end) = (start, end) }
    public override func callAsFunction(_ x: Variable) -> Variable { x.flattened(from: start, to: end) }
}

/// Zeroes each element with probability `p` in training and scales the rest by 1/(1 − p).
public class Dropout: Module {
    public let p: Double
    public init(_ p: Double = 0.5) {
        check(p >= 0 && p < 1, String(describing: Self.self), "p must lie in [0, 1), got \(p)")
        self.p = p
    }

    /// The shape of the keep mask for an input: one draw per element.
    func maskShape(_ shape: [Int]) -> [Int] { shape }

    public override func callAsFunction(_ x: Variable) -> Variable {
        guard isTraining, p > 0 else { return x }
        return x * Variable(Tensor.bernoulli(maskShape(x.shape), p: 1 - p, dtype: x.dtype) * (1 / (1 - p)))
    }
}

/// Stochastic depth (timm's `DropPath`): in training, drops a whole sample's residual branch with
/// probability `p` and scales kept samples by 1/(1 − p).
public final class DropPath: Dropout {
    public override init(_ p: Double = 0) { super.init(p) }
    override func maskShape(_ shape: [Int]) -> [Int] { [shape[0]] + Array(repeating: 1, count: shape.count - 1) }
}

/// Per-channel learnable scale of a residual branch (timm's `LayerScale`; key `gamma` [dim]).
public final class LayerScale: Module {
    public let gamma: Variable
    public init(_ dim: Int, initValue: Double = 1e-5, dtype: DType = .float32) {
        gamma = .parameter(Tensor.full([dim], initValue, dtype: dtype))
    }
    public override func callAsFunction(_ x: Variable) -> Variable { x * gamma }
}
