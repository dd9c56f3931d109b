import Foundation
import Testing
import Tensor
@testable import Vision

@Suite struct ImageFileTests {
    /// JPEG encoding round-trips a photograph within JPEG's loss, loses more and writes fewer bytes
    /// at low quality, encodes grey images, and refuses a quality outside 1…100 by name.
    @Test func jpegEncodingRoundTrips() throws {
        let photo = try ImageFile.read(Reference.image("chelsea.png"))
        var errors: [Double] = [], sizes: [Int] = []
        for quality in [95, 50, 10] {
            let bytes = try ImageFile.encodeJPEG(photo, quality: quality)
            #expect(bytes.prefix(2) == [0xFF, 0xD8])
            let back = try ImageFile.decode(bytes)
            #expect(back.shape == photo.shape)
            errors.append((back - photo).abs().mean().item())
            sizes.append(bytes.count)
        }
        #expect(errors[0] < 0.02 && errors[0] < errors[1] && errors[1] < errors[2], "\(errors)")
        #expect(sizes[0] > sizes[1] && sizes[1] > sizes[2], "\(sizes)")
        let grey = try ImageFile.decode(ImageFile.encodeJPEG(photo.slice(axis: 0, start: 0, end: 1), quality: 90))
        #expect(grey.shape[1] == photo.shape[1])
        #expect(throws: ImageFileError.self) { try ImageFile.encodeJPEG(photo, quality: 0) }
    }

