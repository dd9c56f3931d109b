import Autograd
import Foundation
import NN
import Testing
import Tensor
import TestSupport
@testable import Training
@testable import Vision

/// IRT's losses and the metric-learning metrics against PyTorch references
/// (scripts/make_metric_learning_fixtures.py: pytorch-metric-learning and DINOv2's KoLeoLoss).
@Suite struct MetricLearningTests {
    struct Fixture: Decodable {
        let embeddings, contrastive_grad, koleo_grad: [[Double]]
        let labels: [Int]
        let contrastive, koleo, precision_at_1, map_at_r: Double
        let recall: [Double]
    }

    static let fixture = Result {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixturesDirectory
            .appendingPathComponent("metric_learning.json")))
    }

    static func tensor(_ rows: [[Double]]) -> Tensor { Tensor(rows.flatMap { $0 }, shape: [rows.count, rows[0].count]) }

    /// ContrastiveLoss(pos_margin=1, neg_margin=0.5, CosineSimilarity) and KoLeoLoss: values and
    /// gradients in float64, 24 samples of 6 classes (one a singleton).
    @Test func lossesMatchPyTorch() throws {
        let f = try Self.fixture.get()
        for (name, loss, value, grad) in [
            ("contrastive", { Loss.contrastive($0, labels: f.labels) } as (Variable) -> Variable, f.contrastive,
             f.contrastive_grad),
            ("KoLeo", { Loss.koLeo($0) }, f.koleo, f.koleo_grad),
        ] {
            let x = Variable(Self.tensor(f.embeddings), requiresGrad: true)
            let out = loss(x)
            #expect(abs(out.data.item() - value) < 1e-12, "\(name) \(out.data.item()) vs \(value)")
            out.backward()
            let got = try #require(x.grad).doubles
            for (a, b) in zip(got, grad.flatMap { $0 }) { #expect(abs(a - b) < 1e-12, "\(name) gradient") }
        }
    }

    /// Both losses against central differences (float64).
    @Test func lossGradientsCheck() throws {
        let f = try Self.fixture.get()
        let x = Self.tensor(Array(f.embeddings.prefix(10)))
        let labels = Array(f.labels.prefix(10))
        let contrastive = gradCheck({ Loss.contrastive($0[0], labels: labels) }, inputs: [x])
        #expect(contrastive.passed, "\(contrastive)")
        let koLeo = gradCheck({ Loss.koLeo($0[0]) }, inputs: [x])
        #expect(koLeo.passed, "\(koLeo)")
    }

    /// Recall@{1,2,4,8} and mAP@R with the query excluded from its own neighbours
    /// (AccuracyCalculator's precision_at_1 and mean_average_precision_at_r).
    @Test func metricsMatchPyTorchMetricLearning() throws {
        let f = try Self.fixture.get()
        let x = Self.tensor(f.embeddings)
        let recall = MetricLearning.recall(embeddings: x, labels: f.labels)
        for (a, b) in zip(recall, f.recall) { #expect(abs(a - b) < 1e-12, "Recall@K \(recall) vs \(f.recall)") }
        #expect(abs(recall[0] - f.precision_at_1) < 1e-12)
        let map = MetricLearning.meanAveragePrecisionAtR(embeddings: x, labels: f.labels)
        #expect(abs(map - f.map_at_r) < 1e-12, "mAP@R \(map) vs \(f.map_at_r)")
        #expect(MetricLearning.neighbours(of: x, k: 30).allSatisfy { $0.count == 23 })
    }

    /// The class-balanced sampler: m images of each of batchSize / m classes per batch, every
    /// image of a class before any repeats, the same epoch for the same seed, another for the next.
    @Test func classBalancedBatches() throws {
        var loader = DataLoader(Shapes(count: 100, imageSize: 8), batchSize: 8, seed: 3)
        loader.imagesPerClass = 2
        let order = loader.order(epoch: 0)
        #expect(order.count == 96 && loader.sampleCount == 96 && loader.batchCount == 12)
        for b in 0..<12 {
            let labels = order[(b * 8)..<((b + 1) * 8)].map { $0 % 10 }
            #expect(Set(labels).count == 4, "batch \(b): \(labels)")
            for k in stride(from: 0, to: 8, by: 2) { #expect(labels[k] == labels[k + 1]) }
        }
        for c in 0..<10 {
            let drawn = order.filter { $0 % 10 == c }
            #expect(Set(drawn.prefix(10)).count == min(10, drawn.count), "class \(c) repeats early: \(drawn)")
        }
        #expect(loader.order(epoch: 0) == order && loader.order(epoch: 1) != order)
        let batch = try #require(try loader.batches().next())
        #expect(batch.labels.scalars(as: Int64.self).map(Int.init) == order.prefix(8).map { $0 % 10 })
    }
}
