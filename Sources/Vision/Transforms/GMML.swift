import Tensor

/// SiT's corruption for Group Masked Model Learning (`GMML_drop_rand_patches` in SiT's
/// `datasets_utils.py`): random rectangular blocks of the image are replaced until a share of its
/// area between ½ and `dropPercentage` (exactly `dropPercentage` when it is at most ½) is covered,
/// and the mask of the replaced pixels is returned for the reconstruction loss.
///
/// A block starts on a multiple of `align` (1: any pixel; the patch size: whole patches), and its
/// sides are drawn between `align` and `maxBlockSize` of the image's, rounded to multiples of `align`.
public struct GMMLCorruption: Sendable {
    /// What a dropped block is filled with: zeros (SiT's default `--drop_type`), standard normal
    /// noise, or a block of the same size copied from elsewhere in the same image.
    public enum Fill: String, Sendable, CaseIterable {
        case zeros, noise
        case sameImage = "same-image"
    }

    public var dropPercentage: Double
    public var fill: Fill
    public var align: Int
    public var maxBlockSize: Double

    public init(dropPercentage: Double = 0.5, fill: Fill = .zeros, align: Int = 1, maxBlockSize: Double = 0.3) {
        (self.dropPercentage, self.fill, self.align, self.maxBlockSize) = (dropPercentage, fill, align, maxBlockSize)
    }

    /// Throws a `ConfigurationError` naming the first setting that breaks its rule for images of `height × width`.
    public func validate(height: Int, width: Int) throws {
        typealias R = ConfigurationError
        try R.require(dropPercentage.isFinite && dropPercentage >= 0 && dropPercentage < 1, "drop-perc",
                      dropPercentage, "must be in 0 ..< 1 (0: no corruption)")
        try R.require(align >= 1, "drop-align", align, "must be at least 1")
        try R.require(maxBlockSize.isFinite && maxBlockSize > 0 && maxBlockSize <= 1, "max-block-size",
                      maxBlockSize, "must be in 0 <.. 1")
        let shortest = Swift.min(height, width)
        try R.require(Int(Double(shortest) * maxBlockSize) > align, "drop-align", align,
                      "must be smaller than the largest block, \(maxBlockSize) of the \(shortest)-pixel side "
                      + "(\(Int(Double(shortest) * maxBlockSize)) pixels)")
    }

    /// The corrupted image and its mask [1, H, W] (1 where a pixel was replaced) for an image [C, H, W].
    /// With `replacement` (an image of the same shape) blocks are copied from it instead of filled.
    public func callAsFunction(_ image: Tensor, replacement: Tensor? = nil,
                               using rng: RandomGenerator) -> (image: Tensor, mask: Tensor) {
        checkImage(image, "GMMLCorruption")
        let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
        if let replacement {
            check(replacement.shape == image.shape, "GMMLCorruption",
                  "replacement \(describe(replacement.shape)) differs from the image \(describe(image.shape))")
        }
        // Float64 holds float32 and float64 images exactly; the result keeps the image's dtype.
        var x = image.converted(to: .float64).scalars(as: Double.self)
        let source = replacement.map { $0.converted(to: .float64).scalars(as: Double.self) }
        var mask = [Double](repeating: 0, count: h * w)
        let dtype = image.dtype
        guard dropPercentage > 0 else { return (image, Tensor(mask, shape: [1, h, w]).converted(to: dtype)) }
        let low = Swift.min(0.5, dropPercentage)
        let target = (low + (dropPercentage - low) * rng.nextUniform()) * Double(h * w)
        let (maxHeight, maxWidth) = (Int(Double(h) * maxBlockSize), Int(Double(w) * maxBlockSize))
        func randint(_ low: Int, _ high: Int) -> Int { high > low ? low + rng.nextInt(below: high - low) : low }
        func aligned(_ v: Int) -> Int { Int((Double(v) / Double(align)).rounded(.toNearestOrEven)) * align }
        var covered = 0
        // Every block covers at least one new pixel with positive probability, so this ends; the
        // bound only guards against a target the alignment cannot reach.
        for _ in 0..<(100 * h * w) where Double(covered) < target {
            let top = randint(0, h - align) / align * align, left = randint(0, w - align) / align * align
            let bh = Swift.min(aligned(Swift.min(randint(align, maxHeight), h - top)), h - top)
            let bw = Swift.min(aligned(Swift.min(randint(align, maxWidth), w - left)), w - left)
            // Where the block's pixels come from: (plane, row, column) of its top-left corner.
            var from: (rows: Int, columns: Int) = (top, left)
            if source == nil && fill == .sameImage {
                from = (randint(0, h - bh) / align * align, randint(0, w - bw) / align * align)
            }
            let copy = fill == .sameImage ? x : []
            for ch in 0..<c {
                for i in 0..<bh {
                    for j in 0..<bw {
                        let at = ch * h * w + (top + i) * w + left + j
                        let src = ch * h * w + (from.rows + i) * w + from.columns + j
                        if let source { x[at] = source[src] } else {
                            switch fill {
                            case .zeros: x[at] = 0
                            case .noise: x[at] = rng.nextNormal()
                            case .sameImage: x[at] = copy[src]
                            }
                        }
                    }
                }
            }
            for i in 0..<bh {
                for j in 0..<bw where mask[(top + i) * w + left + j] == 0 {
                    mask[(top + i) * w + left + j] = 1
                    covered += 1
                }
            }
        }
        return (Tensor(x, shape: [c, h, w]).converted(to: dtype),
                Tensor(mask, shape: [1, h, w]).converted(to: dtype))
    }

