import Autograd
import Foundation
import NN
import Tensor

/// DINO's projection head (keys `mlp.0`, `mlp.2`, `mlp.4`, `last_layer.weight_g`, `last_layer.weight_v`):
/// a 3-layer MLP with GELU to a bottleneck, L2 normalisation, then a weight-normalised linear layer
/// to `outDim` prototypes whose norm is frozen at 1 by default (`norm_last_layer=True`). With one
/// layer the MLP is a single Linear, keyed `mlp.weight` / `mlp.bias` as in DINO's code.
public final class DINOHead: Module {
    /// A `Linear` for one layer, else a `Sequential` of Linear (BatchNorm) GELU … Linear.
    public let mlp: Module
    public let lastLayer: WeightNormLinear

    public init(inDim: Int, outDim: Int = 65536, hiddenDim: Int = 2048, bottleneckDim: Int = 256, layers: Int = 3,
                useBatchNorm: Bool = false, normLastLayer: Bool = true) {
        check(layers >= 1, "DINOHead", "needs at least one layer")
        if layers == 1 {
            mlp = Linear(inDim, bottleneckDim)
        } else {
            var modules: [Module] = []
            modules.append(Linear(inDim, hiddenDim))
            if useBatchNorm { modules.append(BatchNorm1d(hiddenDim)) }
            modules.append(GELU())
            for _ in 0..<(layers - 2) {
                modules.append(Linear(hiddenDim, hiddenDim))
                if useBatchNorm { modules.append(BatchNorm1d(hiddenDim)) }
                modules.append(GELU())
            }
            modules.append(Linear(hiddenDim, bottleneckDim))
            mlp = Sequential(modules)
        }
        lastLayer = WeightNormLinear(bottleneckDim, outDim)
        super.init()
        for case let linear as Linear in mlp.namedModules().map(\.module) {
            linear.weight.data = Init.truncatedNormal(linear.weight.shape)
            linear.bias?.data.fill(0)
        }
        lastLayer.weightG.data.fill(1)
        if normLastLayer { lastLayer.weightG.setRequiresGrad(false) }
    }

    public override func callAsFunction(_ x: Variable) -> Variable {
        let h = mlp(x)
        // F.normalize(x, dim=-1, p=2): x / max(‖x‖, 1e-12).
        let norm = h.norm(2, axes: [-1], keepDim: true).maximum(Variable(Tensor(scalar: 1e-12, dtype: h.dtype)))
        return lastLayer(h / norm)
    }
}

/// DINO's `MultiCropWrapper`: runs the backbone once per group of consecutive crops with the same
/// resolution (the global crops together, the local crops together), concatenates the features
/// and applies the head to all of them at once.
///
/// With a `headDense` (EsViT's region head, key `head_dense`) it also gives the region-level
/// outputs of ``regionLevel(_:)``; the backbone must then be a `DenseFeatureBackbone`.
public final class MultiCropWrapper: Module {
    public let backbone: Module
    public let head: Module
    public let headDense: Module?

    public init(backbone: Module, head: Module, headDense: Module? = nil) {
        check(headDense == nil || backbone is DenseFeatureBackbone, "MultiCropWrapper",
              "a region head needs a backbone with token features (Swin, ViT or ResNet), got \(type(of: backbone))")
        (self.backbone, self.head, self.headDense) = (backbone, head, headDense)
    }

    /// Head outputs for crops [B, 3, h_k, w_k], in crop order: [(number of crops)·B, outDim].
    public func callAsFunction(_ crops: [Variable]) -> Variable {
        let features = Self.sameResolutionGroups(crops).map { backbone($0) }
        return head(features.count == 1 ? features[0] : Variable.concat(features, axis: 0))
    }

    /// EsViT's forward (its `MultiCropWrapper` with `use_dense_prediction`): the view head's outputs
    /// [crops·B, K], the region head's outputs on every token [Σ_v B·T_v, K], the token features
    /// the heads see [Σ_v B·T_v, C] — crop by crop, each crop's rows image by image — and the
    /// tokens per crop T_v.
    public func regionLevel(_ crops: [Variable])
        -> (view: Variable, region: Variable, tokenFeatures: Variable, tokens: [Int]) {
        guard let headDense, let dense = backbone as? DenseFeatureBackbone else {
            fail("MultiCropWrapper", "regionLevel needs a region head (headDense)")
        }
        var views: [Variable] = [], tokens: [Variable] = [], counts: [Int] = []
        for group in Self.sameResolutionGroups(crops) {
            let (view, t) = dense.viewAndTokenFeatures(group)
            views.append(view)
            tokens.append(t.reshaped([t.shape[0] * t.shape[1], t.shape[2]]))
            counts += Array(repeating: t.shape[1], count: t.shape[0] / crops[0].shape[0])
        }
        let features = tokens.count == 1 ? tokens[0] : Variable.concat(tokens, axis: 0)
        return (head(views.count == 1 ? views[0] : Variable.concat(views, axis: 0)), headDense(features),
                features, counts)
    }

