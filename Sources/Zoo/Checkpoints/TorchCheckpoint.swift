import Foundation
import NN
import Tensor

/// PyTorch `.pth` / `.pt` files as `torch.save` writes them (a ZIP archive holding `data.pkl`
/// and one entry per storage), read without Python and without executing anything.
///
/// Tensors are materialised contiguous in Tessera's dtypes: float16 and bfloat16 storages are
/// widened to float32, int8/uint8/int16 to int32. Files are untrusted: every size, offset and
/// stride is checked against the archive before any allocation.
public enum TorchCheckpoint {
    /// The unpickled object tree of a checkpoint (a state dict, or a training checkpoint with
    /// nested dicts such as DINO's `student`, `teacher`, `optimizer`, `epoch`, `args`).
    public static func load(_ url: URL) throws -> PickleValue {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw CheckpointError("\(url.path): cannot read: \(error.localizedDescription)")
        }
        return try load(data, name: url.lastPathComponent)
    }

    /// Parses checkpoint bytes (see ``load(_:)-(URL)``).
    public static func load(_ data: Data, name: String) throws -> PickleValue {
        if data.starts(with: [0x80]) || data.starts(with: [0x8A, 0x0A]) {
            throw CheckpointError("\(name): a legacy (pre-1.6, non-ZIP) PyTorch file; "
                                  + "re-save it with a current torch.save, which writes the ZIP format")
        }
        guard data.starts(with: [0x50, 0x4B]) else {
            throw CheckpointError("\(name): not a PyTorch checkpoint (no ZIP signature)")
        }
        let zip = try ZipArchive(data, name: name)
        guard let pickle = zip.entries.values.filter({ $0.name.hasSuffix("data.pkl") })
                .min(by: { $0.name.count < $1.name.count }) else {
            throw CheckpointError("\(name): no data.pkl in the archive")
        }
        let root = String(pickle.name.dropLast("data.pkl".count))
        var storages: [String: Tensor] = [:]
        let unpickler = Unpickler(bytes: [UInt8](try zip.data(pickle)),
                                  context: name) { storage, offset, size, stride in
            let flat: Tensor
            if let cached = storages[storage.key] {
                flat = cached
            } else {
                guard let entry = zip.entries[root + "data/" + storage.key] else {
                    throw CheckpointError("\(name): storage \(storage.key) is missing from the archive")
                }
                flat = try materialise(try zip.data(entry), type: storage.type, count: storage.count,
                                       context: "\(name): storage \(storage.key)")
                storages[storage.key] = flat
            }
            return try view(flat, offset: offset, size: size, stride: stride,
                            context: "\(name): tensor on storage \(storage.key)")
        }
        return try unpickler.load()
    }

    /// The state dict in a checkpoint: the top level if it holds tensors, else the dict under
    /// `entry` (for example `"teacher"`, `"state_dict"`, `"model"`), with `stripPrefixes` removed in order.
    public static func stateDict(_ url: URL, entry: String? = nil,
                                 stripPrefixes: [String] = []) throws -> [String: Tensor] {
        let value = try load(url)
        var source = value
        if let entry {
            guard let v = value[entry] else {
                throw CheckpointError("\(url.lastPathComponent): no entry \"\(entry)\"; "
                                      + "top-level keys: \(topLevelKeys(value))")
            }
            source = v
        }
        var tensors = source.tensors()
        guard !tensors.isEmpty else {
            throw CheckpointError("\(url.lastPathComponent): no tensors\(entry.map { " under \"\($0)\"" } ?? ""); "
                                  + "top-level keys: \(topLevelKeys(value))")
        }
        for prefix in stripPrefixes {
            tensors = Dictionary(tensors.map {
                ($0.key.hasPrefix(prefix) ? String($0.key.dropFirst(prefix.count)) : $0.key, $0.value)
            }, uniquingKeysWith: { a, _ in a })
        }
        return tensors
    }

    /// The model weights in a file whatever its layout: a safetensors file, a `.pth` state dict,
    /// or a training checkpoint whose `teacher`, `model` or `state_dict` entry holds them; the
    /// `module.` (DistributedDataParallel) and `backbone.` (DINO) prefixes are removed.
    public static func modelWeights(_ url: URL) throws -> [String: Tensor] {
        var state: [String: Tensor]
        if url.pathExtension == "safetensors" {
            state = try SafeTensors.read(url, widenHalfPrecision: true).tensors
        } else {
            let root = try load(url)
            let entry = ["teacher", "model", "state_dict"].first { root[$0] != nil }
            state = (entry.flatMap { root[$0] } ?? root).tensors()
        }
        for prefix in ["module.", "backbone."] { state = strippingPrefix(prefix, from: state) }
        return state
    }

    /// ``modelWeights(_:)`` in `model`'s layout where a file may hold another: a Swin's original
    /// (Microsoft, EsViT) layout becomes timm's (``SwinTransformer/timmLayout(_:)``).
    public static func modelWeights(_ url: URL, for model: Module) throws -> [String: Tensor] {
        let state = try modelWeights(url)
        return model is SwinTransformer ? SwinTransformer.timmLayout(state) : state
    }

    static func topLevelKeys(_ value: PickleValue) -> String {
        if case .dict(let d) = value { return d.keys.joined(separator: ", ") }
        return "(not a dict)"
    }

    /// Storage bytes as a flat tensor of `count` elements.
    static func materialise(_ data: Data, type: String, count: Int, context: String) throws -> Tensor {
        let width: Int
        switch type {
        case "torch.DoubleStorage", "torch.LongStorage": width = 8
        case "torch.FloatStorage", "torch.IntStorage": width = 4
        case "torch.HalfStorage", "torch.BFloat16Storage", "torch.ShortStorage": width = 2
        case "torch.CharStorage", "torch.ByteStorage", "torch.BoolStorage": width = 1
        default: throw CheckpointError("\(context): unsupported storage type \(type)")
        }
        guard count <= data.count / width else {
            throw CheckpointError("\(context): declares \(count) elements of \(width) bytes "
                                  + "but holds \(data.count) bytes")
        }
        return data.withUnsafeBytes { raw -> Tensor in
            func load<T>(_: T.Type, _ i: Int) -> T { raw.loadUnaligned(fromByteOffset: i * width, as: T.self) }
            switch type {
            case "torch.DoubleStorage": return Tensor((0..<count).map { load(Double.self, $0) })
            case "torch.LongStorage": return Tensor((0..<count).map { load(Int64.self, $0) })
            case "torch.FloatStorage": return Tensor((0..<count).map { load(Float.self, $0) })
            case "torch.IntStorage": return Tensor((0..<count).map { load(Int32.self, $0) })
            case "torch.HalfStorage":
                return Tensor((0..<count).map { Float(Float16(bitPattern: load(UInt16.self, $0))) })
            case "torch.BFloat16Storage":
                return Tensor((0..<count).map { Float(bitPattern: UInt32(load(UInt16.self, $0)) << 16) })
            case "torch.ShortStorage": return Tensor((0..<count).map { Int32(load(Int16.self, $0)) })
            case "torch.CharStorage": return Tensor((0..<count).map { Int32(load(Int8.self, $0)) })
            case "torch.ByteStorage": return Tensor((0..<count).map { Int32(load(UInt8.self, $0)) })
            default: return Tensor((0..<count).map { load(UInt8.self, $0) != 0 })
            }
        }
    }

    /// A contiguous copy of the strided view (offset, size, stride) of a flat storage tensor.
    static func view(_ flat: Tensor, offset: Int, size: [Int], stride: [Int], context: String) throws -> Tensor {
        guard size.count == stride.count,
              size.allSatisfy({ $0 >= 0 }), stride.allSatisfy({ $0 >= 0 }), offset >= 0 else {
            throw CheckpointError("\(context): invalid view: offset \(offset), size \(size), stride \(stride)")
        }
        guard !size.contains(0) else { return Tensor(empty: size, dtype: flat.dtype) }
        var last = offset
        for (n, s) in zip(size, stride) {
            let (product, overflow) = (n - 1).multipliedReportingOverflow(by: s)
            guard !overflow, last <= Int.max - product else { throw CheckpointError("\(context): view overflows") }
            last += product
        }
        guard last < flat.count else {
            throw CheckpointError("\(context): view (offset \(offset), size \(size), stride \(stride)) "
                                  + "reaches beyond its \(flat.count)-element storage")
        }
        return Tensor(storage: flat.storage, dtype: flat.dtype, shape: size, strides: stride,
                      offset: flat.offset + offset).contiguous()
    }

    /// Converts a `.pth` state dict (or the dict under `entry`) to a safetensors file.
    public static func convert(_ input: URL, to output: URL, entry: String? = nil,
                               stripPrefixes: [String] = []) throws -> Int {
        let tensors = try stateDict(input, entry: entry, stripPrefixes: stripPrefixes)
        try SafeTensors.write(tensors, metadata: ["format": "pt", "converted_from": input.lastPathComponent],
                              to: output)
        return tensors.count
    }
}
