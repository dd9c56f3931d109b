@_exported import TestSupport
import Foundation
import Tensor
import Vision

/// PIL/torchvision reference values (scripts/make_vision_fixtures.py) and the test photographs.
enum Reference {
    static let file = loadFixtures("vision.safetensors")
    static func t(_ name: String) -> Tensor {
        guard let t = file.tensors[name] else { fatalError("fixture vision has no \(name)") }
        return t
    }
    static func image(_ name: String) -> URL { fixturesDirectory.appendingPathComponent("images").appendingPathComponent(name) }
    static func bytes(_ name: String) -> [UInt8] { [UInt8](try! Data(contentsOf: image(name))) }
}

/// Interleaved 8-bit RGB [H, W, 3] (int32) of a [3, H, W] tensor in 0…1, as PIL would hold it.
func rgbBytes(_ image: Tensor) -> Tensor {
    Tensor(ImageFile.toBytes(image).pixels.map { Int32($0) }, shape: [image.shape[1], image.shape[2], 3])
}
