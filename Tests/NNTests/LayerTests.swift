import Autograd
import Testing
@testable import NN
import Tensor

/// Forward values of every layer against PyTorch (float64 fixtures from scripts/make_nn_fixtures.py).
@Suite struct LayerTests {
    func load(_ module: Module, _ prefix: String) {
        #expect(throws: Never.self) { try module.loadStateDict(Reference.state(prefix), strict: false) }
    }

    @Test func linearOnRank3Input() {
        let linear = Linear(5, 4, dtype: .float64)
        load(linear, "linear")
        expectClose(linear(Variable(Reference.t("linear.x"))).data, Reference.t("linear.y"), atol: 1e-12)
    }

    @Test(arguments: ["conv_grouped", "conv_dilated", "conv_pointwise", "conv_7x7"])
    func conv2d(_ name: String) throws {
        let m = try #require(Reference.meta[name] as? [String: Int])
        let w = Reference.t("\(name).weight")
        let conv = Conv2d(w.shape[1] * m["groups"]!, w.shape[0], kernelSize: w.shape[2], stride: m["stride"]!,
                          padding: m["padding"]!, dilation: m["dilation"]!, groups: m["groups"]!, dtype: .float64)
        load(conv, name)
        expectClose(conv(Variable(Reference.t("\(name).x"))).data, Reference.t("\(name).y"), atol: 1e-12)
    }

