import Foundation
import Tensor
import Vision

/// A line chart with axes, ticks, a title and a legend, drawn on a ``Canvas``.
public struct LineChart {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(_ name: String, _ points: [(x: Double, y: Double)]) { (self.name, self.points) = (name, points) }
    }

    public var title: String
    public var xLabel: String, yLabel: String
    public var series: [Series]
    /// Fixed y range; nil to fit the data.
    public var yRange: ClosedRange<Double>?
    /// Draw x on a log₂ scale (data-set fractions).
    public var logX = false

    public init(title: String, xLabel: String, yLabel: String, series: [Series], yRange: ClosedRange<Double>? = nil,
                logX: Bool = false) {
        (self.title, self.xLabel, self.yLabel, self.series, self.yRange, self.logX)
            = (title, xLabel, yLabel, series, yRange, logX)
    }

    /// Renders the chart at `width × height` pixels.
    public func render(width: Int = 640, height: Int = 400) -> Canvas {
        var canvas = Canvas(width: width, height: height)
        let left = 70, right = 20, top = 40, bottom = 60
        let plotW = Double(width - left - right), plotH = Double(height - top - bottom)
        let all = series.flatMap(\.points)
        func tx(_ x: Double) -> Double { logX ? log2(Swift.max(x, 1e-12)) : x }
        let xs = all.map { tx($0.x) }, ys = all.map(\.y)
        var xLo = xs.min() ?? 0, xHi = xs.max() ?? 1
        if xHi == xLo { xLo -= 1; xHi += 1 }
        var yLo = yRange?.lowerBound ?? (ys.min() ?? 0), yHi = yRange?.upperBound ?? (ys.max() ?? 1)
        if yHi == yLo { yLo -= 0.5; yHi += 0.5 }
        if yRange == nil { let pad = (yHi - yLo) * 0.05; yLo -= pad; yHi += pad }
        func px(_ x: Double) -> Double { Double(left) + (tx(x) - xLo) / (xHi - xLo) * plotW }
        func py(_ y: Double) -> Double { Double(top) + (1 - (y - yLo) / (yHi - yLo)) * plotH }

        canvas.text(title, x: left, y: 12, scale: 2)
        // Axes and ticks.
        canvas.line(from: (Double(left), Double(top)), to: (Double(left), Double(top) + plotH), color: Canvas.black,
                    thickness: 1)
        canvas.line(from: (Double(left), Double(top) + plotH), to: (Double(left) + plotW, Double(top) + plotH),
                    color: Canvas.black, thickness: 1)
        for t in niceTicks(yLo, yHi) {
            let y = py(t)
            canvas.line(from: (Double(left) - 4, y), to: (Double(left) + plotW, y), color: (0.9, 0.9, 0.9),
                        thickness: 1)
            let label = formatTick(t)
            canvas.text(label, x: left - 8 - Canvas.textWidth(label), y: Int(y) - 3)
        }
        let xTicks = logX ? Array(Set(all.map(\.x))).sorted() : niceTicks(xLo, xHi)
        for t in xTicks {
            let x = px(t)
            canvas.line(from: (x, Double(top) + plotH), to: (x, Double(top) + plotH + 4), color: Canvas.black,
                        thickness: 1)
            let label = formatTick(t)
            canvas.text(label, x: Int(x) - Canvas.textWidth(label) / 2, y: top + Int(plotH) + 8)
        }
        canvas.text(xLabel, x: left + Int(plotW) / 2 - Canvas.textWidth(xLabel) / 2, y: height - 22)
        canvas.text(yLabel, x: 4, y: top - 14)
        // Series with markers, then the legend.
        for (k, s) in series.enumerated() {
            let color = Canvas.palette[k % Canvas.palette.count]
            let pts = s.points.map { (px($0.x), py($0.y)) }
            for (a, b) in zip(pts, pts.dropFirst()) { canvas.line(from: a, to: b, color: color) }
            if pts.count <= 30 { for p in pts { canvas.disc(at: p, radius: 3, color: color) } }
            let ly = top + 8 + 14 * k
            canvas.fill(x: left + Int(plotW) - 150, y: ly, width: 12, height: 7, color: color)
            canvas.text(s.name, x: left + Int(plotW) - 134, y: ly)
        }
        return canvas
    }
}

/// About five round tick values covering lo…hi.
func niceTicks(_ lo: Double, _ hi: Double) -> [Double] {
    let raw = (hi - lo) / 5
    let magnitude = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
    var ticks: [Double] = []
    var t = (lo / step).rounded(.up) * step
    while t <= hi + step * 1e-9 { ticks.append(t); t += step }
    return ticks
}

func formatTick(_ v: Double) -> String {
    if v == v.rounded() && Swift.abs(v) < 1e6 { return String(Int(v)) }
    let s = String(format: "%.3g", v)
    return s
}
