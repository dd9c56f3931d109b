import Tensor

/// Tiles images [3, H, W] (equal sizes) into one image, row by row, with `padding` pixels of
/// `background` between them (`torchvision.utils.make_grid`).
public func imageGrid(_ images: [Tensor], columns: Int, padding: Int = 2, background: Double = 1) -> Tensor {
    check(!images.isEmpty && columns > 0, "imageGrid", "needs images and columns > 0")
    let (c, h, w) = (images[0].shape[0], images[0].shape[1], images[0].shape[2])
    check(images.allSatisfy { $0.shape == [c, h, w] }, "imageGrid", "images differ in shape")
    let rows = (images.count + columns - 1) / columns
    let grid = Tensor.full([c, rows * (h + padding) + padding, columns * (w + padding) + padding], background)
    for (k, image) in images.enumerated() {
        let top = padding + (k / columns) * (h + padding), left = padding + (k % columns) * (w + padding)
        grid.slice(axis: 1, start: top, end: top + h).slice(axis: 2, start: left, end: left + w)
            .assign(image.converted(to: .float32))
    }
    return grid
}

/// A perceptually ordered colour map (an approximation of matplotlib's viridis) for heat maps.
public func viridis(_ t: Double) -> (red: Double, green: Double, blue: Double) {
    let stops: [(Double, Double, Double)] = [(0.267, 0.005, 0.329), (0.229, 0.322, 0.546), (0.128, 0.567, 0.551),
                                             (0.369, 0.789, 0.383), (0.993, 0.906, 0.144)]
    let x = Swift.min(Swift.max(t, 0), 1) * Double(stops.count - 1)
    let i = Swift.min(Int(x), stops.count - 2), f = x - Double(i)
    let a = stops[i], b = stops[i + 1]
    return (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f, a.2 + (b.2 - a.2) * f)
}

/// A heat map [h, w] as an RGB image [3, h, w]: `range` maps to the colour map's ends (values
/// outside it are clipped); nil scales the map to its own minimum and maximum.
public func heatMap(_ values: Tensor, range: ClosedRange<Double>? = nil) -> Tensor {
    let v = values.converted(to: .float64).contiguous()
    let (h, w) = (v.shape[0], v.shape[1])
    let flat = v.scalars(as: Double.self)
    let lo = range?.lowerBound ?? flat.min() ?? 0, hi = range?.upperBound ?? flat.max() ?? 1
    var out = [Float](repeating: 0, count: 3 * h * w)
    for (i, x) in flat.enumerated() {
        let c = viridis(hi > lo ? (x - lo) / (hi - lo) : 0)
        (out[i], out[h * w + i], out[2 * h * w + i]) = (Float(c.0), Float(c.1), Float(c.2))
    }
    return Tensor(out, shape: [3, h, w])
}
