import Autograd
import Foundation
import Tensor
import Vision

/// Copy detection as DINO's `eval_copy_detection.py` evaluates it on Copydays: for each edited
/// query, find its original among the originals plus distractors. The descriptor is the class
/// token concatenated with GeM-pooled patch tokens, PCA-whitened on a separate image set, compared
/// by cosine similarity; each query scores the Holidays package's AP over its top-k list.
public enum CopyDetection {
    /// eval_copy_detection's descriptor from a ViT's last-layer tokens [B, 1 + N, D] (after the
    /// final norm, `get_intermediate_layers(n=1)[0]`): the class token, then the GeM pooling
    /// (mean of xᵖ, then ^(1/p), p = 4, with x clamped at 1e-6) of the N patch tokens: [B, 2D].
    public static func descriptor(tokens: Tensor, power: Double = 4) -> Tensor {
        check(tokens.rank == 3 && tokens.shape[1] >= 2, "CopyDetection.descriptor",
              "expects tokens [B, 1 + N, D] with N ≥ 1, got \(describe(tokens.shape))")
        let cls = tokens.select(axis: 1, index: 0)
        let gem = tokens.slice(axis: 1, start: 1).clamped(min: 1e-6).pow(power).mean(axes: [1]).pow(1 / power)
        return Tensor.concat([cls, gem], axis: 1)
    }

    /// The Holidays evaluation package's `score_ap_from_ranks_1`: the trapezoidal area under the
    /// precision-recall steps of one search, from the 0-based ranks (ascending) at which the
    /// `positives` true matches were retrieved; matches missing from the list add nothing.
    public static func averagePrecision(ranks: [Int], positives: Int) -> Double {
        guard positives > 0 else { return 0 }
        let step = 1 / Double(positives)
        var ap = 0.0
        for (found, rank) in ranks.enumerated() {
            let before = rank == 0 ? 1 : Double(found) / Double(rank)
            let after = Double(found + 1) / Double(rank + 1)
            ap += (before + after) * step / 2
        }
        return ap
    }

    /// The `k` most similar database rows of each query by cosine similarity, best first
    /// (`similarity.topk(k)` of the L2-normalised descriptors), with their similarities.
    public static func search(queries: Tensor, database: Tensor, k: Int)
        -> (indices: [[Int]], similarities: [[Double]]) {
        let similarity = Evaluation.l2Normalized(queries).matmul(Evaluation.l2Normalized(database).T)
        let (values, indices) = similarity.topK(Swift.min(k, database.shape[0]), axis: 1)
        let kk = indices.shape[1]
        let flat = indices.scalars(as: Int64.self).map { Int($0) }
        let sims = values.converted(to: .float64).contiguous().scalars(as: Double.self)
        return ((0..<queries.shape[0]).map { Array(flat[($0 * kk)..<(($0 + 1) * kk)]) },
                (0..<queries.shape[0]).map { Array(sims[($0 * kk)..<(($0 + 1) * kk)]) })
    }
}

/// PCA whitening as DINO's `utils.PCA` learns it for copy detection: the mean of a separate set
/// of descriptors is subtracted; the eigenvectors of their (uncentred) second-moment matrix XᵀX / n,
/// eigenvalues floored at 1e-5 × the largest and sorted in decreasing order, give the projection
/// P = diag(λ^−power) Vᵀ (power ½ whitens), optionally keeping the first `dimensions` rows.
public struct PCAWhitening: Sendable {
    /// The mean descriptor [D] subtracted before projecting.
    public let mean: Tensor
    /// P [dimensions, D].
    public let projection: Tensor
    /// The eigenvalues kept, largest first (after flooring).
    public let eigenvalues: [Double]

    /// Learns the whitening from `features` [n, D]; throws if the eigen-decomposition fails.
    public init(learningFrom features: Tensor, power: Double = 0.5, dimensions: Int? = nil) throws {
        check(features.rank == 2 && features.shape[0] >= 1, "PCAWhitening",
              "expects descriptors [n, D] with n ≥ 1, got \(describe(features.shape))")
        let d = features.shape[1]
        let kept = dimensions ?? d
        check((1...d).contains(kept), "PCAWhitening", "dimensions must be in 1...\(d), got \(kept)")
        let x = features.converted(to: .float64).contiguous()
        let covariance = x.T.matmul(x) / Double(x.shape[0])
        let (values, vectors) = try covariance.symmetricEigen()
        var lambda = values.scalars(as: Double.self)
        let floor = (lambda.max() ?? 0) * 1e-5
        lambda = lambda.map { Swift.max($0, floor) }
        // np.argsort(d)[::-1]: decreasing eigenvalue (ties: the later index first).
        let order = lambda.indices.sorted { lambda[$0] > lambda[$1] || (lambda[$0] == lambda[$1] && $0 > $1) }
            .prefix(kept)
        let v = vectors.indexSelect(axis: 1, indices: Tensor(order.map { Int64($0) }))  // [D, kept]
        let scale = Tensor(order.map { Foundation.pow(lambda[$0], -power) }).unsqueezed(1)  // [kept, 1]
        projection = (scale * v.T).converted(to: features.dtype).contiguous()
        mean = features.mean(axes: [0])
        eigenvalues = order.map { lambda[$0] }
    }

    /// Whitened descriptors (x − mean) Pᵀ [n, dimensions] (not normalised).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        check(x.rank == 2 && x.shape[1] == mean.shape[0], "PCAWhitening",
              "expects descriptors [n, \(mean.shape[0])], got \(describe(x.shape))")
        return (x - mean.unsqueezed(0)).matmul(projection.T)
    }
}
