import Autograd
import Tensor

/// The value of `loss` and its gradients with respect to the trainable parameters of `model`,
/// keyed like the state dict (mlx-swift's `valueAndGrad(model:_:)`, `torch.func.grad` over a
/// module's parameters). `loss` must return a one-element variable computed from `model`.
///
/// Gradients are computed afresh and returned, not accumulated: every parameter's `grad` is the
/// same afterwards as before. A parameter the loss does not reach gets a zero gradient.
///
/// ```swift
/// let (loss, grads) = valueAndGrad(model) { Loss.crossEntropy(model(x), labels: y) }
/// grads["head.weight"]  // ∂loss/∂head.weight
/// ```
public func valueAndGrad(_ model: Module, _ loss: () throws -> Variable) rethrows
    -> (value: Tensor, gradients: [String: Tensor]) {
    let trainable = model.namedParameters().filter(\.parameter.requiresGrad)
    let saved = trainable.map(\.parameter.grad)
    for (_, p) in trainable { p.grad = nil }
    defer { for ((_, p), g) in zip(trainable, saved) { p.grad = g } }
    let value = try loss()
    check(value.data.count == 1, "valueAndGrad", "the loss must have one element, got shape \(value.shape)")
    if value.requiresGrad { value.backward() }
    var gradients: [String: Tensor] = [:]
    for (name, p) in trainable { gradients[name] = p.grad ?? p.data.zerosLike() }
    return (value.data, gradients)
}
