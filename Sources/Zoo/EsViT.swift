import Autograd
import Foundation
import NN
import Tensor

/// EsViT's loss (`DDINOLoss` in microsoft/esvit's main_esvit.py): ½ × DINO's view-level loss plus
/// ½ × the region-level loss, averaged over the same (teacher global view, other student view)
/// pairs. The region loss matches each student token to the teacher token of the other view whose
/// backbone feature is most cosine-similar (found without gradient) and takes the cross-entropy
/// between the teacher's centred, sharpened region distribution there and the student's, averaged
/// over the student's tokens and the batch. The region head's outputs have their own centre
/// (`center_grid`), updated like the view centre. Keys are EsViT's: `center`, `center_grid`.
public final class EsViTLoss: DINOLoss {
    public let centerGrid: Buffer

    public required init(outDim: Int, crops: Int, warmupTeacherTemperature: Double = 0.04,
                         teacherTemperature: Double = 0.07, warmupTeacherEpochs: Int = 30, epochs: Int = 100,
                         studentTemperature: Double = 0.1, centerMomentum: Double = 0.9) {
        centerGrid = Buffer(.zeros([1, outDim]))
        super.init(outDim: outDim, crops: crops, warmupTeacherTemperature: warmupTeacherTemperature,
                   teacherTemperature: teacherTemperature, warmupTeacherEpochs: warmupTeacherEpochs, epochs: epochs,
                   studentTemperature: studentTemperature, centerMomentum: centerMomentum)
    }

    /// The loss of one step, updating both centres afterwards.
    /// - `studentView` [crops·B, K], `teacherView` [2·B, K]: the view heads' outputs, crop by crop.
    /// - `studentRegion` [Σ_v B·T_v, K] and `studentFeatures` [Σ_v B·T_v, P]: the region head's outputs
    ///   and the backbone's token features, crop by crop, each crop's rows batch-major (image, then token);
    ///   `studentTokens` the tokens per crop (T_v).
    /// - `teacherRegion` [2·B·N, K], `teacherFeatures` [2·B·N, P]: the same for the two global crops of N tokens.
    public func callAsFunction(studentView: Variable, studentRegion: Variable, studentFeatures: Tensor,
                               studentTokens: [Int], teacherView: Tensor, teacherRegion: Tensor,
                               teacherFeatures: Tensor, epoch: Int) -> Variable {
        let b = teacherView.shape[0] / 2, n = teacherRegion.shape[0] / Swift.max(2 * b, 1)
        check(studentTokens.count == crops && studentRegion.shape[0] == b * studentTokens.reduce(0, +)
              && studentFeatures.shape[0] == studentRegion.shape[0] && teacherRegion.shape[0] == 2 * b * n
              && teacherFeatures.shape[0] == teacherRegion.shape[0], "EsViTLoss",
              "expects \(crops) crops of B = \(b) images: student regions [Σ B·T_v, K] with features alike "
              + "(tokens \(studentTokens)), teacher regions [2·B·N, K]; got \(describe(studentRegion.shape)), "
              + "\(describe(studentFeatures.shape)), \(describe(teacherRegion.shape)), "
              + "\(describe(teacherFeatures.shape))")
        let temperature = teacherTemperatures[Swift.min(Swift.max(epoch, 0), teacherTemperatures.count - 1)]
        let k = teacherRegion.shape[1]
        let teacherProbs = ((teacherRegion - centerGrid.value.converted(to: teacherRegion.dtype)) * (1 / temperature))
            .softmax(axis: -1).reshaped([2, b, n, k])
        let teacherUnit = Self.unitRows(teacherFeatures).reshaped([2, b, n, teacherFeatures.shape[1]])
        let studentLogProbs = (studentRegion * (1 / studentTemperature)).logSoftmax(axis: -1)
            .split(sizes: studentTokens.map { $0 * b }, axis: 0)
        let studentUnit = Self.unitRows(studentFeatures).split(sizes: studentTokens.map { $0 * b }, axis: 0)
        var region: Variable?
        var terms = 0
        for iq in 0..<2 {
            for v in 0..<crops where v != iq {
                let t = studentTokens[v]
                // For each student token, the teacher token of the other view most like it.
                let similarity = studentUnit[v].reshaped([b, t, studentFeatures.shape[1]])
                    .matmul(teacherUnit[iq].transposed())  // [B, T, N]
                let nearest = similarity.argmax(axis: 2)                                                      // [B, T]
                let targets = teacherProbs[iq].gather(axis: 1, index: nearest.unsqueezed(2).expanded(to: [b, t, k]))
                let term = -(Variable(targets) * studentLogProbs[v].reshaped([b, t, k])).sum(axes: [2]).mean()
                region = region.map { $0 + term } ?? term
                terms += 1
            }
        }
        let view = super.callAsFunction(student: studentView, teacher: teacherView, epoch: epoch)
        var batchCenter = teacherRegion.mean(axes: [0], keepDim: true).converted(to: centerGrid.value.dtype)
        if let averageOverProcesses { batchCenter = averageOverProcesses(batchCenter) }
        centerGrid.value = centerGrid.value * centerMomentum + batchCenter * (1 - centerMomentum)
        return view * 0.5 + region! * (0.5 / Double(terms))
    }

