import Testing
import Tensor
@testable import Experiments

/// The plotting canvas clips whatever falls outside it, so a figure never traps on a label.
@Suite struct CanvasTests {
    @Test func drawingPastTheEdgesIsClipped() {
        var canvas = Canvas(width: 20, height: 10)
        canvas.text("a title far wider than the canvas", x: 2, y: 1)  // runs off the right edge
        canvas.fill(x: 25, y: 3, width: 4, height: 4, color: Canvas.black)  // wholly outside
        canvas.fill(x: -5, y: -5, width: 3, height: 3, color: Canvas.black)  // wholly outside
        canvas.fill(x: 18, y: 8, width: 5, height: 5, color: (1, 0, 0))  // partly inside
        let image = canvas.image
        #expect(image.shape == [3, 10, 20])
        #expect(image[element: 0, 9, 19] == 1 && image[element: 1, 9, 19] == 0)
        // "A"'s top row is .XXX. : dark from the second column on, white before it.
        #expect(image[element: 0, 1, 3] == 0 && image[element: 0, 1, 2] == 1)
    }
}
