import Foundation
import Testing
import Autograd
import NN
import Tensor
import TestSupport
import Training
import Zoo

@Suite struct ViTGANModelTests {
    private func tinyConfig() -> ViTGANConfig {
        var config = ViTGANConfig()
        (config.imageSize, config.patchSize, config.dim, config.depth, config.heads) = (8, 4, 8, 1, 2)
        (config.latentDim, config.mappingDepth, config.pixelFeatures, config.pixelHidden) = (6, 2, 8, 8)
        config.discriminatorDepth = 1
        return config
    }

    /// G(z) has the image's shape; the generator loss through D reaches every generator parameter,
    /// and R1 on real images (a gradient of D taken with createGraph) reaches every D parameter.
    @Test func generatorAndDiscriminatorTrainThroughEachOther() throws {
        let config = tinyConfig()
        let generator = try ViTGANGenerator(config), discriminator = try ViTGANDiscriminator(config)
        let images = generator(Variable(Tensor.randn([3, 6])))
        #expect(images.shape == [3, 3, 8, 8])
        GANLoss.generator(fake: discriminator(images)).backward()
        for (name, p) in generator.namedParameters() {
            #expect((p.grad?.abs().doubles.max() ?? 0) > 0, "no gradient reached generator \(name)")
        }
        let r1 = GANLoss.r1Penalty(real: Tensor.randn([2, 3, 8, 8]), gamma: 1) { discriminator($0) }
        #expect(r1.data.item().isFinite && r1.data.item() > 0)
        discriminator.zeroGrad()
        r1.backward()
        // ∇ₓD does not depend on the additive constants before the (linear) head:
        // the final norm's and the head's biases.
        for (name, p) in discriminator.namedParameters() where !["head.bias", "norm.bias"].contains(name) {
            #expect((p.grad?.abs().doubles.max() ?? 0) > 0, "R1 did not reach discriminator \(name)")
        }
    }

    /// The discriminator's input gradient — what R1 penalises — is itself correctly differentiated
    /// (evaluation mode, so spectral norm's u and v stay fixed between the finite differences).
    @Test func discriminatorSecondDerivatives() throws {
        var config = tinyConfig()
        (config.imageSize, config.patchSize, config.dim) = (4, 2, 4)
        let discriminator = try ViTGANDiscriminator(config, dtype: .float64).eval()
        let result = gradGradCheck({ discriminator($0[0]) }, inputs: [randn([1, 3, 4, 4], seed: 70)])
        #expect(result.passed, "\(result)")
    }

    @Test func badSizesNameTheField() {
        var config = tinyConfig()
        config.patchSize = 3
        #expect(throws: ConfigurationError(field: "patchSize", value: "3", rule: "must divide imageSize = 8")) {
            try ViTGANGenerator(config)
        }
    }
}
