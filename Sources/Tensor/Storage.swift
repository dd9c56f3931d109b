/// A block of memory that one or more ``Tensor`` views share.
///
/// Memory is 64-byte aligned (one cache line, room for AVX-512 loads). A storage may also wrap
/// memory it does not own, such as a memory-mapped file, and then runs `release` when freed.
public final class TensorStorage: @unchecked Sendable {
    /// The first byte.
    public let base: UnsafeMutableRawPointer
    /// The size in bytes.
    public let byteCount: Int
    private let release: (@Sendable (UnsafeMutableRawPointer) -> Void)?

    /// Allocates `byteCount` bytes, zero-filled when `zeroed`.
    public init(byteCount: Int, zeroed: Bool = false) {
        self.byteCount = byteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        if zeroed { base.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount) }
        release = nil
    }

    /// Wraps foreign memory; `release` is called once when the last view goes away.
    public init(wrapping base: UnsafeMutableRawPointer, byteCount: Int,
                release: @escaping @Sendable (UnsafeMutableRawPointer) -> Void) {
        self.base = base
        self.byteCount = byteCount
        self.release = release
    }

    deinit {
        if let release { release(base) } else { base.deallocate() }
    }
}
