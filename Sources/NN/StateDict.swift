import Autograd
import Tensor

/// Why a state dict did not load: every problem, by key.
public struct StateDictError: Error, CustomStringConvertible {
    /// Keys the module has but the state dict lacks.
    public var missing: [String] = []
    /// Keys the state dict has but the module lacks.
    public var unexpected: [String] = []
    /// Keys present in both with different shapes: (key, module shape, state-dict shape).
    public var mismatched: [(key: String, expected: [Int], found: [Int])] = []

    public init(missing: [String] = [], unexpected: [String] = [],
                mismatched: [(key: String, expected: [Int], found: [Int])] = []) {
        (self.missing, self.unexpected, self.mismatched) = (missing, unexpected, mismatched)
    }

    public var description: String {
        var lines = ["state dict does not match the module:"]
        if !missing.isEmpty { lines.append("  missing keys (\(missing.count)): " + missing.joined(separator: ", ")) }
        if !unexpected.isEmpty {
            lines.append("  unexpected keys (\(unexpected.count)): " + unexpected.joined(separator: ", "))
        }
        for m in mismatched {
            lines.append("  \(m.key): module has shape \(describe(m.expected)), state dict has \(describe(m.found))")
        }
        return lines.joined(separator: "\n")
    }
}

/// What a non-strict load left out.
public struct LoadReport: Equatable {
    public var missing: [String]
    public var unexpected: [String]
}

extension Module {
    /// Parameters and buffers by their PyTorch state-dict keys. Values share storage with the
    /// module (like PyTorch's `state_dict()`); copy them to keep a snapshot.
    public func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, p) in namedParameters() { out[k] = p.data }
        for (k, b) in namedBuffers() { out[k] = b.value }
        return out
    }

    /// How `state` differs from this module's state dict: keys missing from it (in module order),
    /// keys the module lacks (sorted), and shapes that differ. Empty when it would load strictly.
    public func differences(from state: [String: Tensor]) -> StateDictError {
        var error = StateDictError()
        var known = Set<String>()
        for (k, v) in namedParameters().map({ ($0.name, $0.parameter.data) })
                        + namedBuffers().map({ ($0.name, $0.buffer.value) }) {
            known.insert(k)
            guard let t = state[k] else { error.missing.append(k); continue }
            if t.shape != v.shape { error.mismatched.append((k, v.shape, t.shape)) }
        }
        error.unexpected = state.keys.filter { !known.contains($0) }.sorted()
        return error
    }

    /// The state-dict keys in module order.
    public func stateDictKeys() -> [String] { namedParameters().map(\.name) + namedBuffers().map(\.name) }

    /// Copies values into the parameters and buffers with the same keys, converting dtypes.
    ///
    /// A shape mismatch is always an error. With `strict`, missing and unexpected keys are errors
    /// too (nothing is changed unless everything matches); without it they are returned.
    @discardableResult
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true) throws -> LoadReport {
        let params = namedParameters(), buffers = namedBuffers()
        let error = differences(from: state)
        if !error.mismatched.isEmpty || (strict && !(error.missing.isEmpty && error.unexpected.isEmpty)) { throw error }
        for (k, p) in params {
            if let t = state[k] { p.data = t.converted(to: p.data.dtype).copy() }
        }
        for (k, b) in buffers {
            if let t = state[k] { b.value = t.converted(to: b.value.dtype).copy() }
        }
        return LoadReport(missing: error.missing, unexpected: error.unexpected)
    }
}

/// Removes a key prefix such as `module.` (DistributedDataParallel) or `backbone.` (DINO's
/// checkpoints); keys without it are kept unchanged.
public func strippingPrefix(_ prefix: String, from state: [String: Tensor]) -> [String: Tensor] {
    Dictionary(state.map { ($0.key.hasPrefix(prefix) ? String($0.key.dropFirst(prefix.count)) : $0.key, $0.value) },
               uniquingKeysWith: { stripped, _ in stripped })
}

/// Drops the keys under any of `prefixes` — what a full training checkpoint holds besides the
/// model, such as DINO's and EsViT's heads (`head.`, `head_dense.`).
public func excludingPrefixes(_ prefixes: [String], from state: [String: Tensor]) -> [String: Tensor] {
    state.filter { key, _ in !prefixes.contains { key.hasPrefix($0) } }
}
