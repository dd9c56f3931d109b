import Foundation
import Tensor

/// The data of an experiment: the built-in Shapes by default, or a folder of images, CIFAR-10
/// binary batches or MNIST IDX files.
public enum ExperimentData {
    /// The experiments' input normalisation: 0…1 pixels to about −2…2 (mean 0.5, std 0.25 per channel).
    public static let normalize = Normalize(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])

    /// The training and test sets at `imageSize`, the data set's name and, for Shapes, the object
    /// masks of the test set. Image folders without a test part are split 80/20 with `seed`.
    public static func load(_ data: URL?, imageSize: Int, trainCount: Int = 3000, testCount: Int = 1000,
                            seed: UInt64 = 0, hueSpread: Double = 0.1) throws
        -> (train: AnyImageDataset, test: AnyImageDataset, name: String, masks: ((Int) -> Tensor)?) {
        guard let url = data else {
            let test = Shapes(count: testCount, imageSize: imageSize, seed: seed &+ 2, hueSpread: hueSpread)
            return (AnyImageDataset(Shapes(count: trainCount, imageSize: imageSize, seed: seed &+ 1,
                                           hueSpread: hueSpread)),
                    AnyImageDataset(test), "built-in Shapes", { test.mask(at: $0) })
        }
        let resize = Compose([Resize(.exactly(height: imageSize, width: imageSize))])
        let fm = FileManager.default
        if fm.fileExists(atPath: url.appendingPathComponent("data_batch_1.bin").path) {
            return (AnyImageDataset(Resized(base: try CIFAR(folder: url, train: true), transform: resize)),
                    AnyImageDataset(Resized(base: try CIFAR(folder: url, train: false), transform: resize)),
                    "CIFAR-10", nil)
        }
        if fm.fileExists(atPath: url.appendingPathComponent("train-images-idx3-ubyte").path)
            || fm.fileExists(atPath: url.appendingPathComponent("train-images-idx3-ubyte.gz").path) {
            return (AnyImageDataset(Resized(base: try MNIST(folder: url, train: true), transform: resize)),
                    AnyImageDataset(Resized(base: try MNIST(folder: url, train: false), transform: resize)),
                    "MNIST", nil)
        }
        let folder = try ImageFolder(root: url)
        let order = Tensor.randperm(folder.count, generator: RandomGenerator(seed: seed))
            .scalars(as: Int64.self).map { Int($0) }
        let cut = folder.count * 4 / 5
        return (AnyImageDataset(Resized(base: Subset(folder, indices: Array(order[..<cut])), transform: resize)),
                AnyImageDataset(Resized(base: Subset(folder, indices: Array(order[cut...])), transform: resize)),
                url.lastPathComponent, nil)
    }
}

/// A data set whose images pass through a fixed transform (resizing to the experiment's size).
public struct Resized<Base: ImageDataset>: ImageDataset {
    public let base: Base
    public let transform: Compose

    public init(base: Base, transform: Compose) { (self.base, self.transform) = (base, transform) }

    public var count: Int { base.count }
    public var classes: [String] { base.classes }
    public func image(at index: Int) throws -> Tensor { transform(try base.image(at: index), seed: 0) }
    public func label(at index: Int) -> Int { base.label(at: index) }
}

