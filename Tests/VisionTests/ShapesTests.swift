import Testing
import Tensor
@testable import Vision

@Suite struct ShapesTests {
    @Test func deterministicBalancedAndMasked() {
        let shapes = Shapes(count: 50, seed: 7)
        let a = shapes.sample(at: 13), b = Shapes(count: 50, seed: 7).sample(at: 13)
        expectClose(a.image, b.image, atol: 0, rtol: 0)
        #expect(a.label == b.label && a.label == 3)
        #expect(shapes.image(at: 14).doubles != shapes.image(at: 24).doubles)
        #expect(Shapes(count: 50, seed: 8).image(at: 13).doubles != a.image.doubles)
        #expect(a.image.shape == [3, 32, 32] && a.mask.shape == [32, 32])
        #expect(a.image.min().item() >= 0 && a.image.max().item() <= 1)
        // Every class appears equally often; every object covers a sensible part of the image.
        #expect((0..<50).map { shapes.label(at: $0) }.filter { $0 == 9 }.count == 5)
        for i in 0..<50 {
            let covered = shapes.mask(at: i).mean().item()
            #expect(covered > 0.02 && covered < 0.6, "sample \(i) covers \(covered)")
        }
    }

    /// An object's hue lies within `hueSpread` of its class's hue (class k: k/10 of the wheel).
    @Test func objectHuesFollowTheirClass() {
        func objectHue(_ shapes: Shapes, _ i: Int) -> (hue: Double, label: Int) {
            let (image, label, mask) = shapes.sample(at: i)
            let covered = mask.scalars(as: Float.self), pixels = image.scalars(as: Float.self)
            let inside = covered.indices.filter { covered[$0] == 1 }
            // The median of each channel over the mask: the object's colour, whatever lines cross it.
            let rgb = (0..<3).map { c in
                Double(inside.map { pixels[c * covered.count + $0] }.sorted()[inside.count / 2])
            }
            return (rgbToHSV(rgb[0], rgb[1], rgb[2]).h, label)
        }
        func distanceToClassHue(_ h: (hue: Double, label: Int)) -> Double {
            let d = abs(h.hue - Double(h.label) / 10)
            return min(d, 1 - d)
        }
        let typical = Shapes(count: 100, seed: 3), any = Shapes(count: 100, seed: 3, hueSpread: 0.5)
        let near = (0..<100).map { distanceToClassHue(objectHue(typical, $0)) }
        #expect(near.max()! <= 0.1 + 0.01, "hues stray up to \(near.max()!) from their class's")
        let far = (0..<100).map { distanceToClassHue(objectHue(any, $0)) }
        #expect(far.filter { $0 > 0.2 }.count > 30, "with hueSpread 0.5 hues should ignore the class")
    }

    @Test func imageSizeIsConfigurable() {
        let s = Shapes(count: 3, imageSize: 64, seed: 1).sample(at: 2)
        #expect(s.image.shape == [3, 64, 64] && s.mask.shape == [64, 64])
    }

    @Test func gridTilesImages() {
        let grid = imageGrid([Tensor.zeros([3, 4, 5]), Tensor.ones([3, 4, 5]), Tensor.zeros([3, 4, 5])],
                             columns: 2, padding: 1, background: 0.5)
        #expect(grid.shape == [3, 11, 13])
        #expect(grid[element: 0, 0, 0] == 0.5 && grid[element: 0, 1, 1] == 0 && grid[element: 0, 1, 7] == 1)
    }

    /// Moving-Shapes videos: deterministic, every object visible in the first frame, objects that
    /// move (their centroids travel), and labels only 0…objects.
    @Test func movingShapesMoveAndAreDeterministic() {
        let videos = MovingShapes(count: 3, frames: 12, imageSize: 48, objects: 2, seed: 4)
        let a = videos.video(at: 1), b = videos.video(at: 1)
        #expect(a.frames.count == 12 && a.masks.count == 12 && a.frames[0].shape == [3, 48, 48])
        #expect(a.frames[5].scalars(as: Float.self) == b.frames[5].scalars(as: Float.self))
        for v in 0..<3 {
            let masks = videos.video(at: v).masks.map { $0.scalars(as: Int32.self) }
            #expect(Set(masks[0]) == [0, 1, 2], "video \(v) first frame labels \(Set(masks[0]))")
            #expect(masks.allSatisfy { $0.allSatisfy { (0...2).contains($0) } })
            func centroid(_ m: [Int32], _ k: Int32) -> (Double, Double) {
                let on = m.indices.filter { m[$0] == k }
                return (Double(on.map { $0 / 48 }.reduce(0, +)) / Double(max(on.count, 1)),
                        Double(on.map { $0 % 48 }.reduce(0, +)) / Double(max(on.count, 1)))
            }
            let (start, end) = (centroid(masks[0], 1), centroid(masks[11], 1))
            #expect(abs(start.0 - end.0) + abs(start.1 - end.1) > 5, "video \(v): object 1 hardly moves")
        }
    }
}
