import Foundation
import Testing
import Autograd
import NN
import Tensor
@testable import Zoo

/// MoCo v3's model against moco-v3's own code (scripts/make_moco_fixtures.py): its checkpoint
/// layout loads with prefix stripping only, the outputs match, and the init follows moco-v3.
@Suite struct MoCoV3Tests {
    static let reference = Fixture("moco_v3_reference.safetensors")
    let config = ViTConfig(imageSize: 32, patchSize: 8, embedDim: 32, depth: 2, numHeads: 2, mlpRatio: 2)

    @Test func loadsMoCoV3CheckpointsAndMatchesItsOutputs() throws {
        let r = Self.reference
        let model = MoCoV3Model(vit: config, dim: 16, mlpDim: 32)
        let url = fixturesDirectory.appendingPathComponent("moco_v3_checkpoint.pth")
        let state = try TorchCheckpoint.stateDict(url, entry: "state_dict", stripPrefixes: ["module."])
        #expect(Set(model.stateDictKeys()) == Set(state.keys))
        try model.loadStateDict(state)
        let x1 = Variable(r.t("x1")), x2 = Variable(r.t("x2"))
        noGrad {
            model.eval()
            expectClose(model.baseEncoder(x1).data, r.t("base_projection_eval"), atol: 2e-5, rtol: 1e-4)
            expectClose(model.predictor(model.baseEncoder(x1)).data, r.t("prediction_eval"), atol: 2e-5, rtol: 1e-4)
            expectClose(model.momentumEncoder(x1).data, r.t("momentum_projection_eval"), atol: 2e-5, rtol: 1e-4)
            expectClose(model.features(x1).data, r.t("base_features_eval"), atol: 2e-5, rtol: 1e-4)
            model.train()
            expectClose(model.baseEncoder(x1).data, r.t("base_projection_train"), atol: 2e-5, rtol: 1e-4)
            expectClose(model.predictor(model.baseEncoder(x1)).data, r.t("prediction_train"), atol: 2e-5, rtol: 1e-4)
            expectClose(model.momentumEncoder(x1).data, r.t("momentum_projection_train"), atol: 2e-5, rtol: 1e-4)
            let q1 = model.predictor(model.baseEncoder(x1)), q2 = model.predictor(model.baseEncoder(x2))
            let k1 = model.momentumEncoder(x1).data, k2 = model.momentumEncoder(x2).data
            let loss = MoCoV3.contrastiveLoss(q1, k2) + MoCoV3.contrastiveLoss(q2, k1)
            expectClose(loss.data, r.t("loss_train"), atol: 1e-5, rtol: 1e-5)
        }
        let backbone = model.backboneStateDict()
        #expect(backbone.keys.contains("blocks.1.mlp.fc2.weight") && !backbone.keys.contains { $0.hasPrefix("head.") })
        try VisionTransformer(config).loadStateDict(backbone)
    }

    @Test func initialisesAsMoCoV3() {
        let r = Self.reference
        let model = MoCoV3Model(vit: config, dim: 16, mlpDim: 32)
        let vit = model.baseEncoder as! VisionTransformer
        // 32 draws of N(0, 1e-6²): their deviation is within 40% of 1e-6 (the fixture's is one such draw).
        let std = vit.clsToken.data.doubles.map { $0 * $0 }.reduce(0, +) / 32
        #expect(Swift.abs(std.squareRoot() / 1e-6 - 1) < 0.4
                && Swift.abs(r.t("init_cls_token_std").item() / 1e-6 - 1) < 0.4)
        let patch = vit.patchEmbed.proj
        #expect(patch.bias!.data.doubles.allSatisfy { $0 == 0 } && r.t("init_patch_bias_abs_max").item() == 0)
        expectWithinBound(patch.weight.data, r.t("init_patch_weight_bound").item())
        #expect(!patch.weight.requiresGrad && !patch.bias!.requiresGrad && !vit.posEmbed.requiresGrad)
        // Each block's qkv, proj, fc1 and fc2, in the fixture's order.
        let linears = vit.blocks.flatMap { [$0.attn.qkv, $0.attn.proj, $0.mlp.fc1, $0.mlp.fc2] }
        for (linear, bound) in zip(linears, r.t("init_linear_bound").doubles) {
            expectWithinBound(linear.weight.data, bound)
            #expect(linear.bias!.data.doubles.allSatisfy { $0 == 0 })
        }
        #expect(model.momentumEncoder.parameters().allSatisfy { !$0.requiresGrad })
        #expect(model.momentumEncoder.stateDict().allSatisfy {
            $0.value.doubles == model.baseEncoder.stateDict()[$0.key]!.doubles
        })
    }

    /// Uniform draws in ±bound: none beyond it, and the largest near it (thousands of draws).
    func expectWithinBound(_ weight: Tensor, _ bound: Double, sourceLocation: SourceLocation = #_sourceLocation) {
        let largest = weight.abs().max().item()
        #expect(largest <= bound * (1 + 1e-6) && largest > 0.95 * bound, "max |w| \(largest), bound \(bound)",
                sourceLocation: sourceLocation)
    }

    @Test func resNetModelFollowsMoCoResNet() throws {
        let model = MoCoV3Model(resnet: ResNetConfig(block: .basic, layers: [1, 1, 1, 1], width: 8), dim: 16,
                                mlpDim: 32)
        let keys = Set(model.stateDictKeys())
        // A 2-layer projector as `fc` (last BatchNorm without affine) and a predictor without a last BatchNorm.
        #expect(keys.contains("base_encoder.fc.3.weight") && keys.contains("base_encoder.fc.4.running_var"))
        #expect(!keys.contains("base_encoder.fc.4.weight") && !keys.contains("predictor.4.running_var"))
        let out = noGrad { model.baseEncoder(Variable(.randn([2, 3, 32, 32]))) }
        #expect(out.shape == [2, 16] && model.features(Variable(.randn([2, 3, 32, 32]))).shape == [2, 64])
        #expect { try MoCoV3Model(like: VisionTransformer(ViTConfig(embedDim: 18, depth: 1, numHeads: 3))) } throws: {
            "\($0)".contains("embed_dim") && "\($0)".contains("divisible by 4")
        }
    }

    @Test func oneLayerDINOHeadHasDINOKeys() throws {
        let head = DINOHead(inDim: 48, outDim: 32, bottleneckDim: 16, layers: 1)
        #expect(Set(head.stateDictKeys()) == ["mlp.weight", "mlp.bias", "last_layer.weight_g", "last_layer.weight_v"])
        try head.loadStateDict(
            TorchCheckpoint.stateDict(fixturesDirectory.appendingPathComponent("dino_head_one_layer.pth")))
        let out = noGrad { head(Variable(Self.reference.t("dino_head_input"))) }
        expectClose(out.data, Self.reference.t("dino_head_output"), atol: 1e-5, rtol: 1e-4)
    }
}
