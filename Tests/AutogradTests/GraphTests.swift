import Foundation
import Testing
@testable import Autograd
import Tensor

@Suite struct GraphTests {
    /// The gradient-ready hook runs once per backward pass, after the last contribution (a leaf used
    /// twice sees its full gradient), not for leaves outside the graph, and for a leaf root.
    @Test func gradientReadyHookRunsOnceWithTheFinalGradient() {
        let x = Variable(Tensor([1.0, -2, 3]), requiresGrad: true)
        let unused = Variable(Tensor([1.0]), requiresGrad: true)
        var seen: [[Double]] = []
        x.onGradientReady = { seen.append($0.grad!.doubles) }
        unused.onGradientReady = { _ in seen.append([-1]) }
        let y = (x * x).sum() + (x * 3).sum()
        _ = unused * 2
        y.backward()
        #expect(seen == [[5, -1, 9]])
        x.onGradientReady = { _ in seen.append([0]) }
        x.backward(Tensor([1.0, 1, 1]))
        #expect(seen.last == [0])
    }

    @Test func aTensorUsedTwiceAccumulates() {
        let x = Variable(Tensor([1.0, -2, 3]), requiresGrad: true)
        (x * x + x).sum().backward()
        #expect(x.grad!.doubles == [3, -3, 7])
    }

    @Test func leafGradientsAccumulateAcrossBackwardCalls() {
        let x = Variable(Tensor([2.0]), requiresGrad: true)
        (x * 3).sum().backward()
        (x * x).sum().backward()
        #expect(x.grad!.doubles == [7])
    }

    @Test func explicitOutputGradient() {
        let x = Variable(Tensor([1.0, 2]), requiresGrad: true)
        (x * 2).backward(Tensor([10.0, -1]))
        #expect(x.grad!.doubles == [20, -2])
    }

    @Test func noGradAndDetachRecordNothing() {
        let x = Variable(Tensor([1.0]), requiresGrad: true)
        let y = noGrad { x * 2 }
        #expect(!y.requiresGrad && y.isLeaf)
        let z = x.detached() * 2
        #expect(!z.requiresGrad)
        let w = (x * 2 + x.detached() * 5).sum()
        w.backward()
        #expect(x.grad!.doubles == [2])
        #expect(GradMode.isEnabled)
    }

    @Test func inputsThatDoNotRequireGradGetNone() {
        let x = Variable(Tensor([1.0]), requiresGrad: true), c = Variable(Tensor([5.0]))
        (x * c).sum().backward()
        #expect(c.grad == nil)
        #expect(x.grad!.doubles == [5])
    }

    @Test func graphIsReleasedAfterBackwardUnlessRetained() {
        let x = Variable(Tensor([1.0, 2]), requiresGrad: true)
        let y = (x.exp() * 2).sum()
        y.backward(retainGraph: true)
        #expect(y.node!.edges.count == 1)
        y.backward()
        #expect(x.grad!.doubles == Tensor([1.0, 2]).exp().doubles.map { $0 * 4 })
        #expect(y.node!.edges.isEmpty)
    }

    @Test func graphKeepsOnlyWhatRulesCapture() {
        let x = Variable(Tensor([1.0, 2]), requiresGrad: true)
        weak var sum: Variable?
        weak var product: Variable?
        let y: Variable = {
            let s = x + x, p = s * 3  // neither rule needs its inputs' values: the variables can go
            (sum, product) = (s, p)
            return p.exp().sum()
        }()
        #expect(sum == nil && product == nil)
        y.backward()
        #expect(x.grad!.doubles == [6 * Foundation.exp(6.0), 6 * Foundation.exp(12.0)])
    }

    /// A norm's rule reads its input and statistics, never its output: a result struct captured whole
    /// kept every batch norm's output alive until the backward (ResNet-50: a third of its activations).
    @Test func normRulesDoNotKeepTheirOutputs() {
        let x = Variable(Tensor.randn([4, 3, 5, 5], generator: RandomGenerator(seed: 1)), requiresGrad: true)
        let w = Variable(Tensor.ones([3]), requiresGrad: true), b = Variable(Tensor.zeros([3]), requiresGrad: true)
        let norms: [(Variable) -> Variable] = [
            { $0.batchNorm(weight: w, bias: b).output },
            { $0.batchNorm(weight: w, bias: b, sumOverProcesses: { $0 }).output },
            { $0.layerNorm(weight: nil, bias: nil) },
        ]
        // A shortcut added in the norm's pass is not kept either (a downsampling one is used nowhere else).
        weak var shortcut: TensorStorage?
        let z: Variable = {
            let s = Variable(Tensor.randn([4, 3, 5, 5]), requiresGrad: true) * 2
            shortcut = s.data.storage
            return x.batchNorm(weight: w, bias: b, adding: s, followedByReLU: true).output.sum()
        }()
        #expect(shortcut == nil)
        z.backward()
        for norm in norms {
            weak var output: TensorStorage?
            let y: Variable = {
                let normalised = norm(x)
                output = normalised.data.storage
                return normalised.relu().sum()
            }()
            #expect(output == nil)
            y.backward()
        }
        #expect(x.grad != nil)
    }

    @Test func secondBackwardOnAFreedGraphStopsWithAMessage() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Variable(Tensor([1.0]), requiresGrad: true)
            let y = (x * x).sum()
            y.backward()
            y.backward()
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("already freed"))
    }

    @Test func nonScalarBackwardNeedsAGradient() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            (Variable(Tensor([1.0, 2]), requiresGrad: true) * 2).backward()
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("backward: gradient can be implied only for one-element outputs, got shape [2]"))
    }

    @Test func retainsGradKeepsIntermediateGradients() {
        let x = Variable(Tensor([3.0]), requiresGrad: true)
        let h = x * 2
        h.retainsGrad = true
        (h * h).sum().backward()
        #expect(h.grad!.doubles == [12])
        #expect(x.grad!.doubles == [24])
    }

    @Test func deepGraphsNeedNoRecursion() {
        let x = Variable(Tensor([1.0]), requiresGrad: true)
        var y = x
        for _ in 0..<20_000 { y = y * 1.0001 }
        y.sum().backward()
        #expect(Swift.abs(x.grad!.item() - Foundation.pow(1.0001, 20_000)) < 1e-6)
    }

    /// The gradient check itself must catch a wrong rule (a test that cannot fail is a defect).
    @Test func gradCheckCatchesAWrongRule() {
        func wrongSquare(_ v: Variable) -> Variable {
            let x = v.data
            return Variable.recordFirstOrder("wrongSquare", x * x, inputs: [v]) { g in [g * x] }  // should be 2x
        }
        let result = gradCheck({ wrongSquare($0[0]) }, inputs: [randn([3], seed: 1)])
        #expect(!result.passed)
        #expect(result.firstFailure!.contains("wrongSquare"))
        let good = gradCheck({ $0[0].square() }, inputs: [randn([3], seed: 1)])
        #expect(good.passed && good.maxAbsoluteError < 1e-8)
    }
}
