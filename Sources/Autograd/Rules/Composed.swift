import Tensor

// How fused kernels stay twice differentiable: an ordinary backward pass runs the kernel; a backward
// pass that creates a graph (GradMode on inside a rule) takes the same gradient through ops on
// variables instead: slower, but every term is in the graph.

extension Variable {
    /// The fused kernel's gradients on an ordinary backward pass; while a graph is being created, the
    /// gradient of `forward` (the op written with primitives) at `inputs` for the output gradient `g`.
    static func fusedUnlessRecording(_ fused: () -> [Tensor?], inputs: [Variable], gradient g: Variable,
                                     composedForward forward: ([Variable]) -> Variable) -> [Variable?] {
        guard GradMode.isEnabled else { return fused().map { $0.map { Variable($0) } } }
        // Aliases keep the partial derivatives apart from whatever else the inputs depend on.
        let aliases = inputs.map { input in Variable.record("alias", input.data, inputs: [input]) { g in [g] } }
        return Autograd.grad(of: [forward(aliases)], with: aliases, gradients: [g], createGraph: true)
    }
}
