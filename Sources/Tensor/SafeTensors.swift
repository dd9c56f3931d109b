import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a tensor file could not be read or written.
public struct TensorFileError: Error, CustomStringConvertible, Equatable {
    /// The file, and what is wrong with it.
    public let description: String
    init(_ path: String, _ problem: String) { description = "\(path): \(problem)" }
}

/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON
/// header naming each tensor's dtype, shape and byte range, then the raw little-endian data.
///
/// Files are untrusted. Every field is validated (lengths, offsets inside the data and not
/// overlapping, byte counts matching shape × dtype) before any tensor is made, and any
/// problem throws a ``TensorFileError`` saying what is wrong. Reading memory-maps the file
/// (private, copy-on-write): tensors whose bytes are aligned are views of the mapping, so a
/// 1 GB checkpoint costs no second gigabyte.
public enum SafeTensors {
    /// The largest header accepted (the format's reference implementation uses 100 MB).
    public static let maxHeaderBytes = 100_000_000

    /// The tensors of a safetensors file by name, and its `__metadata__` strings.
    public static func read(_ url: URL, widenHalfPrecision: Bool = false) throws
        -> (tensors: [String: Tensor], metadata: [String: String]) {
        let path = url.path
        let mapping = try MappedFile(path: path)
        return try parse(mapping.storage, path: path, widenHalfPrecision: widenHalfPrecision)
    }

