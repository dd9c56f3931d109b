import CImageCodecs
import Foundation
import Tensor

/// A label map: one index per pixel (0 background, 1…k objects, 255 void in DAVIS) and the
/// palette that colours it, as DAVIS and PASCAL VOC store masks (palette-indexed PNG).
public struct IndexedImage: Sendable {
    /// Indices [H, W], int32.
    public var indices: Tensor
    /// RGB triples, one per palette entry (up to 256).
    public var palette: [UInt8]

    public init(indices: Tensor, palette: [UInt8] = IndexedImage.pascalPalette) {
        (self.indices, self.palette) = (indices, palette)
    }

    public var height: Int { indices.shape[0] }
    public var width: Int { indices.shape[1] }

    /// The PASCAL VOC colour map of 256 entries that DAVIS's masks use (davis2017 `color_map`).
    public static let pascalPalette: [UInt8] = (0..<256).flatMap { i -> [UInt8] in
        var (r, g, b, c) = (0, 0, 0, i)
        for j in 0..<8 {
            r |= (c & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        }
        return [UInt8(r), UInt8(g), UInt8(b)]
    }

    /// The colours of the indices as an image [3, H, W] in 0…1 (indices past the palette: black).
    public func colored() -> Tensor {
        let values = indices.scalars(as: Int32.self)
        var rgb = [UInt8](repeating: 0, count: values.count * 3)
        for (i, v) in values.enumerated() where Int(v) * 3 + 2 < palette.count {
            for c in 0..<3 { rgb[3 * i + c] = palette[Int(v) * 3 + c] }
        }
        return ImageFile.fromRGB(rgb, width: width, height: height)
    }
}

extension ImageFile {
    /// Reads a palette-indexed (or 8-bit grey) PNG as its indices, as `np.array(Image.open(f))` does
    /// for DAVIS's masks; other kinds of file are refused by name.
    public static func readIndexed(_ url: URL, maxPixels: Int = maxPixels) throws -> IndexedImage {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ImageFileError("\(url.path): cannot read: \(error.localizedDescription)")
        }
        var image = tessera_indexed_image()
        let bytes = [UInt8](data)
        let status = tessera_decode_indexed_png(bytes, bytes.count, maxPixels, &image)
        defer { tessera_image_free(image.indices) }
        guard status == 0, let indices = image.indices else {
            let message = withUnsafeBytes(of: image.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw ImageFileError("\(url.lastPathComponent): \(message.isEmpty ? "damaged PNG" : message)")
        }
        let count = Int(image.width) * Int(image.height)
        let values = UnsafeBufferPointer(start: indices, count: count).map { Int32($0) }
        let palette = withUnsafeBytes(of: image.palette) { Array($0.prefix(Int(image.palette_entries) * 3)) }
        return IndexedImage(indices: Tensor(values, shape: [Int(image.height), Int(image.width)]), palette: palette)
    }

    /// Writes indices (0…255) as an 8-bit palette PNG, atomically.
    public static func writeIndexed(_ image: IndexedImage, to url: URL) throws {
        guard image.indices.rank == 2 else {
            throw ImageFileError("writeIndexed expects indices [H, W], got \(describe(image.indices.shape))")
        }
        let values = image.indices.converted(to: .int32).contiguous().scalars(as: Int32.self)
        if let bad = values.first(where: { !(0...255).contains($0) }) {
            throw ImageFileError("writeIndexed: index \(bad) is outside 0...255")
        }
        let entries = image.palette.count / 3
        guard (1...256).contains(entries) && image.palette.count % 3 == 0 else {
            throw ImageFileError("writeIndexed: a palette holds 1...256 RGB triples, got \(image.palette.count) bytes")
        }
        let pixels = values.map { UInt8($0) }
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = message.withUnsafeMutableBufferPointer { m in
            tessera_encode_indexed_png(pixels, Int32(image.width), Int32(image.height), image.palette, Int32(entries),
                                       &out, &size, m.baseAddress)
        }
        defer { tessera_image_free(out) }
        guard status == 0, let out else {
            throw ImageFileError("indexed PNG encoding failed: "
                + "\(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        try Data(bytes: out, count: size).write(to: url, options: .atomic)
    }
}
