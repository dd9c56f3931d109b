@_exported import TestSupport
import Foundation
import Tensor

/// timm/torchvision reference values (scripts/make_zoo_fixtures.py).
enum Reference {
    static let file = loadFixtures("zoo.safetensors")
    static func t(_ name: String) -> Tensor {
        guard let t = file.tensors[name] else { fatalError("fixture zoo has no \(name)") }
        return t
    }
    static func state(_ prefix: String) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: file.tensors.filter { $0.key.hasPrefix(prefix + ".") }
            .map { (String($0.key.dropFirst(prefix.count + 1)), $0.value) })
    }
    nonisolated(unsafe) static let meta: [String: Any] =
        (try? JSONSerialization.jsonObject(with: Data(file.metadata["meta"]!.utf8))) as? [String: Any] ?? [:]
    /// Key → shape of a full-size model's PyTorch state dict.
    static func keys(_ model: String) -> [String: [Int]] { meta["\(model).keys"] as! [String: [Int]] }
}
