import Autograd
import NN
import Testing
import Tensor
@testable import Zoo

/// Forward parity with timm and torchvision on the same weights (float32, random init).
@Suite struct ModelParityTests {
    func shapes(_ module: Module) -> [String: [Int]] {
        Dictionary(uniqueKeysWithValues: module.stateDict().map { ($0.key, $0.value.shape) })
    }

    @Test func keysOfFullSizeModelsAreExactlyPyTorchs() {
        #expect(shapes(VisionTransformer(.preset(.small, patch: 16, numClasses: 1000))) == Reference.keys("vit_s16"))
        #expect(shapes(ResNet(.depth(50)!)) == Reference.keys("resnet50"))
        #expect(shapes(DINOHead(inDim: 384, outDim: 65536)) == Reference.keys("dino_head"))
    }

    func smallViT() throws -> VisionTransformer {
        let vit = VisionTransformer(ViTConfig(imageSize: 32, patchSize: 8, embedDim: 48, depth: 2, numHeads: 3,
                                              numClasses: 5))
        try vit.loadStateDict(Reference.state("vit.state"))
        vit.eval()
        return vit
    }

    @Test func vitMatchesTimm() throws {
        let vit = try smallViT()
        let x = Variable(Reference.t("vit.x"))
        expectClose(vit(x).data, Reference.t("vit.logits"), atol: 2e-5, rtol: 1e-4)
        expectClose(vit.forwardFeatures(x).data, Reference.t("vit.features"), atol: 2e-5, rtol: 1e-4)
        expectClose(vit.lastSelfAttention(x), Reference.t("vit.last_attention"), atol: 1e-5, rtol: 1e-4)
        #expect(vit.intermediateLayers(x, last: 2).count == 2)
        expectClose(vit.intermediateLayers(x, last: 1)[0].data, Reference.t("vit.features"), atol: 2e-5, rtol: 1e-4)
    }

    /// Every parameter's gradient of a label-smoothed cross-entropy, as timm's autograd gives it.
    @Test func vitGradientsMatchTimm() throws {
        let vit = try smallViT()
        let labels = Tensor([Int64(1), 3])
        Loss.crossEntropy(vit(Variable(Reference.t("vit.x"))), labels: labels, labelSmoothing: 0.1).backward()
        let parameters = vit.namedParameters()
        #expect(parameters.count == 32)
        for (name, parameter) in parameters {
            guard let grad = parameter.grad else { Issue.record("no gradient for \(name)"); continue }
            expectClose(grad, Reference.t("vit.grad.\(name)"), atol: 1e-6, rtol: 1e-3)
        }
    }

    @Test func positionEmbeddingsResampleAsTimmAndAsDINO() throws {
        let vit = try smallViT()
        // 48 × 40 input: a 6 × 5 grid from the trained 4 × 4.
        expectClose(vit.forwardFeatures(Variable(Reference.t("vit.x2"))).data, Reference.t("vit.features_x2"),
                    atol: 3e-5, rtol: 1e-4)
        vit.positionResampling = .dino
        expectClose(vit.positionEmbedding(height: 6, width: 5).data, Reference.t("vit.dino_pos_x2"),
                    atol: 1e-5, rtol: 1e-4)
    }

    @Test(arguments: ["resnet_bottleneck", "resnet_basic"])
    func resnetMatchesTorchvisionBlocks(_ name: String) throws {
        let config = name == "resnet_basic" ? ResNetConfig(block: .basic, layers: [1, 2, 1, 1], numClasses: 5, width: 8)
            : ResNetConfig(block: .bottleneck, layers: [2, 1, 2, 1], numClasses: 5, width: 8)
        let net = ResNet(config)
        try net.loadStateDict(Reference.state("\(name).state"))
        net.eval()
        expectClose(net(Variable(Reference.t("\(name).x"))).data, Reference.t("\(name).logits"), atol: 2e-5, rtol: 1e-4)
    }

    @Test func dinoHead() throws {
        let head = DINOHead(inDim: 48, outDim: 40, hiddenDim: 32, bottleneckDim: 16)
        #expect(!head.lastLayer.weightG.requiresGrad)
        try head.loadStateDict(Reference.state("dino_head.state"))
        expectClose(head(Variable(Reference.t("dino_head.x"))).data, Reference.t("dino_head.y"), atol: 1e-5, rtol: 1e-4)
    }

    @Test func dinoLossAndCentre() {
        let loss = DINOLoss(outDim: 40, crops: 4, warmupTeacherEpochs: 3, epochs: 10)
        let value = loss(student: Variable(Reference.t("dino_loss.student")), teacher: Reference.t("dino_loss.teacher"),
                         epoch: 1)
        expectClose(value.data, Reference.t("dino_loss.loss"), atol: 1e-5, rtol: 1e-5)
        expectClose(loss.center.value, Reference.t("dino_loss.center"), atol: 1e-6, rtol: 0)
        #expect(loss.teacherTemperatures.count == 10 && loss.teacherTemperatures[0] == 0.04
                && loss.teacherTemperatures[9] == 0.07)
    }

    @Test func mocoV3Parts() {
        expectClose(MoCoV3.sinCosPositionEmbedding(grid: 4, dim: 16), Reference.t("moco.sincos_4_16"),
                    atol: 1e-6, rtol: 0)
        let loss = MoCoV3.contrastiveLoss(Variable(Reference.t("moco.q")), Reference.t("moco.k"), temperature: 0.2)
        expectClose(loss.data, Reference.t("moco.loss"), atol: 1e-5, rtol: 1e-5)
        let vit = MoCoV3.vit(ViTConfig(imageSize: 32, patchSize: 8, embedDim: 48, depth: 1, numHeads: 3))
        #expect(!vit.patchEmbed.proj.weight.requiresGrad && !vit.posEmbed.requiresGrad && vit.clsToken.requiresGrad)
        let projector = MoCoV3.projector(inDim: 48, hiddenDim: 64, outDim: 16)
        #expect(projector.stateDictKeys().contains("7.running_var") && !projector.stateDictKeys().contains("7.weight"))
        #expect(projector.stateDictKeys().contains("4.weight") && !projector.stateDictKeys().contains("0.bias"))
    }
}
