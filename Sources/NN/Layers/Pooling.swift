import Autograd
import Tensor

/// Max pooling over [N, C, H, W] (`torch.nn.MaxPool2d`; `ceilMode` is its `ceil_mode`).
public final class MaxPool2d: Module {
    public let kernelSize: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false) {
        check(kernelSize > 0 && padding >= 0 && padding * 2 <= kernelSize && dilation > 0, "MaxPool2d",
              "needs kernel > 0, 0 ≤ padding ≤ kernel/2 and dilation > 0, got kernel \(kernelSize), "
                + "padding \(padding), dilation \(dilation)")
        (self.kernelSize, self.stride, self.padding, self.dilation, self.ceilMode)
            = (kernelSize, stride ?? kernelSize, padding, dilation, ceilMode)
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        check(x.rank == 4, "MaxPool2d", "expects [N, C, H, W], got \(describe(x.shape))")
        let windows = { (size: Int) in
            PoolWindows.sliding(size: size, kernel: self.kernelSize, stride: self.stride, padding: self.padding,
                                ceilMode: self.ceilMode, dilation: self.dilation)
        }
        return x.maxPool2d(rows: windows(x.shape[2]), columns: windows(x.shape[3]))
    }
}

/// Average pooling over [N, C, H, W] (`torch.nn.AvgPool2d`, padding counted by default; `ceilMode`
/// is its `ceil_mode`).
public final class AvgPool2d: Module {
    public let kernelSize: Int, stride: Int, padding: Int, countIncludePad: Bool, ceilMode: Bool

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, countIncludePad: Bool = true,
                ceilMode: Bool = false) {
        check(kernelSize > 0 && padding >= 0 && padding * 2 <= kernelSize, "AvgPool2d",
              "needs kernel > 0 and 0 ≤ padding ≤ kernel/2, got kernel \(kernelSize), padding \(padding)")
        (self.kernelSize, self.stride, self.padding, self.countIncludePad, self.ceilMode)
            = (kernelSize, stride ?? kernelSize, padding, countIncludePad, ceilMode)
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        check(x.rank == 4, "AvgPool2d", "expects [N, C, H, W], got \(describe(x.shape))")
        let windows = { (size: Int) in
            PoolWindows.sliding(size: size, kernel: self.kernelSize, stride: self.stride, padding: self.padding,
                                ceilMode: self.ceilMode)
        }
        return x.avgPool2d(rows: windows(x.shape[2]), columns: windows(x.shape[3]), countIncludePad: countIncludePad)
    }
}

/// Average pooling to a fixed output size (`torch.nn.AdaptiveAvgPool2d`); (1, 1) is global pooling.
public final class AdaptiveAvgPool2d: Module {
    public let outputSize: (Int, Int)

    public init(_ outputSize: (Int, Int)) { self.outputSize = outputSize }
    public convenience init(_ outputSize: Int) { self.init((outputSize, outputSize)) }

    public override func callAsFunction(_ x: Variable) -> Variable {
        check(x.rank == 4, "AdaptiveAvgPool2d", "expects [N, C, H, W], got \(describe(x.shape))")
        if outputSize == (1, 1) { return x.mean(axes: [2, 3], keepDim: true) }
        return x.avgPool2d(rows: .adaptive(size: x.shape[2], output: outputSize.0),
                           columns: .adaptive(size: x.shape[3], output: outputSize.1), countIncludePad: false)
    }
}
