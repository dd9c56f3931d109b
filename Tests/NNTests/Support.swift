@_exported import TestSupport
import Foundation
import Tensor

/// PyTorch's reference values (written by scripts/make_nn_fixtures.py, float64).
enum Reference {
    static let file = loadFixtures("nn_layers.safetensors")
    static func t(_ name: String) -> Tensor {
        guard let t = file.tensors[name] else { fatalError("fixture nn_layers has no \(name)") }
        return t
    }
    /// Tensors under `prefix.` with the prefix removed (a module's state dict).
    static func state(_ prefix: String) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: file.tensors.filter { $0.key.hasPrefix(prefix + ".") }
            .map { (String($0.key.dropFirst(prefix.count + 1)), $0.value) })
    }
    nonisolated(unsafe) static let meta: [String: Any] = (try? JSONSerialization.jsonObject(with: Data(file.metadata["meta"]!.utf8))) as? [String: Any] ?? [:]
}