    @Test func batchNormTrainingUpdatesRunningStatisticsThenEvalUsesThem() {
        let bn = BatchNorm2d(3, dtype: .float64)
        #expect(throws: Never.self) {
            try bn.loadStateDict(["weight": Reference.t("batchnorm.weight"), "bias": Reference.t("batchnorm.bias")],
                                 strict: false)
        }
        let y1 = bn(Variable(Reference.t("batchnorm.x1")))
        _ = bn(Variable(Reference.t("batchnorm.x2")))
        expectClose(y1.data, Reference.t("batchnorm.y1_train"), atol: 1e-12)
        expectClose(bn.runningMean!.value, Reference.t("batchnorm.running_mean"), atol: 1e-12)
        expectClose(bn.runningVar!.value, Reference.t("batchnorm.running_var"), atol: 1e-12)
        #expect(bn.numBatchesTracked!.value.item() == 2)
        bn.eval()
        expectClose(bn(Variable(Reference.t("batchnorm.x1"))).data, Reference.t("batchnorm.y_eval"), atol: 1e-12)
    }

    /// `bn(x, followedByReLU: true)` is `bn(x).relu()`, and `bn(x, adding: s, followedByReLU: true)` is
    /// `(bn(x) + s).relu()`, in training (one fused node) and evaluation; the running statistics agree.
    @Test func batchNormFollowedByReLU() {
        let (fused, twoOps) = (BatchNorm2d(3, dtype: .float64), BatchNorm2d(3, dtype: .float64))
        for bn in [fused, twoOps] {
            #expect(throws: Never.self) {
                try bn.loadStateDict(["weight": Reference.t("batchnorm.weight"), "bias": Reference.t("batchnorm.bias")],
                                     strict: false)
            }
        }
        let x = Variable(Reference.t("batchnorm.x1"))
        let y = fused(x, followedByReLU: true), reference = twoOps(x).relu()
        #expect(y.data.doubles == reference.data.doubles && y.data.doubles.contains(0))
        let shortcut = Variable(Reference.t("batchnorm.x2"))
        #expect(fused(x, adding: shortcut, followedByReLU: true).data.doubles
                == (twoOps(x) + shortcut).relu().data.doubles)
        #expect(fused.runningVar!.value.doubles == twoOps.runningVar!.value.doubles)
        for bn in [fused, twoOps] { bn.eval() }
        #expect(fused(x, followedByReLU: true).data.doubles == twoOps(x).relu().data.doubles)
        #expect(fused(x, adding: shortcut, followedByReLU: true).data.doubles
                == (twoOps(x) + shortcut).relu().data.doubles)
    }

    @Test func layerNorm() {
        let ln = LayerNorm(16, epsilon: 1e-6, dtype: .float64)
        load(ln, "layernorm")
        expectClose(ln(Variable(Reference.t("layernorm.x"))).data, Reference.t("layernorm.y"), atol: 1e-12)
        // The float32 kernel agrees to float32 precision.
        let ln32 = LayerNorm(16, epsilon: 1e-6)
        load(ln32, "layernorm")
        expectClose(ln32(Variable(Reference.t("layernorm.x").converted(to: .float32))).data, Reference.t("layernorm.y"),
                    atol: 1e-5)
    }

    @Test func pooling() {
        let x = Variable(Reference.t("pool.x"))
        expectClose(MaxPool2d(kernelSize: 3, stride: 2, padding: 1)(x).data, Reference.t("pool.max_k3s2p1"),
                    atol: 1e-12)
        expectClose(AvgPool2d(kernelSize: 3, stride: 2, padding: 1)(x).data, Reference.t("pool.avg_k3s2p1"),
                    atol: 1e-12)
        expectClose(AvgPool2d(kernelSize: 2, countIncludePad: false)(x).data, Reference.t("pool.avg_k2_nopad"),
                    atol: 1e-12)
        expectClose(AdaptiveAvgPool2d((3, 2))(x).data, Reference.t("pool.adaptive_3x2"), atol: 1e-12)
    }

    @Test func attentionMatchesTimmAndReturnsProbabilities() {
        let attention = Attention(16, heads: 4, qkvBias: true, dtype: .float64)
        load(attention, "attention")
        let (y, probabilities) = attention.attend(Variable(Reference.t("attention.x")))
        expectClose(y.data, Reference.t("attention.y"), atol: 1e-12)
        expectClose(probabilities, Reference.t("attention.probabilities"), atol: 1e-12)
    }

    @Test func weightNormLinearMatchesTorchWeightNorm() {
        let wn = WeightNormLinear(6, 5, dtype: .float64)
        load(wn, "weightnorm")
        #expect(wn.stateDictKeys() == ["weight_g", "weight_v"])
        expectClose(wn(Variable(Reference.t("weightnorm.x"))).data, Reference.t("weightnorm.y"), atol: 1e-12)
    }

    @Test func crossEntropyWithLabelSmoothingAndSoftTargets() {
        let logits = Variable(Reference.t("xent.logits"), requiresGrad: true)
        let smooth = Loss.crossEntropy(logits, labels: Reference.t("xent.labels"), labelSmoothing: 0.1)
        smooth.backward()
        expectClose(smooth.data, Reference.t("xent.loss_smooth"), atol: 1e-12)
        expectClose(logits.grad!, Reference.t("xent.grad_smooth"), atol: 1e-12)
        logits.grad = nil
        let soft = Loss.crossEntropy(logits, targetDistribution: Reference.t("xent.soft"))
        soft.backward()
        expectClose(soft.data, Reference.t("xent.loss_soft"), atol: 1e-12)
        expectClose(logits.grad!, Reference.t("xent.grad_soft"), atol: 1e-12)
    }

    @Test func crossEntropyStaysFiniteForHugeLogits() {
        let logits = Variable(Tensor([[1e4, -1e4, 0], [0, 3e4, -3e4]] as [[Float]]))
        let loss = Loss.crossEntropy(logits, labels: Tensor([Int64(1), 1]))
        #expect(loss.data.item().isFinite)
        #expect(Swift.abs(loss.data.item() - 1e4) < 1)
    }

    @Test func dinoSoftCrossEntropy() {
        let loss = Loss.softCrossEntropy(student: Variable(Reference.t("dino_ce.student")),
                                         teacher: Reference.t("dino_ce.teacher"),
                                         studentTemperature: 0.1, teacherTemperature: 0.04,
                                         center: Reference.t("dino_ce.center"))
        expectClose(loss.data, Reference.t("dino_ce.loss"), atol: 1e-10)
    }

    @Test func dropoutAndDropPathOnlyInTraining() {
        // A task-local generator: the process-wide one is shared with tests running in parallel.
        Random.withGenerator(RandomGenerator(seed: 3)) {
            let x = Variable(Tensor.ones([64, 10, 8], dtype: .float64))
            let drop = Dropout(0.25), path = DropPath(0.5)
            let y = drop(x).data.doubles
            #expect(Set(y).isSubset(of: [0, 1 / 0.75]))
            let kept = Double(y.filter { $0 != 0 }.count) / Double(y.count)
            #expect(Swift.abs(kept - 0.75) < 0.03)
            // DropPath zeroes whole samples.
            let z = path(x).data
            for i in 0..<64 {
                let sample = Set(z.select(axis: 0, index: i).doubles)
                #expect(sample == [0] || sample == [2])
            }
            drop.eval(); path.eval()
            #expect(drop(x).data.doubles == x.data.doubles && path(x).data.doubles == x.data.doubles)
        }
    }
}
