import Foundation
import Tensor

// Colour transforms on float RGB images [3, H, W] in 0…1, with torchvision's tensor definitions.

/// ITU-R 601 luma, torchvision's `rgb_to_grayscale` weights: [1, H, W].
func luma(_ image: Tensor) -> Tensor {
    image.select(axis: 0, index: 0) * 0.2989 + image.select(axis: 0, index: 1) * 0.587
        + image.select(axis: 0, index: 2) * 0.114
}

/// RGB (each 0…1) to hue (in turns, 0..<1), saturation and value, as torchvision's `_rgb2hsv`.
@inline(__always)
func rgbToHSV<T: BinaryFloatingPoint>(_ r: T, _ g: T, _ b: T) -> (h: T, s: T, v: T) {
    let maxc = Swift.max(r, g, b), minc = Swift.min(r, g, b)
    let cr = maxc - minc
    let crDiv = cr == 0 ? 1 : cr
    let rc = (maxc - r) / crDiv, gc = (maxc - g) / crDiv, bc = (maxc - b) / crDiv
    let h = maxc == r ? bc - gc : (maxc == g ? 2 + rc - bc : 4 + gc - rc)
    return ((h / 6 + 1).truncatingRemainder(dividingBy: 1), cr / (maxc == 0 ? 1 : maxc), maxc)
}

/// HSV (hue in turns, 0..<1) to RGB, as torchvision's `_hsv2rgb`.
@inline(__always)
func hsvToRGB<T: BinaryFloatingPoint>(_ h: T, _ s: T, _ v: T) -> (r: T, g: T, b: T) {
    let sector = Swift.min(Int(h * 6), 5)
    let f = h * 6 - T(sector)
    let p = Swift.min(Swift.max(v * (1 - s), 0), 1)
    let q = Swift.min(Swift.max(v * (1 - s * f), 0), 1)
    let t = Swift.min(Swift.max(v * (1 - s * (1 - f)), 0), 1)
    switch sector {
    case 0: return (v, t, p)
    case 1: return (q, v, p)
    case 2: return (p, v, t)
    case 3: return (p, q, v)
    case 4: return (t, p, v)
    default: return (v, p, q)
    }
}

/// ratio·a + (1 − ratio)·b, clamped to 0…1 (torchvision's `_blend`).
func blend(_ a: Tensor, _ b: Tensor, _ ratio: Double) -> Tensor {
    (a * ratio + b * (1 - ratio)).clamped(min: 0, max: 1)
}

/// Random brightness, contrast, saturation and hue, applied in a random order (`ColorJitter`).
/// Factors are drawn from [max(0, 1 − b), 1 + b] (likewise contrast, saturation) and the hue
/// shift from [−hue, hue] (at most 0.5).
public struct ColorJitter: ImageTransform {
    public let brightness: Double, contrast: Double, saturation: Double, hue: Double

    public init(brightness: Double = 0, contrast: Double = 0, saturation: Double = 0, hue: Double = 0) {
        check(hue >= 0 && hue <= 0.5, "ColorJitter", "hue must lie in [0, 0.5], got \(hue)")
        (self.brightness, self.contrast, self.saturation, self.hue) = (brightness, contrast, saturation, hue)
    }

    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor {
        checkImage(image, "ColorJitter")
        // torchvision draws the order first, then each factor, whether or not it is used.
        let order = Tensor.randperm(4, generator: rng).scalars(as: Int64.self)
        let factors = [brightness, contrast, saturation].map { j in
            j > 0 ? rng.uniform(Swift.max(0, 1 - j), 1 + j) : nil
        }
        let shift = hue > 0 ? rng.uniform(-hue, hue) : nil
        var x = image
        for op in order {
            switch op {
            case 0: if let f = factors[0] { x = Self.adjustBrightness(x, f) }
            case 1: if let f = factors[1] { x = Self.adjustContrast(x, f) }
            case 2: if let f = factors[2] { x = Self.adjustSaturation(x, f) }
            default: if let s = shift { x = Self.adjustHue(x, s) }
            }
        }
        return x
    }

    public static func adjustBrightness(_ x: Tensor, _ factor: Double) -> Tensor {
        (x * factor).clamped(min: 0, max: 1)
    }

    public static func adjustContrast(_ x: Tensor, _ factor: Double) -> Tensor {
        blend(x, luma(x).mean().converted(to: x.dtype), factor)
    }

    public static func adjustSaturation(_ x: Tensor, _ factor: Double) -> Tensor {
        blend(x, luma(x).unsqueezed(0), factor)
    }

    /// Rotates the hue by `shift` turns (through HSV, as torchvision).
    public static func adjustHue(_ x: Tensor, _ shift: Double) -> Tensor {
        let c = x.converted(to: .float32).contiguous()
        let plane = c.shape[1] * c.shape[2]
        let out = Tensor(empty: c.shape)
        let src = c.pointer(as: Float.self), dst = out.pointer(as: Float.self)
        let s = Float(shift)
        for i in 0..<plane {
            let hsv = rgbToHSV(src[i], src[plane + i], src[2 * plane + i])
            var h = (hsv.h + s).truncatingRemainder(dividingBy: 1)
            if h < 0 { h += 1 }
            (dst[i], dst[plane + i], dst[2 * plane + i]) = hsvToRGB(h, hsv.s, hsv.v)
        }
        return out
    }
}

