import Autograd
import NN
import Tensor
import Vision
import Zoo

/// FID and Inception Score on a classifier of one's own. The papers score generated images on
/// Inception-v3 trained on ImageNet, which cannot be downloaded here; a classifier trained on the
/// data set (`tessera train supervised`) takes its place: its pooled penultimate features — the
/// input of its classification head — give the Fréchet distance, its softmax the Inception Score.
/// Any `DenseFeatureBackbone` with a head serves (ResNet, ViT, Swin), Inception weights converted
/// to one of them included. Numbers on different classifiers are not comparable with each other,
/// nor with published FIDs.
public struct ClassifierScores {
    public let classifier: any DenseFeatureBackbone
    /// What the classifier was trained on: images in 0…1 are normalised with this.
    public let normalize: Normalize
    public let batchSize: Int

    public init(classifier: any DenseFeatureBackbone, normalize: Normalize = ExperimentData.normalize,
                batchSize: Int = 128) {
        (self.classifier, self.normalize, self.batchSize) = (classifier, normalize, batchSize)
    }

    /// Features [n, d] and class probabilities [n, classes] (float64) of images [n, 3, h, w] whose
    /// pixels lie in `range` (−1…1 for a generator's output, 0…1 for images as read).
    public func evaluate(_ images: Tensor,
                         range: ClosedRange<Double> = -1...1) throws -> (features: Tensor, probabilities: Tensor) {
        try ConfigurationError.require(images.rank == 4 && images.shape[1] == normalize.mean.count
                                       && images.shape[0] > 0,
                                       "images", describe(images.shape),
                                       "must be [n, \(normalize.mean.count), height, width] with n ≥ 1")
        try ConfigurationError.require(range.upperBound > range.lowerBound, "range", "\(range)", "must not be empty")
        classifier.eval()
        let channels = normalize.mean.count
        let mean = Tensor(normalize.mean.map { Float($0) }, shape: [1, channels, 1, 1])
        let std = Tensor(normalize.std.map { Float($0) }, shape: [1, channels, 1, 1])
        var features: [Tensor] = [], probabilities: [Tensor] = []
        for start in stride(from: 0, to: images.shape[0], by: batchSize) {
            let batch = images.slice(axis: 0, start: start, end: Swift.min(start + batchSize, images.shape[0]))
                .converted(to: .float32)
            let unit = ((batch - range.lowerBound) / (range.upperBound - range.lowerBound)).clamped(min: 0, max: 1)
            let x = Variable((unit - mean) / std)
            let (f, logits): (Tensor, Tensor) = noGrad {
                (classifier.viewAndTokenFeatures(x).view.data, classifier(x).data)
            }
            // A headless network returns its features as they are.
            let headless = logits.shape == f.shape && (logits - f).abs().max().item() == 0
            try ConfigurationError.require(logits.rank == 2 && logits.shape[1] > 1 && !headless, "classifier",
                                           "output \(describe(logits.shape))\(headless ? " (its features)" : "")",
                                           "must be class logits [n, classes]: build it with its classification head")
            features.append(f.converted(to: .float64))
            probabilities.append(logits.converted(to: .float64).softmax(axis: 1))
        }
        return (Tensor.concat(features, axis: 0), Tensor.concat(probabilities, axis: 0))
    }

    /// The Fréchet distance of generated images' features to `referenceFeatures` (of real images,
    /// from ``evaluate(_:range:)``) and the generated images' Inception Score (mean over `splits`).
    public func scores(generated images: Tensor, referenceFeatures: Tensor, range: ClosedRange<Double> = -1...1,
                       splits: Int = 10) throws -> (frechetDistance: Double, inceptionScore: Double) {
        let (features, probabilities) = try evaluate(images, range: range)
        let distance = try GenerativeMetrics.frechetDistance(features, referenceFeatures)
        let score = try GenerativeMetrics.inceptionScore(probabilities: probabilities,
                                                         splits: Swift.min(splits, images.shape[0]))
        return (distance, score.mean)
    }
}
