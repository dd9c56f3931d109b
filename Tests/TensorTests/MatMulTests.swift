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

    /// Every float32 layout the products take (plain, transposed, sliced, accumulated, folded batches, one
    /// product per core, single-threaded inside a per-core region), on each backend, against float64.
    @Test(arguments: GEMMBackend.allCases) func float32ProductsMatchFloat64(on backend: GEMMBackend) {
        let g = RandomGenerator(seed: 5)
        func check(_ a: Tensor, _ b: Tensor, _ label: String) {
            let expected = a.converted(to: .float64).matmul(b.converted(to: .float64))
            let got = backend.run { a.matmul(b) }
            #expect(got.dtype == .float32, "\(label)")
            expectClose(got.converted(to: .float64), expected, atol: 1e-4, rtol: 1e-4)
        }
        // The last two are cut across cores, by rows and by columns (oneDNN's products over a million multiply-adds).
        for (m, k, n) in [(1, 1, 1), (3, 5, 2), (67, 130, 45), (300, 257, 190), (41, 200, 301)] {
            let a = Tensor.randn([m, k], generator: g), b = Tensor.randn([k, n], generator: g)
            check(a, b, "\(m)×\(k)·\(k)×\(n)")
            check(a.transposed().contiguous().transposed(), b, "aᵀ stored")
            check(a, b.transposed().contiguous().transposed(), "bᵀ stored")
            let wide = Tensor.randn([m, k + 7], generator: g)[.all, 3..<(k + 3)]
            check(wide, b, "a sliced (leading dimension \(k + 7))")
        }
        let x = Tensor.randn([4, 33, 40], generator: g), w = Tensor.randn([40, 24], generator: g)
        check(x, w, "batch folded into rows")
        let q = Tensor.randn([2, 3, 17, 16], generator: g), kt = Tensor.randn([2, 3, 16, 17], generator: g)
        check(q, kt, "one product per core")
        // beta = 1 accumulates, in a per-core region (serial products, one thread each).
        let a = Tensor.randn([2, 20, 30], generator: g), b = Tensor.randn([2, 30, 10], generator: g)
        let out = Tensor.randn([2, 20, 10], generator: g), start = out.converted(to: .float64)
        backend.run {
            Tensor.withSingleThreadedBLASPerCore { c in
                Tensor.gemm(a.select(axis: 0, index: c % 2), b.select(axis: 0, index: c % 2),
                            into: out.select(axis: 0, index: c % 2), beta: 1, serial: true)
            }
        }
        let done = Set((0..<coreCount).map { $0 % 2 })
        for i in done {
            expectClose(out[i].converted(to: .float64),
                        start[i] + a[i].converted(to: .float64).matmul(b[i].converted(to: .float64)),
                        atol: 1e-4, rtol: 1e-4)
        }
    }

    @Test func gemmBackendNamesItsEnvironmentVariable() {
        #expect(GEMMBackend(rawValue: "onednn") == .oneDNN && GEMMBackend(rawValue: "openblas") == .openBLAS)
        #expect(GEMMBackend.current == GEMMBackend.selected)
        #expect(GEMMBackend.openBLAS.run { GEMMBackend.current } == .openBLAS)
    }

    @Test func emptyInnerDimensionGivesZeros() {
        let y = Tensor.zeros([3, 0]).matmul(Tensor.zeros([0, 2]))
        #expect(y.shape == [3, 2])
        #expect(y.doubles == [0, 0, 0, 0, 0, 0])
    }
}
