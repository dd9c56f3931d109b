import Autograd
import Distributed
import Foundation
import NN
import Tensor
import Vision
import Zoo

/// Frozen-feature evaluation as in the DINO repository: feature extraction, weighted k-NN
/// (`eval_knn.py`) and a linear probe (`eval_linear.py`).
public enum Evaluation {
    /// Features [N, D] of every image of `dataset` (after `transform`), in evaluation mode and
    /// without gradients; `extract` maps a batch of images to features (default: the module).
    /// With a distributed `group` each process extracts its `DataShard` and the shards are
    /// gathered, so every process returns all N rows in data-set order.
    public static func features<D: ImageDataset>(of dataset: D, transform: (any ImageTransform)? = nil,
                                                 batchSize: Int = 128, group: ProcessGroup = .single,
                                                 extract: (Variable) -> Variable) throws
        -> (features: Tensor, labels: Tensor) {
        var loader = DataLoader(dataset, batchSize: batchSize, shuffle: false, transform: transform)
        loader.shard = group.dataShard
        let batches = loader.batches()
        var features: [Tensor] = [], labels: [Tensor] = []
        while let batch = try batches.next() {
            features.append(noGrad { extract(Variable(batch.images)).data })
            labels.append(batch.labels)
        }
        let local = (Tensor.concat(features), Tensor.concat(labels))
        guard group.isDistributed else { return local }
        // Rank r holds samples r, r + size, … (padded); sample i is row (i mod size) · perRank + i / size.
        let (all, allLabels) = (try group.allGather(local.0), try group.allGather(local.1))
        let perRank = loader.sampleCount, size = group.size
        let rows = Tensor((0..<dataset.count).map { Int64(($0 % size) * perRank + $0 / size) })
        return (all.indexSelect(axis: 0, indices: rows), allLabels.indexSelect(axis: 0, indices: rows))
    }

    /// The result of a k-NN evaluation.
    public struct KNNResult: Sendable {
        public let top1: Double
        public let top5: Double
    }

    /// DINO's weighted k-NN: cosine similarity to the L2-normalised training features, the k
    /// nearest vote with weights exp(similarity / T) (k = 20, T = 0.07 by default).
    public static func knn(train: (features: Tensor, labels: Tensor), test: (features: Tensor, labels: Tensor),
                           k: Int = 20, temperature: Double = 0.07, classes: Int) -> KNNResult {
        let trainN = l2Normalized(train.features), testN = l2Normalized(test.features)
        let trainLabels = train.labels.scalars(as: Int64.self).map { Int($0) }
        let testLabels = test.labels.scalars(as: Int64.self).map { Int($0) }
        let k = Swift.min(k, trainLabels.count)
        var top1 = 0, top5 = 0
        // Chunks of test rows keep the similarity matrix small.
        let chunk = 256
        for start in stride(from: 0, to: testLabels.count, by: chunk) {
            let end = Swift.min(start + chunk, testLabels.count)
            let similarity = testN.slice(axis: 0, start: start, end: end).matmul(trainN.T)
                .converted(to: .float64).contiguous()
            let values = similarity.scalars(as: Double.self)
            let n = trainLabels.count
            for r in 0..<(end - start) {
                let row = values[(r * n)..<((r + 1) * n)]
                let nearest = row.indices.sorted { row[$0] > row[$1] }.prefix(k)
                var votes = [Double](repeating: 0, count: classes)
                for j in nearest { votes[trainLabels[j - r * n]] += Foundation.exp(row[j] / temperature) }
                let ranked = votes.indices.sorted { votes[$0] > votes[$1] }
                let truth = testLabels[start + r]
                if ranked[0] == truth { top1 += 1 }
                if ranked.prefix(5).contains(truth) { top5 += 1 }
            }
        }
        let total = Double(Swift.max(testLabels.count, 1))
        return KNNResult(top1: Double(top1) / total, top5: Double(top5) / total)
    }

    /// Rows divided by their L2 norm.
    public static func l2Normalized(_ x: Tensor) -> Tensor {
        x / x.norm(2, axes: [1], keepDim: true).clamped(min: 1e-12)
    }

    /// A linear classifier trained on frozen features (DINO's `eval_linear`: a Linear layer on
    /// BatchNorm-free features, SGD with momentum 0.9 and a cosine schedule); returns test top-1.
    public static func linearProbe(train: (features: Tensor, labels: Tensor), test: (features: Tensor, labels: Tensor),
                                   classes: Int, epochs: Int = 100, batchSize: Int = 256, learningRate: Double = 0.1,
                                   seed: UInt64 = 0) -> Double {
        let n = train.features.shape[0], d = train.features.shape[1]
        // Standardise with the training statistics so one learning rate suits every backbone.
        let mean = train.features.mean(axes: [0], keepDim: true)
        let std = train.features.standardDeviation(axes: [0], unbiased: false, keepDim: true) + 1e-6
        let x = (train.features - mean) / std, xt = (test.features - mean) / std
        let linear = Linear(d, classes)
        linear.weight.data = Tensor.randn([classes, d], std: 0.01, generator: RandomGenerator(seed: seed))
        linear.bias?.data.fill(0)
        let steps = Swift.max(1, (n + batchSize - 1) / batchSize)
        let schedule = Schedule.cosine(base: learningRate, final: 0, epochs: epochs, iterationsPerEpoch: steps)
        let sgd = SGD([ParameterGroup(linear.parameters(), learningRate: learningRate, weightDecay: 1e-4)],
                      momentum: 0.9)
        let shuffle = RandomGenerator(seed: seed &+ 1)
        for epoch in 0..<epochs {
            let order = Tensor.randperm(n, generator: shuffle)
            for s in 0..<steps {
                let idx = order.slice(axis: 0, start: s * batchSize, end: Swift.min((s + 1) * batchSize, n))
                sgd.setLearningRate(schedule[epoch * steps + s])
                let loss = Loss.crossEntropy(linear(Variable(x.indexSelect(axis: 0, indices: idx))),
                                             labels: train.labels.indexSelect(axis: 0, indices: idx))
                sgd.zeroGrad()
                loss.backward()
                sgd.step()
            }
        }
        return accuracy(logits: noGrad { linear(Variable(xt)).data }, labels: test.labels)
    }

    /// Fraction of rows whose largest logit is the label.
    public static func accuracy(logits: Tensor, labels: Tensor) -> Double {
        (logits.argmax(axis: 1) .== labels).converted(to: .float64).mean().item()
    }
}