    /// Parses safetensors bytes already in memory (for tests and archives).
    public static func parse(_ bytes: [UInt8], name: String = "<memory>", widenHalfPrecision: Bool = false) throws
        -> (tensors: [String: Tensor], metadata: [String: String]) {
        let storage = TensorStorage(byteCount: bytes.count)
        bytes.withUnsafeBytes { storage.base.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return try parse(storage, path: name, widenHalfPrecision: widenHalfPrecision)
    }

    private static func parse(_ storage: TensorStorage, path: String, widenHalfPrecision: Bool) throws
        -> (tensors: [String: Tensor], metadata: [String: String]) {
        let size = storage.byteCount
        func bad(_ problem: String) -> TensorFileError { TensorFileError(path, problem) }
        guard size >= 8 else { throw bad("file is \(size) bytes, too short for a safetensors header") }
        let headerLength = storage.base.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(maxHeaderBytes) else {
            throw bad("header length \(headerLength) exceeds the \(maxHeaderBytes)-byte limit")
        }
        guard headerLength <= UInt64(size - 8) else {
            throw bad("header length \(headerLength) runs past the end of the \(size)-byte file")
        }
        let dataStart = 8 + Int(headerLength), dataSize = size - dataStart
        let headerData = Data(bytes: storage.base + 8, count: Int(headerLength))
        guard let json = try? JSONSerialization.jsonObject(with: headerData), let header = json as? [String: Any] else {
            throw bad("header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var entries: [(name: String, dtype: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw bad("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw bad("__metadata__ value for \"\(k)\" is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shapeValues = info["shape"] as? [Any],
                  let offsets = info["data_offsets"] as? [Any], offsets.count == 2
            else { throw bad("entry \"\(name)\" lacks dtype, shape or data_offsets") }
            let shape = try shapeValues.map { v -> Int in
                guard let n = exactInt(v), n >= 0 else {
                    throw bad("entry \"\(name)\" has an invalid shape \(shapeValues)")
                }
                return n
            }
            guard let begin = exactInt(offsets[0]), let end = exactInt(offsets[1]),
                  begin >= 0, begin <= end, end <= dataSize else {
                throw bad("entry \"\(name)\" has data_offsets \(offsets) outside the \(dataSize)-byte data section")
            }
            guard let width = byteWidth[dtype] else { throw bad("entry \"\(name)\" has unsupported dtype \(dtype)") }
            var bytes = width
            for d in shape {
                let (product, overflow) = bytes.multipliedReportingOverflow(by: d)
                guard !overflow else { throw bad("entry \"\(name)\" has a shape \(shape) too large to address") }
                bytes = product
            }
            guard bytes == end - begin else {
                throw bad("entry \"\(name)\" is \(dtype) \(describe(shape)) (\(bytes) bytes) "
                          + "but data_offsets span \(end - begin) bytes")
            }
            entries.append((name, dtype, shape, begin, end))
        }
        entries.sort { $0.begin < $1.begin }
        let occupied = entries.filter { $0.end > $0.begin }  // empty tensors occupy no bytes
        for (x, y) in zip(occupied, occupied.dropFirst()) where y.begin < x.end {
            throw bad("entries \"\(x.name)\" and \"\(y.name)\" overlap")
        }
        var tensors: [String: Tensor] = [:]
        for e in entries {
            let count = e.shape.reduce(1, *)
            let start = dataStart + e.begin
            switch e.dtype {
            case "F16", "BF16":
                guard widenHalfPrecision else {
                    throw bad("entry \"\(e.name)\" is \(e.dtype); pass widenHalfPrecision: true to read it as float32")
                }
                let out = Tensor(empty: e.shape, dtype: .float32)
                let dst = out.pointer(as: Float.self), src = storage.base + start
                for i in 0..<count {
                    let h = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian
                    dst[i] = e.dtype == "BF16" ? Float(bitPattern: UInt32(h) << 16) : Float(Float16(bitPattern: h))
                }
                tensors[e.name] = out
            default:
                let dtype = dtypeNames[e.dtype]!
                if start % dtype.byteSize == 0 {
                    tensors[e.name] = Tensor(storage: storage, dtype: dtype, shape: e.shape,
                                             strides: Tensor.contiguousStrides(for: e.shape),
                                             offset: start / dtype.byteSize)
                } else {
                    let out = Tensor(empty: e.shape, dtype: dtype)
                    out.storage.base.copyMemory(from: storage.base + start, byteCount: e.end - e.begin)
                    tensors[e.name] = out
                }
                if dtype == .bool {
                    let p = (storage.base + start).assumingMemoryBound(to: UInt8.self)
                    for i in 0..<count where p[i] > 1 {
                        throw bad("entry \"\(e.name)\" holds a BOOL byte \(p[i]) other than 0 or 1")
                    }
                }
            }
        }
        return (tensors, metadata)
    }

    /// Writes named tensors (and optional metadata) atomically: a temporary file in the same
    /// folder, flushed to disk, then renamed over `url`.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        let names = tensors.keys.sorted()
        var header: [String: Any] = [:]
        var offset = 0
        for name in names {
            let t = tensors[name]!
            let bytes = t.count * t.dtype.byteSize
            header[name] = ["dtype": safetensorsName[t.dtype]!, "shape": t.shape,
                            "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        try AtomicFile.write(to: url) { handle in
            var length = UInt64(json.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: json)
            for name in names {
                let t = tensors[name]!.contiguous()
                let bytes = t.count * t.dtype.byteSize
                let base = t.storage.base + t.offset * t.dtype.byteSize
                var done = 0
                while done < bytes {  // in 64 MB pieces, so Data never duplicates a large tensor
                    let n = Swift.min(bytes - done, 1 << 26)
                    try handle.write(contentsOf: Data(bytesNoCopy: base + done, count: n, deallocator: .none))
                    done += n
                }
            }
        }
    }

    private static let dtypeNames: [String: DType] = [
        "F32": .float32, "F64": .float64, "I64": .int64, "I32": .int32, "BOOL": .bool
    ]
    private static let safetensorsName: [DType: String] = [
        .float32: "F32", .float64: "F64", .int64: "I64", .int32: "I32", .bool: "BOOL"
    ]
    private static let byteWidth: [String: Int] = [
        "F32": 4, "F64": 8, "I64": 8, "I32": 4, "BOOL": 1, "F16": 2, "BF16": 2
    ]

    /// An integer JSON number, rejecting fractions, booleans and values beyond Int.
    private static func exactInt(_ v: Any) -> Int? {
        // JSON true/false also bridge to NSNumber; they are stored as C chars.
        if let n = v as? NSNumber, String(cString: n.objCType) == "c" { return nil }
        if let i = v as? Int { return i }
        if let d = v as? Double, d.rounded() == d, Swift.abs(d) < 9.0e15 { return Int(d) }
        return nil
    }
}

/// Writes files so that a crash leaves either the old file or the complete new one.
public enum AtomicFile {
    /// Creates a temporary file beside `url`, lets `body` fill it, fsyncs, and renames it over `url`.
    public static func write(to url: URL, _ body: (FileHandle) throws -> Void) throws {
        let dir = url.deletingLastPathComponent()
        let temp = dir.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        guard FileManager.default.createFile(atPath: temp.path, contents: nil) else {
            throw TensorFileError(url.path, "cannot create a temporary file in \(dir.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temp)
            try body(handle)
            try handle.synchronize()
            try handle.close()
            guard rename(temp.path, url.path) == 0 else {
                throw TensorFileError(url.path, "cannot rename the temporary file into place (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw error
        }
    }
}

/// A whole file mapped privately (copy-on-write) into memory, unmapped when the last view goes.
struct MappedFile {
    let storage: TensorStorage

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TensorFileError(path, "cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw TensorFileError(path, "not a regular file")
        }
        let size = Int(info.st_size)
        if size == 0 {
            storage = TensorStorage(byteCount: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw TensorFileError(path, "cannot map \(size) bytes (\(String(cString: strerror(errno))))")
        }
        storage = TensorStorage(wrapping: base, byteCount: size) { munmap($0, size) }
    }
}
