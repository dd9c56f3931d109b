import Autograd
import Foundation
import NN
import Testing
import Tensor
import TestSupport
import Zoo

/// timm's Swin Transformer at random initialisation (scripts/make_swin_fixtures.py), float64: its
/// state dict loads with no key table, and logits, `forward_features` and every parameter's
/// gradient of a cross-entropy match. "even" has shifted windows and their mask in both stages;
/// "padded" has feature maps the windows do not divide (12 and 6 with window 5) and an odd merge.
@Test(arguments: [("even", SwinConfig(imageSize: 32, patchSize: 2, embedDim: 8, depths: [2, 2], numHeads: [2, 4],
                                      windowSize: 4, numClasses: 5)),
                  ("padded", SwinConfig(imageSize: 24, patchSize: 2, embedDim: 4, depths: [2, 2, 2],
                                        numHeads: [1, 2, 4], windowSize: 5, numClasses: 5))])
func swinMatchesTimm(name: String, config: SwinConfig) throws {
    let fixture = Fixture("swin.safetensors")
    try config.validate()
    let model = SwinTransformer(config)
    model.to(.float64)
    let reference = fixture.state("\(name).state")
    #expect(Set(model.stateDict().keys) == Set(reference.keys))
    try model.loadStateDict(reference)
    let x = Variable(fixture.t("\(name).input"))
    let logits = model(x)
    #expect((logits.data - fixture.t("\(name).logits")).abs().max().item() < 1e-10)
    #expect((model.forwardFeatures(x).data - fixture.t("\(name).features")).abs().max().item() < 1e-10)
    let loss = Loss.crossEntropy(logits, labels: Tensor([Int64(0), 3, 4], shape: [3]))
    #expect(abs(loss.data.item() - fixture.t("\(name).loss").item()) < 1e-12)
    loss.backward()
    for (key, p) in model.namedParameters() {
        let expected = fixture.t("\(name).grad.\(key)")
        let error = ((p.grad ?? Tensor.zeros(p.shape, dtype: .float64)) - expected).abs().max().item()
        let scale = Swift.max(expected.abs().max().item(), 1e-12)
        #expect(error <= 1e-9 * scale + 1e-14, "\(name): gradient of \(key) differs by \(error) (scale \(scale))")
    }
}

/// An EsViT training checkpoint as main_esvit.py writes it (scripts/make_esvit_checkpoint_fixture.py,
/// made with EsViT's own models/swin_transformer.py): through the catalogue entry's fields (teacher,
/// prefixes, training heads excluded) and timm's layout conversion, every key of the model is
/// filled, nothing is left over, and the pooled features and last-stage tokens are EsViT's.
@Test func esvitCheckpointLoadsThroughTheCatalogue() throws {
    let url = fixturesDirectory.appendingPathComponent("esvit_checkpoint.pth")
    let entry = try #require(Catalogue.entry(named: "esvit_swin_t_w7"))
    let state = try entry.stateDict(from: url)
    #expect(state["layers.1.downsample.reduction.weight"] != nil && state["layers.0.downsample.norm.weight"] == nil)
    let model = SwinTransformer(SwinConfig(imageSize: 32, patchSize: 2, embedDim: 8, depths: [2, 2], numHeads: [2, 4],
                                           windowSize: 4))
    let report = try model.loadStateDict(state)
    #expect(report.missing.isEmpty && report.unexpected.isEmpty)
    model.eval()
    let check = try TorchCheckpoint.stateDict(url, entry: "check")
    let (pooled, tokens) = noGrad { model.viewAndTokenFeatures(Variable(check["input"]!)) }
    #expect((pooled.data - check["pooled"]!).abs().max().item() < 1e-5)
    #expect((tokens.data - check["tokens"]!).abs().max().item() < 1e-5)
    #expect(SwinTransformer.timmLayout(model.stateDict()).keys.sorted() == model.stateDict().keys.sorted())
}

/// Names and config files reach Swin through the one registry; bad configs name their field.
@Test func swinRegistryNamesAndErrors() throws {
    let tiny = try #require(SwinConfig.named("swin_tiny_patch4_window7_224"))
    #expect(tiny == SwinConfig())
    #expect(SwinConfig.named("swin-b")?.embedDim == 128)
    #expect(SwinConfig.named("swin_base_patch4_window12_384_in1k").map { ($0.windowSize, $0.imageSize, $0.numClasses) }
            .map { $0 == (12, 384, 1000) } == true)
    let json = #"{"arch": "swin", "img_size": 64, "patch_size": 4, "embed_dim": 16, "depths": [2, 2], "#
        + #""num_heads": [2, 4], "window_size": 4, "num_classes": 3}"#
    let config = try ModelRegistry.config(json: Data(json.utf8))
    let model = try #require(try ModelRegistry.make(config, numClasses: 3, imageSize: 64) as? SwinTransformer)
    #expect(try ModelRegistry.create("swin-t") is SwinTransformer)
    // Below 64 px the ImageNet layout takes patch 2 and window 4 (16 × 16 tokens at 32 px).
    let small = try #require(try ModelRegistry.create("swin-t", imageSize: 32) as? SwinTransformer)
    #expect((small.config.patchSize, small.config.windowSize, small.config.imageSize) == (2, 4, 32))
    #expect(noGrad { model(Variable(Tensor.zeros([1, 3, 64, 64]))) }.shape == [1, 3])
    #expect(throws: ConfigurationError.self) { try SwinConfig(depths: [2, 2], numHeads: [3]).validate() }
    #expect(throws: ConfigurationError.self) { try SwinConfig(embedDim: 10, depths: [2], numHeads: [3]).validate() }
}

