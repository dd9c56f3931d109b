import Foundation

/// A line or scatter chart: axes with ticks on linear or log scales, a title, axis labels and a
/// legend beside the plot, laid out from measured text so that no two labels overlap.
public struct LineChart {
    public enum Scale: Sendable { case linear, log }
    public enum Style: Sendable { case lineAndMarkers, line, markers }

    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var style: Style
        public init(_ name: String, _ points: [(x: Double, y: Double)], style: Style = .lineAndMarkers) {
            (self.name, self.points, self.style) = (name, points, style)
        }
    }

    public var title: String
    public var xLabel: String, yLabel: String
    public var series: [Series]
    /// Fixed axis ranges; nil fits the data with a margin.
    public var xRange: ClosedRange<Double>?, yRange: ClosedRange<Double>?
    public var xScale: Scale, yScale: Scale
    /// Tick positions to label on x (the data sizes, say); nil chooses round values.
    public var xTicks: [Double]?
    /// Horizontal dashed lines with a legend entry (chance level, a baseline).
    public var referenceLines: [(label: String, y: Double)] = []
    public var width: Double, height: Double

    public init(title: String, xLabel: String, yLabel: String, series: [Series],
                xRange: ClosedRange<Double>? = nil, yRange: ClosedRange<Double>? = nil,
                xScale: Scale = .linear, yScale: Scale = .linear, xTicks: [Double]? = nil,
                width: Double = 560, height: Double = 340) {
        (self.title, self.xLabel, self.yLabel, self.series) = (title, xLabel, yLabel, series)
        (self.xRange, self.yRange, self.xScale, self.yScale, self.xTicks) = (xRange, yRange, xScale, yScale, xTicks)
        (self.width, self.height) = (width, height)
    }

    static let titleSize = 14.0, labelSize = 12.0, tickSize = 10.0, legendSize = 10.5, pad = 10.0, tickLength = 4.0

    /// A placed piece of text, for drawing and for checking that nothing overlaps.
    struct TextBox {
        var text: String, x: Double, y: Double, width: Double, height: Double, size: Double
        var bold = false, rotated = false
        func overlaps(_ o: TextBox) -> Bool {
            x < o.x + o.width && o.x < x + width && y < o.y + o.height && o.y < y + height
        }
    }

    /// Where everything goes: the plot rectangle, the axes' mappings and every text box.
    struct Layout {
        var plotX = 0.0, plotY = 0.0, plotWidth = 0.0, plotHeight = 0.0
        var x = Axis(), y = Axis()
        var xTicks: [(value: Double, label: TextBox)] = [], yTicks: [(value: Double, label: TextBox)] = []
        var title: TextBox?, xLabel: TextBox?, yLabel: TextBox?
        var legend: [TextBox] = []
        var texts: [TextBox] {
            [title, xLabel, yLabel].compactMap { $0 } + xTicks.map(\.label) + yTicks.map(\.label) + legend
        }
        func px(_ v: Double) -> Double { plotX + x.fraction(v) * plotWidth }
        func py(_ v: Double) -> Double { plotY + (1 - y.fraction(v)) * plotHeight }
    }

    /// One axis: its range in scale space (log10 on a log axis) and its scale.
    struct Axis {
        var lo = 0.0, hi = 1.0, scale = Scale.linear
        /// Every value a whole number (epochs, layers): ticks too.
        var integral = false
        func transform(_ v: Double) -> Double { scale == .log ? log10(Swift.max(v, 1e-300)) : v }
        func fraction(_ v: Double) -> Double { (transform(v) - lo) / (hi - lo) }

        init() {}
        init(values: [Double], range: ClosedRange<Double>?, scale: Scale) {
            self.scale = scale
            integral = !values.isEmpty && values.allSatisfy { $0 == $0.rounded() }
            if let range { (lo, hi) = (transform(range.lowerBound), transform(range.upperBound)); return }
            let t = values.filter { scale == .linear || $0 > 0 }.map(transform)
            (lo, hi) = (t.min() ?? 0, t.max() ?? 1)
            if hi - lo < 1e-12 { (lo, hi) = (lo - 0.5, hi + 0.5) }
            let margin = (hi - lo) * 0.05
            (lo, hi) = (lo - margin, hi + margin)
        }

        /// Round tick values inside the range: 1-2-2.5-5 steps, or decades (with 2 and 5 between
        /// when the range spans less than two) on a log axis.
        var ticks: [Double] {
            guard scale == .log else { return niceTicks(lo, hi, integers: integral) }
            let decades = (Int(lo.rounded(.down))...Int(hi.rounded(.up)))
            for multiples in [[1.0], [1, 2, 5], [1, 1.5, 2, 3, 5, 7]] {
                let ticks = decades.flatMap { d in multiples.map { $0 * pow(10, Double(d)) } }
                    .filter { (lo - 1e-9...hi + 1e-9).contains(log10($0)) }
                if ticks.count >= 3 { return ticks }
            }
            return niceTicks(pow(10, lo), pow(10, hi))
        }
    }

    func layout(_ painter: Painter) -> Layout {
        var l = Layout()
        let all = series.flatMap(\.points)
        l.x = Axis(values: all.map(\.x), range: xRange, scale: xScale)
        l.y = Axis(values: all.map(\.y), range: yRange, scale: yScale)
        func box(_ text: String, size: Double, bold: Bool = false) -> TextBox {
            let m = painter.measure(text, size: size, bold: bold)
            return TextBox(text: text, x: 0, y: 0, width: m.width, height: m.height, size: size, bold: bold)
        }
        /// Text that shrinks to at most `maxWidth`, down to 7 points, then loses characters behind an ellipsis.
        func fitted(_ text: String, size: Double, bold: Bool = false, maxWidth: Double) -> TextBox {
            var b = box(text, size: size, bold: bold)
            while b.width > maxWidth && b.size > 7 { b = box(text, size: b.size - 0.5, bold: bold) }
            var kept = text
            while b.width > maxWidth && kept.count > 1 {
                kept.removeLast()
                b = box(kept + "…", size: b.size, bold: bold)
            }
            return b
        }
        let pad = Self.pad
        var title = fitted(title, size: Self.titleSize, bold: true, maxWidth: width - 2 * pad)
        let yTickValues = l.y.ticks.filter { (0...1).contains(l.y.fraction($0) + 1e-9) }
        let yTickBoxes = yTickValues.map { box(tickLabel($0), size: Self.tickSize) }
        let xTickValues = (xTicks ?? l.x.ticks).filter { (-1e-9...1 + 1e-9).contains(l.x.fraction($0)) }
        let xTickBoxes = xTickValues.map { box(tickLabel($0), size: Self.tickSize) }
        var xLabel = box(xLabel, size: Self.labelSize), yLabel = box(yLabel, size: Self.labelSize)
        let names = series.map(\.name) + referenceLines.map(\.label)
        let legend = names.count > 1 ? names.map { box($0, size: Self.legendSize) } : []
        let legendWidth = legend.isEmpty ? 0 : 30 + (legend.map(\.width).max() ?? 0) + 8

        let top = pad + title.height + 10
        let bottom = Self.tickLength + 3 + (xTickBoxes.first?.height ?? 0) + 6 + xLabel.height + pad
        let left = pad + yLabel.height + 8 + (yTickBoxes.map(\.width).max() ?? 0) + 4 + Self.tickLength
        let lastTickOverhang = (xTickBoxes.last?.width ?? 0) / 2
        let right = legend.isEmpty ? pad + lastTickOverhang : legendWidth + 16 + pad
        (l.plotX, l.plotY) = (left, top)
        (l.plotWidth, l.plotHeight) = (Swift.max(width - left - right, 40), Swift.max(height - top - bottom, 40))
        // Axis labels no longer than their side of the plot.
        xLabel = fitted(xLabel.text, size: Self.labelSize, maxWidth: l.plotWidth)
        yLabel = fitted(yLabel.text, size: Self.labelSize, maxWidth: l.plotHeight)
        yLabel.rotated = true

        title.x = Swift.min(Swift.max(pad, l.plotX + l.plotWidth / 2 - title.width / 2), width - pad - title.width)
        title.y = pad
        l.title = title
        xLabel.x = l.plotX + l.plotWidth / 2 - xLabel.width / 2
        xLabel.y = height - pad - xLabel.height
        l.xLabel = xLabel
        // A rotated label's box is its footprint on the page: the font's height wide, the text's width tall.
        (yLabel.width, yLabel.height) = (yLabel.height, yLabel.width)
        yLabel.x = pad
        yLabel.y = l.plotY + l.plotHeight / 2 - yLabel.height / 2
        l.yLabel = yLabel

        // Tick labels, thinned (every 2nd, 3rd, …) until neighbours keep a gap.
        var xPlaced = zip(xTickValues, xTickBoxes).map { value, b -> (value: Double, label: TextBox) in
            var b = b
            b.x = l.px(value) - b.width / 2
            b.y = l.plotY + l.plotHeight + Self.tickLength + 3
            return (value, b)
        }
        xPlaced = thinned(xPlaced) { a, b in a.x + a.width + 6 > b.x }
        l.xTicks = xPlaced
        var yPlaced = zip(yTickValues, yTickBoxes).map { value, b -> (value: Double, label: TextBox) in
            var b = b
            b.x = l.plotX - Self.tickLength - 4 - b.width
            b.y = l.py(value) - b.height / 2
            return (value, b)
        }
        yPlaced = thinned(yPlaced) { a, b in b.y + b.height + 2 > a.y }
        l.yTicks = yPlaced
        l.legend = legend.enumerated().map { k, b in
            var b = b
            b.x = l.plotX + l.plotWidth + 16 + 26
            b.y = l.plotY + 6 + Double(k) * (b.height + 5)
            return b
        }
        return l
    }

    /// Keeps every k-th tick for the smallest k at which no two kept neighbours collide.
    func thinned(_ ticks: [(value: Double, label: TextBox)], collide: (TextBox, TextBox) -> Bool)
        -> [(value: Double, label: TextBox)] {
        for k in 1...Swift.max(1, ticks.count) {
            let kept = stride(from: 0, to: ticks.count, by: k).map { ticks[$0] }
            if !zip(kept, kept.dropFirst()).contains(where: { collide($0.label, $1.label) }) { return kept }
        }
        return Array(ticks.prefix(1))
    }

    /// The chart as a figure.
    public func figure() -> Figure {
        let layout = Painter.measuring { self.layout($0) }
        return Figure(width: width, height: height) { p in self.draw(layout, on: p) }
    }

    func draw(_ l: Layout, on p: Painter) {
        let (left, top, right, bottom) = (l.plotX, l.plotY, l.plotX + l.plotWidth, l.plotY + l.plotHeight)
        for (value, label) in l.yTicks {
            let y = l.py(value)
            p.line([(left, y), (right, y)], color: Painter.lightGrey, width: 0.8)
            p.line([(left - Self.tickLength, y), (left, y)], color: Painter.black, width: 0.8)
            draw(label, on: p)
        }
        for (value, label) in l.xTicks {
            let x = l.px(value)
            p.line([(x, bottom), (x, bottom + Self.tickLength)], color: Painter.black, width: 0.8)
            draw(label, on: p)
        }
        p.line([(left, top), (left, bottom), (right, bottom)], color: Painter.black, width: 1)
        for (k, s) in series.enumerated() {
            let color = Painter.palette[k % Painter.palette.count]
            let points = s.points.filter { (l.x.scale == .linear || $0.x > 0) && (l.y.scale == .linear || $0.y > 0) }
                .map { (x: l.px($0.x), y: l.py($0.y)) }
            if s.style != .markers { p.line(points, color: color, width: 2) }
            if s.style != .line && points.count <= 60 {
                for q in points { p.disc(x: q.x, y: q.y, radius: s.style == .markers ? 3.5 : 3, color: color) }
            }
            if k < l.legend.count {
                let b = l.legend[k], y = b.y + b.height / 2
                if s.style != .markers { p.line([(b.x - 26, y), (b.x - 6, y)], color: color, width: 2) }
                if s.style != .line { p.disc(x: b.x - 16, y: y, radius: 3, color: color) }
                draw(b, on: p)
            }
        }
        // Reference lines apart from the series and from each other: grey, each with its own dash.
        let dashes: [[Double]] = [[5, 3], [1.5, 2.5], [8, 3, 2, 3]]
        for (k, reference) in referenceLines.enumerated() {
            let y = l.py(reference.y), dash = dashes[k % dashes.count]
            let color: Painter.Color = k % 2 == 0 ? Painter.grey : (0.2, 0.2, 0.2)
            p.line([(left, y), (right, y)], color: color, width: 1.2, dash: dash)
            if series.count + k < l.legend.count {
                let b = l.legend[series.count + k], y = b.y + b.height / 2
                p.line([(b.x - 26, y), (b.x - 6, y)], color: color, width: 1.2, dash: dash)
                draw(b, on: p)
            }
        }
        for b in [l.title, l.xLabel, l.yLabel].compactMap({ $0 }) { draw(b, on: p) }
    }

    func draw(_ b: TextBox, on p: Painter) {
        if b.rotated {
            p.text(b.text, x: b.x, y: b.y + b.height / 2, size: b.size, anchor: .center, bold: b.bold, rotated: true)
        } else {
            p.text(b.text, x: b.x, y: b.y, size: b.size, bold: b.bold)
        }
    }
}

