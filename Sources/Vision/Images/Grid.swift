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
        grid.slice(axis: 1, start: top, end: top + h).slice(axis: 2, start: left, end: left + w).assign(image.converted(to: .float32))
    }
    return grid
}
