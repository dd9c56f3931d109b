import Testing
@testable import Tensor

@Suite struct LinalgTests {
    let spd = Fixtures.op("linalg.spd"), rhs = Fixtures.op("linalg.rhs")

    @Test func solveAndCholeskyMatchNumPy() throws {
        expectClose(try Tensor.solve(spd, rhs), Fixtures.op("linalg.solve"), atol: 1e-12)
        let l = try spd.cholesky()
        expectClose(l, Fixtures.op("linalg.cholesky"), atol: 1e-12)
        expectClose(l.matmul(l.transposed()), spd, atol: 1e-12)
        let x32 = try Tensor.solve(spd.converted(to: .float32), rhs.converted(to: .float32).select(axis: 1, index: 0))
        expectClose(x32.converted(to: .float64),
                    Fixtures.op("linalg.solve").select(axis: 1, index: 0).contiguous(), atol: 1e-5)
    }

    @Test func eigenAndSingularValuesMatchNumPy() throws {
        let (w, v) = try spd.symmetricEigen()
        expectClose(w, Fixtures.op("linalg.eigvalsh"), atol: 1e-10)
        expectClose(v.matmul(w.diagonalMatrix()).matmul(v.transposed()), spd, atol: 1e-10)
        let g = Fixtures.op("linalg.general")
        let (u, s, vt) = try g.svd()
        expectClose(s, Fixtures.op("linalg.singular_values"), atol: 1e-12)
        expectClose(u.matmul(s.diagonalMatrix()).matmul(vt), g, atol: 1e-12)
        expectClose(u.transposed().matmul(u), Tensor.eye(4, dtype: .float64), atol: 1e-12)
    }

    @Test func qrReconstructs() {
        let g = Fixtures.op("linalg.general")
        let (q, r) = g.qr()
        #expect(q.shape == [6, 4] && r.shape == [4, 4])
        expectClose(q.matmul(r), g, atol: 1e-12)
        expectClose(q.transposed().matmul(q), Tensor.eye(4, dtype: .float64), atol: 1e-12)
        expectClose(r.lowerTriangle(diagonal: -1), Tensor.zeros([4, 4], dtype: .float64), atol: 0)
    }

    @Test func singularAndIndefiniteMatricesThrow() {
        let singular = Tensor([[1.0, 2], [2, 4]])
        #expect(throws: LinearAlgebraError.self) { try Tensor.solve(singular, Tensor([1.0, 1])) }
        #expect(throws: LinearAlgebraError.self) { try Tensor([[1.0, 2], [2, 1]]).cholesky() }
    }
}
