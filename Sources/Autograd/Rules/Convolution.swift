import Tensor

extension Variable {
    /// 2-D convolution of [N, C, H, W] with `weight` [O, C/groups, kh, kw] and optional `bias` [O].
    /// VJP (`Tensor.conv2dBackward(gradient:input:weight:hasBias:geometry:inputGradient:)`): ∂x is the
    /// correlation of g with the flipped kernel (per stride phase), or Wᵀ·g scattered back for 1×1 and
    /// the other shapes (col2im); ∂W = Σₙ g·colsᵀ; ∂b = Σ g over N, H, W.
    public func conv2d(weight: Variable, bias: Variable? = nil,
                       geometry: Conv2dGeometry = Conv2dGeometry()) -> Variable {
        let x = data, w = weight.data
        let y = x.conv2d(weight: w, bias: bias?.data, geometry: geometry)
        let inputs = [self, weight] + (bias.map { [$0] } ?? []), inputGradient = requiresGrad, hasBias = bias != nil
        return Variable.record("conv2d", y, inputs: inputs) { g in
            let grads = Tensor.conv2dBackward(gradient: g, input: x, weight: w, hasBias: hasBias,
                                              geometry: geometry, inputGradient: inputGradient)
            return [grads.input, grads.weight] + (hasBias ? [grads.bias] : [])
        }
    }

    /// Convolution with zero padding that differs between sides (timm's `Conv2dSame`, TensorFlow's
    /// "SAME"): the common part of each pair goes to the kernel's own padding, the rest is padded
    /// explicitly first. `geometry.padding` is ignored.
    public func conv2d(weight: Variable, bias: Variable? = nil, padding p: Conv2dPadding,
                       geometry: Conv2dGeometry = Conv2dGeometry()) -> Variable {
        var g = geometry
        g.padding = (Swift.min(p.top, p.bottom), Swift.min(p.left, p.right))
        let rest = [(0, 0), (0, 0), (p.top - g.padding.0, p.bottom - g.padding.0),
                    (p.left - g.padding.1, p.right - g.padding.1)].map { (before: $0.0, after: $0.1) }
        let x = rest.allSatisfy { $0 == (0, 0) } ? self : padded(rest)
        return x.conv2d(weight: weight, bias: bias, geometry: g)
    }
}
