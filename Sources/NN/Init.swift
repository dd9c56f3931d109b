import Autograd
import Tensor

/// Parameter initialisers with PyTorch's and timm's definitions. Each draws from the global
/// generator (`Random.seed(_:)`) unless given one, so a seeded model is reproducible.
public enum Init {
    /// Fan-in and fan-out of a weight: [out, in] for Linear, [out, in/groups, kh, kw] for Conv2d.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        check(shape.count >= 2, "Init.fans", "needs a weight of rank ≥ 2, got \(describe(shape))")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// timm's `trunc_normal_(std=0.02)`: Normal(0, std) cut at the absolute bounds ±2.
    public static func truncatedNormal(_ shape: [Int], std: Double = 0.02, dtype: DType = .float32,
                                       generator: RandomGenerator? = nil) -> Tensor {
        Tensor.truncatedNormal(shape, mean: 0, std: std, a: -2, b: 2, dtype: dtype, generator: generator)
    }

    /// Glorot/Xavier uniform: U(±gain·√(6 / (fanIn + fanOut))).
    public static func xavierUniform(_ shape: [Int], gain: Double = 1, dtype: DType = .float32,
                                     generator: RandomGenerator? = nil) -> Tensor {
        let (fi, fo) = fans(shape)
        let bound = gain * (6 / Double(fi + fo)).squareRoot()
        return Tensor.uniform(shape, low: -bound, high: bound, dtype: dtype, generator: generator)
    }

    /// Which fan He initialisation scales by.
    public enum FanMode { case fanIn, fanOut }

    /// He/Kaiming normal for ReLU networks: Normal(0, √2 / √fan), torchvision's ResNet init with `.fanOut`.
    public static func kaimingNormal(_ shape: [Int], mode: FanMode = .fanOut, dtype: DType = .float32,
                                     generator: RandomGenerator? = nil) -> Tensor {
        let (fi, fo) = fans(shape)
        let std = 2.0.squareRoot() / Double(mode == .fanIn ? fi : fo).squareRoot()
        return Tensor.randn(shape, mean: 0, std: std, dtype: dtype, generator: generator)
    }

    /// PyTorch's default Linear/Conv weight init, `kaiming_uniform_(a=√5)`: U(±1/√fanIn).
    public static func torchDefaultWeight(_ shape: [Int], dtype: DType = .float32,
                                          generator: RandomGenerator? = nil) -> Tensor {
        let bound = 1 / Double(fans(shape).fanIn).squareRoot()
        return Tensor.uniform(shape, low: -bound, high: bound, dtype: dtype, generator: generator)
    }

    /// PyTorch's default Linear/Conv bias init: U(±1/√fanIn).
    public static func torchDefaultBias(_ count: Int, fanIn: Int, dtype: DType = .float32,
                                        generator: RandomGenerator? = nil) -> Tensor {
        let bound = fanIn > 0 ? 1 / Double(fanIn).squareRoot() : 0
        return Tensor.uniform([count], low: -bound, high: bound, dtype: dtype, generator: generator)
    }
}

extension Variable {
    /// A trainable leaf: a parameter.
    public static func parameter(_ value: Tensor) -> Variable { Variable(value, requiresGrad: true) }
}
