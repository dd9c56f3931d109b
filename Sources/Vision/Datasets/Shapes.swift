import Foundation
import Tensor

/// The built-in data set: procedurally drawn coloured objects of 10 shape classes on textured
/// backgrounds with clutter, with each object's mask. It needs no files and is deterministic:
/// sample `i` of a given seed is always the same image, drawn on demand.
///
/// Each image has one object — disc, square, triangle, star, cross, ring, tee (T), diamond,
/// crescent or arrow — of random size (radius 30–45% of the image), position and rotation, over
/// a background of random colour, gradient, stripes or checks and noise, with thin lines and dots
/// as distractors drawn beneath and above it. Pixels are 4× supersampled so edges are
/// anti-aliased; the mask marks pixels the object covers by more than half.
///
/// The class is the shape. Like objects in photographs, each class also has a typical colour:
/// its hue lies within `hueSpread` of the class's own hue (class k: k/10 of the colour wheel),
/// so that with the default 0.1 a hue fits about two classes and only the shape tells them
/// apart. `hueSpread` 0.5 makes colour independent of the class, as in the first version of
/// Shapes, on which neither a random network's features nor self-supervision separated the
/// classes at this scale (Docs/Tutorial.md).
public struct Shapes: ImageDataset {
    public static let classNames = Shape.allCases.map { "\($0)" }

    /// The classes, in label order (a label is its raw value).
    enum Shape: Int, CaseIterable {
        case disc, square, triangle, star, cross, ring, tee, diamond, crescent, arrow
    }

    public let count: Int
    public let imageSize: Int
    public let seed: UInt64
    /// Half-width of the band of hues (a fraction of the colour wheel) around its class's hue
    /// that an object's colour is drawn from; 0.5 draws it from the whole wheel.
    public let hueSpread: Double
    /// The values `hueSpread` may take.
    public static let hueSpreads: ClosedRange<Double> = 0...0.5
    public var classes: [String] { Self.classNames }

    public init(count: Int, imageSize: Int = 32, seed: UInt64 = 0, hueSpread: Double = 0.1) {
        check(count >= 0 && imageSize >= 8, "Shapes",
              "needs count ≥ 0 and imageSize ≥ 8, got \(count), \(imageSize)")
        check(Self.hueSpreads.contains(hueSpread), "Shapes", "needs hueSpread in \(Self.hueSpreads), got \(hueSpread)")
        (self.count, self.imageSize, self.seed, self.hueSpread) = (count, imageSize, seed, hueSpread)
    }

    /// Labels cycle through the classes, so every prefix of the set is balanced.
    public func label(at index: Int) -> Int { index % Self.classNames.count }

    public func image(at index: Int) -> Tensor { sample(at: index).image }

    /// The mask [H, W] (float32, 1 on the object) of sample `index`.
    public func mask(at index: Int) -> Tensor { sample(at: index).mask }

    /// Sample `index`'s background and clutter without its object: a picture of nothing (the
    /// junk of the retrieval set).
    public func clutterImage(at index: Int) -> Tensor { sample(at: index, drawObject: false).image }

    /// Image [3, H, W], label and object mask [H, W] of sample `index`.
    public func sample(at index: Int) -> (image: Tensor, label: Int, mask: Tensor) {
        sample(at: index, drawObject: true)
    }

