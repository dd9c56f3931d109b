import Tensor

extension Variable {
    /// 2-D convolution of [N, C, H, W] with `weight` [O, C/groups, kh, kw] and optional `bias` [O].
    /// VJP (``Tensor/conv2dBackward(gradient:input:weight:hasBias:geometry:inputGradient:)``): ∂x is the
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
}
