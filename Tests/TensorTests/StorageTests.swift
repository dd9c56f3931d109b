import Testing
@testable import Tensor

/// The block cache behind tensor storage: reuse of freed blocks, and the bound on what it keeps mapped.
@Suite struct StorageTests {
    @Test func freedBlockIsReusedForARequestAtMostAnEighthSmaller() {
        let cache = BlockCache(), mib = 1 << 20
        let first = cache.allocate(4 * mib)
        cache.free(first.block, first.size)
        let near = cache.allocate(4 * mib - 400_000)
        #expect(near.block == first.block && near.size == 4 * mib)
        cache.free(near.block, near.size)
        let far = cache.allocate(3 * mib)  // a third smaller: a block of its own
        #expect(far.block != first.block && far.size == 3 * mib)
        cache.free(far.block, far.size)
    }

    /// Allocating and freeing blocks of ever new sizes: what stays mapped never passes the live
    /// high-water mark by more than the slack (256 MB at this scale), and the memory stays usable.
    @Test func mappedBytesStayWithinTheSlackOfTheLiveHighWaterMark() {
        let cache = BlockCache(), mib = 1 << 20
        for i in 0..<200 {
            let a = cache.allocate((20 + i) * mib)
            a.block.storeBytes(of: 1, toByteOffset: a.size - 1, as: UInt8.self)
            cache.free(a.block, a.size)
            let footprint = cache.footprint
            #expect(footprint.mapped <= footprint.highWater + 256 * mib)
        }
        #expect(cache.footprint.highWater == 219 * mib)
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
