import Foundation
import Testing
import Autograd
import NN
import Tensor
import Zoo

/// ViTGAN's parts against PyTorch (scripts/make_vitgan_fixtures.py, float64): outputs and the
/// gradients of a fixed projection of each output in the input and every parameter.
@Suite struct ViTGANTests {
    let fixture = Fixture("vitgan.safetensors")

    private func maxError(_ a: Tensor, _ b: Tensor) -> Double { (a - b).abs().doubles.max() ?? .infinity }

    /// Loads `module`'s keys from `prefix` (unless `load` is false), runs `forward` on the fixture's
    /// input, and compares.
    private func expectMatchesPyTorch(_ prefix: String, _ module: Module, load: Bool = true,
                                      sourceLocation: SourceLocation = #_sourceLocation,
                                      _ forward: (Variable) -> Variable) throws {
        if load {
            let keys = Set(module.stateDictKeys())
            _ = try module.loadStateDict(fixture.state(prefix).filter { keys.contains($0.key) })
        }
        let x = Variable(fixture.t(prefix + ".input"), requiresGrad: true)
        let y = forward(x)
        #expect(maxError(y.data, fixture.t(prefix + ".output")) < 1e-12, "\(prefix) output",
                sourceLocation: sourceLocation)
        (y * Variable(fixture.t(prefix + ".projection"))).sum().backward()
        #expect(maxError(x.grad!, fixture.t(prefix + ".grad.input")) < 1e-11, "\(prefix) ∂input",
                sourceLocation: sourceLocation)
        for (name, parameter) in module.namedParameters() {
            let reference = fixture.t(prefix + ".grad." + name)
            #expect(maxError(parameter.grad ?? reference.zerosLike(), reference) < 1e-11, "\(prefix) ∂\(name)",
                    sourceLocation: sourceLocation)
        }
    }

    /// Two training forwards move u and v as PyTorch's power iteration does; σ is differentiated
    /// with them held constant.
    @Test func spectralNormMatchesTorchSpectralNorm() throws {
        let layer = SpectralNormLinear(6, 4, dtype: .float64)
        #expect(Set(layer.stateDictKeys()) == ["weight_orig", "weight_u", "weight_v", "bias"])
        _ = try layer.loadStateDict(fixture.state("spectral.before"))
        try expectMatchesPyTorch("spectral", layer, load: false) { x in
            _ = layer(x)
            return layer(x)
        }
        #expect(maxError(layer.weightU.value, fixture.t("spectral.weight_u")) < 1e-12)
        #expect(maxError(layer.weightV.value, fixture.t("spectral.weight_v")) < 1e-12)
    }

    /// ViTGAN's improved spectral norm keeps σ of the initial weight and scales by it.
    @Test func improvedSpectralNormScalesByTheInitialSigma() throws {
        let layer = SpectralNormLinear(6, 4, improved: true, dtype: .float64)
        let initial = try layer.weightOrig.data.svd().s.doubles[0]
        #expect(Swift.abs(layer.weightInitialSigma!.value.item() - initial) < 1e-12)
        _ = try layer.loadStateDict(fixture.state("spectral.before").merging(
            ["weight_initial_sigma": fixture.t("spectral.initial_sigma")]) { $1 })
        let x = Variable(fixture.t("spectral.input"))
        _ = layer(x)
        #expect(maxError(layer(x).data, fixture.t("spectral.improved_output")) < 1e-12)
    }

    @Test func l2AttentionPaperAndOfficialForms() throws {
        let paper = L2SelfAttention(8, heads: 2, tied: true, dtype: .float64)
        try expectMatchesPyTorch("l2_paper", paper) { paper($0) }
        let official = L2SelfAttention(8, heads: 2, tied: false, variant: .official, dtype: .float64)
        try expectMatchesPyTorch("l2_official", official) { official($0) }
    }

    @Test func selfModulatedLayerNormBothForms() throws {
        for variant in [ViTGANVariant.paper, .official] {
            let prefix = "sln_\(variant.rawValue)"
            let norm = SelfModulatedLayerNorm(8, latentDim: 6, variant: variant, dtype: .float64)
            let latent = Variable(fixture.t(prefix + ".latent"))
            try expectMatchesPyTorch(prefix, norm) { norm($0, latent: latent) }
        }
    }

    @Test func overlappingPatchEmbeddingAndMappingNetwork() throws {
        let embedding = OverlappingPatchEmbedding(patchSize: 4, overlap: 1, dim: 8, dtype: .float64)
        #expect(embedding.proj.weight.shape == [8, 3, 6, 6])
        try expectMatchesPyTorch("patch_embedding", embedding) { embedding($0) }
        let mapping = MappingNetwork(latentDim: 6, styleDim: 8, depth: 2, dtype: .float64)
        try expectMatchesPyTorch("mapping", mapping) { mapping($0) }
    }

    /// The discriminator's L2 attention is twice differentiable (R1 needs it).
    @Test func l2AttentionSecondDerivatives() {
        let attention = L2SelfAttention(4, heads: 2, dtype: .float64)
        let result = gradGradCheck({ attention($0[0]) }, inputs: [randn([1, 3, 4], seed: 60)])
        #expect(result.passed, "\(result)")
    }
}
