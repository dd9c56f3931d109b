import Autograd
import Foundation
import Tensor

/// Per-iteration schedules and the EMA teacher update, as in the DINO repository.
public enum Schedule {
    /// DINO's `cosine_scheduler`: a linear warm-up from `warmupStart` to `base` over
    /// `warmupEpochs`, then a cosine from `base` to `final`; one value per iteration
    /// (epochs × iterationsPerEpoch values).
    public static func cosine(base: Double, final: Double, epochs: Int, iterationsPerEpoch: Int,
                              warmupEpochs: Int = 0, warmupStart: Double = 0) -> [Double] {
        check(epochs >= 0 && iterationsPerEpoch >= 0 && warmupEpochs >= 0 && warmupEpochs <= epochs, "Schedule.cosine",
              "needs 0 ≤ warmupEpochs ≤ epochs and non-negative counts, "
              + "got epochs \(epochs), warm-up \(warmupEpochs)")
        let warmupIterations = warmupEpochs * iterationsPerEpoch
        let total = epochs * iterationsPerEpoch
        var values: [Double] = []
        values.reserveCapacity(total)
        for i in 0..<warmupIterations {
            // np.linspace(start, base, n): both ends included.
            values.append(warmupIterations == 1 ? warmupStart
                          : warmupStart + (base - warmupStart) * Double(i) / Double(warmupIterations - 1))
        }
        let rest = total - warmupIterations
        for i in 0..<rest {
            values.append(final + 0.5 * (base - final) * (1 + cos(Double.pi * Double(i) / Double(rest))))
        }
        return values
    }

    /// Makes `teacher` a frozen copy of `student` (DINO's teacher and MoCo's momentum encoder start
    /// as the student and are only ever moved by ``emaUpdate(teacher:student:momentum:)``).
    public static func startEMA(teacher: Module, from student: Module) {
        do { try teacher.loadStateDict(student.stateDict()) } catch {
            fail("startEMA", "teacher and student differ: \(error)")
        }
        for p in teacher.parameters() { p.setRequiresGrad(false) }
    }

    /// Updates every teacher parameter to m·teacher + (1 − m)·student, matched by key (DINO's and
    /// MoCo's momentum encoder). Both modules must have the same parameter keys and shapes.
    public static func emaUpdate(teacher: Module, student: Module, momentum m: Double) {
        let studentParams = Dictionary(uniqueKeysWithValues: student.namedParameters().map { ($0.name, $0.parameter) })
        noGrad {
            for (name, t) in teacher.namedParameters() {
                guard let s = studentParams[name], s.shape == t.shape else {
                    fail("emaUpdate", "student has no parameter \(name) of shape \(describe(t.shape))")
                }
                t.data.binaryInPlace(.mul, t.data.scalarLike(m))
                t.data.binaryInPlace(.add, s.data.converted(to: t.dtype) * (1 - m))
            }
        }
    }
}