/// Converts to grey (kept as 3 equal channels) with probability `p` (`RandomGrayscale`).
public struct RandomGrayscale: ImageTransform {
    public let p: Double
    public init(p: Double = 0.1) { self.p = p }
    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor {
        checkImage(image, "RandomGrayscale")
        guard rng.nextUniform() < p else { return image }
        return luma(image).unsqueezed(0).expanded(to: image.shape).contiguous()
    }
}

/// Inverts values at or above `threshold` with probability `p` (DINO's `Solarization`,
/// PIL's `ImageOps.solarize` at 128 of 255).
public struct RandomSolarize: ImageTransform {
    public let p: Double, threshold: Double
    public init(p: Double, threshold: Double = 128.0 / 255) { (self.p, self.threshold) = (p, threshold) }
    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor {
        guard rng.nextUniform() < p else { return image }
        return Tensor.where(image .>= image.scalarLike(threshold), 1 - image, image)
    }
}

/// Gaussian blur with σ drawn uniformly from `sigma`, applied with probability `p` (DINO's
/// `GaussianBlur(p, radius_min=0.1, radius_max=2.0)`). The kernel spans ±3σ (odd size) with
/// reflected borders, as torchvision's tensor `gaussian_blur`.
public struct GaussianBlur: ImageTransform {
    public let p: Double, sigma: ClosedRange<Double>
    public init(p: Double = 0.5, sigma: ClosedRange<Double> = 0.1...2.0) { (self.p, self.sigma) = (p, sigma) }

    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor {
        checkImage(image, "GaussianBlur")
        guard rng.nextUniform() < p else { return image }
        let s = rng.uniform(sigma.lowerBound, sigma.upperBound)
        return Self.blur(image, sigma: s, kernelSize: 2 * Int((3 * s).rounded(.up)) + 1)
    }

    /// Separable Gaussian blur with an odd `kernelSize` and reflect padding.
    public static func blur(_ image: Tensor, sigma: Double, kernelSize: Int) -> Tensor {
        let x = image.converted(to: .float32).contiguous()
        let (c, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let half = kernelSize / 2
        var kernel = (0..<kernelSize).map { exp(-0.5 * pow(Double($0 - half) / sigma, 2)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        let k = kernel.map { Float($0) }
        func reflect(_ i: Int, _ n: Int) -> Int {
            guard n > 1 else { return 0 }
            var i = i
            while i < 0 || i >= n { i = i < 0 ? -i : 2 * (n - 1) - i }
            return i
        }
        let tmp = Tensor(empty: x.shape), out = Tensor(empty: x.shape)
        let src = x.pointer(as: Float.self), mid = tmp.pointer(as: Float.self), dst = out.pointer(as: Float.self)
        let colIndex = (0..<w).map { j in (0..<kernelSize).map { reflect(j + $0 - half, w) } }
        let rowIndex = (0..<h).map { i in (0..<kernelSize).map { reflect(i + $0 - half, h) } }
        for ch in 0..<c {
            for i in 0..<h {
                let row = src + (ch * h + i) * w, o = mid + (ch * h + i) * w
                for j in 0..<w {
                    var s: Float = 0
                    for t in 0..<kernelSize { s += k[t] * row[colIndex[j][t]] }
                    o[j] = s
                }
            }
            for i in 0..<h {
                let o = dst + (ch * h + i) * w
                o.update(repeating: 0, count: w)
                for t in 0..<kernelSize {
                    let row = mid + (ch * h + rowIndex[i][t]) * w
                    for j in 0..<w { o[j] += k[t] * row[j] }
                }
            }
        }
        return out
    }
}

/// (x − mean) / std per channel (`transforms.Normalize`; ImageNet statistics by default).
public struct Normalize: ImageTransform {
    public static let imageNetMean = [0.485, 0.456, 0.406], imageNetStd = [0.229, 0.224, 0.225]
    public let mean: [Double], std: [Double]
    public init(mean: [Double] = imageNetMean, std: [Double] = imageNetStd) { (self.mean, self.std) = (mean, std) }
    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor {
        check(image.rank == 3 && image.shape[0] == mean.count, "Normalize",
              "expects an image with \(mean.count) channels, got \(describe(image.shape))")
        let m = Tensor(mean.map { Float($0) }, shape: [mean.count, 1, 1]).converted(to: image.dtype)
        let s = Tensor(std.map { Float($0) }, shape: [std.count, 1, 1]).converted(to: image.dtype)
        return (image - m) / s
    }

    /// The inverse: image × std + mean, for showing normalised images.
    public func denormalized(_ image: Tensor) -> Tensor {
        check(image.rank == 3 && image.shape[0] == mean.count, "Normalize.denormalized",
              "expects an image with \(mean.count) channels, got \(describe(image.shape))")
        let m = Tensor(mean.map { Float($0) }, shape: [mean.count, 1, 1]).converted(to: image.dtype)
        let s = Tensor(std.map { Float($0) }, shape: [std.count, 1, 1]).converted(to: image.dtype)
        return image * s + m
    }
}
