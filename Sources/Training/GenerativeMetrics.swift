import Foundation
import Tensor

/// Metrics of generated images from the features and class probabilities of a feature network —
/// Inception-v3's in the papers; here any network, so a user with Inception weights can pass its
/// features, and a classifier trained on the data set serves where Inception cannot be downloaded.
public enum GenerativeMetrics {
    /// The mean [d] and covariance [d, d] (unbiased, as `np.cov(rowvar=False)`) of features [n, d].
    public static func gaussianStatistics(_ features: Tensor) throws -> (mean: Tensor, covariance: Tensor) {
        try ConfigurationError.require(features.rank == 2 && features.shape[0] >= 2, "features",
                                       describe(features.shape), "must be [n, d] with at least 2 rows")
        let x = features.converted(to: .float64)
        try ConfigurationError.require(x.doubles.allSatisfy(\.isFinite), "features", "non-finite values",
                                       "must all be finite")
        let mean = x.mean(axes: [0])
        let centred = x - mean
        return (mean, centred.transposed().matmul(centred) / Double(x.shape[0] - 1))
    }

    /// The Fréchet distance ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½) between two Gaussians
    /// (FID on Inception features). Tr (Σ₁Σ₂)^½ is Σ √λ over the eigenvalues λ of the
    /// symmetric Σ₁^½·Σ₂·Σ₁^½, which has those of Σ₁Σ₂: two symmetric eigendecompositions
    /// instead of SciPy's general `sqrtm`,
    /// and the same value (λ below 0 by rounding count as 0).
    public static func frechetDistance(mean1: Tensor, covariance1: Tensor, mean2: Tensor,
                                       covariance2: Tensor) throws -> Double {
        let d = mean1.count
        let shapesMatch = mean2.count == d && covariance1.shape == [d, d] && covariance2.shape == [d, d]
        let shapes = [mean1, covariance1, mean2, covariance2].map { describe($0.shape) }.joined(separator: ", ")
        try ConfigurationError.require(shapesMatch, "statistics", shapes,
                                       "must be means [d] and covariances [d, d] of one d")
        let (s1, s2) = (covariance1.converted(to: .float64), covariance2.converted(to: .float64))
        let root = try s1.symmetricSquareRoot()
        let (values, _) = try root.matmul(s2).matmul(root).symmetrised().symmetricEigen()
        let traceOfRoot = values.doubles.reduce(0) { $0 + Swift.max($1, 0).squareRoot() }
        let difference = mean1.converted(to: .float64) - mean2.converted(to: .float64)
        return (difference * difference).sum().item() + s1.trace() + s2.trace() - 2 * traceOfRoot
    }

    /// The Fréchet distance between the Gaussians fitted to two sets of features [n, d] and [m, d].
    public static func frechetDistance(_ a: Tensor, _ b: Tensor) throws -> Double {
        let (first, second) = (try gaussianStatistics(a), try gaussianStatistics(b))
        try ConfigurationError.require(a.shape[1] == b.shape[1], "features",
                                       "\(describe(a.shape)) and \(describe(b.shape))", "must have the same width")
        return try frechetDistance(mean1: first.mean, covariance1: first.covariance, mean2: second.mean,
                                   covariance2: second.covariance)
    }

    /// The Inception Score exp(E KL(p(y|x) ‖ p(y))) of class probabilities [n, classes], over `splits`
    /// consecutive parts of the rows: their mean and (population) standard deviation, as the
    /// original implementation (`inception_score.py`) computes them.
    public static func inceptionScore(probabilities: Tensor,
                                      splits: Int = 10) throws -> (mean: Double, std: Double) {
        try ConfigurationError.require(probabilities.rank == 2, "probabilities", describe(probabilities.shape),
                                       "must be [n, classes]")
        let n = probabilities.shape[0]
        try ConfigurationError.require(splits >= 1 && splits <= n, "splits", splits,
                                       "must lie in 1...\(n) (the rows)")
        let p = probabilities.converted(to: .float64)
        try ConfigurationError.require(p.doubles.allSatisfy { $0 >= 0 && $0.isFinite }, "probabilities",
                                       "negative or non-finite values", "must be probabilities")
        let scores = (0..<splits).map { k -> Double in
            let size = n / splits  // ⌊n / splits⌋ rows each, the remainder unused, as the original
            let part = p.slice(axis: 0, start: k * size, end: (k + 1) * size)
            let marginal = part.mean(axes: [0], keepDim: true)
            // KL(p ‖ q) = Σ p·log(p/q), with 0·log 0 = 0 (as scipy.stats.entropy).
            let ratio = Tensor.where(part .> 0, (part / marginal).log(), part.zerosLike())
            return Foundation.exp((part * ratio).sum(axes: [1]).mean().item())
        }
        let mean = scores.reduce(0, +) / Double(splits)
        let variance = scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(splits)
        return (mean, variance.squareRoot())
    }
}

extension Tensor {
    /// The symmetric positive semi-definite square root V·diag(√max(λ, 0))·Vᵀ of a symmetric matrix.
    func symmetricSquareRoot() throws -> Tensor {
        let (values, vectors) = try symmetrised().symmetricEigen()
        return (vectors * values.map(.relu).sqrt()).matmul(vectors.transposed())
    }

    /// (A + Aᵀ)/2: removes the rounding asymmetry of products such as S·B·S.
    func symmetrised() -> Tensor { (self + transposed()) * 0.5 }

    /// The sum of the diagonal of a square matrix.
    func trace() -> Double { (0..<shape[0]).reduce(0) { $0 + self[$1, $1].item() } }
}
