import CImageCodecs
import Foundation
import Tensor

/// Why an image file could not be read or written.
public struct ImageFileError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// PNG and JPEG files to and from image tensors.
///
/// An image tensor is float32 [3, H, W] with values in 0…1 — what torchvision's `ToTensor` makes of
/// a PIL image — so decoding is `Image.open(f).convert("RGB")` followed by `ToTensor()`. Files are
/// untrusted: damaged, truncated or oversized images throw an ``ImageFileError`` naming the problem;
/// no image over ``maxPixels`` is ever allocated.
public enum ImageFile {
    /// Largest image (in pixels) a decoder accepts: 178 956 970, PIL's decompression-bomb limit.
    public static let maxPixels = 178_956_970

    /// Reads a PNG or JPEG file (recognised by its signature, not its name).
    public static func read(_ url: URL, maxPixels: Int = maxPixels) throws -> Tensor {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ImageFileError("\(url.path): cannot read: \(error.localizedDescription)")
        }
        do { return try decode([UInt8](data), maxPixels: maxPixels) } catch let e as ImageFileError {
            throw ImageFileError("\(url.lastPathComponent): \(e.description)")
        }
    }

    /// Decodes PNG or JPEG bytes to a [3, H, W] float32 tensor in 0…1.
    public static func decode(_ bytes: [UInt8], maxPixels: Int = maxPixels) throws -> Tensor {
        let rgb = try decodeRGB(bytes, maxPixels: maxPixels)
        return fromRGB(rgb.pixels, width: rgb.width, height: rgb.height)
    }

    /// Decodes PNG or JPEG bytes to interleaved 8-bit RGB rows.
    public static func decodeRGB(_ bytes: [UInt8], maxPixels: Int = maxPixels) throws
        -> (pixels: [UInt8], width: Int, height: Int) {
        var image = tessera_image()
        let status: Int32
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            status = tessera_decode_png(bytes, bytes.count, maxPixels, &image)
        } else if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            status = tessera_decode_jpeg(bytes, bytes.count, maxPixels, &image)
        } else {
            throw ImageFileError("not a PNG or JPEG file (unrecognised signature "
                                 + "\(bytes.prefix(4).map { String(format: "%02x", $0) }.joined()))")
        }
        defer { tessera_image_free(image.pixels) }
        guard status == 0, let pixels = image.pixels else {
            let message = withUnsafeBytes(of: image.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw ImageFileError(message.isEmpty ? "damaged image" : message)
        }
        let count = Int(image.width) * Int(image.height) * 3
        return (Array(UnsafeBufferPointer(start: pixels, count: count)), Int(image.width), Int(image.height))
    }

    /// Interleaved 8-bit RGB rows to a [3, H, W] float32 tensor in 0…1.
    public static func fromRGB(_ pixels: [UInt8], width: Int, height: Int) -> Tensor {
        let plane = width * height
        check(pixels.count == plane * 3, "ImageFile.fromRGB",
              "\(pixels.count) bytes do not make a \(width)×\(height) RGB image")
        let t = Tensor(empty: [3, height, width])
        let out = t.pointer(as: Float.self)
        pixels.withUnsafeBufferPointer { src in
            for i in 0..<plane {
                out[i] = Float(src[3 * i]) / 255
                out[plane + i] = Float(src[3 * i + 1]) / 255
                out[2 * plane + i] = Float(src[3 * i + 2]) / 255
            }
        }
        return t
    }

    /// An image tensor [3, H, W] (or [1, H, W] grey) in 0…1 as 8-bit interleaved rows, rounded and clamped.
    public static func toBytes(_ image: Tensor) -> (pixels: [UInt8], channels: Int) {
        check(image.rank == 3 && (image.shape[0] == 3 || image.shape[0] == 1), "ImageFile",
              "expects an image [3, H, W] or [1, H, W], got \(describe(image.shape))")
        let c = image.shape[0], plane = image.shape[1] * image.shape[2]
        let values = image.converted(to: .float32).contiguous().scalars(as: Float.self)
        var pixels = [UInt8](repeating: 0, count: plane * c)
        for i in 0..<plane {
            for k in 0..<c {
                pixels[i * c + k] = UInt8(Swift.max(0, Swift.min(255, (values[k * plane + i] * 255).rounded())))
            }
        }
        return (pixels, c)
    }

    /// PNG bytes of an image tensor [3, H, W] or [1, H, W] in 0…1.
    public static func encodePNG(_ image: Tensor) throws -> [UInt8] {
        try encode(image, format: "PNG") { pixels, width, height, channels, out, size, message in
            tessera_encode_png(pixels, width, height, channels, out, size, message)
        }
    }

    /// Baseline JPEG bytes of an image tensor [3, H, W] or [1, H, W] in 0…1 at `quality` 1…100
    /// (libjpeg's scale, 4:2:0 chroma as PIL's default): the encoder of Copydays-style edits.
    public static func encodeJPEG(_ image: Tensor, quality: Int = 75) throws -> [UInt8] {
        guard (1...100).contains(quality) else {
            throw ImageFileError("JPEG quality must be in 1...100, got \(quality)")
        }
        return try encode(image, format: "JPEG") { pixels, width, height, channels, out, size, message in
            tessera_encode_jpeg(pixels, width, height, channels, Int32(quality), out, size, message)
        }
    }

    /// Runs a codec shim encoder on the image's 8-bit rows; its buffer is copied out and freed,
    /// its message thrown.
    private static func encode(
        _ image: Tensor, format: String,
        _ encoder: (UnsafePointer<UInt8>, Int32, Int32, Int32, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>,
                    UnsafeMutablePointer<Int>, UnsafeMutablePointer<CChar>?) -> Int32
    ) throws -> [UInt8] {
        let (pixels, channels) = toBytes(image)
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = message.withUnsafeMutableBufferPointer { m in
            encoder(pixels, Int32(image.shape[2]), Int32(image.shape[1]), Int32(channels), &out, &size, m.baseAddress)
        }
        defer { tessera_image_free(out) }
        guard status == 0, let out else {
            throw ImageFileError("\(format) encoding failed: "
                + "\(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }

    /// Writes an image tensor as a JPEG file at `quality`, atomically.
    public static func writeJPEG(_ image: Tensor, quality: Int = 75, to url: URL) throws {
        try Data(encodeJPEG(image, quality: quality)).write(to: url, options: .atomic)
    }

    /// Writes an image tensor as a PNG file, atomically.
    public static func writePNG(_ image: Tensor, to url: URL) throws {
        try Data(encodePNG(image)).write(to: url, options: .atomic)
    }
}
