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
        return Variable.record("conv2d", y, inputs: inputs) { [self] g in
            let gb = hasBias ? [g.sum(axes: [0, 2, 3])] : []
            guard GradMode.isEnabled else {
                let grads = Tensor.conv2dBackward(gradient: g.data, input: x, weight: w, hasBias: false,
                                                  geometry: geometry, inputGradient: inputGradient)
                return [grads.input.map { Variable($0) }, Variable(grads.weight)] + gb
            }
            // While a graph is created: the two halves as ops of their own (each bilinear, so each
            // one's gradient is again a convolution or the other half).
            let gx = inputGradient
                ? g.conv2dInputGradient(weight: weight, inputShape: x.shape, geometry: geometry) : nil
            return [gx, g.conv2dWeightGradient(input: self, weightShape: w.shape, geometry: geometry)] + gb
        }
    }

    /// ∂x of a convolution for the output gradient `self`: Jₓᵀ·g. As ⟨u, Jₓᵀ·g⟩ = ⟨conv(u, W), g⟩,
    /// its gradient in g is conv(u, W) and in W the weight gradient of input u.
    func conv2dInputGradient(weight: Variable, inputShape: [Int], geometry: Conv2dGeometry) -> Variable {
        let shapeOnly = Tensor.zeros(inputShape, dtype: dtype)  // the kernel reads only its shape here
        let value = Tensor.conv2dBackward(gradient: data, input: shapeOnly, weight: weight.data, hasBias: false,
                                          geometry: geometry).input!
        return Variable.record("conv2dInputGradient", value, inputs: [self, weight]) { [self] u in
            [u.conv2d(weight: weight, geometry: geometry),
             self.conv2dWeightGradient(input: u, weightShape: weight.shape, geometry: geometry)]
        }
    }

    /// ∂W of a convolution of `input` for the output gradient `self`. Since ⟨U, J_Wᵀ·g⟩ = ⟨conv(x, U), g⟩,
    /// its gradient in g is conv(x, U) and in x the input gradient for weight U.
    func conv2dWeightGradient(input: Variable, weightShape: [Int], geometry: Conv2dGeometry) -> Variable {
        let shapeOnly = Tensor.zeros(weightShape, dtype: dtype)
        let value = Tensor.conv2dBackward(gradient: data, input: input.data, weight: shapeOnly, hasBias: false,
                                          geometry: geometry, inputGradient: false).weight
        return Variable.record("conv2dWeightGradient", value, inputs: [self, input]) { [self] u in
            [input.conv2d(weight: u, geometry: geometry),
             self.conv2dInputGradient(weight: u, inputShape: input.shape, geometry: geometry)]
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
