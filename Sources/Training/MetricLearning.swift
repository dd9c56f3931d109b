import Foundation
import Tensor
import Vision

/// Metric-learning evaluation as IRT and the deep metric learning literature report it on
/// CUB-200, Cars-196 and Stanford Online Products: every test image queries all the others
/// (itself excluded) by cosine similarity of its embedding.
public enum MetricLearning {
    /// Each query's `k` nearest other samples by cosine similarity, best first (the query excluded).
    public static func neighbours(of embeddings: Tensor, k: Int) -> [[Int]] {
        let n = embeddings.shape[0]
        check(embeddings.rank == 2 && n >= 2, "MetricLearning", "expects embeddings [N, D] with N ≥ 2, "
              + "got \(describe(embeddings.shape))")
        let x = Evaluation.l2Normalized(embeddings.converted(to: .float64))
        // The query itself is pushed below every other sample (similarities are ≥ −1).
        let similarity = x.matmul(x.T) - Tensor.eye(n, dtype: .float64) * 3
        let kk = Swift.min(k, n - 1)
        let indices = similarity.topK(kk, axis: 1).indices.scalars(as: Int64.self).map { Int($0) }
        return (0..<n).map { Array(indices[($0 * kk)..<(($0 + 1) * kk)]) }
    }

    /// For each sample, how many other samples share its label.
    static func sameClassOthers(_ labels: [Int]) -> [Int] {
        var counts: [Int: Int] = [:]
        for label in labels { counts[label, default: 0] += 1 }
        return labels.map { counts[$0]! - 1 }
    }

    /// Recall@K: the share of queries with at least one sample of their class among their K
    /// nearest others, for each K of `ks` (1, 2, 4, 8 as on CUB-200). Queries whose class has no
    /// other sample are left out, as pytorch-metric-learning's AccuracyCalculator leaves them out
    /// (its `precision_at_1` is Recall@1).
    public static func recall(embeddings: Tensor, labels: [Int], ks: [Int] = [1, 2, 4, 8]) -> [Double] {
        check(embeddings.shape[0] == labels.count && ks.allSatisfy { $0 >= 1 }, "MetricLearning.recall",
              "expects one label per embedding and K ≥ 1, got \(labels.count) labels for "
              + "\(describe(embeddings.shape)), K \(ks)")
        let others = sameClassOthers(labels)
        let queries = labels.indices.filter { others[$0] > 0 }
        let nearest = neighbours(of: embeddings, k: ks.max() ?? 1)
        return ks.map { k in
            Double(queries.filter { q in nearest[q].prefix(k).contains { labels[$0] == labels[q] } }.count)
                / Double(Swift.max(queries.count, 1))
        }
    }

    /// mAP@R (Musgrave et al., "A Metric Learning Reality Check"; pytorch-metric-learning's
    /// `mean_average_precision_at_r`): for a query with R other samples of its class, the mean over
    /// its R nearest others of the precision at each rank that holds one of them; averaged over the
    /// queries whose class has another sample.
    public static func meanAveragePrecisionAtR(embeddings: Tensor, labels: [Int]) -> Double {
        check(embeddings.shape[0] == labels.count, "MetricLearning.meanAveragePrecisionAtR",
              "expects one label per embedding, got \(labels.count) for \(describe(embeddings.shape))")
        let r = sameClassOthers(labels)
        let nearest = neighbours(of: embeddings, k: r.max() ?? 1)
        var total = 0.0, queries = 0
        for q in labels.indices where r[q] > 0 {
            var hits = 0, sum = 0.0
            for (rank, j) in nearest[q].prefix(r[q]).enumerated() where labels[j] == labels[q] {
                hits += 1
                sum += Double(hits) / Double(rank + 1)
            }
            total += sum / Double(r[q])
            queries += 1
        }
        return queries == 0 ? 0 : total / Double(queries)
    }
}

extension MetricLearning {
    /// The class-disjoint split of metric learning (CUB-200: the first 100 classes train, the
    /// other 100 test): the samples of `dataset` whose class is in the first half of its classes
    /// (`testHalf` false) or in the second half.
    public static func classHalf<D: ImageDataset>(of dataset: D, testHalf: Bool) -> Subset<D> {
        let half = dataset.classes.count / 2
        return Subset(dataset, indices: (0..<dataset.count).filter { (dataset.label(at: $0) >= half) == testHalf })
    }
}
