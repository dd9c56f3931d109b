import Foundation
import Testing
import Tensor
import Autograd

/// Reads a committed fixture file from Tests/Fixtures (written by the scripts in scripts/).
public func loadFixtures(_ file: String) -> (tensors: [String: Tensor], metadata: [String: String]) {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(file)
    do {
        return try SafeTensors.read(url, widenHalfPrecision: true)
    } catch {
        fatalError("fixture \(file) unreadable: \(error); regenerate it with the scripts in scripts/")
    }
}

/// The directory of committed test data files.
public let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

/// Expects equal shapes and |a − b| ≤ atol + rtol·|b| everywhere.
public func expectClose(_ a: Tensor, _ b: Tensor, atol: Double = 1e-6, rtol: Double = 1e-5,
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

/// Expects `a` to hold `values` (row-major) within `atol`.
public func expectClose(_ a: Tensor, _ values: [Double], atol: Double = 1e-6,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    expectClose(a, Tensor(values, shape: a.shape), atol: atol, rtol: 0, sourceLocation: sourceLocation)
}

/// A float64 normal tensor, reproducible from `seed`.
public func randn(_ shape: [Int], seed: UInt64) -> Tensor {
    Tensor.randn(shape, dtype: .float64, generator: RandomGenerator(seed: seed))
}

/// Values bounded away from 0 (for log, sqrt, division, abs, relu kinks): ±[0.5, 1.5).
public func awayFromZero(_ shape: [Int], seed: UInt64, positive: Bool = false) -> Tensor {
    let g = RandomGenerator(seed: seed)
    let magnitude = Tensor.uniform(shape, low: 0.5, high: 1.5, dtype: .float64, generator: g)
    if positive { return magnitude }
    let sign = Tensor.bernoulli(shape, p: 0.5, dtype: .float64, generator: g) * 2 - 1
    return magnitude * sign
}

/// Expects backward's gradients of `f` to match central differences for every input element.
public func expectGradients(_ inputs: [Tensor], sourceLocation: SourceLocation = #_sourceLocation,
                            _ f: @escaping ([Variable]) -> Variable) {
    let result = gradCheck(f, inputs: inputs)
    #expect(result.passed, "\(result)", sourceLocation: sourceLocation)
}

/// A committed fixture file: tensors by name, a module's state dict under a prefix, and the JSON
/// in its `meta` metadata entry.
public final class Fixture: @unchecked Sendable {
    public let tensors: [String: Tensor]
    public let metadata: [String: String]
    public let meta: [String: Any]

    public init(_ file: String) {
        (tensors, metadata) = loadFixtures(file)
        meta = metadata["meta"].flatMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        } ?? [:]
    }

    public func t(_ name: String) -> Tensor {
        guard let t = tensors[name] else { fatalError("fixture has no tensor \(name)") }
        return t
    }

    /// Tensors under `prefix.` with the prefix removed (a module's state dict).
    public func state(_ prefix: String) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: tensors.filter { $0.key.hasPrefix(prefix + ".") }
            .map { (String($0.key.dropFirst(prefix.count + 1)), $0.value) })
    }

    /// Key → shape of a full-size model's PyTorch state dict, stored as `<model>.keys` in `meta`.
    public func keys(_ model: String) -> [String: [Int]] { meta["\(model).keys"] as? [String: [Int]] ?? [:] }
}
