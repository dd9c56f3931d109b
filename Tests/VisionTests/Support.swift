@_exported import TestSupport
import Foundation
import Tensor
import Vision

/// PIL/torchvision reference values (scripts/make_vision_fixtures.py).
let Reference = Fixture("vision.safetensors")

extension Fixture {
    /// A test photograph's location and bytes.
    func image(_ name: String) -> URL {
        fixturesDirectory.appendingPathComponent("images").appendingPathComponent(name)
    }
    func bytes(_ name: String) -> [UInt8] { [UInt8](try! Data(contentsOf: image(name))) }
}

/// Interleaved 8-bit RGB [H, W, 3] (int32) of a [3, H, W] tensor in 0…1, as PIL would hold it.
func rgbBytes(_ image: Tensor) -> Tensor {
    Tensor(ImageFile.toBytes(image).pixels.map { Int32($0) }, shape: [image.shape[1], image.shape[2], 3])
}
