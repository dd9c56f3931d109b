import Foundation
import Tensor

/// Interpolation filters for resizing, with PIL's definitions (bicubic a = −0.5).
public enum Interpolation: Sendable {
    case nearest, bilinear, bicubic

    var support: Double {
        switch self {
        case .nearest: 0.5
        case .bilinear: 1
        case .bicubic: 2
        }
    }

    func weight(_ x: Double) -> Double {
        let x = Swift.abs(x)
        switch self {
        case .nearest: return x < 0.5 ? 1 : 0
        case .bilinear: return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

/// Separable resampling as PIL and torchvision (`antialias=True`) do it: each output pixel is a
/// normalised weighted sum of the input pixels under the filter, whose support is widened by the
/// scale factor when shrinking so that no input pixel is skipped (antialiasing).
enum Resample {
    /// For each output index along an axis: the first input index and the normalised weights.
    struct Taps {
        var start: [Int] = []
        var weights: [[Float]] = []
    }

    static func taps(input: Int, output: Int, filter: Interpolation, antialias: Bool) -> Taps {
        let scale = Double(input) / Double(output)
        let widen = antialias ? Swift.max(scale, 1) : 1
        let support = filter.support * widen
        var taps = Taps()
        for i in 0..<output {
            let center = (Double(i) + 0.5) * scale
            if filter == .nearest {
                taps.start.append(Swift.min(Int(center), input - 1))
                taps.weights.append([1])
                continue
            }
            let lo = Swift.max(Int((center - support + 0.5).rounded(.down)), 0)
            let hi = Swift.min(Int((center + support + 0.5).rounded(.down)), input)
            var w = (lo..<Swift.max(hi, lo + 1)).map { filter.weight((Double($0) - center + 0.5) / widen) }
            let total = w.reduce(0, +)
            if total != 0 { w = w.map { $0 / total } }
            taps.start.append(Swift.min(lo, input - 1))
            taps.weights.append(w.map { Float($0) })
        }
        return taps
    }

    /// Resamples [C, H, W] (float32) to [C, height, width].
    static func resize(_ image: Tensor, height: Int, width: Int, filter: Interpolation, antialias: Bool) -> Tensor {
        let x = image.converted(to: .float32).contiguous()
        let (c, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let rows = taps(input: h, output: height, filter: filter, antialias: antialias)
        let cols = taps(input: w, output: width, filter: filter, antialias: antialias)
        // Vertical pass (whole rows, vectorisable), then horizontal.
        let mid = Tensor(empty: [c, height, w])
        let src = x.pointer(as: Float.self), tmp = mid.pointer(as: Float.self)
        for ch in 0..<c {
            for i in 0..<height {
                let out = tmp + (ch * height + i) * w
                out.update(repeating: 0, count: w)
                for (k, weight) in rows.weights[i].enumerated() {
                    let row = src + (ch * h + rows.start[i] + k) * w
                    for j in 0..<w { out[j] += weight * row[j] }
                }
            }
        }
        let result = Tensor(empty: [c, height, width])
        let dst = result.pointer(as: Float.self)
        for r in 0..<(c * height) {
            let row = tmp + r * w, out = dst + r * width
            for j in 0..<width {
                var s: Float = 0
                let start = cols.start[j]
                for (k, weight) in cols.weights[j].enumerated() { s += weight * row[start + k] }
                out[j] = s
            }
        }
        return result
    }
}

extension Interpolation {
    /// The resampling matrix [output, input] of one axis of ``Resize`` (PIL/torchvision with
    /// antialiasing): resizing an image is Rh · X · Rwᵀ, which makes it differentiable for free.
    public func matrix(input: Int, output: Int, antialias: Bool = true) -> Tensor {
        let taps = Resample.taps(input: input, output: output, filter: self, antialias: antialias)
        let m = Tensor.zeros([output, input])
        for i in 0..<output {
            for (k, w) in taps.weights[i].enumerated() { m[element: i, taps.start[i] + k] += Double(w) }
        }
        return m
    }
}

/// The matrix [output, input] of PyTorch's `interpolate(mode="bicubic", align_corners=False)`
/// along one axis with an explicit `scale` factor (cubic a = −0.75, borders clamped), as DINO's
/// `interpolate_pos_encoding` calls it.
public func torchBicubicMatrix(input: Int, output: Int, scale: Double) -> Tensor {
    let a = -0.75
    func near(_ x: Double) -> Double { ((a + 2) * x - (a + 3)) * x * x + 1 }
    func far(_ x: Double) -> Double { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
    let m = Tensor.zeros([output, input])
    for i in 0..<output {
        let src = (Double(i) + 0.5) / scale - 0.5
        let base = Int(src.rounded(.down)), t = src - Double(base)
        let weights = [far(t + 1), near(t), near(1 - t), far(2 - t)]
        for (k, w) in weights.enumerated() {
            m[element: i, Swift.min(Swift.max(base - 1 + k, 0), input - 1)] += w
        }
    }
    return m
}

extension Interpolation {
    /// Resamples any number of planes [C, H, W] to [C, height, width] with this filter — the kernel
    /// of ``Resize``, which takes images only — for label probabilities, masks and feature maps.
    /// Without antialiasing, bilinear is `F.interpolate(mode="bilinear", align_corners=False)` and
    /// nearest is PIL's `NEAREST` (the input pixel under each output pixel's centre).
    public func resize(_ planes: Tensor, height: Int, width: Int, antialias: Bool = false) -> Tensor {
        check(planes.rank == 3 && height > 0 && width > 0, "Interpolation.resize",
              "expects planes [C, H, W] and a positive size, got \(describe(planes.shape)) to \(height)×\(width)")
        return Resample.resize(planes, height: height, width: width, filter: self, antialias: antialias)
    }
}
