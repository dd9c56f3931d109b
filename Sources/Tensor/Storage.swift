import CKernels
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

/// Keeps the pages of freed large blocks for reuse, so a training step that allocates the same activation
/// sizes every iteration touches warm pages instead of faulting in fresh ones from the kernel
/// (a new 64 MB tensor costs ≈ 15 ms of page faults here, five times the time to fill it).
///
/// Blocks of 1 MB and more are mapped from the kernel directly rather than taken from malloc, whose heap
/// keeps the pages of freed blocks. A request takes, in this order: the smallest free block that holds it if
/// that is at most an eighth (or 1 MB) larger; new memory, while the bytes mapped stay within `slack` of
/// the most that were ever live; the head of a larger free block, whose rest stays free; or, where no free
/// block is large enough, the largest free blocks, whose pages `mremap` moves into one new range
/// (page-table updates, no copy and no fault), with new memory only for what they cannot cover. So the
/// cache never maps more than `slack` beyond the most bytes ever live at once, and a step that asks for
/// other sizes than it last freed (the forward frees gradients' sizes and asks for activations') still
/// runs on warm pages. The cache before this one reused whole blocks only and evicted them to stay within
/// 256 MB of the high-water mark: ViT-B/16's train step (batch 8) held 330 MB of resident memory beyond
/// its tensors, and with a smaller bound its misses faulted in fresh pages and the step ran 10–20% slower.
/// Smaller blocks go straight to malloc.
///
/// `mremap` moves a range within one kernel mapping only, so each block is known by its segments:
/// the ranges of it that lie in one mapping each.
final class BlockCache: @unchecked Sendable {
    static let shared = BlockCache()
    private static let minimumBytes = 1 << 20
    /// How far the mapped bytes may pass the most that were ever live, to make new blocks rather than reuse
    /// parts of free ones: a small model's whole step fits, so its steady state makes no system call (moving
    /// pages costs one per segment, and reusing parts of blocks churns when sizes alternate: compare's ViT
    /// step ran 8% slower without it); a large model's resident memory grows by a small fraction.
    private static let slack = 32 << 20

    /// Pages within one kernel mapping; the address as an integer (raw pointers are not Sendable).
    private struct Segment {
        var address: UInt, size: Int
    }

    /// A contiguous range of pages, as its segments in address order.
    private struct Run {
        var segments: [Segment], size: Int

        /// The first `bytes` of the run, and the rest.
        func split(at bytes: Int) -> (head: Run, tail: Run) {
            var head: [Segment] = [], tail: [Segment] = [], offset = 0
            for segment in segments {
                if offset + segment.size <= bytes {
                    head.append(segment)
                } else if offset >= bytes {
                    tail.append(segment)
                } else {
                    let cut = bytes - offset
                    head.append(Segment(address: segment.address, size: cut))
                    tail.append(Segment(address: segment.address + UInt(cut), size: segment.size - cut))
                }
                offset += segment.size
            }
            return (Run(segments: head, size: bytes), Run(segments: tail, size: size - bytes))
        }
    }

    private struct State {
        /// Free runs, in the order they were freed.
        var free: [Run] = []
        /// The segments of each live block, by its address.
        var live: [UInt: [Segment]] = [:]
        var cachedBytes = 0, liveBytes = 0, highWater = 0, freeSegments = 0

        mutating func take(_ index: Int) -> Run {
            cachedBytes -= free[index].size
            freeSegments -= free[index].segments.count
            return free.remove(at: index)
        }

        mutating func give(_ run: Run) {
            cachedBytes += run.size
            freeSegments += run.segments.count
            free.append(run)
        }

        /// Every free run, taken out of the cache (to be unmapped).
        mutating func takeAll() -> [Run] {
            defer { (free, cachedBytes, freeSegments) = ([], 0, 0) }
            return free
        }

