import Foundation
import Tensor

/// A value of an unpickled PyTorch checkpoint: the plain Python values a state dict or training
/// checkpoint is made of, with tensors already materialised.
public indirect enum PickleValue: CustomStringConvertible {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    /// dict and OrderedDict, in insertion order.
    case dict(PickleDict)
    case tensor(Tensor)
    /// An object of an allowed class with its state (argparse.Namespace: the attributes).
    case object(type: String, state: PickleValue)
    /// A reference to one of the allowed globals, before it is called.
    case global(String)
    /// A storage reference from a persistent id, before a tensor is built on it.
    case storage(key: String, type: String, count: Int)

    /// The value under a string key of a dict (or an object's attribute).
    public subscript(key: String) -> PickleValue? {
        switch self {
        case .dict(let d): d.value(forKey: key)
        case .object(_, let state): state[key]
        default: nil
        }
    }

    /// Every tensor of a (nested) dict by dotted path, e.g. a state dict, or `student.…` entries.
    public func tensors(prefix: String = "") -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        switch self {
        case .tensor(let t): out[prefix] = t
        case .dict(let d):
            for (k, v) in d.entries {
                let name: String
                switch k {
                case .string(let s): name = s
                case .int(let i): name = String(i)
                default: continue
                }
                out.merge(v.tensors(prefix: prefix.isEmpty ? name : prefix + "." + name)) { a, _ in a }
            }
        default: break
        }
        return out
    }

    public var description: String {
        switch self {
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): "\(i)"
        case .float(let f): "\(f)"
        case .string(let s): "'\(s)'"
        case .bytes(let b): "bytes(\(b.count))"
        case .tuple(let t): "(" + t.map(\.description).joined(separator: ", ") + ")"
        case .list(let l): "[" + l.items.map(\.description).joined(separator: ", ") + "]"
        case .dict(let d): "{" + d.entries.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
        case .tensor(let t): "tensor\(describe(t.shape)) \(t.dtype)"
        case .object(let type, let state): "\(type)(\(state))"
        case .global(let g): g
        case .storage(let key, let type, let count): "\(type)(\(key), \(count))"
        }
    }
}

/// A Python list, shared by reference as in Python (the pickle memo may hold it while it grows).
public final class PickleList {
    public var items: [PickleValue] = []
}

/// A Python dict in insertion order.
public final class PickleDict {
    public private(set) var entries: [(PickleValue, PickleValue)] = []
    func set(_ key: PickleValue, _ value: PickleValue) {
        if case .string(let s) = key,
           let i = entries.firstIndex(where: { if case .string(s) = $0.0 { true } else { false } }) {
            entries[i].1 = value
        } else {
            entries.append((key, value))
        }
    }
    public func value(forKey key: String) -> PickleValue? {
        entries.first { if case .string(key) = $0.0 { true } else { false } }?.1
    }
    public var keys: [String] { entries.compactMap { if case .string(let s) = $0.0 { s } else { nil } } }
}

/// A pickle virtual machine for what PyTorch checkpoints contain, and nothing else: it never
/// imports or calls arbitrary code. Only the globals in ``allowedGlobals`` may appear; any other
/// is a ``CheckpointError`` naming it.
struct Unpickler {
    static let storageTypes: Set<String> = [
        "FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage", "IntStorage",
        "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage",
    ].reduce(into: []) { $0.insert("torch.\($1)") }
    static let allowedGlobals: Set<String> = storageTypes.union([
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state", "torch._tensor._rebuild_from_type_v2",
        "torch.nn.parameter.Parameter", "argparse.Namespace", "torch.device", "builtins.set", "torch.Size",
    ])

    let bytes: [UInt8]
    let context: String
    /// Builds a tensor from a storage reference and a view (offset, sizes, strides).
    let rebuildTensor: (_ storage: (key: String, type: String, count: Int), _ offset: Int, _ size: [Int],
                        _ stride: [Int]) throws -> Tensor

    func error(_ message: String, at position: Int) -> CheckpointError {
        CheckpointError("\(context): \(message) (pickle byte \(position))")
    }

