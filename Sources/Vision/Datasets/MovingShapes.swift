import Foundation
import Tensor

/// Videos of the built-in Shapes for video object segmentation: `objects` shapes of distinct
/// classes over a static Shapes background with clutter, each translating (bouncing off the
/// borders), rotating and changing size over `frames` frames; they start on opposite sides and
/// move across each other, so the later-drawn object occludes the earlier one on the way.
/// Deterministic like Shapes: video `i` of a seed is always the same.
///
/// The masks are DAVIS's label maps: 0 background, k the k-th object (the top one where they overlap).
public struct MovingShapes: Sendable {
    public let count: Int
    public let frames: Int
    public let imageSize: Int
    public let objects: Int
    public let seed: UInt64

    public init(count: Int, frames: Int = 30, imageSize: Int = 64, objects: Int = 2, seed: UInt64 = 0) {
        check(count >= 0 && frames >= 3 && imageSize >= 16 && (1...4).contains(objects), "MovingShapes",
              "needs count ≥ 0, frames ≥ 3, imageSize ≥ 16 and 1...4 objects, got \(count), \(frames), "
              + "\(imageSize), \(objects)")
        (self.count, self.frames, self.imageSize, self.objects, self.seed) = (count, frames, imageSize, objects, seed)
    }

    /// The frames [3, H, W] and label maps [H, W] (int32) of video `index`.
    public func video(at index: Int) -> (frames: [Tensor], masks: [Tensor]) {
        check(index >= 0 && index < count, "MovingShapes", "index \(index) out of range 0..<\(count)")
        let rng = RandomGenerator(seed: seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15 &+ 7)
        let s = imageSize, size = Double(s)
        let background = Shapes.background(size: s, rng: rng)
        let clutter = Shapes.clutter(size: s, rng: rng)
        var base = background
        for item in clutter where !item.onTop { item.draw(into: &base, size: s) }
        var classes = Array(0..<Shapes.classNames.count)
        for i in 0..<objects { classes.swapAt(i, i + rng.nextInt(below: classes.count - i)) }
        let labels = classes.prefix(objects)
        // Start on opposite sides of the centre, heading across it.
        let start = rng.uniform(0, 2 * .pi)
        let motions = labels.enumerated().map { k, label -> (Shapes.Object, velocity: (Double, Double),
                                                             spin: Double, growth: Double) in
            var object = Shapes.Object(label: label, size: s, rng: rng, background: Shapes.meanColor(base),
                                       hueSpread: 0.1)
            object.radius = rng.uniform(0.16, 0.22) * size
            let angle = start + Double(k) * 2 * .pi / Double(objects)
            object.center = (size / 2 + 0.3 * size * cos(angle), size / 2 + 0.3 * size * sin(angle))
            let speed = rng.uniform(0.5, 0.7) * size / Double(frames)
            let heading = angle + .pi + rng.uniform(-0.4, 0.4)
            return (object, (speed * cos(heading), speed * sin(heading)), rng.uniform(-1.5, 1.5) / Double(frames),
                    rng.uniform(-0.3, 0.3) / Double(frames))
        }
        var states = motions.map(\.0), velocities = motions.map(\.velocity)
        var images: [Tensor] = [], masks: [Tensor] = []
        for t in 0..<frames {
            var pixels = base
            var labelMap = [Int32](repeating: 0, count: s * s)
            for (k, object) in states.enumerated() {
                var covered = [Float](repeating: 0, count: s * s)
                object.draw(into: &pixels, mask: &covered, size: s)
                for i in covered.indices where covered[i] > 0 { labelMap[i] = Int32(k + 1) }
            }
            for item in clutter where item.onTop { item.draw(into: &pixels, size: s) }
            let image = Tensor(empty: [3, s, s])
            let out = image.pointer(as: Float.self)
            for i in 0..<(3 * s * s) { out[i] = Swift.min(Swift.max(pixels[i], 0), 1) }
            images.append(image)
            masks.append(Tensor(labelMap, shape: [s, s]))
            guard t + 1 < frames else { break }
            for k in states.indices {
                var o = states[k]
                var (vx, vy) = velocities[k]
                o.center = (o.center.0 + vx, o.center.1 + vy)
                // Bounce off the borders, keeping most of the object inside.
                let margin = o.radius * 0.8
                if o.center.0 < margin || o.center.0 > size - margin { vx = -vx }
                if o.center.1 < margin || o.center.1 > size - margin { vy = -vy }
                o.center = (Swift.min(Swift.max(o.center.0, margin), size - margin),
                            Swift.min(Swift.max(o.center.1, margin), size - margin))
                o.rotation += motions[k].spin * 2 * .pi
                o.radius *= 1 + motions[k].growth
                states[k] = o
                velocities[k] = (vx, vy)
            }
        }
        return (images, masks)
    }
}
