import Testing
import Tensor

@Suite struct SortingTests {
    @Test func argsortIsStableAndPutsNaNLikePyTorch() {
        let x = Tensor([3.0, 1, .nan, 1, 2])
        #expect(x.argsort().scalars(as: Int64.self) == [1, 3, 4, 0, 2])
        #expect(x.argsort(descending: true).scalars(as: Int64.self) == [2, 0, 4, 1, 3])
        let (values, indices) = x.sorted()
        #expect(Array(values.doubles.prefix(4)) == [1, 1, 2, 3] && values.doubles[4].isNaN)
        #expect(indices.scalars(as: Int64.self) == [1, 3, 4, 0, 2])
    }

    /// Along any axis, with values gathered from the indices; topK is the prefix of the sort.
    @Test func topKAlongAnAxisMatchesABruteForceSort() {
        let x = Tensor.randn([3, 7, 4], generator: RandomGenerator(seed: 5))
        for axis in 0..<3 {
            let (values, indices) = x.topK(2, axis: axis)
            var shape = x.shape
            shape[axis] = 2
            #expect(values.shape == shape && indices.shape == shape && indices.dtype == .int64)
            #expect(x.gather(axis: axis, index: indices).doubles == values.doubles)
            let sorted = x.sorted(axis: axis, descending: true).values
            #expect(sorted.slice(axis: axis, start: 0, end: 2).contiguous().doubles == values.doubles)
        }
        let rows = x.reshaped([12, 7]).doubles
        let smallest = x.reshaped([12, 7]).topK(3, largest: false).values.doubles
        for r in 0..<12 {
            #expect(Array(smallest[(3 * r)..<(3 * r + 3)]) == Array(rows[(7 * r)..<(7 * r + 7)].sorted().prefix(3)))
        }
        #expect(x.topK(0).values.shape == [3, 7, 0])
    }

    @Test func integerTensorsKeepTheirType() {
        let x = Tensor([Int64(4), -2, 9, 0])
        let (values, indices) = x.topK(2)
        #expect(values.dtype == .int64 && values.scalars(as: Int64.self) == [9, 4])
        #expect(indices.scalars(as: Int64.self) == [2, 0])
    }
}
