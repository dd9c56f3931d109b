import Foundation
import Tensor

/// A (possibly random) map of an image tensor [C, H, W] (float32, values in 0…1 until normalised).
///
/// Randomness comes only from the generator passed in, so a pipeline is reproducible from a seed
/// whatever thread runs it. Values are Sendable so loaders can run them on background threads.
public protocol ImageTransform: Sendable {
    func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor
}

extension ImageTransform {
    /// Applies the transform with a generator seeded by `seed`.
    public func callAsFunction(_ image: Tensor, seed: UInt64) -> Tensor {
        self(image, using: RandomGenerator(seed: seed))
    }
}

/// Transforms applied in order (`torchvision.transforms.Compose`).
public struct Compose: ImageTransform {
    public let transforms: [any ImageTransform]
    public init(_ transforms: [any ImageTransform]) { self.transforms = transforms }
    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor {
        transforms.reduce(image) { $1($0, using: rng) }
    }
}

/// Applies `transform` with probability `p` (`RandomApply`).
public struct RandomApply: ImageTransform {
    public let transform: any ImageTransform, p: Double
    public init(_ transform: any ImageTransform, p: Double) { (self.transform, self.p) = (transform, p) }
    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor {
        rng.nextUniform() < p ? transform(image, using: rng) : image
    }
}

extension RandomGenerator {
    /// Uniform in [low, high).
    func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextUniform() }
}

func checkImage(_ image: Tensor, _ op: String) {
    check(image.rank == 3, op, "expects an image [C, H, W], got \(describe(image.shape))")
}
