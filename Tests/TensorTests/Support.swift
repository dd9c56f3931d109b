import Foundation
import Testing
@testable import Tensor

/// The committed fixtures (written by scripts/make_fixtures.py).
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let ops: [String: Tensor] = try! SafeTensors.read(directory.appendingPathComponent("tensor_ops.safetensors"),
                                                             widenHalfPrecision: true).tensors
    static func op(_ name: String) -> Tensor { ops[name]! }
}

/// Expects equal shapes and |a − b| ≤ atol + rtol·|b| everywhere.
func expectClose(_ a: Tensor, _ b: Tensor, atol: Double = 1e-6, rtol: Double = 1e-5,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)", sourceLocation: sourceLocation)
    guard a.shape == b.shape else { return }
    let x = a.doubles, y = b.doubles
    var worst = 0.0, at = -1
    for i in x.indices {
        let err = Swift.abs(x[i] - y[i]) - (atol + rtol * Swift.abs(y[i]))
        if err > worst || (x[i].isNaN != y[i].isNaN) { worst = Swift.max(err, 1); at = i }
    }
    #expect(at < 0, "element \(at): \(at >= 0 ? x[at] : 0) vs \(at >= 0 ? y[at] : 0)", sourceLocation: sourceLocation)
}

func expectClose(_ a: Tensor, _ values: [Double], atol: Double = 1e-6, sourceLocation: SourceLocation = #_sourceLocation) {
    expectClose(a, Tensor(values, shape: a.shape), atol: atol, rtol: 0, sourceLocation: sourceLocation)
}