    /// Consecutive crops of one resolution concatenated along the batch (the global crops, then the local ones).
    static func sameResolutionGroups(_ crops: [Variable]) -> [Variable] {
        var groups: [Variable] = []
        var start = 0
        while start < crops.count {
            var end = start + 1
            while end < crops.count && crops[end].shape.suffix(2) == crops[start].shape.suffix(2) { end += 1 }
            groups.append(end - start == 1 ? crops[start] : Variable.concat(Array(crops[start..<end]), axis: 0))
            start = end
        }
        return groups
    }
}

/// DINO's loss: cross-entropy between the centred, sharpened teacher distribution of each global
/// crop and the student distribution of every other crop, averaged over those pairs; the centre
/// follows the teacher outputs with momentum, and the teacher temperature warms up linearly.
public class DINOLoss: Module {
    public let center: Buffer
    public let studentTemperature: Double
    public let centerMomentum: Double
    /// Teacher temperature per epoch.
    public let teacherTemperatures: [Double]
    public let crops: Int
    /// Set in data-parallel training: averages a tensor over the processes, so that the centre
    /// follows the teacher outputs of the whole batch (`dist.all_reduce` of the batch centre in main_dino.py).
    public var averageOverProcesses: ((Tensor) -> Tensor)?

    public required init(outDim: Int, crops: Int, warmupTeacherTemperature: Double = 0.04,
                         teacherTemperature: Double = 0.07, warmupTeacherEpochs: Int = 30, epochs: Int = 100,
                         studentTemperature: Double = 0.1, centerMomentum: Double = 0.9) {
        center = Buffer(.zeros([1, outDim]))
        (self.crops, self.studentTemperature, self.centerMomentum) = (crops, studentTemperature, centerMomentum)
        let warm = Swift.min(warmupTeacherEpochs, epochs)
        teacherTemperatures = (0..<warm).map {
            warm == 1 ? warmupTeacherTemperature
                : warmupTeacherTemperature
                    + (teacherTemperature - warmupTeacherTemperature) * Double($0) / Double(warm - 1)
        }
            + Array(repeating: teacherTemperature, count: Swift.max(epochs - warm, 0))
    }

    /// The loss for student outputs of all crops [crops·B, K] and teacher outputs of the two
    /// global crops [2·B, K]; updates the centre afterwards (as DINO does, from the teacher batch).
    public func callAsFunction(student: Variable, teacher: Tensor, epoch: Int) -> Variable {
        check(student.shape[0] % crops == 0 && teacher.shape[0] * crops == student.shape[0] * 2, "DINOLoss",
              "expects student [\(crops)·B, K] and teacher [2·B, K], got \(describe(student.shape)) "
              + "and \(describe(teacher.shape))")
        let temperature = teacherTemperatures[Swift.min(Swift.max(epoch, 0), teacherTemperatures.count - 1)]
        let studentLogProbs = (student * (1 / studentTemperature)).logSoftmax(axis: -1).chunked(crops, axis: 0)
        let teacherProbs = ((teacher - center.value.converted(to: teacher.dtype)) * (1 / temperature))
            .softmax(axis: -1).chunked(2, axis: 0)
        var total: Variable?
        var terms = 0
        for (iq, q) in teacherProbs.enumerated() {
            for (v, logP) in studentLogProbs.enumerated() where v != iq {
                let term = -(Variable(q) * logP).sum(axes: [1]).mean()
                total = total.map { $0 + term } ?? term
                terms += 1
            }
        }
        updateCenter(teacher)
        return total! * (1 / Double(terms))
    }

    func updateCenter(_ teacher: Tensor) {
        var batchCenter = teacher.mean(axes: [0], keepDim: true).converted(to: center.value.dtype)
        if let averageOverProcesses { batchCenter = averageOverProcesses(batchCenter) }
        center.value = center.value * centerMomentum + batchCenter * (1 - centerMomentum)
    }
}
