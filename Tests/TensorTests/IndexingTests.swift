import Testing
@testable import Tensor

@Suite struct IndexingTests {
    @Test func concatStackSplitChunk() {
        let a = Tensor([[1.0, 2], [3, 4]]), b = Tensor([[5.0, 6]])
        #expect(Tensor.concat([a, b]).doubles == [1, 2, 3, 4, 5, 6])
        #expect(Tensor.concat([a, a], axis: 1).doubles == [1, 2, 1, 2, 3, 4, 3, 4])
        #expect(Tensor.stack([a, a], axis: 2).shape == [2, 2, 2])
        #expect(Tensor.stack([a, a], axis: 2).doubles == [1, 1, 2, 2, 3, 3, 4, 4])
        let parts = Tensor.arange(0, 7, dtype: .float64).split(size: 3)
        #expect(parts.map(\.doubles) == [[0, 1, 2], [3, 4, 5], [6]])
        #expect(parts[1].storage === parts[0].storage)
        #expect(Tensor.arange(0, 6, dtype: .float64).chunked(4).map(\.count) == [2, 2, 2])
        #expect(Tensor.arange(0, 5, dtype: .float64).split(sizes: [1, 4]).map(\.count) == [1, 4])
    }

    @Test func indexSelectGatherScatterMatchNumPy() {
        let x = Fixtures.op("gather.x"), index = Fixtures.op("gather.index")
        expectClose(x.gather(axis: 1, index: index), Fixtures.op("gather.axis1"), atol: 0)
        let acc = Tensor.zeros([3, 4], dtype: .float64).scatterAdding(axis: 1, index: index,
                                                                      source: Fixtures.op("scatter.src"))
        expectClose(acc, Fixtures.op("scatter.axis1"), atol: 1e-15)
        let rows = x.indexSelect(axis: 0, indices: Tensor([Int64(2), 0, -1]))
        #expect(rows.shape == [3, 4])
        #expect(rows[0].doubles == x[2].doubles && rows[2].doubles == x[2].doubles && rows[1].doubles == x[0].doubles)
    }

    @Test func oneHotAndPad() {
        #expect(Tensor([Int64(1), 0, 2]).oneHot(classes: 3).doubles == [0, 1, 0, 1, 0, 0, 0, 0, 1])
        let p = Tensor([[1.0, 2], [3, 4]]).padded([(1, 0), (0, 2)], value: -1)
        #expect(p.shape == [3, 4])
        #expect(p.doubles == [-1, -1, -1, -1, 1, 2, -1, -1, 3, 4, -1, -1])
        let images = Tensor.ones([2, 3, 4, 4]).padded([(1, 1), (1, 1)])
        #expect(images.shape == [2, 3, 6, 6])
        #expect(images.sum().item() == 2 * 3 * 16)
    }
}

@Suite struct SoftmaxTests {
    let x = Fixtures.op("softmax.x")

    @Test func matchesNumPyAlongAnyAxis() {
        expectClose(x.softmax(axis: 1), Fixtures.op("softmax.axis1"), atol: 1e-15)
        expectClose(x.logSoftmax(axis: 2), Fixtures.op("logsoftmax.axis2"), atol: 1e-14)
        expectClose(x.converted(to: .float32).softmax(axis: 1).converted(to: .float64),
                    Fixtures.op("softmax.axis1"), atol: 1e-7)
        expectClose(x.converted(to: .float32).logSoftmax(axis: -1).converted(to: .float64),
                    Fixtures.op("logsoftmax.axis2"), atol: 2e-6)
    }

    @Test func rowsSumToOneAndSurviveHugeLogits() {
        let big = Tensor([[Float(1000), 0, -1000], [1, 1, 1]])
        let s = big.softmax()
        #expect(s.doubles[0] == 1 && s.doubles[1] == 0)
        expectClose(s.sum(axis: 1), [1, 1], atol: 1e-6)
        #expect(big.logSoftmax().doubles[2] == -2000)
        // Long rows cover the SIMD body and tail.
        let long = Tensor.randn([3, 197], generator: RandomGenerator(seed: 1)).softmax()
        expectClose(long.sum(axis: 1), [1, 1, 1], atol: 1e-5)
    }

    @Test func nanAndMaskedRowsBehaveAsPyTorch() {
        // 20-long rows: the vector body and the tail. A NaN anywhere makes the row NaN; a masked
        // (−∞) entry gets probability 0; a fully masked row is NaN in PyTorch too (0/0).
        var rows = [[Float]](repeating: (0..<20).map { Float($0) / 10 }, count: 3)
        rows[0][17] = .nan
        rows[1][3] = -.infinity
        let s = Tensor(rows).softmax().scalars(as: Float.self)
        #expect(s[0..<20].allSatisfy { $0.isNaN })
        #expect(s[23] == 0 && abs(s[20..<40].reduce(0, +) - 1) < 1e-5)
        #expect(abs(s[40..<60].reduce(0, +) - 1) < 1e-5)
        let masked = Tensor([[Float](repeating: -.infinity, count: 20)]).logSoftmax().scalars(as: Float.self)
        #expect(masked.allSatisfy { $0.isNaN })
    }
}
