import Testing
@testable import Autograd
import Tensor

@Suite struct ReductionGradientTests {
    let x = randn([3, 4, 5], seed: 20)

    @Test func sumsAndMeans() {
        expectGradients([x]) { $0[0].sum() }
        expectGradients([x]) { $0[0].sum(axes: [0, 2]) }
        expectGradients([x]) { $0[0].sum(axis: 1, keepDim: true) }
        expectGradients([x]) { $0[0].mean(axes: [2]) }
        expectGradients([x]) { $0[0].variance(axes: [1]) }
        expectGradients([x]) { $0[0].standardDeviation(axes: [0, 2], unbiased: false) }
    }

    @Test func extremaAndLogSumExp() {
        expectGradients([x]) { $0[0].max(axes: [1]) }
        expectGradients([x]) { $0[0].min() }
        expectGradients([x]) { $0[0].max(axis: 2).values }
        expectGradients([x]) { $0[0].min(axis: 0, keepDim: true).values }
        expectGradients([x]) { $0[0].logSumExp(axes: [0, 2]) }
        expectGradients([x]) { $0[0].logSumExp(axes: [1], keepDim: true) }
    }

    @Test func norms() {
        expectGradients([x]) { $0[0].norm() }
        expectGradients([x]) { $0[0].norm(2, axes: [2]) }
        expectGradients([x]) { $0[0].norm(1, axes: [0]) }
        expectGradients([x]) { $0[0].norm(.infinity, axes: [1]) }
        expectGradients([x]) { $0[0].norm(3, axes: [1]) }
    }

    @Test func tiesShareTheGradientLikePyTorch() {
        let v = Variable(Tensor([[1.0, 3, 3], [2, 0, 1]]), requiresGrad: true)
        v.max(axes: [1]).sum().backward()
        #expect(v.grad!.doubles == [0, 0.5, 0.5, 1, 0, 0])
        let w = Variable(Tensor([1.0, 1]), requiresGrad: true)
        w.maximum(Variable(Tensor([1.0, 0]))).sum().backward()
        #expect(w.grad!.doubles == [0.5, 1])
    }
}

@Suite struct ViewGradientTests {
    let x = randn([2, 3, 4], seed: 30)

    @Test func reshapesAndPermutations() {
        expectGradients([x]) { $0[0].reshaped([6, 4]).exp() }
        expectGradients([x]) { $0[0].permuted([2, 0, 1]).tanh() }
        expectGradients([x]) { $0[0].transposed(0, 2).sin() }
        expectGradients([x]) { $0[0].flattened(from: 1).exp() }
        expectGradients([x]) { $0[0].unsqueezed(1).squeezed().cos() }
        expectGradients([x]) { $0[0].permuted([1, 0, 2]).contiguous().reshaped([3, 8]).sigmoid() }
    }

    @Test func slicesAndIndexing() {
        expectGradients([x]) { $0[0].slice(axis: 2, start: -3, end: nil, step: 2).exp() }
        expectGradients([x]) { $0[0].select(axis: 1, index: -1).tanh() }
        expectGradients([x]) { $0[0][1, .all, 1..<3] * 2 }
        expectGradients([x]) { $0[0][.newAxis, .stride(from: 0, by: 2), 0].exp() }
    }

    @Test func expansion() {
        expectGradients([randn([3, 1], seed: 31)]) { $0[0].expanded(to: [2, 3, 4]).exp() }
    }
}
