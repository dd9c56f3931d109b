import Autograd
import Foundation
import NN
import Testing
import Tensor
import Training
import Zoo

/// A ViT whose queries and keys are all zero attends evenly: its class-token entropy is log(patches) in every
/// head; a random one's is below that, and positive.
@Test func classAttentionEntropyIsLogPatchesForEvenAttention() throws {
    let vit = VisionTransformer(ViTConfig(imageSize: 16, patchSize: 4, embedDim: 24, depth: 2, numHeads: 3,
                                          mlpRatio: 2, numClasses: 0))
    let images = Tensor.randn([4, 3, 16, 16], generator: RandomGenerator(seed: 1))
    let random = AttentionMaps.classAttentionEntropy(vit, images: images)
    #expect(random.count == 3 && random.allSatisfy { $0 > 0 && $0 < log(16) })
    for (name, parameter) in vit.namedParameters() where name.hasPrefix("blocks.1.attn.qkv.") {
        parameter.data = Tensor.zeros(parameter.data.shape)
    }
    for entropy in AttentionMaps.classAttentionEntropy(vit, images: images) {
        #expect(abs(entropy - log(16)) < 1e-5)
    }
}

/// The DINO paper's masks keep the patches holding the top share of the attention mass; Jaccard of 0/1 masks.
@Test func thresholdMasksKeepTheTopMassAndJaccardCountsOverlap() {
    let attention = Tensor([0.4, 0.3, 0.2, 0.1], shape: [1, 1, 2, 2])
    #expect(AttentionMaps.thresholdMasks(attention, mass: 0.6).scalars(as: Float.self) == [1, 1, 0, 0])
    #expect(AttentionMaps.thresholdMasks(attention, mass: 0.8).scalars(as: Float.self) == [1, 1, 1, 0])
    let a = Tensor([1, 1, 0, 0] as [Float], shape: [2, 2]), b = Tensor([0, 1, 1, 0] as [Float], shape: [2, 2])
    #expect(abs(AttentionMaps.jaccard(a, b) - 1.0 / 3) < 1e-12)
    #expect(AttentionMaps.jaccard(Tensor.zeros([2, 2]), Tensor.zeros([2, 2])) == 1)
}
