import Tessera

/// Forward + backward of the layers at ViT-S/16 and ResNet-50 shapes (names match
/// scripts/bench_reference.py, which times PyTorch on the same cases). Milliseconds.
@MainActor func layerBenchmarks() -> [(String, Double)] {
    func forwardBackward(_ inputs: [Tensor], _ forward: ([Variable]) -> Variable) -> Double {
        let leaves = inputs.map { Variable($0, requiresGrad: true) }
        let g = Tensor.randn(forward(leaves).shape)
        return measure {
            for l in leaves { l.grad = nil }
            forward(leaves).backward(g)
        } * 1000
    }
    var r: [(String, Double)] = []
    r.append(("Linear 6304×384→1536 fwd+bwd", forwardBackward([.randn([32, 197, 384]), .randn([1536, 384]), .randn([1536])]) {
        $0[0].linear(weight: $0[1], bias: $0[2])
    }))
    r.append(("LayerNorm 6304×384 fwd+bwd", forwardBackward([.randn([32, 197, 384]), .randn([384]), .randn([384])]) {
        $0[0].layerNorm(weight: $0[1], bias: $0[2], epsilon: 1e-6)
    }))
    r.append(("GELU 6304×1536 fwd+bwd", forwardBackward([.randn([32, 197, 1536])]) { $0[0].gelu() }))
    r.append(("SDPA 32×6×197×64 fwd+bwd", forwardBackward([.randn([32, 6, 197, 64]), .randn([32, 6, 197, 64]), .randn([32, 6, 197, 64])]) {
        Variable.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2]).output
    }))
    let attention = Attention(384, heads: 6, qkvBias: true)
    r.append(("Attention ViT-S 32×197×384 fwd+bwd", forwardBackward([.randn([32, 197, 384])]) { attention($0[0]) }))
    let x = Tensor.randn([8, 64, 56, 56]), w = Tensor.randn([64, 64, 3, 3])
    let pad = Conv2dGeometry(padding: (1, 1))
    r.append(("Conv2d 8×64×56×56 3×3→64 fwd", measure { _ = x.conv2d(weight: w, geometry: pad) } * 1000))
    r.append(("Conv2d 8×64×56×56 3×3→64 fwd+bwd", forwardBackward([x, w]) { $0[0].conv2d(weight: $0[1], geometry: pad) }))
    // ResNet-50's bottleneck reduction: 1×1, 256 → 64 channels.
    let xp = Tensor.randn([8, 256, 56, 56]), wp = Tensor.randn([64, 256, 1, 1])
    r.append(("Conv2d 8×256×56×56 1×1→64 fwd", measure { _ = xp.conv2d(weight: wp) } * 1000))
    r.append(("Conv2d 8×256×56×56 1×1→64 fwd+bwd", forwardBackward([xp, wp]) { $0[0].conv2d(weight: $0[1]) }))
    return r
}
