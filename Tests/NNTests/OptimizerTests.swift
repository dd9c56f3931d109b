import Autograd
import Testing
@testable import NN
import Tensor

/// Optimisers, clipping and schedules against PyTorch (scripts/make_nn_fixtures.py).
@Suite struct OptimizerTests {
    /// Three steps with the fixture's fixed gradients on two groups (lr 0.1 / wd 0.05 and lr 0.05 / wd 0).
    func run(_ make: ([ParameterGroup]) -> Optimizer, steps: Range<Int> = 0..<3,
             resumeFrom state: [String: Tensor]? = nil,
             start: (Tensor, Tensor)? = nil) -> (w: Variable, b: Variable, optimizer: Optimizer) {
        let w = Variable.parameter((start?.0 ?? Reference.t("optim.w0")).copy())
        let b = Variable.parameter((start?.1 ?? Reference.t("optim.b0")).copy())
        let optimizer = make([ParameterGroup([w], learningRate: 0.1, weightDecay: 0.05),
                              ParameterGroup([b], learningRate: 0.05)])
        if let state { try! optimizer.loadStateDict(state) }
        for t in steps {
            w.grad = Reference.t("optim.gw\(t)").copy()
            b.grad = Reference.t("optim.gb\(t)").copy()
            optimizer.step()
        }
        return (w, b, optimizer)
    }

    static var optimizers: [(String, ([ParameterGroup]) -> Optimizer)] { [
        ("sgd", { SGD($0, momentum: 0.9, nesterov: true) }),
        ("sgd_plain", { SGD($0) }),
        ("adamw", { AdamW($0, beta1: 0.9, beta2: 0.95) }),
        ("lars", { LARS($0) }),
    ] }

    @Test(arguments: 0..<4)
    func matchesPyTorch(_ index: Int) {
        let (name, make) = Self.optimizers[index]
        let (w, b, _) = run(make)
        expectClose(w.data, Reference.t("optim.\(name).w"), atol: 1e-12)
        expectClose(b.data, Reference.t("optim.\(name).b"), atol: 1e-12)
    }

    @Test(arguments: 0..<4)
    func resumesExactlyFromItsStateDict(_ index: Int) {
        let (name, make) = Self.optimizers[index]
        let first = run(make, steps: 0..<1)
        let resumed = run(make, steps: 1..<3, resumeFrom: first.optimizer.stateDict(),
                          start: (first.w.data, first.b.data))
        expectClose(resumed.w.data, Reference.t("optim.\(name).w"), atol: 1e-12)
        expectClose(resumed.b.data, Reference.t("optim.\(name).b"), atol: 1e-12)
        #expect(resumed.optimizer.stepCount == 3)
    }

    /// Float32 AdamW runs each CPU level's vectorised kernel (a length past a multiple of 16 and split across
    /// cores): every level gives the same bits, and float64's loop the same values within float rounding.
    @Test func adamWFloat32MatchesFloat64AtEveryLevel() {
        let start = Tensor.randn([20_011], generator: RandomGenerator(seed: 11))
        let gradients = (0..<3).map { Tensor.randn([20_011], generator: RandomGenerator(seed: 12 + UInt64($0))) }
        func train(_ dtype: DType) -> Tensor {
            let p = Variable.parameter(start.converted(to: dtype).copy())
            let adam = AdamW([ParameterGroup([p], learningRate: 0.01, weightDecay: 0.05)])
            for g in gradients {
                p.grad = g.converted(to: dtype)
                adam.step()
            }
            return p.data
        }
        let reference = train(.float64)
        let results = KernelLevel.supported.map { level in level.run { train(.float32) } }
        for result in results {
            #expect(result.scalars(as: Float.self) == results[0].scalars(as: Float.self))
            expectClose(result.converted(to: .float64), reference, atol: 1e-6, rtol: 1e-5)
        }
    }

    @Test func parametersWithoutGradientsAreSkipped() {
        let p = Variable.parameter(Tensor.ones([2])), q = Variable.parameter(Tensor.ones([2]))
        let adam = AdamW([ParameterGroup([p, q], learningRate: 0.1)])
        p.grad = Tensor.ones([2])
        adam.step()
        #expect(q.data.doubles == [1, 1] && p.data.doubles != [1, 1])
    }

    @Test func clipGlobalNorm() {
        let p1 = Variable.parameter(Tensor.zeros([3, 4], dtype: .float64)),
            p2 = Variable.parameter(Tensor.zeros([5], dtype: .float64))
        p1.grad = Reference.t("clip.g1").copy()
        p2.grad = Reference.t("clip.g2").copy()
        let norm = clipGradientNorm([p1, p2], maxNorm: 1.5)
        #expect(Swift.abs(norm - Reference.t("clip.norm").item()) < 1e-12)
        expectClose(p1.grad!, Reference.t("clip.c1"), atol: 1e-12)
        expectClose(p2.grad!, Reference.t("clip.c2"), atol: 1e-12)
    }

    @Test func clipPerParameterAsDINO() {
        let p = Variable.parameter(Tensor.zeros([2])), q = Variable.parameter(Tensor.zeros([2]))
        p.grad = Tensor([Float(3), 4])
        q.grad = Tensor([Float(0.3), 0.4])
        let norms = clipGradientsPerParameter([p, q], clip: 1)
        #expect(norms.map { ($0 * 100).rounded() } == [500, 50])
        expectClose(p.grad!, [0.6, 0.8], atol: 1e-5)
        expectClose(q.grad!, [0.3, 0.4], atol: 1e-7)
    }

    @Test func cosineScheduleMatchesDINO() {
        let schedule = Schedule.cosine(base: 5e-4, final: 1e-6, epochs: 10, iterationsPerEpoch: 7, warmupEpochs: 2)
        expectClose(Tensor(schedule), Reference.t("schedule.cosine"), atol: 1e-15)
        #expect(schedule.count == 70)
    }

    @Test func emaUpdateMovesTeacherTowardStudent() {
        let teacher = Linear(2, 2), student = Linear(2, 2)
        let t0 = teacher.weight.data.copy(), s = student.weight.data
        Schedule.emaUpdate(teacher: teacher, student: student, momentum: 0.9)
        expectClose(teacher.weight.data, t0 * 0.9 + s * 0.1, atol: 1e-7)
    }
}