    /// Palette PNGs keep their indices and palette (PIL's `np.array(Image.open(f))` for DAVIS's
    /// masks): the committed palette photograph's indices coloured by its palette are its RGB
    /// decoding; written label maps read back exactly; RGB files and bad indices are refused by name.
    @Test func indexedPNGsKeepIndicesAndPalette() throws {
        let url = Reference.image("chelsea_palette.png")
        let indexed = try ImageFile.readIndexed(url)
        #expect(indexed.palette.count % 3 == 0 && indexed.palette.count > 3)
        let rgb = try ImageFile.read(url)
        #expect(indexed.colored().scalars(as: Float.self) == rgb.scalars(as: Float.self))
        let values: [Int32] = (0..<35).map { (i: Int) -> Int32 in i % 4 == 3 ? 255 : Int32(i % 4) }
        let labels = Tensor(values, shape: [5, 7])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: file) }
        try ImageFile.writeIndexed(IndexedImage(indices: labels), to: file)
        let back = try ImageFile.readIndexed(file)
        #expect(back.indices.scalars(as: Int32.self) == labels.scalars(as: Int32.self))
        #expect(back.palette == IndexedImage.pascalPalette)
        #expect(Array(back.palette[3..<6]) == [128, 0, 0])
        #expect { try ImageFile.readIndexed(Reference.image("chelsea.png")) } throws: {
            "\($0)".contains("chelsea.png: not a palette or 8-bit grey PNG")
        }
        #expect { try ImageFile.writeIndexed(IndexedImage(indices: labels + 300), to: file) } throws: {
            "\($0)".contains("index 300 is outside 0...255")
        }
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0]).write(to: file)
        #expect(throws: ImageFileError.self) { try ImageFile.readIndexed(file) }
    }

    @Test(arguments: ["chelsea.png", "coffee.png", "rocket.jpg", "china.jpg", "flower.jpg"])
    func decodesPhotographsLikePIL(_ name: String) throws {
        let image = try ImageFile.read(Reference.image(name))
        let key = name.replacingOccurrences(of: ".", with: "_")
        let shape = Reference.t("decode.\(key).shape").doubles.map { Int($0) }
        #expect(image.shape == [3, shape[0], shape[1]])
        let patch = rgbBytes(image).slice(axis: 0, start: 40, end: 72).slice(axis: 1, start: 50, end: 82)
        // PNG is lossless: exact. JPEG: PIL's bundled libjpeg-turbo may round the IDCT differently.
        let tolerance = name.hasSuffix(".png") ? 0.0 : 2.0
        expectClose(patch.converted(to: .float64), Reference.t("decode.\(key).patch").converted(to: .float64),
                    atol: tolerance, rtol: 0)
        expectClose(image.mean(axes: [1, 2]).converted(to: .float64) * 255, Reference.t("decode.\(key).mean"),
                    atol: tolerance == 0 ? 1e-3 : 0.5, rtol: 0)
    }

    @Test(arguments: ["grey.png", "palette.png", "rgba.png", "grey.jpg"])
    func convertsGreyPaletteAndAlphaToRGBAsPIL(_ variant: String) throws {
        let image = try ImageFile.read(Reference.image("chelsea_\(variant)"))
        let expected = Reference.t("variant.\(variant.replacingOccurrences(of: ".", with: "_"))")
            .converted(to: .float64)
        expectClose(rgbBytes(image).converted(to: .float64), expected, atol: variant.hasSuffix(".jpg") ? 2 : 0, rtol: 0)
    }

    @Test func sixteenBitPNGIsScaledToEightBits() throws {
        // PIL clips 16-bit grey when converting to RGB; the right answer is the 8-bit source.
        let image = try ImageFile.read(Reference.image("chelsea_grey16.png"))
        expectClose(rgbBytes(image).converted(to: .float64), Reference.t("variant.grey_png").converted(to: .float64),
                    atol: 0, rtol: 0)
    }

    @Test func pngRoundTripsExactly() throws {
        let image = try ImageFile.read(Reference.image("chelsea_rgba.png"))
        let again = try ImageFile.decode(ImageFile.encodePNG(image))
        expectClose(again, image, atol: 0, rtol: 0)
        let grey = try ImageFile.decode(ImageFile.encodePNG(image.slice(axis: 0, end: 1)))
        expectClose(grey.select(axis: 0, index: 2), image.select(axis: 0, index: 0), atol: 1e-7, rtol: 0)
    }

    /// Throws, with a message, instead of crashing or allocating.
    func expectThrows(_ bytes: [UInt8], mentioning words: [String] = [],
                      sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try ImageFile.decode(bytes)
            Issue.record("decoded a damaged file", sourceLocation: sourceLocation)
        } catch let error as ImageFileError {
            #expect(!error.description.isEmpty, sourceLocation: sourceLocation)
            for w in words { #expect(error.description.contains(w), "\(error)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func truncatedFilesThrow() {
        for name in ["chelsea.png", "rocket.jpg"] {
            let bytes = Reference.bytes(name)
            for cut in [8, 40, 100, bytes.count / 3, bytes.count - 200] { expectThrows(Array(bytes.prefix(cut))) }
        }
        expectThrows([], mentioning: ["not a PNG or JPEG"])
        expectThrows(Array("GIF89a......".utf8), mentioning: ["not a PNG or JPEG"])
    }

    @Test func oversizedHeaderIsRefusedBeforeAllocating() {
        // A valid PNG signature and IHDR claiming 100000 × 100000 pixels.
        var ihdr: [UInt8] = Array("IHDR".utf8) + be32(100_000) + be32(100_000) + [8, 2, 0, 0, 0]
        ihdr += be32(crc32(ihdr))
        let idat: [UInt8] = Array("IDAT".utf8) + [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]
        let iend: [UInt8] = Array("IEND".utf8)
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + be32(13) + ihdr
            + be32(8) + idat + be32(crc32(idat)) + be32(0) + iend + be32(crc32(iend))
        expectThrows(png, mentioning: ["100000", "limit"])
        // The same for JPEG: rewrite the frame header's size of a real file.
        var jpeg = Reference.bytes("rocket.jpg")
        if let sof = (0..<(jpeg.count - 9)).first(where: {
            jpeg[$0] == 0xFF && (jpeg[$0 + 1] == 0xC0 || jpeg[$0 + 1] == 0xC2)
        }) {
            jpeg.replaceSubrange((sof + 5)..<(sof + 9), with: [0xEA, 0x60, 0xEA, 0x60])  // 60000 × 60000
            expectThrows(jpeg, mentioning: ["limit"])
        } else {
            Issue.record("rocket.jpg has no SOF marker")
        }
    }

    @Test func garbledFilesNeverCrash() {
        // Seeded fuzzing: flip bytes anywhere after the signature, including headers and data.
        let rng = RandomGenerator(seed: 99)
        for name in ["chelsea_palette.png", "chelsea_grey.jpg", "chelsea_rgba.png"] {
            let original = Reference.bytes(name)
            for _ in 0..<60 {
                var bytes = original
                for _ in 0..<(1 + rng.nextInt(below: 8)) {
                    bytes[8 + rng.nextInt(below: bytes.count - 8)] = UInt8(rng.nextInt(below: 256))
                }
                // Either a decoded image of the right size or a thrown error; never a crash.
                if let image = try? ImageFile.decode(bytes) { #expect(image.shape == [3, 48, 64]) }
            }
        }
    }

    func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
    func be32(_ v: Int) -> [UInt8] { be32(UInt32(v)) }
    func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }
}
