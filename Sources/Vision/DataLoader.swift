import Dispatch
import Foundation
import Tensor

/// One batch: each view stacked [B, C, h, w] (one view without multi-crop), labels and sample indices.
public struct Batch: @unchecked Sendable {
    /// View k of every sample, stacked: `views[0]` is the images of a single-view loader.
    public let views: [Tensor]
    /// Labels [B], int64.
    public let labels: Tensor
    /// The data set indices of the samples, in batch order.
    public let indices: [Int]
    /// The first (or only) view.
    public var images: Tensor { views[0] }

    /// A batch made by hand (for a recipe's step outside a loader: benchmarks, tests).
    public init(views: [Tensor], labels: Tensor, indices: [Int]) {
        (self.views, self.labels, self.indices) = (views, labels, indices)
    }
}

/// Shuffles, transforms and batches a data set, decoding and augmenting on background threads.
///
/// The batches of an epoch are the same for the same `seed` and epoch whatever the thread
/// timing: the order is a seeded permutation and every sample's augmentation draws from its own
/// generator, seeded by (seed, epoch, index). Up to `prefetch` batches are prepared ahead on
/// the cores while the caller trains on the current one.
public struct DataLoader<Dataset: ImageDataset>: Sendable {
    public let dataset: Dataset
    public let batchSize: Int
    public let shuffle: Bool
    public let dropLast: Bool
    public let seed: UInt64
    public let views: any MultiViewTransform
    public let prefetch: Int
    /// The part of every epoch this process loads (all of it, unless training data-parallel).
    public var shard = DataShard.whole
    /// Class-balanced batches when set to m: each batch holds m images of each of batchSize / m
    /// classes drawn at random (pytorch-metric-learning's `MPerClassSampler`, as IRT trains); a
    /// class's images are taken in a shuffled cycle, so a small class repeats rather than runs out.
    /// An epoch has ⌊count / batchSize⌋ full batches. Needs batchSize divisible by m and at least
    /// batchSize / m classes.
    public var imagesPerClass: Int?

    /// A loader applying `transform` (none by default) to give one view per sample.
    public init(_ dataset: Dataset, batchSize: Int, shuffle: Bool = true, dropLast: Bool = false, seed: UInt64 = 0,
                transform: (any ImageTransform)? = nil, prefetch: Int = 2 * coreCount) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, dropLast: dropLast, seed: seed,
                  views: SingleView(transform: transform), prefetch: prefetch)
    }

    /// A loader giving several views per sample (multi-crop), collated view by view.
    public init(_ dataset: Dataset, batchSize: Int, shuffle: Bool = true, dropLast: Bool = false, seed: UInt64 = 0,
                views: any MultiViewTransform, prefetch: Int = 2 * coreCount) {
        check(batchSize > 0 && prefetch > 0, "DataLoader", "batchSize and prefetch must be positive")
        (self.dataset, self.batchSize, self.shuffle, self.dropLast, self.seed) =
            (dataset, batchSize, shuffle, dropLast, seed)
        (self.views, self.prefetch) = (views, prefetch)
    }

    /// Samples this process loads per epoch (the data set's size, or its shard's).
    public var sampleCount: Int {
        shard.sampleCount(of: imagesPerClass == nil ? dataset.count : dataset.count / batchSize * batchSize)
    }

    /// Batches per epoch.
    public var batchCount: Int { dropLast ? sampleCount / batchSize : (sampleCount + batchSize - 1) / batchSize }

    /// The sample order of an epoch: the seeded permutation of the whole data set, then this process's shard of it.
    public func order(epoch: Int) -> [Int] {
        if let m = imagesPerClass { return shard.select(classBalancedOrder(epoch: epoch, imagesPerClass: m)) }
        let all = shuffle
            ? Tensor.randperm(dataset.count, generator: RandomGenerator(seed: mix(seed, UInt64(epoch), 0x5EED)))
                .scalars(as: Int64.self).map { Int($0) }
            : Array(0..<dataset.count)
        return shard.select(all)
    }

    /// An epoch of class-balanced batches (``imagesPerClass``), deterministic in (seed, epoch).
    func classBalancedOrder(epoch: Int, imagesPerClass m: Int) -> [Int] {
        var byClass: [Int: [Int]] = [:]
        for i in 0..<dataset.count { byClass[dataset.label(at: i), default: []].append(i) }
        let classes = byClass.keys.sorted()
        let perBatch = batchSize / Swift.max(m, 1)
        check(m >= 1 && batchSize % m == 0 && perBatch <= classes.count, "DataLoader",
              "imagesPerClass \(m) must divide batchSize \(batchSize) into at most \(classes.count) classes")
        let rng = RandomGenerator(seed: mix(seed, UInt64(epoch), 0xBA1A))
        func shuffled(_ xs: [Int]) -> [Int] {
            Tensor.randperm(xs.count, generator: rng).scalars(as: Int64.self).map { xs[Int($0)] }
        }
        var cycles = classes.map { shuffled(byClass[$0]!) }, cursors = [Int](repeating: 0, count: classes.count)
        var order: [Int] = []
        for _ in 0..<(dataset.count / batchSize) {
            for c in shuffled(Array(classes.indices)).prefix(perBatch) {
                for _ in 0..<m {
                    if cursors[c] == cycles[c].count { (cycles[c], cursors[c]) = (shuffled(byClass[classes[c]]!), 0) }
                    order.append(cycles[c][cursors[c]])
                    cursors[c] += 1
                }
            }
        }
        return order
    }

    /// The batches of `epoch` from batch `start` on, prepared in the background; `next()` throws
    /// if a sample cannot be read. Starting part-way gives exactly the later batches of the epoch.
    public func batches(epoch: Int = 0, from start: Int = 0) -> BatchIterator {
        BatchIterator(loader: self, order: order(epoch: epoch), epoch: epoch, start: start)
    }

    /// Builds batch `b` of an epoch (on whatever thread calls it).
    func makeBatch(_ b: Int, order: [Int], epoch: Int) throws -> Batch {
        let indices = Array(order[(b * batchSize)..<Swift.min((b + 1) * batchSize, order.count)])
        var perView: [[Tensor]] = []
        for index in indices {
            let rng = RandomGenerator(seed: mix(seed, UInt64(epoch), UInt64(index)))
            let sampleViews = views(try dataset.image(at: index), using: rng)
            if perView.isEmpty { perView = Array(repeating: [], count: sampleViews.count) }
            for (k, v) in sampleViews.enumerated() { perView[k].append(v) }
        }
        return Batch(views: perView.map { Tensor.stack($0) },
                     labels: Tensor(indices.map { Int64(dataset.label(at: $0)) }), indices: indices)
    }
}

