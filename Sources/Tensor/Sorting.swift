/// Sorting along an axis: `argsort`, `sorted` and `topK`, as `torch.argsort`, `torch.sort` and
/// `torch.topk`. Sorts are stable (ties keep their index order, `torch.sort(stable=True)`); NaN
/// sorts after every number ascending and before every number descending, as in PyTorch.
extension Tensor {
    /// The indices [same shape, int64] that sort each row along `axis`.
    public func argsort(axis: Int = -1, descending: Bool = false) -> Tensor {
        sortedRows(axis: axis, keep: nil, descending: descending).indices
    }

    /// The values and indices of each row along `axis`, sorted.
    public func sorted(axis: Int = -1, descending: Bool = false) -> (values: Tensor, indices: Tensor) {
        sortedRows(axis: axis, keep: nil, descending: descending)
    }

    /// The `k` largest (or smallest) values along `axis` and their indices, in sorted order.
    public func topK(_ k: Int, axis: Int = -1, largest: Bool = true) -> (values: Tensor, indices: Tensor) {
        let a = normalizeAxis(axis, rank: rank, op: "topK")
        check(k >= 0 && k <= shape[a], "topK", "k = \(k) must be in 0...\(shape[a]) (the size of axis \(a))")
        return sortedRows(axis: a, keep: k, descending: largest)
    }

    /// Moves `axis` last, sorts each row of the first `keep` (all if nil) and moves it back.
    private func sortedRows(axis: Int, keep: Int?, descending: Bool) -> (values: Tensor, indices: Tensor) {
        let a = normalizeAxis(axis, rank: rank, op: "sort")
        let order = Array((0..<rank).filter { $0 != a }) + [a]
        let rows = permuted(order).contiguous().converted(to: .float64)
        let n = shape[a], k = keep ?? n, count = n == 0 ? 0 : rows.count / n
        var outShape = rows.shape
        outShape[outShape.count - 1] = k
        let values = Tensor(empty: outShape, dtype: .float64), indices = Tensor(empty: outShape, dtype: .int64)
        let source = SendablePointer(rows.pointer(as: Double.self))
        let vp = SendablePointer(values.pointer(as: Double.self)), ip = SendablePointer(indices.pointer(as: Int64.self))
        parallelChunks(count, costPerItem: n * 8) { range in
            for r in range {
                let row = source.p + r * n
                // Total order with NaN as the largest value; stable for equal values.
                func before(_ i: Int, _ j: Int) -> Bool {
                    let (x, y) = (row[i], row[j])
                    if x.isNaN || y.isNaN { return descending ? x.isNaN && !y.isNaN : !x.isNaN && y.isNaN }
                    return descending ? x > y : x < y
                }
                var index = Array(0..<n)
                Self.stableSort(&index, by: before)
                for j in 0..<k {
                    vp.p[r * k + j] = row[index[j]]
                    ip.p[r * k + j] = Int64(index[j])
                }
            }
        }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return (values.converted(to: dtype).permuted(inverse).contiguous(), indices.permuted(inverse).contiguous())
    }

    /// Merge sort: Swift's `sort` is not guaranteed stable.
    private static func stableSort(_ a: inout [Int], by before: (Int, Int) -> Bool) {
        guard a.count > 1 else { return }
        var buffer = a
        var width = 1
        while width < a.count {
            var start = 0
            while start < a.count {
                let mid = Swift.min(start + width, a.count), end = Swift.min(start + 2 * width, a.count)
                var (i, j, o) = (start, mid, start)
                while i < mid && j < end {
                    if before(a[j], a[i]) { buffer[o] = a[j]; j += 1 } else { buffer[o] = a[i]; i += 1 }
                    o += 1
                }
                while i < mid { buffer[o] = a[i]; i += 1; o += 1 }
                while j < end { buffer[o] = a[j]; j += 1; o += 1 }
                start = end
            }
            swap(&a, &buffer)
            width *= 2
        }
    }
}
