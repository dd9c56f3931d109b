import Foundation
import Testing
import Autograd
import Tensor

/// ViTGAN's R1 penalty, (γ/2)·E‖∇ₓD(x)‖², on a conv + layer norm + attention discriminator: its
/// value and its gradient in every parameter against PyTorch's `create_graph=True`
/// (scripts/make_higher_order_fixtures.py). Every fused kernel on the path takes its composed or
/// bilinear second-order route here.
@Test func r1PenaltyMatchesPyTorch() {
    let fixture = Fixture("r1_penalty.safetensors")
    let names = ["conv.weight", "conv.bias", "norm.weight", "norm.bias", "qkv.weight", "qkv.bias",
                 "head.weight", "head.bias"]
    let p = Dictionary(uniqueKeysWithValues: names.map { ($0, Variable(fixture.t($0), requiresGrad: true)) })
    let x = Variable(fixture.t("x"), requiresGrad: true)
    func discriminator(_ x: Variable) -> Variable {
        let h = x.conv2d(weight: p["conv.weight"]!, bias: p["conv.bias"]!,
                         geometry: Conv2dGeometry(stride: (2, 2), padding: (1, 1))).gelu()
        let t = h.reshaped([2, 8, 16]).transposed(1, 2).layerNorm(weight: p["norm.weight"]!, bias: p["norm.bias"]!)
        let a = t.linear(weight: p["qkv.weight"]!, bias: p["qkv.bias"]!).packedAttention(heads: 2).output
        return (t + a).mean(axes: [1]).linear(weight: p["head.weight"]!, bias: p["head.bias"]!)
    }
    let logits = discriminator(x)
    let gradX = grad(of: [logits.sum()], with: [x], createGraph: true)[0]
    let r1 = gradX.square().reshaped([2, -1]).sum(axes: [1]).mean() * 5
    r1.backward()
    func maxError(_ a: Tensor, _ b: Tensor) -> Double { (a - b).abs().doubles.max() ?? .infinity }
    #expect(maxError(logits.data, fixture.t("logits")) < 1e-12)
    #expect(maxError(gradX.data, fixture.t("grad_x")) < 1e-12)
    #expect(Swift.abs(r1.data.item() - fixture.t("r1").item()) < 1e-12)
    #expect(maxError(x.grad!, fixture.t("grad_wrt_x")) < 1e-10)
    for name in names {
        let reference = fixture.t("grad." + name)
        let error = maxError(p[name]!.grad ?? reference.zerosLike(), reference)
        #expect(error < 1e-10 * Swift.max(1, reference.abs().doubles.max() ?? 0), "∂R1/∂\(name) off by \(error)")
    }
}

/// Max and average pooling and strided convolution are twice differentiable too.
@Test func poolingAndConvolutionSecondDerivatives() {
    let image = randn([1, 2, 5, 5], seed: 50), weight = randn([3, 2, 3, 3], seed: 51)
    let windows = PoolWindows.sliding(size: 5, kernel: 3, stride: 2, padding: 1)
    for (name, f) in [("maxPool2d", { (v: [Variable]) in (v[0] * v[0]).maxPool2d(rows: windows, columns: windows) }),
                      ("avgPool2d", { (v: [Variable]) in (v[0] * v[0]).avgPool2d(rows: windows, columns: windows) }),
                      ("conv2d", { (v: [Variable]) in
                          v[0].conv2d(weight: v[1], geometry: Conv2dGeometry(stride: (2, 2), padding: (1, 1))).tanh()
                      })] {
        let result = gradGradCheck(f, inputs: name == "conv2d" ? [image, weight] : [image])
        #expect(result.passed, "\(name): \(result)")
    }
}
