import CCairo
import Foundation
import Tensor

/// A figure could not be drawn or written (Cairo's status message and the file).
public struct FigureError: Error, CustomStringConvertible {
    public let description: String
}

/// A figure: a size in points and a drawing, rendered by Cairo as an antialiased PNG (`scale`
/// pixels per point) and as an SVG, from the same drawing code.
public struct Figure {
    public let width: Double, height: Double
    let draw: (Painter) -> Void

    public init(width: Double, height: Double, draw: @escaping (Painter) -> Void) {
        (self.width, self.height, self.draw) = (width, height, draw)
    }

    /// Writes `name.png` and `name.svg` into `folder`; returns the PNG's file name.
    @discardableResult
    public func write(to folder: URL, name: String) throws -> String {
        try writePNG(to: folder.appendingPathComponent(name + ".png"))
        try writeSVG(to: folder.appendingPathComponent(name + ".svg"))
        return name + ".png"
    }

    /// Renders to a PNG file, written atomically (a partial file never takes the name).
    public func writePNG(to url: URL, scale: Double = 2) throws {
        let surface = try rasterSurface(scale: scale)
        defer { cairo_surface_destroy(surface) }
        try atomically(url) { cairo_surface_write_to_png(surface, $0) }
    }

    /// Renders to an SVG file (vector paths; text as glyph outlines), written atomically.
    public func writeSVG(to url: URL) throws {
        try atomically(url) { path in
            let surface = cairo_svg_surface_create(path, width, height)!
            defer { cairo_surface_destroy(surface) }
            render(on: surface)
            cairo_surface_finish(surface)
            return cairo_surface_status(surface)
        }
    }

    /// The figure as an RGB image tensor [3, H, W] in 0…1 (what the PNG holds).
    public func rasterized(scale: Double = 1) throws -> Tensor {
        let surface = try rasterSurface(scale: scale)
        defer { cairo_surface_destroy(surface) }
        let (w, h) = (Int(cairo_image_surface_get_width(surface)), Int(cairo_image_surface_get_height(surface)))
        let stride = Int(cairo_image_surface_get_stride(surface))
        let data = cairo_image_surface_get_data(surface)!
        var out = [Float](repeating: 0, count: 3 * w * h)
        for y in 0..<h {
            for x in 0..<w {
                let pixel = UnsafeRawPointer(data + y * stride + 4 * x).load(as: UInt32.self)  // opaque xRGB
                for c in 0..<3 { out[c * w * h + y * w + x] = Float((pixel >> (16 - 8 * c)) & 0xFF) / 255 }
            }
        }
        return Tensor(out, shape: [3, h, w])
    }

    func rasterSurface(scale: Double) throws -> OpaquePointer {
        let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32((width * scale).rounded(.up)),
                                                 Int32((height * scale).rounded(.up)))!
        render(on: surface, scale: scale)
        cairo_surface_flush(surface)
        let status = cairo_surface_status(surface)
        guard status == CAIRO_STATUS_SUCCESS else {
            cairo_surface_destroy(surface)
            throw FigureError(description: "drawing a figure failed: "
                              + String(cString: cairo_status_to_string(status)))
        }
        return surface
    }

    func render(on surface: OpaquePointer, scale: Double = 1) {
        let cr = cairo_create(surface)!
        defer { cairo_destroy(cr) }
        cairo_scale(cr, scale, scale)
        cairo_set_source_rgb(cr, 1, 1, 1)
        cairo_paint(cr)  // the whole surface, including the pixel a fractional size rounds up to
        draw(Painter(cr))
    }

    /// Runs `write` on a temporary path beside `url`, then renames it into place.
    func atomically(_ url: URL, _ write: (String) -> cairo_status_t) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).partial")
        let status = write(temporary.path)
        guard status == CAIRO_STATUS_SUCCESS else {
            try? FileManager.default.removeItem(at: temporary)
            throw FigureError(description: "writing \(url.path) failed: "
                              + String(cString: cairo_status_to_string(status)))
        }
        guard rename(temporary.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw FigureError(description: "writing \(url.path) failed: " + String(cString: strerror(errno)))
        }
    }
}

/// Draws on a Cairo context in points: lines, markers, rectangles, text in DejaVu Sans, images.
public final class Painter {
    public typealias Color = (red: Double, green: Double, blue: Double)
    public enum Anchor: Sendable { case leading, center, trailing }
    public enum Baseline: Sendable { case top, middle, bottom }

    public static let black: Color = (0, 0, 0), white: Color = (1, 1, 1)
    public static let grey: Color = (0.45, 0.45, 0.45), lightGrey: Color = (0.9, 0.9, 0.9)
    /// Distinguishable series colours (matplotlib's tab10).
    public static let palette: [Color] = [
        (0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16), (0.58, 0.4, 0.74),
        (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.5, 0.5, 0.5), (0.74, 0.74, 0.13), (0.09, 0.75, 0.81),
    ]
    public static let fontFamily = "DejaVu Sans"

    let cr: OpaquePointer

