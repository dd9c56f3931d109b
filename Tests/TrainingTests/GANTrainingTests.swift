import Foundation
import Testing
import Autograd
import Tensor
import TestSupport
@testable import Training

@Suite struct GANTrainingTests {
    /// Translation moves content as the original's indexing does, zero-filled; cutout zeros a clipped
    /// square; both pass gradients (the generator learns through them).
    @Test func translationAndCutoutAsTheOriginal() {
        let x = Variable(Tensor((0..<18).map(Double.init), shape: [2, 1, 3, 3]), requiresGrad: true)
        let moved = DiffAugment.translated(x, shifts: [(1, 0), (-1, 1)])
        #expect(moved.data.doubles == [3, 4, 5, 6, 7, 8, 0, 0, 0,  0, 0, 0, 10, 11, 0, 13, 14, 0])
        moved.sum().backward()
        #expect(x.grad!.doubles == [0, 0, 0, 1, 1, 1, 1, 1, 1,  0, 1, 1, 0, 1, 1, 0, 0, 0])
        let cut = DiffAugment.cutOut(x, centres: [(0, 0), (2, 1)], size: (2, 2))
        #expect(cut.data.doubles == [0, 1, 2, 3, 4, 5, 6, 7, 8,  9, 10, 11, 0, 0, 14, 0, 0, 17])
    }

    @Test func colourKeepsShapesAndPolicyNamesAreChecked() throws {
        let augment = try DiffAugment(policy: "color,translation,cutout")
        let x = Variable(randn([4, 3, 8, 8], seed: 1), requiresGrad: true)
        let y = augment(x, generator: RandomGenerator(seed: 2))
        #expect(y.shape == x.shape)
        y.sum().backward()
        #expect((x.grad!.abs().doubles.max() ?? 0) > 0)
        #expect(throws: ConfigurationError(field: "policy", value: "colour",
                                           rule: "must be a comma-separated list of color, translation, cutout")) {
            try DiffAugment(policy: "translation,colour")
        }
    }

    /// R1 of a linear discriminator D(x) = w·x is (γ/2)‖w‖², and it back-propagates into w.
    @Test func r1PenaltyOfALinearDiscriminator() {
        let w = Variable(Tensor([0.5, -1, 2], shape: [3, 1]), requiresGrad: true)
        let r1 = GANLoss.r1Penalty(real: randn([4, 3], seed: 3), gamma: 10) { $0.matmul(w) }
        #expect(Swift.abs(r1.data.item() - 5 * 5.25) < 1e-12)
        r1.backward()
        #expect(w.grad!.doubles == [5, -10, 20])  // γ·w
    }

    @Test func nonSaturatingLossesAndConsistency() {
        let real = Variable(Tensor([2.0, -1])), fake = Variable(Tensor([0.5, 3]))
        func softplus(_ v: Double) -> Double { Foundation.log1p(Foundation.exp(v)) }
        let d = GANLoss.discriminator(real: real, fake: fake).data.item()
        #expect(Swift.abs(d - ((softplus(-2) + softplus(1)) / 2 + (softplus(0.5) + softplus(3)) / 2)) < 1e-12)
        #expect(Swift.abs(GANLoss.generator(fake: fake).data.item() - (softplus(-0.5) + softplus(-3)) / 2) < 1e-12)
        let bcr = GANLoss.balancedConsistency(real: real, augmentedReal: real + 1, fake: fake,
                                              augmentedFake: fake * 0, lambdaReal: 2, lambdaFake: 1)
        #expect(Swift.abs(bcr.data.item() - (2 * 1 + (0.25 + 9) / 2)) < 1e-12)
    }
}
