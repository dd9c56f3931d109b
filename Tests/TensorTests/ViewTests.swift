import Testing
@testable import Tensor

@Suite struct ViewTests {
    let x = Tensor.arange(0, 24, dtype: .float64).reshaped([2, 3, 4])

    @Test func reshapeOfContiguousIsAView() {
        let y = x.reshaped([4, -1])
        #expect(y.shape == [4, 6])
        #expect(y.storage === x.storage)
        #expect(y[element: 1, 0] == 6)
    }

    @Test func reshapeOfPermutedCopiesOnlyWhenNeeded() {
        let t = x.permuted([1, 0, 2])           // [3, 2, 4], not contiguous
        #expect(!t.isContiguous)
        #expect(t.reshaped([3, 2, 2, 2]).storage === x.storage)  // splitting the last axis is a view
        let merged = t.reshaped([6, 4])          // merging permuted axes needs a copy
        #expect(merged.storage !== x.storage)
        #expect(merged.doubles == [0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7,
                                   16, 17, 18, 19, 8, 9, 10, 11, 20, 21, 22, 23])
    }

    @Test func permuteAndTransposeSwapStrides() {
        let t = x.transposed(0, 2)
        #expect(t.shape == [4, 3, 2])
        #expect(t.strides == [1, 4, 12])
        #expect(t[element: 3, 2, 1] == x[element: 1, 2, 3])
        #expect(t.contiguous().isContiguous)
        #expect(x.contiguous().storage === x.storage)
    }

    @Test func slicingWithStepsAndNegativeIndices() {
        let row = Tensor.arange(0, 10, dtype: .float64)
        #expect(row.slice(axis: 0, start: 1, end: -1, step: 3).doubles == [1, 4, 7])
        #expect(row.slice(axis: 0, start: -3).doubles == [7, 8, 9])
        #expect(row.slice(axis: 0, start: 20).count == 0)
        #expect(row[.stride(by: 4)].doubles == [0, 4, 8])
        #expect(row[2..<5].doubles == [2, 3, 4])
        #expect(row[(-2)...].doubles == [8, 9])
        let s = x[1, .all, 1..<3]
        #expect(s.shape == [3, 2])
        #expect(s.doubles == [13, 14, 17, 18, 21, 22])
        #expect(s.storage === x.storage)
        #expect(x[-1, -1, -1].item() == 23)
        #expect(x[.newAxis, 0].shape == [1, 3, 4])
    }

    @Test func writingThroughAViewChangesTheBase() {
        let base = Tensor.zeros([3, 3], dtype: .float64)
        var column = base[.all, 1]
        column += 5
        #expect(base.doubles == [0, 5, 0, 0, 5, 0, 0, 5, 0])
    }

    @Test func expandUsesZeroStrides() {
        let col = Tensor([1.0, 2, 3]).reshaped([3, 1])
        let e = col.expanded(to: [2, 3, 4])
        #expect(e.strides == [0, 1, 0])
        #expect(e.storage === col.storage)
        #expect(e.contiguous().doubles == (0..<2).flatMap { _ in [1.0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3] })
    }

    @Test func squeezeUnsqueezeFlatten() {
        let t = Tensor.zeros([1, 3, 1, 2])
        #expect(t.squeezed().shape == [3, 2])
        #expect(t.squeezed(2).shape == [1, 3, 2])
        #expect(t.squeezed(1).shape == [1, 3, 1, 2])
        #expect(t.unsqueezed(-1).shape == [1, 3, 1, 2, 1])
        #expect(x.flattened(from: 1).shape == [2, 12])
        #expect(x.flattened().shape == [24])
        #expect(x.view([6, 4]).storage === x.storage)
    }

    @Test func zeroSizeTensors() {
        let e = Tensor.zeros([0, 3])
        #expect(e.count == 0)
        #expect(e.reshaped([3, 0]).shape == [3, 0])
        #expect(e.sum().item() == 0)
        #expect((e + 1).shape == [0, 3])
        #expect(e.transposed().contiguous().shape == [3, 0])
    }
}