/// The part of each epoch's sample order one process of a data-parallel job takes, as PyTorch's
/// `DistributedSampler`: the order is padded by repeating its start to a multiple of `count`, and
/// process `rank` takes every `count`-th sample from position `rank`. Every process uses the same
/// seed, so the shards of an epoch are disjoint (but for the padding) and together cover the data set;
/// the batches of the `count` processes at one step together hold the samples of one batch
/// `count` times larger.
public struct DataShard: Sendable, Equatable {
    public let rank: Int
    public let count: Int

    /// Process `rank` of `count`.
    public init(rank: Int, count: Int) {
        check(count >= 1 && (0..<count).contains(rank), "DataShard", "rank \(rank) must be in 0..<\(count)")
        (self.rank, self.count) = (rank, count)
    }

    /// The whole data set (one process).
    public static let whole = DataShard(rank: 0, count: 1)

    /// Samples per shard: ⌈n / count⌉.
    public func sampleCount(of n: Int) -> Int { (n + count - 1) / count }

    /// This shard of `order`.
    public func select(_ order: [Int]) -> [Int] {
        guard count > 1, !order.isEmpty else { return order }
        let padded = sampleCount(of: order.count) * count
        return stride(from: rank, to: padded, by: count).map { order[$0 % order.count] }
    }
}

/// The batches of one epoch, in order, computed ahead on background threads.
public final class BatchIterator: @unchecked Sendable {
    private let total: Int
    private let build: @Sendable (Int) throws -> Batch
    private let prefetch: Int
    private let condition = NSCondition()
    private var ready: [Int: Result<Batch, Error>] = [:]
    private var scheduled = 0, delivered = 0

    init<D>(loader: DataLoader<D>, order: [Int], epoch: Int, start: Int) {
        total = loader.batchCount
        (scheduled, delivered) = (Swift.min(start, total), Swift.min(start, total))
        prefetch = loader.prefetch
        build = { b in try loader.makeBatch(b, order: order, epoch: epoch) }
        condition.lock()
        scheduleAhead()
        condition.unlock()
    }

    /// Starts batches up to `prefetch` ahead of the consumer; call with the lock held.
    private func scheduleAhead() {
        while scheduled < total && scheduled < delivered + prefetch {
            let b = scheduled
            scheduled += 1
            DispatchQueue.global().async { [self] in
                let result = Result { try build(b) }
                condition.lock()
                ready[b] = result
                condition.broadcast()
                condition.unlock()
            }
        }
    }

    /// The next batch, waiting for it if needed; nil after the last.
    public func next() throws -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        guard delivered < total else { return nil }
        while ready[delivered] == nil { condition.wait() }
        let result = ready.removeValue(forKey: delivered)!
        delivered += 1
        scheduleAhead()
        return try result.get()
    }
}

/// One view: the image through an optional transform.
struct SingleView: MultiViewTransform {
    let transform: (any ImageTransform)?
    func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> [Tensor] {
        [transform?(image, using: rng) ?? image]
    }
}

/// A 64-bit mix of three values (SplitMix64 finaliser), for per-sample seeds.
func mix(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
    var z = a &* 0x9E37_79B9_7F4A_7C15 ^ (b &+ 0x632B_E59B_D9B4_E019) &* 0xBF58_476D_1CE4_E5B9
        ^ c &* 0x94D0_49BB_1331_11EB
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
