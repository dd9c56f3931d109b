import Synchronization

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
        base = BlockCache.shared.allocate(byteCount)
        TensorMemory.allocated(byteCount)
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
        if let release {
            release(base)
        } else {
            BlockCache.shared.free(base, byteCount)
            TensorMemory.allocated(-byteCount)
        }
    }
}

/// The bytes that tensors own (not memory-mapped files), now and at most since ``resetPeak()``:
/// the memory a computation needs, which peak RSS overstates by the `BlockCache`'s free blocks.
public enum TensorMemory {
    private static let counters = Mutex<(live: Int, peak: Int)>((0, 0))

    /// Bytes held by live tensor storages.
    public static var liveBytes: Int { counters.withLock { $0.live } }
    /// The largest ``liveBytes`` since the process started or ``resetPeak()``.
    public static var peakBytes: Int { counters.withLock { $0.peak } }
    /// Starts a new peak from the current live bytes.
    public static func resetPeak() { counters.withLock { $0.peak = $0.live } }

    static func allocated(_ bytes: Int) {
        counters.withLock {
            $0.live += bytes
            $0.peak = Swift.max($0.peak, $0.live)
        }
    }
}

/// Keeps freed large blocks for reuse, so a training step that allocates the same activation
/// sizes every iteration touches warm pages instead of faulting in fresh ones from the kernel
/// (a new 64 MB tensor costs ≈ 15 ms of page faults here, five times the time to fill it).
/// Blocks under 1 MB go straight to malloc; at most `capacity` bytes are kept.
final class BlockCache: @unchecked Sendable {
    static let shared = BlockCache(capacity: 1 << 30)
    private static let minimumBytes = 1 << 20

    private let capacity: Int
    /// Free blocks by bucket size, as addresses (raw pointers are not Sendable).
    private let lock = Mutex<[Int: [UInt]]>([:])
    private let cachedBytes = Mutex(0)

    init(capacity: Int) { self.capacity = capacity }

    /// Cached sizes are rounded up to 64 KB so near-equal requests share blocks.
    private func bucket(_ bytes: Int) -> Int { (bytes + 65_535) & ~65_535 }

    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        guard bytes >= BlockCache.minimumBytes else {
            return UnsafeMutableRawPointer.allocate(byteCount: Swift.max(bytes, 1), alignment: 64)
        }
        let size = bucket(bytes)
        if let address = lock.withLock({ $0[size]?.popLast() }),
           let block = UnsafeMutableRawPointer(bitPattern: address) {
            cachedBytes.withLock { $0 -= size }
            return block
        }
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    func free(_ block: UnsafeMutableRawPointer, _ bytes: Int) {
        guard bytes >= BlockCache.minimumBytes else { return block.deallocate() }
        let size = bucket(bytes)
        let kept = cachedBytes.withLock { total -> Bool in
            guard total + size <= capacity else { return false }
            total += size
            return true
        }
        let address = UInt(bitPattern: block)
        if kept { lock.withLock { $0[size, default: []].append(address) } } else { block.deallocate() }
    }
}
