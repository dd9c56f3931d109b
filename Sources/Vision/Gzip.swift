import CZlib

/// Why a compressed file could not be read.
public struct DecompressionError: Error, CustomStringConvertible {
    public let description: String
}

/// gzip (and zlib) decompression through the system zlib, for data files such as
/// `digits.csv.gz` and MNIST's `*-ubyte.gz`. The input is untrusted: damaged streams and output
/// beyond `limit` bytes are thrown errors, never crashes or unbounded allocations.
public enum Gzip {
    public static func decompress(_ input: [UInt8], limit: Int = 1 << 31) throws -> [UInt8] {
        var stream = z_stream()
        // 15 + 32: accept a gzip or a zlib header, maximum window.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DecompressionError(description: "gzip: zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let status: Int32 = input.withUnsafeBufferPointer { src in
            stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
            stream.avail_in = UInt32(src.count)
            var status = Z_OK
            while status == Z_OK {
                status = chunk.withUnsafeMutableBufferPointer { dst in
                    stream.next_out = dst.baseAddress
                    stream.avail_out = UInt32(dst.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                output += chunk[0..<(chunk.count - Int(stream.avail_out))]
                if output.count > limit { return Z_MEM_ERROR }
                if status == Z_BUF_ERROR && stream.avail_in == 0 { return Z_DATA_ERROR }  // truncated
                if status == Z_BUF_ERROR { status = Z_OK }
            }
            return status
        }
        switch status {
        case Z_STREAM_END: return output
        case Z_MEM_ERROR: throw DecompressionError(description: "gzip: output exceeds the limit of \(limit) bytes")
        default:
            let message = stream.msg.map { String(cString: $0) } ?? "truncated or damaged stream"
            throw DecompressionError(description: "gzip: \(message)")
        }
    }
}