    init(_ cr: OpaquePointer) {
        self.cr = cr
        // Unhinted metrics, so text measures the same on the PNG, the SVG and in layout.
        let options = cairo_font_options_create()
        cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF)
        cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY)
        cairo_set_font_options(cr, options)
        cairo_font_options_destroy(options)
    }

    /// A painter on a scratch surface, for measuring text before a figure's size is known.
    static func measuring<R>(_ body: (Painter) -> R) -> R {
        let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1)!
        let cr = cairo_create(surface)!
        defer { cairo_destroy(cr); cairo_surface_destroy(surface) }
        return body(Painter(cr))
    }

    func setColor(_ c: Color, alpha: Double = 1) { cairo_set_source_rgba(cr, c.red, c.green, c.blue, alpha) }

    /// A polyline.
    public func line(_ points: [(x: Double, y: Double)], color: Color, width: Double = 1.5, dash: [Double] = []) {
        guard let first = points.first else { return }
        cairo_new_path(cr)
        cairo_move_to(cr, first.x, first.y)
        for p in points.dropFirst() { cairo_line_to(cr, p.x, p.y) }
        setColor(color)
        cairo_set_line_width(cr, width)
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(cr, dash.isEmpty ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT)
        cairo_set_dash(cr, dash, Int32(dash.count), 0)
        cairo_stroke(cr)
        cairo_set_dash(cr, nil, 0, 0)
    }

    /// A filled disc with a white rim, so overlapping markers stay apart.
    public func disc(x: Double, y: Double, radius: Double, color: Color) {
        cairo_new_path(cr)
        cairo_arc(cr, x, y, radius, 0, 2 * .pi)
        setColor(color)
        cairo_fill_preserve(cr)
        setColor(Painter.white)
        cairo_set_line_width(cr, 0.6)
        cairo_stroke(cr)
    }

    public func rectangle(x: Double, y: Double, width: Double, height: Double, fill: Color? = nil,
                          stroke: Color? = nil, lineWidth: Double = 1) {
        cairo_new_path(cr)
        cairo_rectangle(cr, x, y, width, height)
        if let fill { setColor(fill); stroke == nil ? cairo_fill(cr) : cairo_fill_preserve(cr) }
        if let stroke { setColor(stroke); cairo_set_line_width(cr, lineWidth); cairo_stroke(cr) }
    }

    func selectFont(size: Double, bold: Bool) {
        cairo_select_font_face(cr, Painter.fontFamily, CAIRO_FONT_SLANT_NORMAL,
                               bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(cr, size)
    }

    /// The advance width of `string` and the font's line height (ascent + descent), in points.
    public func measure(_ string: String, size: Double, bold: Bool = false) -> (width: Double, height: Double) {
        selectFont(size: size, bold: bold)
        var text = cairo_text_extents_t(), font = cairo_font_extents_t()
        cairo_text_extents(cr, string, &text)
        cairo_font_extents(cr, &font)
        return (text.x_advance, font.ascent + font.descent)
    }

    /// Draws `string` anchored at (x, y); `rotated` turns it a quarter to read bottom-up (a y-axis label),
    /// the anchors then applying along the rotated text.
    public func text(_ string: String, x: Double, y: Double, size: Double, anchor: Anchor = .leading,
                     baseline: Baseline = .top, bold: Bool = false, color: Color = Painter.black,
                     rotated: Bool = false) {
        selectFont(size: size, bold: bold)
        var extents = cairo_text_extents_t(), font = cairo_font_extents_t()
        cairo_text_extents(cr, string, &extents)
        cairo_font_extents(cr, &font)
        let dx = anchor == .leading ? 0 : anchor == .center ? -extents.x_advance / 2 : -extents.x_advance
        let height = font.ascent + font.descent
        let dy = baseline == .top ? font.ascent : baseline == .middle ? font.ascent - height / 2 : -font.descent
        cairo_save(cr)
        cairo_translate(cr, x, y)
        if rotated { cairo_rotate(cr, -.pi / 2) }
        cairo_move_to(cr, dx, dy)
        setColor(color)
        cairo_show_text(cr, string)
        cairo_restore(cr)
    }

    /// Draws an image tensor [3, h, w] or [1, h, w] in 0…1 into a rectangle; `smooth: false` keeps
    /// pixels square (heat maps, attention maps), `true` interpolates.
    public func image(_ tensor: Tensor, x: Double, y: Double, width: Double, height: Double, smooth: Bool = false) {
        let img = tensor.converted(to: .float32).contiguous()
        let (c, h, w) = (img.shape[0], img.shape[1], img.shape[2])
        let v = img.scalars(as: Float.self)
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(w), Int32(h)) else { return }
        defer { cairo_surface_destroy(surface) }
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        guard let data = cairo_image_surface_get_data(surface) else { return }
        func byte(_ value: Float) -> UInt32 { UInt32((Swift.min(Swift.max(value, 0), 1) * 255).rounded()) }
        for yy in 0..<h {
            for xx in 0..<w {
                let k = yy * w + xx
                let (r, g, b) = c == 1 ? (v[k], v[k], v[k]) : (v[k], v[h * w + k], v[2 * h * w + k])
                UnsafeMutableRawPointer(data + yy * stride + 4 * xx)
                    .storeBytes(of: byte(r) << 16 | byte(g) << 8 | byte(b), as: UInt32.self)
            }
        }
        cairo_surface_mark_dirty(surface)
        cairo_save(cr)
        cairo_translate(cr, x, y)
        cairo_scale(cr, width / Double(w), height / Double(h))
        cairo_set_source_surface(cr, surface, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(cr), smooth ? CAIRO_FILTER_GOOD : CAIRO_FILTER_NEAREST)
        cairo_rectangle(cr, 0, 0, Double(w), Double(h))
        cairo_fill(cr)
        cairo_restore(cr)
    }
}
