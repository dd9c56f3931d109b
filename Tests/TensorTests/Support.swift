import Foundation
import Testing
@testable import Tensor
@_exported import TestSupport

/// The committed fixtures (written by scripts/make_fixtures.py).
enum Fixtures {
    static let directory = fixturesDirectory
    static let ops: [String: Tensor] = loadFixtures("tensor_ops.safetensors").tensors
    static func op(_ name: String) -> Tensor { ops[name]! }
}

