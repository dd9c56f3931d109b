import Foundation
import Tensor
import Vision

/// A grid of image panels (images, masks, heat maps) with a title, column titles, row labels and,
/// for heat maps on a shared scale, a colour bar.
public struct ImagePanels {
    /// Rows of panels: RGB images [3, h, w] or grey [1, h, w] in 0…1; nil leaves a cell empty.
    public var rows: [[Tensor?]]
    public var title: String
    public var columnTitles: [String]
    public var rowTitles: [String]
    /// A viridis colour bar for heat maps drawn with `heatMap(_:range:)` over this range.
    public var colorBar: (label: String, range: ClosedRange<Double>)?
    /// The side of one panel and the gap between panels, in points.
    public var panelSize: Double, gap: Double
    public var smooth = false

    public init(rows: [[Tensor?]], title: String, columnTitles: [String] = [], rowTitles: [String] = [],
                colorBar: (label: String, range: ClosedRange<Double>)? = nil, panelSize: Double = 64,
                gap: Double = 4) {
        (self.rows, self.title, self.columnTitles, self.rowTitles) = (rows, title, columnTitles, rowTitles)
        (self.colorBar, self.panelSize, self.gap) = (colorBar, panelSize, gap)
    }

    static let titleSize = 13.0, headingSize = 9.5, pad = 10.0

    public func figure() -> Figure {
        let columns = rows.map(\.count).max() ?? 0
        let (titleWidth, titleHeight, headingHeight, columnTitleWidths, rowTitleWidth, barLabelWidths)
            = Painter.measuring { p in
                (p.measure(title, size: Self.titleSize, bold: true).width,
                 p.measure(title, size: Self.titleSize, bold: true).height,
                 p.measure("Ag", size: Self.headingSize).height,
                 columnTitles.map { p.measure($0, size: Self.headingSize).width },
                 rowTitles.map { p.measure($0, size: Self.headingSize).width }.max() ?? 0,
                 colorBar.map { bar in
                     [bar.range.lowerBound, bar.range.upperBound].map {
                         p.measure(tickLabel($0), size: Self.headingSize).width
                     } + [p.measure(bar.label, size: Self.headingSize).height]
                 } ?? [])
            }
        // Column titles wider than a panel widen the columns, so headings never run together.
        let cell = Swift.max(panelSize, (columnTitleWidths.max() ?? 0) + 2)
        let left = Self.pad + (rowTitleWidth > 0 ? rowTitleWidth + 6 : 0)
        let top = Self.pad + titleHeight + 6 + (columnTitles.isEmpty ? 0 : headingHeight + 3)
        let gridWidth = Double(columns) * cell + Double(Swift.max(columns - 1, 0)) * gap
        let gridHeight = Double(rows.count) * panelSize + Double(Swift.max(rows.count - 1, 0)) * gap
        let barWidth = colorBar == nil ? 0 : 12 + 4 + (barLabelWidths.prefix(2).max() ?? 0) + 4
            + (barLabelWidths.last ?? 0) + 4
        let width = Swift.max(left + gridWidth + (barWidth > 0 ? 12 + barWidth : 0) + Self.pad,
                              titleWidth + 2 * Self.pad)
        let height = top + gridHeight + Self.pad
        return Figure(width: width, height: height) { p in
            p.text(title, x: Self.pad, y: Self.pad, size: Self.titleSize, bold: true)
            for (c, heading) in columnTitles.enumerated() where c < columns {
                p.text(heading, x: left + Double(c) * (cell + gap) + cell / 2, y: top - headingHeight - 3,
                       size: Self.headingSize, anchor: .center, color: Painter.grey)
            }
            for (r, row) in rows.enumerated() {
                let y = top + Double(r) * (panelSize + gap)
                if r < rowTitles.count {
                    p.text(rowTitles[r], x: left - 6, y: y + panelSize / 2, size: Self.headingSize, anchor: .trailing,
                           baseline: .middle, color: Painter.grey)
                }
                for (c, panel) in row.enumerated() {
                    guard let panel else { continue }
                    let x = left + Double(c) * (cell + gap) + (cell - panelSize) / 2
                    p.image(panel, x: x, y: y, width: panelSize, height: panelSize, smooth: smooth)
                }
            }
            if let bar = colorBar {
                let x = left + gridWidth + 12, barHeight = Swift.min(gridHeight, 220)
                let ramp = heatMap(Tensor((0..<64).map { 1 - Double($0) / 63 }, shape: [64, 1]), range: 0...1)
                p.image(ramp, x: x, y: top, width: 12, height: barHeight, smooth: true)
                p.rectangle(x: x, y: top, width: 12, height: barHeight, stroke: Painter.grey, lineWidth: 0.5)
                p.text(tickLabel(bar.range.upperBound), x: x + 16, y: top, size: Self.headingSize)
                p.text(tickLabel(bar.range.lowerBound), x: x + 16, y: top + barHeight, size: Self.headingSize,
                       baseline: .bottom)
                let labelX = x + 16 + (barLabelWidths.prefix(2).max() ?? 0) + 4
                p.text(bar.label, x: labelX, y: top + barHeight / 2, size: Self.headingSize, anchor: .center,
                       rotated: true)
            }
        }
    }
}
