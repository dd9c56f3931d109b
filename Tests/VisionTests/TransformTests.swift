import Testing
import Tensor
@testable import Vision

/// Transforms against torchvision's tensor transforms on the same float image (fixtures).
@Suite struct TransformTests {
    let image = Reference.t("image")  // [3, 48, 64] in 0…1
    let rng = RandomGenerator(seed: 0)

    @Test func resizeMatchesTorchvisionAntialiased() {
        let cases: [(String, Int, Int, Interpolation)] = [
            ("bilinear_down", 23, 31, .bilinear), ("bicubic_down", 17, 40, .bicubic),
            ("bilinear_up", 97, 121, .bilinear), ("bicubic_up", 61, 150, .bicubic),
        ]
        for (name, h, w, filter) in cases {
            let ours = Resize(.exactly(height: h, width: w), interpolation: filter)(image, using: rng)
            // Tolerance: float32 accumulation order differs from ATen's.
            expectClose(ours, Reference.t("resize.\(name)"), atol: 2e-5, rtol: 0)
        }
        expectClose(Resize(40)(image, using: rng), Reference.t("resize.shorter_40"), atol: 2e-5, rtol: 0)
    }

    @Test func centerCrop() {
        expectClose(CenterCrop(height: 30, width: 20)(image, using: rng), Reference.t("center_crop_30x20"),
                    atol: 0, rtol: 0)
        #expect(CenterCrop(100)(image, using: rng).shape == [3, 100, 100])  // padded with zeros
    }

    @Test func colourOpsMatchTorchvision() {
        expectClose(ColorJitter.adjustBrightness(image, 1.3), Reference.t("color.brightness_1_3"), atol: 1e-6, rtol: 0)
        expectClose(ColorJitter.adjustContrast(image, 0.7), Reference.t("color.contrast_0_7"), atol: 1e-6, rtol: 0)
        expectClose(ColorJitter.adjustSaturation(image, 1.4), Reference.t("color.saturation_1_4"), atol: 1e-6, rtol: 0)
        expectClose(ColorJitter.adjustHue(image, 0.08), Reference.t("color.hue_0_08"), atol: 1e-5, rtol: 0)
        expectClose(ColorJitter.adjustHue(image, -0.2), Reference.t("color.hue_m0_2"), atol: 1e-5, rtol: 0)
        expectClose(RandomGrayscale(p: 1)(image, using: rng), Reference.t("color.grayscale"), atol: 1e-6, rtol: 0)
        expectClose(RandomSolarize(p: 1)(image, using: rng), Reference.t("color.solarize"), atol: 0, rtol: 0)
        expectClose(GaussianBlur.blur(image, sigma: 1.1, kernelSize: 7), Reference.t("blur.k7_s1_1"),
                    atol: 1e-6, rtol: 0)
        expectClose(Normalize()(image, using: rng), Reference.t("normalize"), atol: 1e-6, rtol: 0)
    }

    @Test func flipMirrorsColumns() {
        let flipped = RandomHorizontalFlip(p: 1)(image, using: rng)
        expectClose(flipped.select(axis: 2, index: 0), image.select(axis: 2, index: 63), atol: 0, rtol: 0)
    }

    @Test func randomResizedCropDrawsValidBoxesWithTheRightAreaDistribution() {
        let crop = RandomResizedCrop(32, scale: 0.25...0.75)
        let g = RandomGenerator(seed: 5)
        var fractions: [Double] = []
        for _ in 0..<2000 {
            let box = crop.cropBox(height: 48, width: 64, using: g)
            #expect(box.top >= 0 && box.left >= 0 && box.top + box.height <= 48 && box.left + box.width <= 64)
            fractions.append(Double(box.height * box.width) / Double(48 * 64))
        }
        let mean = fractions.reduce(0, +) / Double(fractions.count)
        #expect(mean > 0.45 && mean < 0.55, "mean area fraction \(mean)")
        #expect(fractions.min()! > 0.2 && fractions.max()! < 0.8)
        #expect(crop(image, using: g).shape == [3, 32, 32])
    }

    @Test func colorJitterIsReproducibleAndStaysInRange() {
        let jitter = ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1)
        let a = jitter(image, seed: 11), b = jitter(image, seed: 11), c = jitter(image, seed: 12)
        expectClose(a, b, atol: 0, rtol: 0)
        #expect(a.doubles != c.doubles)
        #expect(a.min().item() >= 0 && a.max().item() <= 1)
    }

    @Test func dinoMultiCropGivesTwoGlobalAndLocalCropsReproducibly() {
        let augment = DINOAugmentation(globalSize: 32, localSize: 16, localCrops: 4)
        let views = augment(image, using: RandomGenerator(seed: 3))
        #expect(views.map(\.shape) == [[3, 32, 32], [3, 32, 32]] + Array(repeating: [3, 16, 16], count: 4))
        let again = augment(image, using: RandomGenerator(seed: 3))
        for (v, w) in zip(views, again) { expectClose(v, w, atol: 0, rtol: 0) }
        // Normalised with ImageNet statistics: values leave 0…1.
        #expect(views[0].min().item() < 0)
        let moco = MoCoV3Augmentation(size: 24)(image, using: RandomGenerator(seed: 4))
        #expect(moco.map(\.shape) == [[3, 24, 24], [3, 24, 24]])
    }
}
