import Glibc
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
    /// The size of the block behind `base` (the cache may hand out a slightly larger one).
    private let blockBytes: Int
    private let release: (@Sendable (UnsafeMutableRawPointer) -> Void)?

    /// Allocates `byteCount` bytes, zero-filled when `zeroed`.
    public init(byteCount: Int, zeroed: Bool = false) {
        self.byteCount = byteCount
        (base, blockBytes) = BlockCache.shared.allocate(byteCount)
        TensorMemory.allocated(byteCount)
        if zeroed { base.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount) }
        release = nil
    }

    /// Wraps foreign memory; `release` is called once when the last view goes away.
    public init(wrapping base: UnsafeMutableRawPointer, byteCount: Int,
                release: @escaping @Sendable (UnsafeMutableRawPointer) -> Void) {
        self.base = base
        self.byteCount = byteCount
        self.blockBytes = byteCount
        self.release = release
    }

    deinit {
        if let release {
            release(base)
        } else {
            BlockCache.shared.free(base, blockBytes)
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
///
/// Blocks of 1 MB and more are mapped from the kernel directly rather than taken from malloc, whose
/// heap keeps the pages of freed blocks, and the bytes the cache has mapped (live and cached) stay
/// within `slack` of the most that were ever live at once: a miss that would pass it unmaps cached
/// blocks, the most recently freed first (a training step reuses its blocks in a cycle, for which
/// evicting the oldest is the worst choice). So peak RSS stays near what the computation needed,
/// while a step that repeats its sizes still hits the cache. The slack matters: with none, ResNet-50's
/// forward remapped blocks of its many sizes all the time (20% slower). A request takes the smallest
/// cached block at most an eighth larger, so that weight gradients reuse the blocks of activations
/// freed beside them. Smaller blocks go straight to malloc.
final class BlockCache: @unchecked Sendable {
    static let shared = BlockCache()
    private static let minimumBytes = 1 << 20

    /// How far the mapped bytes may exceed the high-water mark of live bytes.
    private static func slack(_ highWater: Int) -> Int { Swift.max(highWater / 8, 256 << 20) }

    private struct State {
        /// Free blocks by bucket size, in the order they were freed, as addresses (raw pointers are not Sendable);
        /// a size without free blocks has no entry.
        var free: [Int: [(address: UInt, age: Int)]] = [:]
        var cachedBytes = 0, liveBytes = 0, highWater = 0, clock = 0

        /// Takes the most recently freed block of `size` out of the cache.
        mutating func take(_ size: Int) -> UInt {
            let block = free[size]!.removeLast()
            if free[size]!.isEmpty { free[size] = nil }
            cachedBytes -= size
            return block.address
        }
    }

    private let state = Mutex(State())

    /// Cached sizes are rounded up to 64 KB so near-equal requests share blocks.
    private func bucket(_ bytes: Int) -> Int { (bytes + 65_535) & ~65_535 }

    /// A block of at least `bytes` bytes, and its size.
    func allocate(_ bytes: Int) -> (block: UnsafeMutableRawPointer, size: Int) {
        guard bytes >= BlockCache.minimumBytes else {
            return (UnsafeMutableRawPointer.allocate(byteCount: Swift.max(bytes, 1), alignment: 64), bytes)
        }
        var size = bucket(bytes)
        var evicted: [(address: UInt, size: Int)] = []
        let reused = state.withLock { s -> UInt? in
            let fit = s.free.keys.filter { $0 >= size && $0 <= size + size / 8 }.min()
            size = fit ?? size
            s.liveBytes += size
            s.highWater = Swift.max(s.highWater, s.liveBytes)
            if let fit { return s.take(fit) }
            while s.cachedBytes > 0 && s.liveBytes + s.cachedBytes > s.highWater + Self.slack(s.highWater) {
                let newest = s.free.max { $0.value.last!.age < $1.value.last!.age }!.key
                evicted.append((s.take(newest), newest))
            }
            return nil
        }
        for block in evicted { Self.unmap(block.address, block.size) }
        if let reused, let block = UnsafeMutableRawPointer(bitPattern: reused) { return (block, size) }
        return (Self.map(size), size)
    }

    /// Maps `size` fresh bytes. (Transparent huge pages were measured and not kept: with this kernel's
    /// `defrag=madvise`, compaction on their faults cost more system time than 4 KB faults saved.)
    private static func map(_ size: Int) -> UnsafeMutableRawPointer {
        guard let block = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              block != UnsafeMutableRawPointer(bitPattern: -1) else {
            fatalError("out of memory: mapping \(size) bytes for a tensor failed (errno \(errno))")
        }
        return block
    }

    /// Bytes mapped now (live and cached) and the high-water mark of live bytes.
    var footprint: (mapped: Int, highWater: Int) {
        state.withLock { ($0.liveBytes + $0.cachedBytes, $0.highWater) }
    }

    /// Returns a block of `size` bytes, as ``allocate(_:)`` gave it.
    func free(_ block: UnsafeMutableRawPointer, _ size: Int) {
        guard size >= BlockCache.minimumBytes else { return block.deallocate() }
        let address = UInt(bitPattern: block)
        state.withLock { s in
            s.liveBytes -= size
            s.clock += 1
            s.free[size, default: []].append((address, s.clock))
            s.cachedBytes += size
        }
    }

    private static func unmap(_ address: UInt, _ size: Int) {
        munmap(UnsafeMutableRawPointer(bitPattern: address), size)
    }
}
