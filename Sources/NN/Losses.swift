import Autograd
import Tensor

/// Training objectives. Each returns a scalar variable (the mean over the batch).
public enum Loss {
    /// Cross-entropy of `logits` [N, C] against class indices [N] (`F.cross_entropy`), with
    /// optional label smoothing ε: targets (1 − ε)·onehot + ε/C.
    public static func crossEntropy(_ logits: Variable, labels: Tensor, labelSmoothing: Double = 0) -> Variable {
        logits.crossEntropy(labels: labels, labelSmoothing: labelSmoothing)
    }

    /// Cross-entropy of `logits` [N, C] against soft targets [N, C] (probabilities per row).
    public static func crossEntropy(_ logits: Variable, targetDistribution: Tensor,
                                    labelSmoothing: Double = 0) -> Variable {
        logits.crossEntropy(targetDistribution: targetDistribution, labelSmoothing: labelSmoothing)
    }

    /// Mean squared error (`F.mse_loss`).
    public static func meanSquaredError(_ prediction: Variable, _ target: Variable) -> Variable {
        check(prediction.shape == target.shape, "meanSquaredError",
              "shapes differ: \(describe(prediction.shape)) and \(describe(target.shape))")
        return (prediction - target).square().mean()
    }

    /// DINO's distillation term: H(teacher, student) = Σ −softmax((t − center)/τt)·log softmax(s/τs),
    /// averaged over rows. The teacher side carries no gradient.
    public static func softCrossEntropy(student: Variable, teacher: Tensor, studentTemperature: Double = 0.1,
                                        teacherTemperature: Double = 0.04, center: Tensor? = nil) -> Variable {
        check(student.shape == teacher.shape && student.rank == 2, "softCrossEntropy",
              "expects student and teacher logits of one shape [N, K], got \(describe(student.shape)) "
              + "and \(describe(teacher.shape))")
        let centred = center.map { teacher - $0 } ?? teacher
        let targets = (centred * (1 / teacherTemperature)).softmax(axis: -1)
        return (student * (1 / studentTemperature)).crossEntropy(targetDistribution: targets)
    }

    /// IRT's contrastive loss (El-Nouby et al., "Training Vision Transformers for Image Retrieval"),
    /// pytorch-metric-learning's `ContrastiveLoss(pos_margin=1, neg_margin=β)` with cosine
    /// similarity: on L2-normalised embeddings [N, D] with similarities s, every ordered pair of
    /// distinct samples with the same label costs 1 − s and every pair with different labels
    /// [s − β]₊; each of the two sums is averaged over its non-zero terms, and the two are added.
    public static func contrastive(_ embeddings: Variable, labels: [Int], margin β: Double = 0.5) -> Variable {
        check(embeddings.rank == 2 && embeddings.shape[0] == labels.count, "contrastive",
              "expects embeddings [N, D] and N labels, got \(describe(embeddings.shape)) and \(labels.count)")
        let n = labels.count
        let e = embeddings / embeddings.norm(2, axes: [1], keepDim: true).clamped(min: 1e-12)
        let s = e.matmul(e.transposed())
        var positive = [Double](repeating: 0, count: n * n), negative = positive
        for i in 0..<n {
            for j in 0..<n where i != j {
                if labels[i] == labels[j] { positive[i * n + j] = 1 } else { negative[i * n + j] = 1 }
            }
        }
        let positiveMask = Tensor(positive, shape: [n, n]).converted(to: embeddings.dtype)
        let negativeMask = Tensor(negative, shape: [n, n]).converted(to: embeddings.dtype)
        let positiveLoss = (1 - s).relu() * Variable(positiveMask)
        let negativeLoss = (s - β).relu() * Variable(negativeMask)
        func averageOverNonZero(_ loss: Variable) -> Variable {
            let count = (loss.data .> 0).converted(to: .float64).sum().item() as Double
            return count > 0 ? loss.sum() / count : loss.sum() * 0
        }
        return averageOverNonZero(positiveLoss) + averageOverNonZero(negativeLoss)
    }

    /// The KoLeo differential-entropy regulariser (Sablayrolles et al.; DINOv2's `KoLeoLoss`, used
    /// by IRT): −mean log(ρᵢ + ε), ρᵢ the distance from L2-normalised embedding i to its nearest
    /// other sample of the batch (found without gradient, by the largest inner product), with
    /// PyTorch's `PairwiseDistance` adding ε to the difference.
    public static func koLeo(_ embeddings: Variable, epsilon: Double = 1e-8) -> Variable {
        check(embeddings.rank == 2 && embeddings.shape[0] >= 2, "koLeo",
              "expects embeddings [N, D] with N ≥ 2, got \(describe(embeddings.shape))")
        let n = embeddings.shape[0]
        let x = embeddings / embeddings.norm(2, axes: [1], keepDim: true).clamped(min: epsilon)
        let dots = x.data.matmul(x.data.T).converted(to: .float64).contiguous().scalars(as: Double.self)
        let nearest = (0..<n).map { i -> Int64 in
            var best = (-Double.infinity, 0)
            for j in 0..<n {
                let d = i == j ? -1 : dots[i * n + j]  // DINOv2 fills the diagonal with −1
                if d > best.0 { best = (d, j) }
            }
            return Int64(best.1)
        }
        let distances = (x - x.indexSelect(axis: 0, indices: Tensor(nearest)) + epsilon).norm(2, axes: [1])
        return -(distances + epsilon).log().mean()
    }
}
