import Foundation
import Testing
import Tensor
import Vision
@testable import Experiments
import Zoo

/// Figures drawn through Cairo: laid out from measured text, written as PNG and SVG.
@Suite struct FigureTests {
    /// Many series, long names, dense ticks: no two pieces of text overlap and all lie inside the figure.
    @Test func chartTextNeverOverlaps() {
        let series = (0..<6).map { k in
            LineChart.Series("a rather long series name \(k)", (0..<40).map { (Double($0) * 1234.5, Double(k * $0)) })
        }
        for (width, height) in [(560.0, 340.0), (320.0, 220.0)] {
            let chart = LineChart(title: "A title that is much too long to fit across a narrow chart at its size",
                                  xLabel: "training images", yLabel: "top-1 accuracy on the test set (%)",
                                  series: series, width: width, height: height)
            let layout = Painter.measuring { chart.layout($0) }
            let texts = layout.texts
            #expect(layout.xTicks.count >= 2 && layout.yTicks.count >= 2)
            for (i, a) in texts.enumerated() {
                #expect(a.x >= 0 && a.y >= 0 && a.x + a.width <= width + 1e-9 && a.y + a.height <= height + 1e-9,
                        "\(a.text) at \(a.x), \(a.y) outside \(width) × \(height)")
                for b in texts[(i + 1)...] { #expect(!a.overlaps(b), "'\(a.text)' overlaps '\(b.text)'") }
            }
        }
    }

    /// A log axis over 300…30 000 images is labelled at round values, in order, with k for thousands.
    @Test func logAxisTicks() {
        let axis = LineChart.Axis(values: [300, 30000], range: nil, scale: .log)
        let ticks = axis.ticks
        #expect(ticks == [500, 1000, 2000, 5000, 10000, 20000])
        #expect(ticks.map(tickLabel) == ["500", "1000", "2000", "5000", "10k", "20k"])
        #expect(tickLabel(1.5e6) == "1.5M" && tickLabel(0.25) == "0.25" && tickLabel(-2) == "-2")
        #expect(niceTicks(0, 100) == [0, 20, 40, 60, 80, 100])
        #expect(niceTicks(-0.6, 12.6) == [0, 2.5, 5, 7.5, 10, 12.5])
        #expect(niceTicks(-0.6, 12.6, integers: true) == [0, 5, 10])
        #expect(niceTicks(1.08, 2.38).count == 6 && niceTicks(1.08, 2.38).first! > 1.19 && niceTicks(0, 0.9).count >= 4)
    }

    /// The PNG holds the drawing at twice the size in points, the SVG is a vector file of the same size.
    @Test func writesPNGAndSVG() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-figure-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let chart = LineChart(title: "loss", xLabel: "step", yLabel: "loss",
                              series: [LineChart.Series("a", [(1, 2), (2, 1), (3, 0.5)])], width: 300, height: 200)
        let name = try chart.figure().write(to: folder, name: "loss")
        #expect(name == "loss.png")
        let png = try ImageFile.read(folder.appendingPathComponent("loss.png"))
        #expect(png.shape == [3, 400, 600])
        let svg = try String(contentsOf: folder.appendingPathComponent("loss.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") && svg.contains("width=\"300pt\"") && svg.contains("height=\"200pt\""))
        // No partial files are left beside them.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["loss.png", "loss.svg"])
        // The series is drawn in its colour (tab10 blue) somewhere inside the plot.
        let raster = try chart.figure().rasterized()
        let (r, g, b) = (raster.select(axis: 0, index: 0), raster.select(axis: 0, index: 1),
                         raster.select(axis: 0, index: 2))
        let blue = ((r - 0.12).abs() + (g - 0.47).abs() + (b - 0.71).abs()) .< 0.05
        #expect(blue.converted(to: .float32).sum().item() > 20)
    }

    /// A folder that does not exist: a named error, no crash.
    @Test func unwritableFolderThrows() {
        let chart = LineChart(title: "t", xLabel: "x", yLabel: "y", series: [LineChart.Series("a", [(0, 0), (1, 1)])])
        #expect(throws: FigureError.self) {
            try chart.figure().writePNG(to: URL(fileURLWithPath: "/nonexistent-folder-\(UUID())/a.png"))
        }
    }

    /// The shared colour scale: −1 and 1 map to the colour map's ends whatever the map's own range.
    @Test func heatMapUsesTheGivenRange() {
        let image = heatMap(Tensor([-1.0, 0.5, 1.0], shape: [1, 3]), range: -1...1)
        let low = viridis(0), high = viridis(1)
        #expect(abs(Double(image[element: 0, 0, 0]) - low.red) < 1e-6)
        #expect(abs(Double(image[element: 2, 0, 2]) - high.blue) < 1e-6)
    }

    /// A 4 × 4 grid of position embeddings: the figure is at least as wide as its title.
    @Test func positionSimilarityFigureOfACoarseGrid() {
        let vit = VisionTransformer(ViTConfig(imageSize: 32, patchSize: 8, embedDim: 24, depth: 1, numHeads: 2))
        let figure = Report.positionSimilarityFigure(vit, of: "DINO ViT")
        let titleWidth = Painter.measuring {
            $0.measure("Position embedding similarity (DINO ViT, 4 × 4 patches)", size: ImagePanels.titleSize,
                       bold: true).width
        }
        #expect(figure.width >= titleWidth && figure.height > 4 * 28)
    }
}
