import Foundation

/// Why a checkpoint could not be read: always thrown, never a crash, and it names the file and the problem.
public struct CheckpointError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Bounds-checked little-endian reads over untrusted bytes.
struct ByteReader {
    let bytes: Data
    let context: String

    func require(_ offset: Int, _ count: Int) throws {
        guard offset >= 0, count >= 0, offset <= bytes.count - count else {
            throw CheckpointError("\(context): truncated (needs bytes \(offset)..<\(offset + count) of \(bytes.count))")
        }
    }

    func uint(_ offset: Int, _ size: Int) throws -> UInt64 {
        try require(offset, size)
        var v: UInt64 = 0
        let start = bytes.startIndex + offset
        for i in (0..<size).reversed() { v = v << 8 | UInt64(bytes[start + i]) }
        return v
    }

    func u16(_ o: Int) throws -> Int { Int(try uint(o, 2)) }
    func u32(_ o: Int) throws -> Int { Int(try uint(o, 4)) }
    func u64(_ o: Int) throws -> Int {
        let v = try uint(o, 8)
        guard v <= UInt64(Int.max) else { throw CheckpointError("\(context): size field out of range") }
        return Int(v)
    }
    func slice(_ offset: Int, _ count: Int) throws -> Data {
        try require(offset, count)
        return bytes.subdata(in: (bytes.startIndex + offset)..<(bytes.startIndex + offset + count))
    }
}

/// A read-only view of a ZIP archive's stored (uncompressed) entries, as `torch.save` writes them,
/// including ZIP64 sizes and offsets. Compressed entries are reported as unsupported.
struct ZipArchive {
    struct Entry {
        let name: String
        let offset: Int   // of the entry's data
        let size: Int
    }

    let entries: [String: Entry]
    let reader: ByteReader

    init(_ data: Data, name: String) throws {
        reader = ByteReader(bytes: data, context: name)
        // End of central directory: the last 0x06054b50 within the final 64 KiB + 22 bytes.
        let lowest = Swift.max(0, data.count - 65_557)
        var eocd = -1
        var i = data.count - 22
        while i >= lowest {
            if try reader.u32(i) == 0x0605_4B50 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else {
            throw CheckpointError("\(name): not a ZIP archive (no end-of-central-directory record)")
        }
        var count = try reader.u16(eocd + 10)
        var directory = try reader.u32(eocd + 16)
        // ZIP64: a locator just before the record points at the ZIP64 end of central directory.
        if eocd >= 20, try reader.u32(eocd - 20) == 0x0706_4B50 {
            let record = try reader.u64(eocd - 12)
            guard try reader.u32(record) == 0x0606_4B50 else {
                throw CheckpointError("\(name): damaged ZIP64 directory")
            }
            count = try reader.u64(record + 32)
            directory = try reader.u64(record + 48)
        }
        guard count <= data.count / 46 else {
            throw CheckpointError("\(name): directory claims \(count) entries, more than the file can hold")
        }
        var entries: [String: Entry] = [:]
        var p = directory
        for _ in 0..<count {
            guard try reader.u32(p) == 0x0201_4B50 else {
                throw CheckpointError("\(name): damaged central directory at byte \(p)")
            }
            let method = try reader.u16(p + 10)
            var compressed = try reader.u32(p + 20), size = try reader.u32(p + 24)
            let nameLength = try reader.u16(p + 28), extraLength = try reader.u16(p + 30),
                commentLength = try reader.u16(p + 32)
            var local = try reader.u32(p + 42)
            let entryName = String(decoding: try reader.slice(p + 46, nameLength), as: UTF8.self)
            // ZIP64 extra field (id 1): the 64-bit values of whichever fields were 0xFFFFFFFF.
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = try reader.u16(e), length = try reader.u16(e + 2)
                if id == 1 {
                    var q = e + 4
                    if size == 0xFFFF_FFFF { size = try reader.u64(q); q += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = try reader.u64(q); q += 8 }
                    if local == 0xFFFF_FFFF { local = try reader.u64(q) }
                }
                e += 4 + length
            }
            guard method == 0 else {
                throw CheckpointError("\(name): entry \(entryName) is compressed (method \(method)); "
                                      + "torch.save writes stored entries")
            }
            guard try reader.u32(local) == 0x0403_4B50 else {
                throw CheckpointError("\(name): damaged local header of \(entryName)")
            }
            let dataOffset = local + 30 + (try reader.u16(local + 26)) + (try reader.u16(local + 28))
            try reader.require(dataOffset, size)
            entries[entryName] = Entry(name: entryName, offset: dataOffset, size: size)
            p += 46 + nameLength + extraLength + commentLength
        }
        self.entries = entries
    }

    func data(_ entry: Entry) throws -> Data { try reader.slice(entry.offset, entry.size) }
}
