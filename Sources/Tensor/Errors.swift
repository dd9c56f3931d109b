/// How Tessera reports mistakes.
///
/// - Programmer mistakes in tensor code (mismatched shapes, wrong dtypes, axes out of range)
///   stop the program with a message that names the op and the shapes, like an array index out
///   of range does in Swift: `matmul: inner dimensions differ: [2, 3] × [4, 5]`. They go through
///   ``fail(_:_:)`` so the message is printed in release builds too.
/// - Reading files (safetensors, checkpoints, images) throws a ``TensorFileError``: files are
///   untrusted input, never a reason to crash.
public func fail(_ op: String, _ message: String) -> Never {
    fatalError("\(op): \(message)")
}

/// Stops with `op: message` unless `condition` holds.
@inline(__always)
public func check(_ condition: Bool, _ op: @autoclosure () -> String, _ message: @autoclosure () -> String) {
    if !condition { fail(op(), message()) }
}

/// Formats a shape the way error messages print it: `[2, 3]`.
public func describe(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

/// Turns a possibly negative axis into `0..<rank`, or stops naming the op.
@inlinable
public func normalizeAxis(_ axis: Int, rank: Int, op: String) -> Int {
    let a = axis < 0 ? axis + rank : axis
    check(a >= 0 && a < max(rank, 1), op, "axis \(axis) is out of range for a tensor of rank \(rank)")
    return a
}

/// A value a user gave — in a config file, checkpoint metadata, an option or a command-line
/// flag — that breaks a rule: the message names the field, the value and the rule
/// (`embed_dim = 96: must be divisible by num_heads = 7`). Configs and options throw it where
/// they enter, so that user mistakes never reach a ``check(_:_:_:)`` deep in a kernel.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    public var field: String
    public var value: String
    public var rule: String
    /// Where the value came from (a file, a command), when known.
    public var source: String?

    public init(field: String, value: String, rule: String, source: String? = nil) {
        (self.field, self.value, self.rule, self.source) = (field, value, rule, source)
    }

    public var description: String { (source.map { "\($0): " } ?? "") + "\(field) = \(value): \(rule)" }

    /// Throws unless `condition` holds.
    public static func require(_ condition: Bool, _ field: String, _ value: @autoclosure () -> Any,
                               _ rule: @autoclosure () -> String) throws {
        if !condition { throw ConfigurationError(field: field, value: "\(value())", rule: rule()) }
    }
}
