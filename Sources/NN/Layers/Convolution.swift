import Autograd
import Tensor

/// 2-D convolution over [N, C, H, W] (`torch.nn.Conv2d`; keys `weight` [O, C/groups, kh, kw], `bias` [O]).
public final class Conv2d: Module {
    public let weight: Variable
    public let bias: Variable?
    public let geometry: Conv2dGeometry

    /// PyTorch's default init: weight and bias U(±1/√(C/groups·kh·kw)).
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32) {
        check(inChannels % groups == 0 && outChannels % groups == 0, "Conv2d",
              "groups \(groups) must divide in (\(inChannels)) and out (\(outChannels)) channels")
        let shape = [outChannels, inChannels / groups, kernelSize, kernelSize]
        weight = .parameter(Init.torchDefaultWeight(shape, dtype: dtype))
        self.bias = bias
            ? .parameter(Init.torchDefaultBias(outChannels, fanIn: Init.fans(shape).fanIn, dtype: dtype)) : nil
        geometry = Conv2dGeometry(stride: (stride, stride), padding: (padding, padding),
                                  dilation: (dilation, dilation), groups: groups)
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        let y = x.conv2d(weight: weight, bias: bias, geometry: geometry)
        FlopCounter.add(y.data.count * weight.data.count / weight.shape[0])
        return y
    }
}
