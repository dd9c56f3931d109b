import CBLAS

/// A factorisation that failed because of the values, not the shapes (a singular or indefinite matrix).
public struct LinearAlgebraError: Error, CustomStringConvertible {
    public let description: String
}

/// Dense linear algebra through LAPACKE (row-major, double precision inside; float32 inputs are
/// widened and the results narrowed back). Shape mistakes stop with a message like every op;
/// singular or indefinite matrices, which depend on the data, throw ``LinearAlgebraError``.
extension Tensor {
    /// Solves `A·X = B` for square `A` [n, n] and `B` [n] or [n, k] (LU with partial pivoting).
    public static func solve(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        check(a.rank == 2 && a.shape[0] == a.shape[1], "solve", "A must be square, got \(describe(a.shape))")
        check(b.rank >= 1 && b.rank <= 2 && b.shape[0] == a.shape[0], "solve",
              "B \(describe(b.shape)) does not match A \(describe(a.shape))")
        check(a.dtype == b.dtype && a.dtype.isFloatingPoint, "solve",
              "expects equal floating-point dtypes, got \(a.dtype) and \(b.dtype)")
        let n = a.shape[0], k = b.rank == 1 ? 1 : b.shape[1]
        var am = a.doubles, bm = b.doubles
        var pivots = [Int32](repeating: 0, count: n)
        let info = Tensor.withBLASThreads {
            LAPACKE_dgesv(LAPACK_ROW_MAJOR, Int32(n), Int32(k), &am, Int32(Swift.max(n, 1)), &pivots,
                          &bm, Int32(Swift.max(k, 1)))
        }
        if info > 0 {
            throw LinearAlgebraError(
                description: "solve: matrix \(describe(a.shape)) is singular (U[\(info - 1), \(info - 1)] = 0)")
        }
        return Tensor(bm, shape: b.shape).converted(to: a.dtype)
    }

    /// The lower-triangular `L` with `L·Lᵀ = A` for symmetric positive-definite `A`.
    public func cholesky() throws -> Tensor {
        check(rank == 2 && shape[0] == shape[1], "cholesky", "expects a square matrix, got \(describe(shape))")
        check(dtype.isFloatingPoint, "cholesky", "expects a floating-point matrix, got \(dtype)")
        let n = shape[0]
        var m = doubles
        let info = Tensor.withBLASThreads {
            LAPACKE_dpotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(n), &m, Int32(Swift.max(n, 1)))
        }
        if info > 0 {
            throw LinearAlgebraError(
                description: "cholesky: matrix \(describe(shape)) is not positive definite (minor \(info))")
        }
        for i in 0..<n { for j in (i + 1)..<Swift.max(n, i + 1) { m[i * n + j] = 0 } }
        return Tensor(m, shape: shape).converted(to: dtype)
    }

    /// Reduced QR: `Q` [m, k] with orthonormal columns and upper-triangular `R` [k, n], k = min(m, n).
    public func qr() -> (q: Tensor, r: Tensor) {
        check(rank == 2, "qr", "expects a matrix, got \(describe(shape))")
        check(dtype.isFloatingPoint, "qr", "expects a floating-point matrix, got \(dtype)")
        let m = shape[0], n = shape[1], k = Swift.min(m, n)
        var a = doubles
        var tau = [Double](repeating: 0, count: Swift.max(k, 1))
        _ = Tensor.withBLASThreads {
            LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, Int32(m), Int32(n), &a, Int32(Swift.max(n, 1)), &tau)
        }
        var r = [Double](repeating: 0, count: k * n)
        for i in 0..<k { for j in i..<n { r[i * n + j] = a[i * n + j] } }
        // Q: the first k columns of the reflectors, expanded in place.
        var q = [Double](repeating: 0, count: m * k)
        for i in 0..<m { for j in 0..<k { q[i * k + j] = a[i * n + j] } }
        if k > 0 {
            _ = Tensor.withBLASThreads {
                LAPACKE_dorgqr(LAPACK_ROW_MAJOR, Int32(m), Int32(k), Int32(k), &q, Int32(k), &tau)
            }
        }
        return (Tensor(q, shape: [m, k]).converted(to: dtype), Tensor(r, shape: [k, n]).converted(to: dtype))
    }

    /// Reduced SVD: `U` [m, k], singular values `S` [k] in descending order, `Vᵀ` [k, n].
    public func svd() throws -> (u: Tensor, s: Tensor, vt: Tensor) {
        check(rank == 2, "svd", "expects a matrix, got \(describe(shape))")
        check(dtype.isFloatingPoint, "svd", "expects a floating-point matrix, got \(dtype)")
        let m = shape[0], n = shape[1], k = Swift.min(m, n)
        var a = doubles
        var s = [Double](repeating: 0, count: k), u = [Double](repeating: 0, count: m * k),
            vt = [Double](repeating: 0, count: k * n)
        if k > 0 {
            let info = Tensor.withBLASThreads {
                LAPACKE_dgesdd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "S")), Int32(m), Int32(n), &a, Int32(n),
                               &s, &u, Int32(k), &vt, Int32(n))
            }
            if info > 0 { throw LinearAlgebraError(description: "svd: did not converge for \(describe(shape))") }
        }
        return (Tensor(u, shape: [m, k]).converted(to: dtype), Tensor(s, shape: [k]).converted(to: dtype),
                Tensor(vt, shape: [k, n]).converted(to: dtype))
    }

    /// Eigenvalues (ascending) and orthonormal eigenvectors (columns) of a symmetric matrix;
    /// only the lower triangle is read, as in `torch.linalg.eigh`.
    public func symmetricEigen() throws -> (values: Tensor, vectors: Tensor) {
        check(rank == 2 && shape[0] == shape[1], "symmetricEigen", "expects a square matrix, got \(describe(shape))")
        check(dtype.isFloatingPoint, "symmetricEigen", "expects a floating-point matrix, got \(dtype)")
        let n = shape[0]
        var a = doubles
        var w = [Double](repeating: 0, count: n)
        if n > 0 {
            let info = Tensor.withBLASThreads {
                LAPACKE_dsyevd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "L")),
                               Int32(n), &a, Int32(n), &w)
            }
            if info > 0 {
                throw LinearAlgebraError(description: "symmetricEigen: did not converge for \(describe(shape))")
            }
        }
        return (Tensor(w, shape: [n]).converted(to: dtype), Tensor(a, shape: [n, n]).converted(to: dtype))
    }
}

extension Tensor {
    /// The lower triangle of the last two axes (elements with column − row ≤ `diagonal`), zeros above.
    public func lowerTriangle(diagonal: Int = 0) -> Tensor {
        check(rank >= 2, "lowerTriangle", "expects a matrix, got \(describe(shape))")
        let rows = shape[rank - 2], cols = shape[rank - 1]
        let r = Tensor.arange(rows).reshaped([rows, 1]), c = Tensor.arange(cols).reshaped([1, cols])
        let keep = (c - r) .<= Tensor(scalar: Int64(diagonal))
        return Tensor.where(keep, self, zerosLike())
    }

    /// A square matrix with `self` (1-D) on its diagonal.
    public func diagonalMatrix() -> Tensor {
        check(rank == 1, "diagonalMatrix", "expects a vector, got \(describe(shape))")
        return Tensor.eye(shape[0], dtype: dtype) * unsqueezed(0)
    }
}