    func sample(at index: Int, drawObject: Bool) -> (image: Tensor, label: Int, mask: Tensor) {
        check(index >= 0 && index < count, "Shapes", "index \(index) out of range 0..<\(count)")
        let rng = RandomGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xD1B5_4A32_D192_ED03 &+ 1)
        let label = label(at: index)
        let s = imageSize
        var pixels = Self.background(size: s, rng: rng)
        let clutter = Self.clutter(size: s, rng: rng)
        for item in clutter where !item.onTop { item.draw(into: &pixels, size: s) }
        let object = Object(label: label, size: s, rng: rng, background: Self.meanColor(pixels), hueSpread: hueSpread)
        var mask = [Float](repeating: 0, count: s * s)
        if drawObject { object.draw(into: &pixels, mask: &mask, size: s) }
        for item in clutter where item.onTop { item.draw(into: &pixels, size: s) }
        let image = Tensor(empty: [3, s, s])
        let out = image.pointer(as: Float.self)
        for i in 0..<(3 * s * s) { out[i] = Swift.min(Swift.max(pixels[i], 0), 1) }
        return (image, label, Tensor(mask, shape: [s, s]))
    }

    // MARK: Drawing

    /// Planar RGB [3 × s × s]: base colour, a linear gradient, then stripes, checks or plain, then noise.
    static func background(size s: Int, rng: RandomGenerator) -> [Float] {
        let base = (0..<3).map { _ in Float(rng.uniform(0.1, 0.9)) }
        let other = (0..<3).map { _ in Float(rng.uniform(0.1, 0.9)) }
        let angle = rng.uniform(0, 2 * .pi)
        let gradient = Float(rng.uniform(0, 0.5))
        let texture = rng.nextInt(below: 3)  // 0 plain, 1 stripes, 2 checks
        let period = rng.uniform(3, 9), phase = rng.uniform(0, 2 * .pi), strength = Float(rng.uniform(0.05, 0.25))
        let noise = Float(rng.uniform(0.01, 0.05))
        var pixels = [Float](repeating: 0, count: 3 * s * s)
        let (ca, sa) = (cos(angle), sin(angle))
        for y in 0..<s {
            for x in 0..<s {
                let u = (Double(x) - Double(s) / 2) / Double(s), v = (Double(y) - Double(s) / 2) / Double(s)
                let along = u * ca + v * sa, across = -u * sa + v * ca
                let g = Float(along) * gradient
                var t: Float = 0
                switch texture {
                case 1: t = sin(2 * .pi * along * Double(s) / period + phase) > 0 ? strength : 0
                case 2: t = (sin(2 * .pi * along * Double(s) / period + phase) > 0)
                            != (sin(2 * .pi * across * Double(s) / period) > 0) ? strength : 0
                default: break
                }
                for c in 0..<3 {
                    let value = base[c] * (1 - t) + other[c] * t + g + noise * Float(rng.nextNormal())
                    pixels[c * s * s + y * s + x] = value
                }
            }
        }
        return pixels
    }

    static func meanColor(_ pixels: [Float]) -> [Float] {
        let plane = pixels.count / 3
        return (0..<3).map { c in pixels[(c * plane)..<((c + 1) * plane)].reduce(0, +) / Float(plane) }
    }

    /// A thin line or a small dot of random colour, drawn beneath or above the object.
    struct Distractor {
        let isLine: Bool
        let a: (Double, Double), b: (Double, Double)
        let width: Double
        let color: [Float]
        let onTop: Bool

        func draw(into pixels: inout [Float], size s: Int) {
            for y in 0..<s {
                for x in 0..<s {
                    let p = (Double(x) + 0.5, Double(y) + 0.5)
                    let d: Double
                    if isLine {
                        let (dx, dy) = (b.0 - a.0, b.1 - a.1)
                        let t = Swift.max(0, Swift.min(1, ((p.0 - a.0) * dx + (p.1 - a.1) * dy)
                                                          / Swift.max(dx * dx + dy * dy, 1e-9)))
                        d = hypot(p.0 - a.0 - t * dx, p.1 - a.1 - t * dy)
                    } else {
                        d = hypot(p.0 - a.0, p.1 - a.1)
                    }
                    let coverage = Float(Swift.max(0, Swift.min(1, width / 2 - d + 0.5)))
                    guard coverage > 0 else { continue }
                    for c in 0..<3 {
                        let i = c * s * s + y * s + x
                        pixels[i] = pixels[i] * (1 - coverage) + color[c] * coverage
                    }
                }
            }
        }
    }

    static func clutter(size s: Int, rng: RandomGenerator) -> [Distractor] {
        let n = rng.nextInt(below: 4)
        let scale = Double(s)
        return (0..<n).map { _ in
            let isLine = rng.nextUniform() < 0.6
            let a = (rng.uniform(0, scale), rng.uniform(0, scale))
            let length = rng.uniform(0.15, 0.5) * scale, angle = rng.uniform(0, 2 * .pi)
            return Distractor(isLine: isLine, a: a, b: (a.0 + length * cos(angle), a.1 + length * sin(angle)),
                              width: isLine ? rng.uniform(0.6, 1.6) * scale / 32 : rng.uniform(1.5, 3.5) * scale / 32,
                              color: (0..<3).map { _ in Float(rng.nextUniform()) }, onTop: rng.nextUniform() < 0.15)
        }
    }

    /// The object: a shape class drawn in its own frame (unit radius), rotated, scaled and placed.
    struct Object {
        let label: Int
        var center: (Double, Double)
        var radius: Double
        var rotation: Double
        let color: [Float]

        init(label: Int, size s: Int, rng: RandomGenerator, background: [Float], hueSpread: Double) {
            self.label = label
            radius = rng.uniform(0.3, 0.45) * Double(s)
            let margin = radius * 0.8
            center = (rng.uniform(margin, Double(s) - margin), rng.uniform(margin, Double(s) - margin))
            rotation = rng.uniform(0, 2 * .pi)
            self.color = Self.contrastingColor(hue: Double(label) / Double(Shapes.classNames.count), spread: hueSpread,
                                               rng: rng, background: background)
        }

        /// A colour of the class's hue band (saturation and value 0.5–1) that stands out from the
        /// mean background by a visible margin (L1 distance 0.6), or the most distant of 100 tries.
        static func contrastingColor(hue: Double, spread: Double, rng: RandomGenerator,
                                     background: [Float]) -> [Float] {
            var best: (color: [Float], distance: Float) = ([], -1)
            for _ in 0..<100 {
                let h = hue + rng.uniform(-spread, spread)
                let rgb = hsvToRGB(h - h.rounded(.down), rng.uniform(0.5, 1), rng.uniform(0.5, 1))
                let color = [Float(rgb.r), Float(rgb.g), Float(rgb.b)]
                var distance: Float = 0
                for c in 0..<3 { distance += Swift.abs(color[c] - background[c]) }
                if distance >= 0.6 { return color }
                if distance > best.distance { best = (color, distance) }
            }
            return best.color
        }


        func draw(into pixels: inout [Float], mask: inout [Float], size s: Int) {
            let (ca, sa) = (cos(rotation), sin(rotation))
            let offsets = [0.125, 0.375, 0.625, 0.875]
            let reach = radius * 1.05 + 1
            let y0 = Swift.max(0, Int(center.1 - reach)), y1 = Swift.min(s, Int(center.1 + reach) + 1)
            let x0 = Swift.max(0, Int(center.0 - reach)), x1 = Swift.min(s, Int(center.0 + reach) + 1)
            guard y0 < y1, x0 < x1 else { return }
            for y in y0..<y1 {
                for x in x0..<x1 {
                    var hits = 0
                    for oy in offsets {
                        for ox in offsets {
                            let dx = (Double(x) + ox - center.0) / radius, dy = (Double(y) + oy - center.1) / radius
                            if Shapes.contains(label, dx * ca + dy * sa, -dx * sa + dy * ca) { hits += 1 }
                        }
                    }
                    guard hits > 0 else { continue }
                    let coverage = Float(hits) / 16
                    for c in 0..<3 {
                        let i = c * s * s + y * s + x
                        pixels[i] = pixels[i] * (1 - coverage) + color[c] * coverage
                    }
                    if coverage > 0.5 { mask[y * s + x] = 1 }
                }
            }
        }
    }

    /// Whether point (u, v) of the object's frame (unit radius) lies inside shape `label`.
    static func contains(_ label: Int, _ u: Double, _ v: Double) -> Bool {
        let r2 = u * u + v * v
        switch Shape(rawValue: label) ?? .arrow {
        case .disc: return r2 <= 0.8
        case .square: return Swift.abs(u) <= 0.72 && Swift.abs(v) <= 0.72
        case .triangle: return inside(polygons.triangle, u, v)
        case .star: return inside(polygons.star, u, v)
        case .cross: return (Swift.abs(u) <= 0.3 && Swift.abs(v) <= 0.95)
                         || (Swift.abs(v) <= 0.3 && Swift.abs(u) <= 0.95)
        case .ring: return r2 <= 0.9 && r2 >= 0.3
        case .tee: return (Swift.abs(u) <= 0.9 && v >= -0.85 && v <= -0.4)
                       || (Swift.abs(u) <= 0.22 && v >= -0.85 && v <= 0.9)
        case .diamond: return Swift.abs(u) / 0.65 + Swift.abs(v) <= 1
        case .crescent: return r2 <= 0.85 && (u - 0.45) * (u - 0.45) + v * v > 0.5
        case .arrow: return inside(polygons.arrow, u, v)
        }
    }

    static let polygons = (
        triangle: regular(3, radius: 1),
        star: (0..<10).map { k -> (Double, Double) in
            let r = k % 2 == 0 ? 1.0 : 0.42, a = Double(k) * .pi / 5 - .pi / 2
            return (r * cos(a), r * sin(a))
        },
        arrow: [(-0.9, -0.25), (0.2, -0.25), (0.2, -0.65), (0.95, 0), (0.2, 0.65), (0.2, 0.25),
                (-0.9, 0.25)] as [(Double, Double)]
    )

    static func regular(_ n: Int, radius: Double) -> [(Double, Double)] {
        (0..<n).map { k in
            (radius * cos(2 * .pi * Double(k) / Double(n) - .pi / 2),
             radius * sin(2 * .pi * Double(k) / Double(n) - .pi / 2))
        }
    }

    /// Even–odd point-in-polygon test.
    static func inside(_ polygon: [(Double, Double)], _ x: Double, _ y: Double) -> Bool {
        var result = false
        var j = polygon.count - 1
        for i in polygon.indices {
            let (xi, yi) = polygon[i], (xj, yj) = polygon[j]
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi { result.toggle() }
            j = i
        }
        return result
    }
}