    func load() throws -> PickleValue {
        var stack: [PickleValue] = []
        var marks: [Int] = []
        var memo: [Int: PickleValue] = [:]
        var p = 0

        func take(_ n: Int) throws -> ArraySlice<UInt8> {
            guard n >= 0, p <= bytes.count - n else { throw error("truncated", at: p) }
            defer { p += n }
            return bytes[p..<(p + n)]
        }
        func uint(_ n: Int) throws -> Int { try take(n).reversed().reduce(0) { $0 << 8 | Int($1) } }
        func line() throws -> String {
            guard let end = bytes[p...].firstIndex(of: 0x0A) else { throw error("unterminated line", at: p) }
            defer { p = end + 1 }
            return String(decoding: bytes[p..<end], as: UTF8.self)
        }
        func pop() throws -> PickleValue {
            guard let v = stack.popLast() else { throw error("stack underflow", at: p) }
            return v
        }
        func popMark() throws -> [PickleValue] {
            guard let m = marks.popLast(), m <= stack.count else { throw error("no mark", at: p) }
            defer { stack.removeLast(stack.count - m) }
            return Array(stack[m...])
        }
        func int(_ v: PickleValue) throws -> Int {
            if case .int(let i) = v { return i }
            throw error("expected an int, got \(v)", at: p)
        }
        func ints(_ v: PickleValue) throws -> [Int] {
            if case .tuple(let t) = v { return try t.map(int) }
            throw error("expected a tuple of ints, got \(v)", at: p)
        }

        while true {
            let opcodeAt = p
            guard p < bytes.count else { throw error("truncated before STOP", at: p) }
            let op = bytes[p]
            p += 1
            switch op {
            case 0x80: _ = try take(1)                                   // PROTO
            case 0x95: _ = try take(8)                                   // FRAME
            case 0x2E: return try pop()                                  // STOP
            case 0x28: marks.append(stack.count)                         // MARK
            case 0x7D: stack.append(.dict(PickleDict()))                 // EMPTY_DICT
            case 0x5D: stack.append(.list(PickleList()))                 // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))                          // EMPTY_TUPLE
            case 0x4E: stack.append(.none)                               // NONE
            case 0x88: stack.append(.bool(true))                         // NEWTRUE
            case 0x89: stack.append(.bool(false))                        // NEWFALSE
            case 0x4B: stack.append(.int(try uint(1)))                   // BININT1
            case 0x4D: stack.append(.int(try uint(2)))                   // BININT2
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A, 0x8B:                                             // LONG1, LONG4
                let n = op == 0x8A ? try uint(1) : try uint(4)
                guard n <= 8 else { throw error("integer of \(n) bytes is too large", at: opcodeAt) }
                let raw = try take(n)
                var v: UInt64 = 0
                for b in raw.reversed() { v = v << 8 | UInt64(b) }
                if n > 0 && n < 8 && raw.last! & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }  // sign-extend
                stack.append(.int(Int(Int64(bitPattern: v))))
            case 0x47:                                                   // BINFLOAT (big-endian)
                stack.append(.float(Double(bitPattern: try take(8).reduce(0) { $0 << 8 | UInt64($1) })))
            case 0x58, 0x8C, 0x8D, 0x55, 0x54:                           // BINUNICODE, SHORT_, 8,
                                                                         // SHORT_BINSTRING, BINSTRING
                let n = op == 0x8C || op == 0x55 ? try uint(1) : op == 0x8D ? try uint(8) : try uint(4)
                stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x42, 0x43, 0x8E:                                       // BINBYTES, SHORT_BINBYTES, BINBYTES8
                let n = op == 0x43 ? try uint(1) : op == 0x8E ? try uint(8) : try uint(4)
                stack.append(.bytes(Array(try take(n))))
            case 0x71, 0x72:                                             // BINPUT, LONG_BINPUT
                let key = op == 0x71 ? try uint(1) : try uint(4)
                guard let top = stack.last else { throw error("stack underflow", at: opcodeAt) }
                memo[key] = top
            case 0x94:                                                   // MEMOIZE
                guard let top = stack.last else { throw error("stack underflow", at: opcodeAt) }
                memo[memo.count] = top
            case 0x68, 0x6A:                                             // BINGET, LONG_BINGET
                let key = op == 0x68 ? try uint(1) : try uint(4)
                guard let v = memo[key] else { throw error("memo \(key) is not set", at: opcodeAt) }
                stack.append(v)
            case 0x74: stack.append(.tuple(try popMark()))               // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))                 // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))  // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))  // TUPLE3
            case 0x6C:                                                   // LIST
                let l = PickleList()
                l.items = try popMark()
                stack.append(.list(l))
            case 0x64:                                                   // DICT
                let items = try popMark()
                guard items.count % 2 == 0 else { throw error("odd number of dict items", at: opcodeAt) }
                let d = PickleDict()
                for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
                stack.append(.dict(d))
            case 0x61, 0x65:                                             // APPEND, APPENDS
                let items = op == 0x61 ? [try pop()] : try popMark()
                guard case .list(let l) = stack.last else { throw error("append to a non-list", at: opcodeAt) }
                l.items += items
            case 0x73, 0x75:                                             // SETITEM, SETITEMS
                let items: [PickleValue]
                if op == 0x73 { let v = try pop(), k = try pop(); items = [k, v] } else { items = try popMark() }
                guard items.count % 2 == 0, case .dict(let d) = stack.last else {
                    throw error("setitem on a non-dict", at: opcodeAt)
                }
                for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
            case 0x63:                                                   // GLOBAL
                let module = try line(), name = try line()
                stack.append(try global(module, name, at: opcodeAt))
            case 0x93:                                                   // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case .string(let m) = module, case .string(let n) = name else {
                    throw error("bad STACK_GLOBAL", at: opcodeAt)
                }
                stack.append(try global(m, n, at: opcodeAt))
            case 0x51:                                                   // BINPERSID
                let pid = try pop()
                guard case .tuple(let t) = pid, t.count == 5, case .string("storage") = t[0],
                      case .global(let type) = t[1], case .string(let key) = t[2],
                      case .int(let count) = t[4], count >= 0 else {
                    throw error("unsupported persistent id \(pid)", at: opcodeAt)
                }
                stack.append(.storage(key: key, type: type, count: count))
            case 0x52, 0x81:                                             // REDUCE, NEWOBJ
                let args = try pop(), callable = try pop()
                guard case .global(let name) = callable, case .tuple(let a) = args else {
                    throw error("cannot call \(callable)", at: opcodeAt)
                }
                stack.append(try call(name, a, at: opcodeAt))
            case 0x62:                                                   // BUILD
                let state = try pop(), target = try pop()
                switch target {
                case .object(let type, _): stack.append(.object(type: type, state: state))
                case .tensor, .dict: stack.append(target)  // parameter/OrderedDict state: nothing to keep
                default: throw error("cannot set state of \(target)", at: opcodeAt)
                }
            default:
                throw error(String(format: "unsupported pickle opcode 0x%02x", op), at: opcodeAt)
            }
        }
    }

    func global(_ module: String, _ name: String, at position: Int) throws -> PickleValue {
        let full = "\(module).\(name)"
        guard Self.allowedGlobals.contains(full) else {
            throw error("refusing global \(full): a checkpoint may only hold tensors, dicts, lists and plain values",
                        at: position)
        }
        return .global(full)
    }

    func call(_ name: String, _ args: [PickleValue], at position: Int) throws -> PickleValue {
        switch name {
        case "collections.OrderedDict": return .dict(PickleDict())
        case "argparse.Namespace": return .object(type: name, state: .dict(PickleDict()))
        case "torch.device": return args.first ?? .none
        case "torch.Size": return args.first ?? .tuple([])
        case "builtins.set":
            let l = PickleList()
            if case .list(let items) = args.first { l.items = items.items }
            return .list(l)
        case "torch._utils._rebuild_tensor_v2":
            guard args.count >= 4, case .storage(let key, let type, let count) = args[0],
                  case .int(let offset) = args[1], case .tuple(let sizeValues) = args[2],
                  case .tuple(let strideValues) = args[3] else {
                throw error("malformed _rebuild_tensor_v2 arguments", at: position)
            }
            let size = try sizeValues.map { v -> Int in
                if case .int(let i) = v { return i }
                throw error("bad size", at: position)
            }
            let stride = try strideValues.map { v -> Int in
                if case .int(let i) = v { return i }
                throw error("bad stride", at: position)
            }
            return .tensor(try rebuildTensor((key, type, count), offset, size, stride))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
             "torch.nn.parameter.Parameter":
            guard case .tensor(let t) = args.first else { throw error("\(name) without a tensor", at: position) }
            return .tensor(t)
        case "torch._tensor._rebuild_from_type_v2":
            guard args.count >= 3, case .global(let inner) = args[0], case .tuple(let innerArgs) = args[2] else {
                throw error("malformed _rebuild_from_type_v2 arguments", at: position)
            }
            return try call(inner, innerArgs, at: position)
        default:
            throw error("\(name) cannot be called", at: position)
        }
    }
}

/// Plain pickle files (not PyTorch archives), read with the same safe virtual machine: lists,
/// dicts, strings and numbers, as in revisitop's `gnd_roxford5k.pkl`. A tensor or any global
/// outside the checkpoint reader's short list is an error naming it; nothing is ever imported or run.
public enum Pickle {
    public static func load(_ url: URL) throws -> PickleValue {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CheckpointError("\(url.path): cannot read (\(error.localizedDescription))")
        }
        return try load([UInt8](data), context: url.lastPathComponent)
    }

    public static func load(_ bytes: [UInt8], context: String) throws -> PickleValue {
        try Unpickler(bytes: bytes, context: context) { storage, _, _, _ in
            throw CheckpointError("\(context): a plain pickle holds no tensors, found storage \(storage.key)")
        }.load()
    }
}
