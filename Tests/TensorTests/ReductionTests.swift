import Testing
@testable import Tensor

@Suite struct ReductionTests {
    let r = Fixtures.op("reduce.x")

    @Test func matchNumPy() {
        expectClose(r.sum(axes: [0, 2]), Fixtures.op("reduce.sum_0_2"), atol: 1e-12)
        expectClose(r.mean(axis: 1), Fixtures.op("reduce.mean_1"), atol: 1e-12)
        expectClose(r.variance(axes: [2]), Fixtures.op("reduce.var_2"), atol: 1e-12)
        expectClose(r.standardDeviation(axes: [0, 1], unbiased: false), Fixtures.op("reduce.std_0_1"), atol: 1e-12)
        expectClose(r.max(axes: [1]), Fixtures.op("reduce.max_1"))
        #expect(r.argmax(axis: 2).doubles == Fixtures.op("reduce.argmax_2").doubles)
        expectClose(r.logSumExp(axes: [0, 2]), Fixtures.op("reduce.logsumexp_0_2"), atol: 1e-12)
        expectClose(r.norm(axes: [2]), Fixtures.op("reduce.norm_2"), atol: 1e-12)
        // float32 and a permuted (non-contiguous) input give the same sums.
        let p = r.converted(to: .float32).permuted([2, 0, 1])
        expectClose(p.sum(axes: [1, 0]).converted(to: .float64), Fixtures.op("reduce.sum_0_2"), atol: 1e-5)
    }

    @Test func keepDimShapes() {
        #expect(r.sum(axes: [0, 2], keepDim: true).shape == [1, 5, 1])
        #expect(r.mean(axes: [-1], keepDim: true).shape == [4, 5, 1])
        #expect(r.sum().shape == [])
        #expect(r.max(axis: 1, keepDim: true).indices.shape == [4, 1, 6])
    }

    @Test func maxWithIndicesAndTies() {
        let t = Tensor([[3.0, 7, 7], [-1, -5, -2]])
        let (v, i) = t.max(axis: 1)
        #expect(v.doubles == [7, -1])
        #expect(i.doubles == [1, 0])
        #expect(t.min(axis: 0).indices.doubles == [1, 1, 1])
        #expect(t.argmin(axis: 1).doubles == [0, 1])
        #expect(Tensor([1.0, .nan, 3]).max().item().isNaN)
    }

    @Test func largeFloatSumsAreAccurate() {
        let n = 3_000_001
        let x = Tensor.full([n], 0.1, dtype: .float32)
        #expect(Swift.abs(x.sum().item() - 300_000.1) / 300_000 < 1e-5)
        let ints = Tensor.ones([10], dtype: .int64)
        #expect(ints.sum().item() == 10)
        #expect((Tensor([1.0, 2]) .> 1).sum().item() == 1)
    }

    @Test func emptyReductions() {
        #expect(Tensor.zeros([0]).sum().item() == 0)
        #expect(Tensor.zeros([2, 0]).sum(axis: 1).doubles == [0, 0])
        #expect(Tensor.zeros([0]).mean().item().isNaN)
    }
}
