import Testing
@testable import Autograd
import Tensor

@Suite struct MatMulGradientTests {
    @Test func allOperandRanks() {
        expectGradients([randn([3, 4], seed: 40), randn([4, 2], seed: 41)]) { $0[0].matmul($0[1]) }
        expectGradients([randn([4], seed: 42), randn([4, 2], seed: 43)]) { $0[0].matmul($0[1]) }
        expectGradients([randn([3, 4], seed: 44), randn([4], seed: 45)]) { $0[0].matmul($0[1]) }
        expectGradients([randn([4], seed: 46), randn([4], seed: 47)]) { $0[0].matmul($0[1]) }
    }

    @Test func batchedWithBroadcastAndTransposedOperands() {
        expectGradients([randn([2, 1, 3, 4], seed: 48), randn([3, 4, 2], seed: 49)]) { $0[0].matmul($0[1]) }
        expectGradients([randn([2, 3, 4], seed: 50), randn([4, 5], seed: 51)]) { $0[0].matmul($0[1]) }
        // Non-contiguous inputs reach BLAS as transpose flags.
        expectGradients([randn([4, 3], seed: 52).transposed(), randn([5, 4], seed: 53).transposed()]) {
            $0[0].matmul($0[1])
        }
        // Attention-shaped: q·kᵀ over [batch, heads].
        expectGradients([randn([2, 2, 3, 4], seed: 54), randn([2, 2, 3, 4], seed: 55)]) {
            $0[0].matmul($0[1].transposed()).softmax()
        }
    }
}

@Suite struct IndexingGradientTests {
    @Test func joiningAndSplitting() {
        expectGradients([randn([2, 3], seed: 60), randn([1, 3], seed: 61)]) { Variable.concat([$0[0], $0[1]]).exp() }
        expectGradients([randn([2, 3], seed: 62), randn([2, 3], seed: 63)]) {
            Variable.stack([$0[0], $0[1]], axis: 1).tanh()
        }
        expectGradients([randn([5, 2], seed: 64)]) { input in
            let parts = input[0].split(size: 2)
            return parts[0].sum() * parts[2].sum() + parts[1].exp().sum()
        }
        expectGradients([randn([3, 4], seed: 65)]) { input in
            let parts = input[0].chunked(2, axis: 1)
            return parts[0] * parts[1]
        }
    }

    @Test func gatherScatterAndSelect() {
        let index = Tensor([Int64(0), 2, 2, 1, 3, 0], shape: [3, 2])
        expectGradients([randn([3, 4], seed: 66)]) { $0[0].gather(axis: 1, index: index).exp() }
        expectGradients([randn([3, 4], seed: 67), randn([3, 2], seed: 68)]) {
            $0[0].scatterAdding(axis: 1, index: index, source: $0[1]).tanh()
        }
        expectGradients([randn([4, 3], seed: 69)]) {
            $0[0].indexSelect(axis: 0, indices: Tensor([Int64(3), 0, 3])).sin()
        }
    }

    @Test func padding() {
        expectGradients([randn([2, 2, 3], seed: 70)]) { $0[0].padded([(1, 2), (0, 1)], value: 0.5).exp() }
    }
}

@Suite struct SoftmaxGradientTests {
    let x = randn([3, 4, 5], seed: 80)

    @Test func softmaxAndLogSoftmaxAlongAnyAxis() {
        expectGradients([x]) { $0[0].softmax(axis: -1) }
        expectGradients([x]) { $0[0].softmax(axis: 1) }
        expectGradients([x]) { $0[0].logSoftmax(axis: 0) }
        expectGradients([x]) { $0[0].logSoftmax(axis: 2) }
    }

    @Test func crossEntropyComposition() {
        let target = Tensor([Int64(1), 0, 3]).oneHot(classes: 4, dtype: .float64)
        expectGradients([randn([3, 4], seed: 81)]) { -($0[0].logSoftmax() * Variable(target)).sum(axis: 1).mean() }
    }
}

@Suite struct LinalgGradientTests {
    @Test func solve() {
        let a = randn([4, 4], seed: 90) + Tensor.eye(4, dtype: .float64) * 4
        expectGradients([a, randn([4, 2], seed: 91)]) { try! Variable.solve($0[0], $0[1]) }
        expectGradients([a, randn([4], seed: 92)]) { try! Variable.solve($0[0], $0[1]) }
    }

    @Test func choleskyThroughASymmetricPositiveDefiniteInput() {
        expectGradients([randn([4, 4], seed: 93)]) { x in
            let spd = x[0].matmul(x[0].transposed()) + Variable(Tensor.eye(4, dtype: .float64) * 4)
            return try! spd.cholesky()
        }
    }

    @Test func symmetricEigenThroughASymmetricInput() {
        expectGradients([randn([4, 4], seed: 94)]) { x in
            let symmetric = x[0] + x[0].transposed()
            let (values, vectors) = try! symmetric.symmetricEigen()
            // Eigenvectors are defined up to sign: use sign-invariant products of them.
            return values * 2 + (vectors * vectors).sum(axis: 1)
                + vectors.matmul(values.unsqueezed(1) * vectors.transposed()).sum()
        }
    }
}
