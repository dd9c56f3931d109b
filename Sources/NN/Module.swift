import Autograd
import Tensor

/// A tensor a module keeps in its state dict without training it (BatchNorm's running statistics).
public final class Buffer {
    /// The current value; modules replace or update it in place.
    public var value: Tensor
    public init(_ value: Tensor) { self.value = value }
}

/// The base class of layers and models: a tree of submodules with named parameters and buffers.
///
/// A subclass declares its parts as stored properties — parameters as `Variable`, buffers as
/// ``Buffer``, children as modules, optionals of modules, or arrays of modules — and the tree is
/// discovered by reflection. The names are the property names in snake_case, joined by dots,
/// with array elements numbered, so `blocks[0].attn.qkv.weight` is `blocks.0.attn.qkv.weight`
/// and `layer1[0].downsample[1].runningMean` is `layer1.0.downsample.1.running_mean` — exactly
/// PyTorch's state-dict keys for the same structure, with no key tables per model.
open class Module {
    /// Whether the module is in training mode (dropout active, batch statistics used).
    public private(set) var isTraining = true

    public init() {}

    /// Applies the module to one input. Modules with other signatures define their own methods.
    open func callAsFunction(_ x: Variable) -> Variable {
        fail(String(describing: type(of: self)), "this module does not take a single input")
    }

    // MARK: The tree

    /// Keys for the properties whose Swift names cannot be PyTorch's keys, by property name
    /// (`["inputProjection": "in_proj_weight"]`); the rest are the names in snake_case. The role of
    /// mlx-swift's `@ModuleInfo(key:)`, as a table because a module's parts are `let` constants.
    open class var stateDictKeys: [String: String] { [:] }

    /// The direct parts, reflected once: a module's parameters, buffers and children are fixed
    /// when its initialiser ends (declare them with `let`), so the tree can be cached.
    private lazy var cachedParts: [(name: String, part: Part)] = reflectParts()

    /// The direct parts of this module in declaration order.
    private func parts() -> [(name: String, part: Part)] { cachedParts }

    private func reflectParts() -> [(name: String, part: Part)] {
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror, m.subjectType != Module.self {
            mirrors.append(m)
            mirror = m.superclassMirror
        }
        let explicitKeys = Self.stateDictKeys
        var found: [(String, Part)] = []
        for m in mirrors.reversed() {
            for child in m.children {
                guard let label = child.label, !label.hasPrefix("$") else { continue }
                let name = explicitKeys[label] ?? Module.stateDictName(label)
                switch child.value {
                case let v as Variable: found.append((name, .parameter(v)))
                case let b as Buffer: found.append((name, .buffer(b)))
                case let c as Module: found.append((name, .child(c)))
                case let list as [Module]:
                    // Containers (Sequential, ModuleList) number their elements directly: `0.weight`.
                    let prefix = self is ModuleContainer ? "" : name + "."
                    for (i, c) in list.enumerated() { found.append(("\(prefix)\(i)", .child(c))) }
                default: continue
                }
            }
        }
        return found
    }

    private enum Part {
        case parameter(Variable), buffer(Buffer), child(Module)
    }

    /// `runningMean` → `running_mean`; a leading underscore is dropped (`_weight` → `weight`).
    static func stateDictName(_ label: String) -> String {
        var out = ""
        for ch in label.drop(while: { $0 == "_" }) {
            if ch.isUppercase {
                out += "_" + ch.lowercased()
            } else {
                out.append(ch)
            }
        }
        return out
    }

    /// Direct submodules with their names (array elements as `name.i`).
    public func namedChildren() -> [(name: String, module: Module)] {
        parts().compactMap { if case .child(let c) = $0.part { ($0.name, c) } else { nil } }
    }

    /// This module and every descendant, with dotted paths ("" for this module), depth first.
    public func namedModules() -> [(name: String, module: Module)] {
        var out: [(String, Module)] = [("", self)]
        for (name, child) in namedChildren() {
            out += child.namedModules().map { ($0.name.isEmpty ? name : name + "." + $0.name, $0.module) }
        }
        return out
    }

