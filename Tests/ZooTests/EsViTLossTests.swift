import Autograd
import Foundation
import NN
import Testing
import Tensor
import TestSupport
import Zoo

/// EsViT's `DDINOLoss` re-implemented in PyTorch from main_esvit.py (scripts/make_esvit_fixtures.py):
/// 4 crops (2 global of 4 tokens, 2 local of 1), B = 3. Two calls (teacher temperature 0.04 then
/// 0.07): the loss, its gradients with respect to the student's view and region outputs, and both
/// centres after each call match to 1e-12.
@Test func esvitLossMatchesDDINOLoss() throws {
    let fixture = Fixture("esvit_loss.safetensors")
    let loss = EsViTLoss(outDim: 6, crops: 4, warmupTeacherTemperature: 0.04, teacherTemperature: 0.07,
                         warmupTeacherEpochs: 2, epochs: 2)
    loss.to(.float64)
    #expect(Set(loss.stateDict().keys) == ["center", "center_grid"])
    for call in 0..<2 {
        func t(_ name: String) -> Tensor { fixture.t("call\(call).\(name)") }
        let (view, region) = (Variable(t("s_cls"), requiresGrad: true), Variable(t("s_region"), requiresGrad: true))
        let value = loss(studentView: view, studentRegion: region, studentFeatures: t("s_fea"),
                         studentTokens: [4, 4, 1, 1], teacherView: t("t_cls"), teacherRegion: t("t_region"),
                         teacherFeatures: t("t_fea"), epoch: call)
        #expect(abs(value.data.item() - t("loss").item()) < 1e-12, "call \(call): \(value.data.item())")
        value.backward()
        #expect((view.grad! - t("grad_s_cls")).abs().max().item() < 1e-12)
        #expect((region.grad! - t("grad_s_region")).abs().max().item() < 1e-12)
        #expect((loss.center.value - t("center")).abs().max().item() < 1e-12)
        #expect((loss.centerGrid.value - t("center_grid")).abs().max().item() < 1e-12)
    }
}
