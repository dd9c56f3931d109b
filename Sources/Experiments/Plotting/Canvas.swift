import Foundation
import Tensor
import Vision

/// An RGB raster to draw figures on (lines, markers, rectangles, text, heat maps), saved as PNG.
/// Coordinates are pixels from the top-left corner; colours are (r, g, b) in 0…1.
public struct Canvas {
    public typealias Color = (Double, Double, Double)
    public let width: Int, height: Int
    var pixels: [Float]  // planar RGB

    public static let black: Color = (0, 0, 0), white: Color = (1, 1, 1), grey: Color = (0.6, 0.6, 0.6)
    /// Distinguishable series colours (matplotlib's tab10).
    public static let palette: [Color] = [
        (0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16), (0.58, 0.4, 0.74),
        (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.5, 0.5, 0.5), (0.74, 0.74, 0.13), (0.09, 0.75, 0.81),
    ]

    public init(width: Int, height: Int, background: Color = white) {
        (self.width, self.height) = (width, height)
        pixels = [Float](repeating: 0, count: 3 * width * height)
        fill(x: 0, y: 0, width: width, height: height, color: background)
    }

    /// The canvas as an image tensor [3, H, W].
    public var image: Tensor { Tensor(pixels, shape: [3, height, width]) }

    public func writePNG(to url: URL) throws { try ImageFile.writePNG(image, to: url) }

    public mutating func set(_ x: Int, _ y: Int, _ c: Color, alpha: Double = 1) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let plane = width * height, i = y * width + x, a = Float(alpha)
        pixels[i] = pixels[i] * (1 - a) + Float(c.0) * a
        pixels[plane + i] = pixels[plane + i] * (1 - a) + Float(c.1) * a
        pixels[2 * plane + i] = pixels[2 * plane + i] * (1 - a) + Float(c.2) * a
    }

    /// Fills a rectangle, clipped to the canvas (parts outside it, or all of it, are skipped).
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, color: Color) {
        let (x0, x1) = (Swift.max(0, x), Swift.min(width, x + w)),
            (y0, y1) = (Swift.max(0, y), Swift.min(height, y + h))
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 {
            for xx in x0..<x1 { set(xx, yy, color) }
        }
    }

    /// A straight line of the given thickness (Bresenham with square pens).
    public mutating func line(from a: (Double, Double), to b: (Double, Double), color: Color, thickness: Int = 2) {
        let steps = Int(Swift.max(Swift.abs(b.0 - a.0), Swift.abs(b.1 - a.1)).rounded(.up)) + 1
        for s in 0...steps {
            let t = Double(s) / Double(steps)
            let x = Int((a.0 + (b.0 - a.0) * t).rounded()), y = Int((a.1 + (b.1 - a.1) * t).rounded())
            fill(x: x - thickness / 2, y: y - thickness / 2, width: thickness, height: thickness, color: color)
        }
    }

    /// A filled disc marker.
    public mutating func disc(at c: (Double, Double), radius: Double, color: Color) {
        let r = Int(radius.rounded(.up))
        for dy in -r...r {
            for dx in -r...r where Double(dx * dx + dy * dy) <= radius * radius {
                set(Int(c.0.rounded()) + dx, Int(c.1.rounded()) + dy, color)
            }
        }
    }

    /// Text in the built-in 5×7 font scaled by `scale`; returns the width drawn.
    @discardableResult
    public mutating func text(_ string: String, x: Int, y: Int, color: Color = black, scale: Int = 1) -> Int {
        var cx = x
        for ch in string.uppercased() {
            if let rows = Font.glyphs[ch] {
                for (r, bits) in rows.enumerated() {
                    for c in 0..<5 where bits & (0x10 >> c) != 0 {
                        fill(x: cx + c * scale, y: y + r * scale, width: scale, height: scale, color: color)
                    }
                }
            }
            cx += 6 * scale
        }
        return cx - x
    }

    /// Width of `string` in pixels at `scale`.
    public static func textWidth(_ string: String, scale: Int = 1) -> Int { string.count * 6 * scale }

    /// Pastes an image tensor [3, h, w] (or [1, h, w]) in 0…1 with its top-left corner at (x, y).
    public mutating func draw(_ image: Tensor, x: Int, y: Int, alpha: Double = 1) {
        let img = image.converted(to: .float32).contiguous()
        let (c, h, w) = (img.shape[0], img.shape[1], img.shape[2])
        let v = img.scalars(as: Float.self)
        for yy in 0..<h {
            for xx in 0..<w {
                let k = yy * w + xx
                let color: Color = c == 1 ? (Double(v[k]), Double(v[k]), Double(v[k]))
                    : (Double(v[k]), Double(v[h * w + k]), Double(v[2 * h * w + k]))
                set(x + xx, y + yy, (Swift.min(Swift.max(color.0, 0), 1), Swift.min(Swift.max(color.1, 0), 1),
                                     Swift.min(Swift.max(color.2, 0), 1)), alpha: alpha)
            }
        }
    }
}