/// `rolled` is torch.roll, and its gradient and the biased attention's pass gradient checks in float64.
@Test func rollAndBiasedAttentionGradients() {
    let x = Tensor((0..<12).map(Double.init), shape: [3, 4])
    #expect(x.rolled(shifts: [1, -1], axes: [0, 1]).scalars(as: Double.self)
            == [9, 10, 11, 8, 1, 2, 3, 0, 5, 6, 7, 4])
    let rng = RandomGenerator(seed: 3)
    let a = Tensor.randn([2, 3, 4, 2], dtype: .float64, generator: rng)
    let weights = Tensor.randn([2, 3, 4, 2], dtype: .float64, generator: rng)  // so each position's gradient differs
    let roll = gradCheck({ $0[0].rolled(shifts: [2, -1], axes: [1, 2]) * Variable(weights) }, inputs: [a])
    #expect(roll.passed, "\(roll)")
    let (q, k, v) = (Tensor.randn([2, 2, 5, 3], dtype: .float64, generator: rng),
                     Tensor.randn([2, 2, 5, 3], dtype: .float64, generator: rng),
                     Tensor.randn([2, 2, 5, 3], dtype: .float64, generator: rng))
    let bias = Tensor.randn([1, 2, 5, 5], dtype: .float64, generator: rng)
    let attention = gradCheck({ p in
        Variable.scaledDotProductAttention(query: p[0], key: p[1], value: p[2], bias: p[3]).output
    }, inputs: [q, k, v, bias])
    #expect(attention.passed, "\(attention)")
}

/// timm's `swin_tiny_patch4_window7_224` itself (28 M parameters, float64) with weights and input
/// from a formula both sides compute (scripts/make_swin_fixtures.py, `formula_weights`), so no
/// weights are committed: logits, pooled features and the norm of every parameter's gradient match.
@Test func swinTinyMatchesTimm() throws {
    let fixture = Fixture("swin.safetensors")
    let model = SwinTransformer(try #require(SwinConfig.named("swin_tiny_patch4_window7_224_in1k")))
    model.to(.float64)
    var state: [String: Tensor] = [:]
    for (p, (key, value)) in model.stateDict().sorted(by: { $0.key < $1.key }).enumerated() {
        let isNorm = ["norm.weight", "norm1.weight", "norm2.weight"].contains { key.hasSuffix($0) }
        let offset = Double(p)
        let values: [Double] = (0..<value.count).map { (e: Int) -> Double in
            let i = Double(e)
            return isNorm ? 1 + 0.1 * sin(0.7 * i + offset) : 0.02 * sin(1.3 * i + 0.7 * offset)
        }
        state[key] = Tensor(values, shape: value.shape)
    }
    try model.loadStateDict(state)
    let pixels: [Double] = (0..<(2 * 3 * 224 * 224)).map { (e: Int) -> Double in sin(0.001 * Double(e)) }
    let x = Variable(Tensor(pixels, shape: [2, 3, 224, 224]))
    let logits = model(x)
    let expected = fixture.t("swin_t.logits")
    let spread = (expected - expected.mean()).abs().max().item()
    #expect((logits.data - expected).abs().max().item() <= 1e-9 * spread, "spread \(spread)")
    #expect((model.features(x).data - fixture.t("swin_t.pooled")).abs().max().item() < 1e-9)
    Loss.crossEntropy(logits, labels: Tensor([Int64(1), 998], shape: [2])).backward()
    let norms = fixture.t("swin_t.grad_norms").scalars(as: Double.self)
    let parameters = model.namedParameters().sorted { $0.name < $1.name }
    #expect(parameters.count == norms.count)
    for ((name, p), norm) in zip(parameters, norms) {
        let mine = (p.grad!.converted(to: .float64) * p.grad!.converted(to: .float64)).sum().item().squareRoot()
        #expect(abs(mine - norm) <= 1e-6 * norm + 1e-15, "\(name): gradient norm \(mine), timm \(norm)")
    }
}
