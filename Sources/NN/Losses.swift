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
}
