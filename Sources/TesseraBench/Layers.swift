@_spi(Benchmarks) import Tensor
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
    r.append(("Linear 6304×384→1536 fwd+bwd",
              forwardBackward([.randn([32, 197, 384]), .randn([1536, 384]), .randn([1536])]) {
                  $0[0].linear(weight: $0[1], bias: $0[2])
              }))
    r.append(("LayerNorm 6304×384 fwd+bwd", forwardBackward([.randn([32, 197, 384]), .randn([384]), .randn([384])]) {
        $0[0].layerNorm(weight: $0[1], bias: $0[2], epsilon: 1e-6)
    }))
    r.append(("GELU 6304×1536 fwd+bwd", forwardBackward([.randn([32, 197, 1536])]) { $0[0].gelu() }))
    r.append(("SDPA 32×6×197×64 fwd+bwd",
              forwardBackward([.randn([32, 6, 197, 64]), .randn([32, 6, 197, 64]), .randn([32, 6, 197, 64])]) {
                  Variable.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2]).output
              }))
    let attention = Attention(384, heads: 6, qkvBias: true)
    r.append(("Attention ViT-S 32×197×384 fwd+bwd", forwardBackward([.randn([32, 197, 384])]) { attention($0[0]) }))
    let x = Tensor.randn([8, 64, 56, 56]), w = Tensor.randn([64, 64, 3, 3])
    let pad = Conv2dGeometry(padding: (1, 1))
    r.append(("Conv2d 8×64×56×56 3×3→64 fwd", measure { _ = x.conv2d(weight: w, geometry: pad) } * 1000))
    r.append(("Conv2d 8×64×56×56 3×3→64 fwd+bwd", forwardBackward([x, w]) {
        $0[0].conv2d(weight: $0[1], geometry: pad)
    }))
    // ResNet-50's bottleneck reduction: 1×1, 256 → 64 channels.
    let xp = Tensor.randn([8, 256, 56, 56]), wp = Tensor.randn([64, 256, 1, 1])
    r.append(("Conv2d 8×256×56×56 1×1→64 fwd", measure { _ = xp.conv2d(weight: wp) } * 1000))
    r.append(("Conv2d 8×256×56×56 1×1→64 fwd+bwd", forwardBackward([xp, wp]) { $0[0].conv2d(weight: $0[1]) }))
    // ResNet-50's strided layers: the stem (no ∂x: images need no gradient), the first 3×3 of
    // layer2 and its 1×1 downsample, and the max pool.
    let images = Variable(.randn([8, 3, 224, 224])), stem = Variable(.randn([64, 3, 7, 7]), requiresGrad: true)
    let stemGeometry = Conv2dGeometry(stride: (2, 2), padding: (3, 3))
    let gStem = Tensor.randn([8, 64, 112, 112])
    r.append(("Conv2d 8×3×224×224 7×7/2→64 fwd+bwd", measure {
        stem.grad = nil
        images.conv2d(weight: stem, geometry: stemGeometry).backward(gStem)
    } * 1000))
    r.append(("Conv2d 8×128×56×56 3×3/2→128 fwd+bwd",
              forwardBackward([.randn([8, 128, 56, 56]), .randn([128, 128, 3, 3])]) {
                  $0[0].conv2d(weight: $0[1], geometry: Conv2dGeometry(stride: (2, 2), padding: (1, 1)))
              }))
    r.append(("Conv2d 8×256×56×56 1×1/2→512 fwd+bwd", forwardBackward([xp, .randn([512, 256, 1, 1])]) {
        $0[0].conv2d(weight: $0[1], geometry: Conv2dGeometry(stride: (2, 2)))
    }))
    // compare's ResNet at its batch of 64: a 3×3 of its first stage (AVX-512's 12-channel blocks), the first
    // strided 3×3 and its 1×1/2 downsample (∂W through im2col).
    r.append(("Conv2d 64×12×32×32 3×3→12 fwd+bwd",
              forwardBackward([.randn([64, 12, 32, 32]), .randn([12, 12, 3, 3])]) {
                  $0[0].conv2d(weight: $0[1], geometry: Conv2dGeometry(padding: (1, 1)))
              }))
    r.append(("Conv2d 64×12×32×32 3×3/2→24 fwd+bwd",
              forwardBackward([.randn([64, 12, 32, 32]), .randn([24, 12, 3, 3])]) {
                  $0[0].conv2d(weight: $0[1], geometry: Conv2dGeometry(stride: (2, 2), padding: (1, 1)))
              }))
    r.append(("Conv2d 64×12×32×32 1×1/2→24 fwd+bwd",
              forwardBackward([.randn([64, 12, 32, 32]), .randn([24, 12, 1, 1])]) {
                  $0[0].conv2d(weight: $0[1], geometry: Conv2dGeometry(stride: (2, 2)))
              }))
    // compare's ResNet's last stage: 4 × 4 pixels, too few for the shifted products (im2col's path).
    r.append(("Conv2d 64×96×4×4 3×3→96 fwd+bwd",
              forwardBackward([.randn([64, 96, 4, 4]), .randn([96, 96, 3, 3])]) {
                  $0[0].conv2d(weight: $0[1], geometry: Conv2dGeometry(padding: (1, 1)))
              }))
    let windows = PoolWindows.sliding(size: 112, kernel: 3, stride: 2, padding: 1)
    r.append(("MaxPool 8×64×112×112 3×3/2 fwd+bwd", forwardBackward([.randn([8, 64, 112, 112])]) {
        $0[0].maxPool2d(rows: windows, columns: windows)
    }))
    let batchNorm = BatchNorm2d(256)
    r.append(("BatchNorm2d 8×256×56×56 fwd+bwd", forwardBackward([xp]) { batchNorm($0[0]) }))
    r.append(("ReLU 8×256×56×56 fwd+bwd", forwardBackward([xp]) { $0[0].relu() }))
    let projectorNorm = BatchNorm1d(4096)  // MoCo v3's projector, batch 256
    r.append(("BatchNorm1d 256×4096 fwd+bwd", forwardBackward([.randn([256, 4096])]) { projectorNorm($0[0]) }))
    return r
}

