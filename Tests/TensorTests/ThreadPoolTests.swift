import Foundation
import Synchronization
import Testing
@testable import Tensor

/// `parallelFor` and the worker pool under it: every index runs exactly once, on more than one thread when asked,
/// and nested or concurrent regions fall back to their caller instead of deadlocking.
@Suite struct ThreadPoolTests {
    /// Counts how often each index ran.
    private func runCounts(_ count: Int, threads: Int) -> [Int] {
        let counts = Mutex([Int](repeating: 0, count: count))
        parallelFor(count, threads: threads) { i in counts.withLock { $0[i] += 1 } }
        return counts.withLock { $0 }
    }

    @Test(arguments: [0, 1, 2, 3, 17, 1000, 65_535, 70_000])
    func everyIndexRunsOnce(count: Int) {
        for threads in [1, 2, 4] {
            #expect(runCounts(count, threads: threads) == [Int](repeating: 1, count: count),
                    "count \(count), threads \(threads)")
        }
    }

    /// Many short regions in a row (as a small model's step runs them), each complete when it returns.
    @Test func backToBackRegionsEachFinishBeforeReturning() {
        var values = [Int](repeating: 0, count: 8)
        for round in 1...20_000 {
            values.withUnsafeMutableBufferPointer { buffer in
                let p = SendablePointer(buffer.baseAddress!)
                parallelFor(8, threads: 2) { i in p.p[i] = round }
            }
            if values != [Int](repeating: round, count: 8) {
                Issue.record("round \(round): \(values)")
                return
            }
        }
    }

    /// A region's tasks reach a second thread: two tasks that each wait for the other can only finish together.
    /// Other tests' regions may hold the pool at the moment (then this one runs serially), so it tries again.
    @Test func twoTasksRunAtTheSameTime() {
        func attempt() -> Bool {
            let arrived = Atomic<Int>(0), firstSawSecond = Atomic<Bool>(false)
            parallelFor(2, threads: 2) { _ in
                let order = arrived.add(1, ordering: .sequentiallyConsistent).newValue
                guard order == 1 else { return }
                let deadline = Date().addingTimeInterval(0.2)
                while arrived.load(ordering: .sequentiallyConsistent) < 2 && Date() < deadline {}
                firstSawSecond.store(arrived.load(ordering: .sequentiallyConsistent) == 2,
                                     ordering: .sequentiallyConsistent)
            }
            return firstSawSecond.load(ordering: .sequentiallyConsistent)
        }
        #expect((0..<50).contains { _ in attempt() })
    }

    @Test func nestedRegionsRunSeriallyInsideTheirTask() {
        let counts = Mutex([Int](repeating: 0, count: 16))
        parallelFor(4, threads: 2) { outer in
            parallelFor(4, threads: 2) { inner in counts.withLock { $0[outer * 4 + inner] += 1 } }
        }
        #expect(counts.withLock { $0 } == [Int](repeating: 1, count: 16))
    }

    /// Regions begun from several threads at once: one holds the pool, the others run on their own thread.
    @Test func concurrentCallersAllComplete() {
        let total = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<200 {
                parallelFor(16, threads: 2) { _ in total.add(1, ordering: .relaxed) }
            }
        }
        #expect(total.load(ordering: .relaxed) == 8 * 200 * 16)
    }
}