    /// Every parameter with its state-dict key, in declaration order (shared parameters once).
    public func namedParameters() -> [(name: String, parameter: Variable)] {
        var seen = Set<ObjectIdentifier>()
        return namedLeaves().compactMap {
            guard case .parameter(let v) = $0.part, seen.insert(ObjectIdentifier(v)).inserted else { return nil }
            return ($0.name, v)
        }
    }

    /// The parameters, in declaration order.
    public func parameters() -> [Variable] { namedParameters().map(\.parameter) }

    /// Every buffer with its state-dict key.
    public func namedBuffers() -> [(name: String, buffer: Buffer)] {
        namedLeaves().compactMap { if case .buffer(let b) = $0.part { ($0.name, b) } else { nil } }
    }

    private func namedLeaves() -> [(name: String, part: Part)] {
        var out: [(String, Part)] = []
        for (name, part) in parts() {
            if case .child(let c) = part {
                out += c.namedLeaves().map { (name + "." + $0.name, $0.part) }
            } else {
                out.append((name, part))
            }
        }
        return out
    }

    /// Number of scalars in the parameters (`trainableOnly`: those that require gradients).
    public func parameterCount(trainableOnly: Bool = false) -> Int {
        parameters().filter { !trainableOnly || $0.requiresGrad }.reduce(0) { $0 + $1.data.count }
    }

    /// Converts every floating-point parameter and buffer to `dtype` in place (PyTorch's
    /// `module.to(torch.float64)`), keeping each parameter's identity so optimisers still hold it.
    @discardableResult
    public func to(_ dtype: DType) -> Self {
        check(dtype.isFloatingPoint, "Module.to", "needs a floating-point dtype, got \(dtype)")
        for p in parameters() where p.data.dtype != dtype { p.data = p.data.converted(to: dtype) }
        for (_, b) in namedBuffers() where b.value.dtype.isFloatingPoint && b.value.dtype != dtype {
            b.value = b.value.converted(to: dtype)
        }
        return self
    }

    // MARK: Modes

    /// Sets training mode on this module and every descendant; returns self for chaining.
    @discardableResult
    public func train(_ on: Bool = true) -> Self {
        for (_, m) in namedModules() { m.isTraining = on }
        return self
    }

    /// Sets evaluation mode (dropout off, BatchNorm uses running statistics).
    @discardableResult
    public func eval() -> Self { train(false) }

    /// Stops (or restarts) gradients for parameters whose key, or a module path above it, matches
    /// `pattern` (`*` matches any characters: `"blocks.*.attn"`, `"head"`). Returns the matched keys.
    @discardableResult
    public func freeze(_ pattern: String, _ frozen: Bool = true) -> [String] {
        let matched = namedParameters().filter { keyMatches($0.name, pattern) }
        for (_, p) in matched { p.setRequiresGrad(!frozen) }
        return matched.map(\.name)
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for p in parameters() { p.grad = nil }
    }
}

/// A module whose only part is a list of modules, named by index alone (PyTorch's
/// `nn.Sequential` and `nn.ModuleList`: keys `0.weight`, not `modules.0.weight`).
public protocol ModuleContainer: Module {}

/// Whether a state-dict key, or one of its dotted prefixes (a module path), matches a pattern
/// in which `*` stands for any run of characters: `blocks.*.norm1` matches `blocks.3.norm1.bias`.
func keyMatches(_ key: String, _ pattern: String) -> Bool {
    let parts = key.split(separator: ".")
    return (1...parts.count).contains { globMatches(parts.prefix($0).joined(separator: "."), pattern) }
}

private func globMatches(_ text: String, _ pattern: String) -> Bool {
    let pieces = pattern.split(separator: "*", omittingEmptySubsequences: false)
    guard pieces.count > 1 else { return text == pattern }
    var rest = Substring(text)
    guard rest.hasPrefix(pieces[0]) else { return false }
    rest = rest.dropFirst(pieces[0].count)
    for piece in pieces.dropFirst().dropLast() {
        guard let r = rest.range(of: piece) else { return false }
        rest = rest[r.upperBound...]
    }
    return rest.hasSuffix(pieces.last!) && rest.count >= pieces.last!.count
}