    /// SiT's collate step (`GMML_replace_list`): each image of the batch, with probability
    /// `probability`, has its corruption redrawn as blocks copied from a random image of the batch
    /// (possibly itself) covering `fraction` of its area; the others keep theirs.
    /// `clean`, `corrupted` [B, C, H, W] and `masks` [B, 1, H, W] are one view of a batch.
    /// SiT draws with probability 1 / (fill types + 1): ½ for its single type.
    public func replacingFromBatch(clean: Tensor, corrupted: Tensor, masks: Tensor, fraction: Double,
                                   probability: Double = 0.5,
                                   using rng: RandomGenerator) -> (corrupted: Tensor, masks: Tensor) {
        check(clean.rank == 4 && corrupted.shape == clean.shape && masks.rank == 4
              && masks.shape[0] == clean.shape[0], "GMMLCorruption.replacingFromBatch",
              "expects clean and corrupted [B, C, H, W] and masks [B, 1, H, W], got \(describe(clean.shape)), "
              + "\(describe(corrupted.shape)), \(describe(masks.shape))")
        guard fraction > 0 else { return (corrupted, masks) }
        var replacer = self
        replacer.dropPercentage = fraction
        let n = clean.shape[0]
        var images: [Tensor] = [], newMasks: [Tensor] = []
        for i in 0..<n {
            let other = rng.nextInt(below: n)
            if rng.nextUniform() < probability {
                let (image, mask) = replacer(clean[i], replacement: clean[other], using: rng)
                images.append(image)
                newMasks.append(mask)
            } else {
                images.append(corrupted[i])
                newMasks.append(masks[i])
            }
        }
        return (Tensor.stack(images), Tensor.stack(newMasks))
    }
}

/// SiT's two views (`DataAugmentationSiT`): DINO's two global crops (scale 0.2–1 by default),
/// each with its GMML corruption. The views are, in order: clean 1, clean 2, corrupted 1,
/// corrupted 2, mask 1, mask 2 (the masks [1, H, W]).
public struct SiTAugmentation: MultiViewTransform {
    public let crops: DINOAugmentation
    public let corruption: GMMLCorruption

    public init(size: Int = 224, scale: ClosedRange<Double> = 0.2...1, corruption: GMMLCorruption = GMMLCorruption(),
                normalize: Normalize = Normalize(), rotation: Double = 0) {
        crops = DINOAugmentation(globalSize: size, localSize: size, localCrops: 0, globalScale: scale,
                                 normalize: normalize, rotation: rotation)
        self.corruption = corruption
    }

    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> [Tensor] {
        let clean = crops(image, using: rng)
        let corrupted = clean.map { corruption($0, using: rng) }
        return clean + corrupted.map(\.image) + corrupted.map(\.mask)
    }
}
