import Testing
@testable import Tensor

/// The block cache behind tensor storage: reuse of freed blocks and of their pages, and the bound on what it
/// keeps mapped.
@Suite struct StorageTests {
    static let mib = 1 << 20

    @Test func freedBlockIsReusedForARequestAtMostAnEighthSmaller() {
        let cache = BlockCache(), mib = Self.mib
        let first = cache.allocate(4 * mib)
        cache.free(first.block, first.size)
        let near = cache.allocate(4 * mib - 400_000)
        #expect(near.block == first.block && near.size == 4 * mib)
        cache.free(near.block, near.size)
        let far = cache.allocate(2 * mib)  // half the size, and within the slack: a block of its own
        #expect(far.block != first.block && far.size == 2 * mib)
        cache.free(far.block, far.size)
    }

    /// Allocating and freeing blocks of ever new sizes: what stays mapped never passes the live
    /// high-water mark by more than the slack (32 MB), and the memory stays usable.
    @Test func mappedBytesStayWithinTheSlackOfTheLiveHighWaterMark() {
        let cache = BlockCache(), mib = Self.mib
        for i in 0..<200 {
            let a = cache.allocate((20 + i) * mib)
            a.block.storeBytes(of: 1, toByteOffset: a.size - 1, as: UInt8.self)
            cache.free(a.block, a.size)
            let footprint = cache.footprint
            #expect(footprint.mapped <= footprint.highWater + 32 * mib)
        }
        #expect(cache.footprint.highWater == 219 * mib)
    }

    /// Beyond the slack, a request larger than every free block is assembled from them, their pages
    /// moved rather than new (the bytes written before are there); a smaller one takes the head of a
    /// larger block. Nothing more is mapped than was ever live.
    @Test func requestsBeyondTheSlackReuseThePagesOfFreeBlocks() {
        let cache = BlockCache(), mib = Self.mib
        let a = cache.allocate(48 * mib), b = cache.allocate(16 * mib)
        let marks = [(a.block, 0, 1), (a.block, 47 * mib, 2), (b.block, 0, 3), (b.block, 11 * mib, 4)]
        for (block, offset, value) in marks { block.storeBytes(of: UInt8(value), toByteOffset: offset, as: UInt8.self) }
        cache.free(a.block, a.size)
        cache.free(b.block, b.size)
        let c = cache.allocate(60 * mib)  // 48 MB of a, then the first 12 MB of b
        #expect(c.size == 60 * mib)
        let read = [0, 47 * mib, 48 * mib, 59 * mib].map { c.block.load(fromByteOffset: $0, as: UInt8.self) }
        #expect(read == [1, 2, 3, 4])
        #expect(cache.footprint.mapped == 64 * mib && cache.footprint.highWater == 64 * mib)
        cache.free(c.block, c.size)
        let d = cache.allocate(36 * mib)  // the head of c's pages
        #expect(d.block == c.block && d.size == 36 * mib && d.block.load(as: UInt8.self) == 1)
        #expect(cache.footprint.mapped == 64 * mib)
        cache.free(d.block, d.size)
    }

    /// Past its bound on the free runs' segments (each a kernel mapping), the cache unmaps them all.
    @Test func tooManyFreeSegmentsAreUnmapped() {
        let cache = BlockCache(maximumFreeSegments: 2), mib = Self.mib
        let blocks = (0..<3).map { _ in cache.allocate(2 * mib) }
        cache.free(blocks[0].block, blocks[0].size)
        cache.free(blocks[1].block, blocks[1].size)
        #expect(cache.freeSegmentCount == 2 && cache.footprint.mapped == 6 * mib)
        cache.free(blocks[2].block, blocks[2].size)
        #expect(cache.freeSegmentCount == 0 && cache.footprint.mapped == 0)
        let again = cache.allocate(2 * mib)  // new memory, usable
        again.block.storeBytes(of: 7, toByteOffset: again.size - 1, as: UInt8.self)
        cache.free(again.block, again.size)
    }

    /// A zeroed tensor is zero even when its block comes back from the cache dirty.
    @Test func zeroedTensorOnAReusedBlockIsZero() {
        do { _ = Tensor.full([3, 1 << 18], 7, dtype: .float32) }  // 3 MB, freed into the cache
        #expect(Tensor(empty: [3, 1 << 18], dtype: .float32, zeroed: true).sum().item() == 0)
        let small = BlockCache().allocate(1000)  // under 1 MB: malloc, its own size
        #expect(small.size == 1000)
        BlockCache().free(small.block, small.size)
    }
}
