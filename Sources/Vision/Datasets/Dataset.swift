import Tensor

/// A labelled image collection with random access, read lazily so loaders can decode on
/// background threads. Images are float32 [3, H, W] in 0…1 (like `ToTensor` of an RGB image).
public protocol ImageDataset: Sendable {
    /// Number of samples.
    var count: Int { get }
    /// Class names, indexed by label.
    var classes: [String] { get }
    /// The image of sample `index`; files are read here, so damaged ones throw.
    func image(at index: Int) throws -> Tensor
    /// The label of sample `index`.
    func label(at index: Int) -> Int
}

/// Why a data set could not be read.
public struct DatasetError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A subset of another data set, by sample indices (a train/validation split, a data fraction).
public struct Subset<Base: ImageDataset>: ImageDataset {
    public let base: Base
    public let indices: [Int]
    public init(_ base: Base, indices: [Int]) {
        check(indices.allSatisfy { $0 >= 0 && $0 < base.count }, "Subset", "indices must lie in 0..<\(base.count)")
        (self.base, self.indices) = (base, indices)
    }
    public var count: Int { indices.count }
    public var classes: [String] { base.classes }
    public func image(at index: Int) throws -> Tensor { try base.image(at: indices[index]) }
    public func label(at index: Int) -> Int { base.label(at: indices[index]) }
}

extension ImageDataset {
    /// All images stacked [N, 3, H, W] with labels [N] (int64): for small data sets held in memory.
    public func stacked() throws -> (images: Tensor, labels: Tensor) {
        let images = try (0..<count).map { try image(at: $0) }
        return (Tensor.stack(images), Tensor((0..<count).map { Int64(label(at: $0)) }))
    }
}

/// Any data set behind one type (for code that picks a data set at run time).
public struct AnyImageDataset: ImageDataset {
    let base: any ImageDataset
    public init(_ base: some ImageDataset) { self.base = base }
    public var count: Int { base.count }
    public var classes: [String] { base.classes }
    public func image(at index: Int) throws -> Tensor { try base.image(at: index) }
    public func label(at index: Int) -> Int { base.label(at: index) }
}
