import Testing
@testable import Tensor

@Suite struct MatMulTests {
    @Test func handComputed() {
        let a = Tensor([[1.0, 2], [3, 4]]), b = Tensor([[5.0, 6], [7, 8]])
        #expect(a.matmul(b).doubles == [19, 22, 43, 50])
        #expect(Tensor([1.0, 2]).matmul(Tensor([3.0, 4])).item() == 11)
        #expect(Tensor([1.0, 2]).matmul(b).doubles == [19, 22])
        #expect(a.matmul(Tensor([1.0, 1])).doubles == [3, 7])
    }

    @Test func batchedBroadcastMatchesNumPy() {
        let a = Fixtures.op("matmul.a"), b = Fixtures.op("matmul.b")
        expectClose(a.matmul(b), Fixtures.op("matmul.ab"), atol: 1e-12)
        expectClose(a.converted(to: .float32).matmul(b.converted(to: .float32)).converted(to: .float64),
                    Fixtures.op("matmul.ab"), atol: 1e-5)
    }

    @Test func transposedAndSlicedOperandsNeedNoCopy() {
        let g = RandomGenerator(seed: 3)
        let a = Tensor.randn([7, 5], dtype: .float64, generator: g),
            b = Tensor.randn([6, 7], dtype: .float64, generator: g)
        let expected = a.transposed().contiguous().matmul(b.transposed().contiguous())
        #expect(BLASOperand(a.transposed()) != nil && BLASOperand(a.transposed())!.transposed)
        expectClose(a.transposed().matmul(b.transposed()), expected, atol: 1e-12)
        // A column slice keeps a row stride larger than its width: the leading dimension handles it.
        let wide = Tensor.randn([5, 9], dtype: .float64, generator: g)
        let sliced = wide[.all, 2..<7]
        #expect(BLASOperand(sliced) != nil)
        expectClose(sliced.matmul(a.transposed()), sliced.contiguous().matmul(a.transposed().contiguous()), atol: 1e-12)
        // A stepped slice has no BLAS layout and is copied first, still correctly.
        let stepped = wide[.all, .stride(from: 0, by: 2)]
        #expect(BLASOperand(stepped) == nil)
        expectClose(stepped.matmul(Tensor.ones([5, 2], dtype: .float64)),
                    stepped.contiguous().matmul(Tensor.ones([5, 2], dtype: .float64)))
    }

    @Test func foldedAndParallelBatchesAgreeWithLoop() {
        let g = RandomGenerator(seed: 4)
        let x = Tensor.randn([4, 6, 8], generator: g), w = Tensor.randn([8, 3], generator: g)
        let y = x.matmul(w)   // folds the batch into one GEMM
        for i in 0..<4 { expectClose(y[i], x[i].matmul(w), atol: 1e-5) }
        let q = Tensor.randn([2, 3, 5, 4], generator: g), k = Tensor.randn([2, 3, 5, 4], generator: g)
        let s = q.matmul(k.transposed())  // 6 small products across cores
        for i in 0..<2 { for j in 0..<3 { expectClose(s[i, j], q[i, j].matmul(k[i, j].transposed()), atol: 1e-5) } }
    }

    @Test func emptyInnerDimensionGivesZeros() {
        let y = Tensor.zeros([3, 0]).matmul(Tensor.zeros([0, 2]))
        #expect(y.shape == [3, 2])
        #expect(y.doubles == [0, 0, 0, 0, 0, 0])
    }
}