/// Four to six round tick values covering lo…hi; whole numbers only with `integers`.
func niceTicks(_ lo: Double, _ hi: Double, integers: Bool = false) -> [Double] {
    let raw = (hi - lo) / 6
    guard raw > 0, raw.isFinite else { return [lo] }
    // The smallest 1-2-2.5-5 step that gives at most six ticks (whole steps only for whole numbers).
    let magnitude = pow(10, floor(log10(raw)))
    let steps = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.filter { !integers || ($0 >= 1 && $0 == $0.rounded()) }
    let step = steps.first {
        Int((hi / $0 + 1e-9).rounded(.down)) - Int((lo / $0 - 1e-9).rounded(.up)) + 1 <= 6
    } ?? 10 * magnitude
    var ticks: [Double] = []
    var t = (lo / step).rounded(.up) * step
    while t <= hi + step * 1e-9 { ticks.append(Swift.abs(t) < step * 1e-9 ? 0 : t); t += step }
    return ticks
}

/// A tick label: integers as they are below 10 000, then with k/M/G (30k, 1.5M); others to 3 digits.
func tickLabel(_ v: Double) -> String {
    let a = Swift.abs(v)
    for (scale, suffix) in [(1e9, "G"), (1e6, "M"), (1e4, "k")] where a >= scale {
        let s = String(format: "%.3g", v / (suffix == "k" ? 1e3 : scale))
        return s + suffix
    }
    if v == v.rounded() { return String(Int(v)) }
    return String(format: "%.3g", v)
}