/// Whole models at batch 8, 224 px, with 1000-class heads: a forward in evaluation mode without
/// the graph, and a training-mode forward + backward with parameter gradients. Milliseconds.
@MainActor func modelBenchmarks() -> [(String, Double)] {
    let images = Tensor.randn([8, 3, 224, 224])
    let models: [(String, Module)] = [
        ("ResNet-50", ResNet(ResNetConfig.depth(50)!)),
        ("ViT-S/16", VisionTransformer(ViTConfig.preset(.small, patch: 16, numClasses: 1000)))
    ]
    var r: [(String, Double)] = []
    for (name, model) in models {
        _ = model.eval()
        r.append(("\(name) 8×224² fwd", measure { _ = noGrad { model(Variable(images)) } } * 1000))
        _ = model.train()
        let g = Tensor.randn([8, 1000])
        r.append(("\(name) 8×224² fwd+bwd", measure {
            model.zeroGrad()
            model(Variable(images)).backward(g)
        } * 1000))
    }
    return r
}

/// The stride-1 3×3 convolution's fused loop against its per-tap GEMMs, forward and ∂W, at each vector level
/// this CPU runs (oneDNN's products follow `DNNL_MAX_CPU_ISA`; run once per level to hold them to it too):
/// a Markdown table of medians in milliseconds, batch 8.
@MainActor func convolutionPathTable() -> [String] {
    var rows = ["| channels, size | level | forward fused / GEMMs | ∂W fused / GEMMs |", "|---|---|---|---|"]
    for (c, size) in [(64, 56), (128, 28), (256, 14), (12, 32), (48, 8)] {
        let x = Tensor.randn([8, c, size, size]), weight = Tensor.randn([c, c, 3, 3])
        let gy = Tensor.randn([8, c, size, size])
        for level in KernelLevel.supported where level > .baseline {
            func ms(_ fused: Bool, _ body: (Bool) -> Tensor) -> String {
                format(measure { _ = body(fused) } * 1000, 2)
            }
            let forward = { ShiftedConvolutionPaths.forward(x, weight: weight, level: level, fused: $0) }
            let gradient = { ShiftedConvolutionPaths.weightGradient(x, gy, weight: weight, level: level, fused: $0) }
            rows.append("| \(c), \(size)² | \(level) | \(ms(true, forward)) / \(ms(false, forward)) | "
                        + "\(ms(true, gradient)) / \(ms(false, gradient)) |")
        }
    }
    return rows
}
