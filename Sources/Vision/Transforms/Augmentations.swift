import Tensor

/// A transform that makes several views of one image (multi-crop).
public protocol MultiViewTransform: Sendable {
    func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> [Tensor]
}

/// DINO's `DataAugmentationDINO`: two global crops and `localCrops` local crops of each image.
///
/// Every crop: random resized crop (bicubic), horizontal flip, colour jitter (0.4, 0.4, 0.2, 0.1)
/// with p 0.8, grayscale with p 0.2, Gaussian blur (σ 0.1–2) with p 1.0 on the first global
/// crop, 0.1 on the second and 0.5 on local crops, solarisation with p 0.2 on the second global
/// crop only, then ImageNet normalisation. Sizes and scales default to the paper's (224 / 96,
/// 0.4–1 / 0.05–0.4) and scale down for small images.
public struct DINOAugmentation: MultiViewTransform {
    public let globalSize: Int, localSize: Int, localCrops: Int
    public let globalScale: ClosedRange<Double>, localScale: ClosedRange<Double>
    let global1: Compose, global2: Compose, local: Compose

    /// `rotation` (degrees, 0 in DINO) adds a random rotation before cropping, for data whose
    /// classes do not depend on orientation (the built-in Shapes).
    public init(globalSize: Int = 224, localSize: Int = 96, localCrops: Int = 8,
                globalScale: ClosedRange<Double> = 0.4...1, localScale: ClosedRange<Double> = 0.05...0.4,
                normalize: Normalize = Normalize(), rotation: Double = 0) {
        (self.globalSize, self.localSize, self.localCrops) = (globalSize, localSize, localCrops)
        (self.globalScale, self.localScale) = (globalScale, localScale)
        let rotate: [any ImageTransform] = rotation > 0 ? [RandomRotation(degrees: rotation)] : []
        let flipAndColorJitter: [any ImageTransform] = [
            RandomHorizontalFlip(p: 0.5),
            RandomApply(ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1), p: 0.8),
            RandomGrayscale(p: 0.2),
        ]
        global1 = Compose(rotate + [RandomResizedCrop(globalSize, scale: globalScale, interpolation: .bicubic)]
                          + flipAndColorJitter + [GaussianBlur(p: 1.0), normalize])
        global2 = Compose(rotate + [RandomResizedCrop(globalSize, scale: globalScale, interpolation: .bicubic)]
                          + flipAndColorJitter + [GaussianBlur(p: 0.1), RandomSolarize(p: 0.2), normalize])
        local = Compose(rotate + [RandomResizedCrop(localSize, scale: localScale, interpolation: .bicubic)]
                        + flipAndColorJitter + [GaussianBlur(p: 0.5), normalize])
    }

    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> [Tensor] {
        [global1(image, using: rng), global2(image, using: rng)]
            + (0..<localCrops).map { _ in local(image, using: rng) }
    }
}

/// MoCo v3's two asymmetric views: random resized crop (scale 0.08–1), colour jitter with p 0.8,
/// grayscale p 0.2, blur p 1.0 / 0.1, solarisation p 0 / 0.2, flip, ImageNet normalisation.
public struct MoCoV3Augmentation: MultiViewTransform {
    public let size: Int
    let view1: Compose, view2: Compose

    public init(size: Int = 224, scale: ClosedRange<Double> = 0.08...1, normalize: Normalize = Normalize()) {
        self.size = size
        func view(blur: Double, solarize: Double) -> Compose {
            Compose([
                RandomResizedCrop(size, scale: scale),
                RandomApply(ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1), p: 0.8),
                RandomGrayscale(p: 0.2),
                GaussianBlur(p: blur),
                RandomSolarize(p: solarize),
                RandomHorizontalFlip(),
                normalize,
            ])
        }
        view1 = view(blur: 1.0, solarize: 0)
        view2 = view(blur: 0.1, solarize: 0.2)
    }

    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> [Tensor] {
        [view1(image, using: rng), view2(image, using: rng)]
    }
}