        /// Pages for a block of `size` bytes: a free run (the block then starts at its first segment), or
        /// runs to move into a new range, whose last `fresh` bytes are new memory.
        mutating func choose(_ size: Int) -> (runs: [Run], size: Int, fresh: Int) {
            var best: Int?  // the smallest free run that holds the request; the most recently freed among equals
            for i in free.indices where free[i].size >= size && free[i].size <= free[best ?? i].size { best = i }
            if let best, free[best].size - size < Swift.max(size / 8, BlockCache.minimumBytes) {
                let run = take(best)
                return ([run], run.size, 0)
            }
            let highWater = Swift.max(self.highWater, liveBytes + size)
            if liveBytes + size + cachedBytes <= highWater + BlockCache.slack { return ([], size, size) }
            if let best {
                let run = take(best)
                let (head, tail) = run.split(at: size)
                give(tail)
                return ([head], size, 0)
            }
            var runs: [Run] = [], gathered = 0
            while gathered < size, let largest = free.indices.max(by: { free[$0].size < free[$1].size }) {
                var run = take(largest)
                if gathered + run.size - size >= BlockCache.minimumBytes {
                    let (head, tail) = run.split(at: size - gathered)
                    give(tail)
                    run = head
                }
                runs.append(run)
                gathered += run.size
            }
            return (runs, Swift.max(size, gathered), Swift.max(size - gathered, 0))
        }
    }

    private let state = Mutex(State())

    /// When the free runs hold more segments than this, they are all unmapped and the cache starts again from
    /// whole blocks. Each split adds a segment and each segment is a kernel mapping of its own: a step that keeps
    /// splitting (ViT-B/16's, ≈ 90 a step) would otherwise pass the kernel's limit of 65 530 mappings per process
    /// within about 700 steps. At 4096 ViT-B starts again about every 45 steps, one step of page faults.
    let maximumFreeSegments: Int

    init(maximumFreeSegments: Int = 4096) {
        self.maximumFreeSegments = maximumFreeSegments
    }

    /// Sizes are rounded up to 64 KB (a multiple of the page size, so that any split of a block is page-aligned).
    private func bucket(_ bytes: Int) -> Int { (bytes + 65_535) & ~65_535 }

    /// A block of at least `bytes` bytes, and its size.
    func allocate(_ bytes: Int) -> (block: UnsafeMutableRawPointer, size: Int) {
        guard bytes >= BlockCache.minimumBytes else {
            return (UnsafeMutableRawPointer.allocate(byteCount: Swift.max(bytes, 1), alignment: 64), bytes)
        }
        let (runs, size, fresh) = state.withLock { s in
            let choice = s.choose(bucket(bytes))
            s.liveBytes += choice.size
            s.highWater = Swift.max(s.highWater, s.liveBytes)
            if let run = choice.runs.first, choice.runs.count == 1 && choice.fresh == 0 {
                s.live[run.segments[0].address] = run.segments  // a free run, reused in place
            }
            return choice
        }
        if let run = runs.first, runs.count == 1 && fresh == 0 {
            return (UnsafeMutableRawPointer(bitPattern: run.segments[0].address)!, size)
        }
        // A new range, with the free runs' pages moved over its head; its untouched rest costs nothing until used.
        let block = Self.map(size)
        var segments: [Segment] = [], offset = 0
        for segment in runs.flatMap(\.segments) {
            let source = UnsafeMutableRawPointer(bitPattern: segment.address)!
            // Should a move fail, that part of the block is new memory instead.
            if tessera_move_pages(source, segment.size, block + offset) != 0 { munmap(source, segment.size) }
            segments.append(Segment(address: UInt(bitPattern: block + offset), size: segment.size))
            offset += segment.size
        }
        if fresh > 0 { segments.append(Segment(address: UInt(bitPattern: block + offset), size: fresh)) }
        state.withLock { $0.live[UInt(bitPattern: block)] = segments }
        return (block, size)
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
        let released = state.withLock { s -> [Run] in
            s.liveBytes -= size
            s.give(Run(segments: s.live.removeValue(forKey: UInt(bitPattern: block))!, size: size))
            return s.freeSegments > maximumFreeSegments ? s.takeAll() : []
        }
        for segment in released.flatMap(\.segments) {
            munmap(UnsafeMutableRawPointer(bitPattern: segment.address), segment.size)
        }
    }

    /// The number of segments in free runs (tests).
    var freeSegmentCount: Int { state.withLock { $0.freeSegments } }
}