    /// Rows scaled to unit L2 norm (F.normalize, eps 1e-12).
    static func unitRows(_ x: Tensor) -> Tensor {
        x / x.norm(2, axes: [-1], keepDim: true).clamped(min: 1e-12)
    }
}

/// A backbone for EsViT's region-level task: the feature the view head sees and the last layer's
/// token features after the final norm, [B, N, C] (main_esvit.py's `forward_features` with
/// `use_dense_prediction`): a Swin's pooled last stage and its tokens, a ViT's class token and
/// its patch tokens, a ResNet's pooled last stage and its positions.
public protocol DenseFeatureBackbone: Module {
    func viewAndTokenFeatures(_ x: Variable) -> (view: Variable, tokens: Variable)
}

extension SwinTransformer: DenseFeatureBackbone {
    public func viewAndTokenFeatures(_ x: Variable) -> (view: Variable, tokens: Variable) {
        let map = forwardFeatures(x)
        let tokens = map.reshaped([map.shape[0], map.shape[1] * map.shape[2], map.shape[3]])
        return (tokens.mean(axes: [1]), tokens)
    }

    /// timm's `checkpoint_filter_fn` for the original (Microsoft, EsViT) layout, where patch merging
    /// ends a stage: `layers.N.downsample` becomes `layers.N+1.downsample` and the classifier's
    /// `head.weight`, `head.bias` become `head.fc.*`; the non-persistent `relative_position_index`
    /// and `attn_mask` buffers are dropped. A state dict in timm's layout loses only those buffers.
    public static func timmLayout(_ state: [String: Tensor]) -> [String: Tensor] {
        let original = state["layers.0.downsample.reduction.weight"] != nil
        var out: [String: Tensor] = [:]
        for (key, value) in state where !key.contains("relative_position_index") && !key.contains("attn_mask") {
            var k = key
            if original {
                let parts = k.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                if parts.count > 2, parts[0] == "layers", let n = Int(parts[1]), parts[2] == "downsample" {
                    k = (["layers", String(n + 1)] + parts.dropFirst(2)).joined(separator: ".")
                }
                if k == "head.weight" || k == "head.bias" { k = "head.fc." + k.dropFirst(5) }
            }
            out[k] = value
        }
        return out
    }
}

extension VisionTransformer: DenseFeatureBackbone {
    public func viewAndTokenFeatures(_ x: Variable) -> (view: Variable, tokens: Variable) {
        let all = forwardFeatures(x)
        return (all.select(axis: 1, index: 0), all.slice(axis: 1, start: 1, end: all.shape[1]))
    }
}

extension ResNet: DenseFeatureBackbone {
    public func viewAndTokenFeatures(_ x: Variable) -> (view: Variable, tokens: Variable) {
        let map = featureMap(x)
        return (map.mean(axes: [2, 3]), map.flattened(from: 2).transposed(1, 2))
    }
}
