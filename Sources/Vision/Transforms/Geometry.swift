import Foundation
import Tensor

/// Resizes so the shorter side is `size` (aspect kept) or to exactly (height, width)
/// (`transforms.Resize`, antialiased as torchvision's default).
public struct Resize: ImageTransform {
    public enum Size: Sendable { case shorterSide(Int), exactly(height: Int, width: Int) }
    public let size: Size, interpolation: Interpolation, antialias: Bool

    public init(_ size: Int, interpolation: Interpolation = .bilinear, antialias: Bool = true) {
        self.init(.shorterSide(size), interpolation: interpolation, antialias: antialias)
    }
    public init(_ size: Size, interpolation: Interpolation = .bilinear, antialias: Bool = true) {
        (self.size, self.interpolation, self.antialias) = (size, interpolation, antialias)
    }

    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor {
        checkImage(image, "Resize")
        let (h, w) = (image.shape[1], image.shape[2])
        switch size {
        case .exactly(let th, let tw):
            return Resample.resize(image, height: th, width: tw, filter: interpolation, antialias: antialias)
        case .shorterSide(let s):
            // torchvision: the longer side is int(s · long / short), truncated.
            let (th, tw) = h <= w ? (s, Int(Double(s) * Double(w) / Double(h)))
                                  : (Int(Double(s) * Double(h) / Double(w)), s)
            if (th, tw) == (h, w) { return image }
            return Resample.resize(image, height: th, width: tw, filter: interpolation, antialias: antialias)
        }
    }
}

/// Crops the centre `height × width` region, padding with zeros if the image is smaller (`CenterCrop`).
public struct CenterCrop: ImageTransform {
    public let height: Int, width: Int
    public init(_ size: Int) { (height, width) = (size, size) }
    public init(height: Int, width: Int) { (self.height, self.width) = (height, width) }

    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor {
        checkImage(image, "CenterCrop")
        var x = image
        let (h, w) = (x.shape[1], x.shape[2])
        if h < height || w < width {
            let ph = Swift.max(height - h, 0), pw = Swift.max(width - w, 0)
            x = x.padded([(0, 0), (ph / 2, (ph + 1) / 2), (pw / 2, (pw + 1) / 2)])
        }
        // torchvision: int(round((h − th) / 2)), round half to even.
        let top = Int((Double(x.shape[1] - height) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(x.shape[2] - width) / 2).rounded(.toNearestOrEven))
        return x.slice(axis: 1, start: top, end: top + height)
            .slice(axis: 2, start: left, end: left + width).contiguous()
    }
}

/// A random crop of random area fraction (`scale`) and aspect ratio (`ratio`, log-uniform),
/// resized to `size × size` (`transforms.RandomResizedCrop`, same sampling and fallback).
public struct RandomResizedCrop: ImageTransform {
    public let height: Int, width: Int
    public let scale: ClosedRange<Double>, ratio: ClosedRange<Double>
    public let interpolation: Interpolation

    public init(_ size: Int, scale: ClosedRange<Double> = 0.08...1, ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3),
                interpolation: Interpolation = .bilinear) {
        (height, width, self.scale, self.ratio, self.interpolation) = (size, size, scale, ratio, interpolation)
    }

    /// The crop (top, left, height, width) torchvision's `get_params` would draw.
    public func cropBox(height h: Int, width w: Int, using rng: RandomGenerator)
        -> (top: Int, left: Int, height: Int, width: Int) {
        let area = Double(h * w)
        let logRatio = (log(ratio.lowerBound), log(ratio.upperBound))
        for _ in 0..<10 {
            let target = area * rng.uniform(scale.lowerBound, scale.upperBound)
            let aspect = exp(rng.uniform(logRatio.0, logRatio.1))
            let cw = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let ch = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if cw > 0 && cw <= w && ch > 0 && ch <= h {
                return (rng.nextInt(below: h - ch + 1), rng.nextInt(below: w - cw + 1), ch, cw)
            }
        }
        // Fallback: the central crop with the ratio clamped into range.
        let inRatio = Double(w) / Double(h)
        var (cw, ch) = (w, h)
        if inRatio < ratio.lowerBound {
            ch = Int((Double(cw) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inRatio > ratio.upperBound {
            cw = Int((Double(ch) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return ((h - ch) / 2, (w - cw) / 2, ch, cw)
    }

    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor {
        checkImage(image, "RandomResizedCrop")
        let box = cropBox(height: image.shape[1], width: image.shape[2], using: rng)
        let crop = image.slice(axis: 1, start: box.top, end: box.top + box.height)
            .slice(axis: 2, start: box.left, end: box.left + box.width)
        return Resample.resize(crop, height: height, width: width, filter: interpolation, antialias: true)
    }
}

/// Mirrors left–right with probability `p` (`RandomHorizontalFlip`).
public struct RandomHorizontalFlip: ImageTransform {
    public let p: Double
    public init(p: Double = 0.5) { self.p = p }
    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor {
        checkImage(image, "RandomHorizontalFlip")
        guard rng.nextUniform() < p else { return image }
        let w = image.shape[2]
        return image.indexSelect(axis: 2, indices: Tensor((0..<w).reversed().map { Int64($0) }))
    }
}

/// Rotates by an angle drawn uniformly from ±`degrees` about the centre, sampling bilinearly and
/// extending the border pixels outward (`RandomRotation` with edge padding).
public struct RandomRotation: ImageTransform {
    public let degrees: Double
    public init(degrees: Double) { self.degrees = degrees }

    public func callAsFunction(_ image: Tensor, using rng: RandomGenerator) -> Tensor {
        checkImage(image, "RandomRotation")
        return Self.rotate(image, degrees: rng.uniform(-degrees, degrees))
    }

    public static func rotate(_ image: Tensor, degrees: Double) -> Tensor {
        let x = image.converted(to: .float32).contiguous()
        let (c, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let out = Tensor(empty: x.shape)
        let src = x.pointer(as: Float.self), dst = out.pointer(as: Float.self)
        let a = degrees * .pi / 180, (ca, sa) = (cos(a), sin(a))
        let cx = Double(w - 1) / 2, cy = Double(h - 1) / 2
        for yy in 0..<h {
            for xx in 0..<w {
                // Inverse mapping: where this output pixel comes from.
                let dx = Double(xx) - cx, dy = Double(yy) - cy
                let sx = Swift.min(Swift.max(ca * dx + sa * dy + cx, 0), Double(w - 1))
                let sy = Swift.min(Swift.max(-sa * dx + ca * dy + cy, 0), Double(h - 1))
                let x0 = Int(sx), y0 = Int(sy), x1 = Swift.min(x0 + 1, w - 1), y1 = Swift.min(y0 + 1, h - 1)
                let fx = Float(sx - Double(x0)), fy = Float(sy - Double(y0))
                for ch in 0..<c {
                    let p = src + ch * h * w
                    let top = p[y0 * w + x0] * (1 - fx) + p[y0 * w + x1] * fx
                    let bottom = p[y1 * w + x0] * (1 - fx) + p[y1 * w + x1] * fx
                    dst[ch * h * w + yy * w + xx] = top * (1 - fy) + bottom * fy
                }
            }
        }
        return out
    }
}
