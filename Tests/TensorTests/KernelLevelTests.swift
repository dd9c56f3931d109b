import Foundation
import Testing
@testable import Tensor
import TestSupport

/// Every kernel level this CPU runs (AVX-512, AVX2, baseline; ``KernelLevel/run(_:)`` picks one)
/// through the real float32 operations, against the same operations in float64. Convolutions are
/// checked per level in ConvolutionTests.
@Suite struct KernelLevelTests {
    @Test(arguments: KernelLevel.supported)
    func activationsMatchFloat64(level: KernelLevel) {
        // Lengths past a multiple of the vector widths leave a scalar tail.
        let x32 = Tensor.randn([4099], std: 3, generator: RandomGenerator(seed: 1)), x = x32.converted(to: .float64)
        level.run {
            #expect(KernelLevel.current == level)
            expectClose(x32.exp().converted(to: .float64), x.exp(), atol: 1e-10, rtol: 2.5e-7)
            expectClose(x32.gelu().converted(to: .float64), x.gelu(), atol: 1e-10, rtol: 1e-6)
            let g32 = Tensor.randn([4099], generator: RandomGenerator(seed: 2)), g = g32.converted(to: .float64)
            expectClose(Tensor.geluBackward(gradient: g32, input: x32).converted(to: .float64),
                        Tensor.geluBackward(gradient: g, input: x), atol: 5e-7, rtol: 1e-6)
            // Written over the gradient (as the MLP's backward does), the same bits.
            let overwritten = g32.copy(), apart = Tensor.geluBackward(gradient: g32, input: x32)
            let inPlace = Tensor.geluBackward(gradient: overwritten, input: x32, into: overwritten)
            #expect(inPlace.pointer(as: Float.self) == overwritten.pointer(as: Float.self))
            #expect(inPlace.scalars(as: Float.self) == apart.scalars(as: Float.self))
            // A non-contiguous gradient takes GELU′ as its own pass (the derivative kernel).
            let square32 = x32[0..<4096].reshaped([64, 64]), square = square32.converted(to: .float64)
            let gt32 = g32[0..<4096].reshaped([64, 64]).transposed(), gt = gt32.converted(to: .float64)
            expectClose(Tensor.geluBackward(gradient: gt32, input: square32).converted(to: .float64),
                        Tensor.geluBackward(gradient: gt, input: square), atol: 5e-7, rtol: 1e-6)
        }
    }

    /// The peak micro-benchmark does the work it counts: 12 chains × 2 operations × the level's lanes per round.
    @Test(arguments: KernelLevel.supported)
    func fmaPeakCountsItsWork(level: KernelLevel) {
        var sink: Float = 0
        let flops = level.kernels.fma_peak(1000, &sink), lanes = [4, 8, 16][level.rawValue]
        #expect(flops == 1000 * 12 * 2 * lanes)
        // Each chain a ← 0.999999·a + 1e-6 stays near its start (1 … 12): their sum is near 78 per lane.
        #expect(abs(Double(sink) / Double(lanes) - 78) < 0.1)
        #expect(level.measuredPeakGFLOPS(threads: 1) > 0.5)
    }

    @Test(arguments: KernelLevel.supported)
    func softmaxAndSumsMatchFloat64(level: KernelLevel) {
        let x32 = Tensor.randn([37, 301], std: 4, generator: RandomGenerator(seed: 3)), x = x32.converted(to: .float64)
        let big32 = Tensor.randn([600_001], generator: RandomGenerator(seed: 4)), big = big32.converted(to: .float64)
        level.run {
            expectClose(x32.softmax().converted(to: .float64), x.softmax(), atol: 1e-9, rtol: 1e-5)
            expectClose(x32.logSoftmax().converted(to: .float64), x.logSoftmax(), atol: 1e-5, rtol: 1e-6)
            // Large enough to be split across cores.
            #expect(abs(big32.sum().doubles[0] - big.sum().doubles[0]) < 1e-3)
            expectClose(x32.sum(axes: [1]).converted(to: .float64), x.sum(axes: [1]), atol: 1e-4, rtol: 1e-6)
        }
    }

    @Test(arguments: KernelLevel.supported)
    func normalisationsMatchFloat64(level: KernelLevel) {
        let f64 = { (t: Tensor) in t.converted(to: .float64) }
        let x32 = Tensor.randn([50, 389], generator: RandomGenerator(seed: 5)) * 2 + 1
        let w32 = Tensor.randn([389], generator: RandomGenerator(seed: 6))
        let b32 = Tensor.randn([389], generator: RandomGenerator(seed: 7))
        let g32 = Tensor.randn([50, 389], generator: RandomGenerator(seed: 8))
        let images32 = Tensor.randn([4, 13, 7, 9], generator: RandomGenerator(seed: 9)) * 3 - 1
        let gImages32 = Tensor.randn([4, 13, 7, 9], generator: RandomGenerator(seed: 10))
        let c32 = Tensor.randn([13], generator: RandomGenerator(seed: 11))
        level.run {
            let ln32 = x32.layerNorm(weight: w32, bias: b32), ln = f64(x32).layerNorm(weight: f64(w32), bias: f64(b32))
            expectClose(f64(ln32.output), ln.output, atol: 1e-5, rtol: 1e-5)
            let back32 = Tensor.layerNormBackward(gradient: g32, input: x32, mean: ln32.mean, rstd: ln32.rstd,
                                                  weight: w32)
            let back = Tensor.layerNormBackward(gradient: f64(g32), input: f64(x32), mean: ln.mean, rstd: ln.rstd,
                                                weight: f64(w32))
            for (a, b) in [(back32.input, back.input), (back32.weight, back.weight), (back32.bias, back.bias)] {
                expectClose(f64(a), b, atol: 1e-4, rtol: 1e-5)
            }
            let bn32 = images32.batchNorm(weight: c32, bias: c32), bn = f64(images32).batchNorm(weight: f64(c32),
                                                                                               bias: f64(c32))
            expectClose(f64(bn32.output), bn.output, atol: 1e-5, rtol: 1e-5)
            expectClose(f64(bn32.variance), bn.variance, atol: 1e-5, rtol: 1e-5)
            for batchStatistics in [true, false] {
                let bnBack32 = Tensor.batchNormBackward(gradient: gImages32, input: images32, mean: bn32.mean,
                                                        variance: bn32.variance, weight: c32,
                                                        batchStatistics: batchStatistics)
                let bnBack = Tensor.batchNormBackward(gradient: f64(gImages32), input: f64(images32), mean: bn.mean,
                                                      variance: bn.variance, weight: f64(c32),
                                                      batchStatistics: batchStatistics)
                for (a, b) in [(bnBack32.input, bnBack.input), (bnBack32.weight, bnBack.weight),
                               (bnBack32.bias, bnBack.bias)] {
                    expectClose(f64(a), b, atol: 1e-4, rtol: 1e-5)
                }
            }
            // BN → ReLU in one pass each way (the kernel masks the gradient in place): the two ops' bits.
            let fused = images32.batchNorm(weight: c32, bias: c32, followedByReLU: true)
            #expect(fused.output.scalars(as: Float.self) == bn32.output.relu().scalars(as: Float.self))
            let fusedBack = Tensor.batchNormBackward(gradient: gImages32, input: images32, mean: bn32.mean,
                                                     variance: bn32.variance, weight: c32, batchStatistics: true,
                                                     reluOutput: fused.output)
            let masked = Tensor.reluBackward(gradient: gImages32, input: fused.output)
            let twoOps = Tensor.batchNormBackward(gradient: masked, input: images32, mean: bn32.mean,
                                                  variance: bn32.variance, weight: c32, batchStatistics: true)
            for (a, b) in [(fusedBack.input, twoOps.input), (fusedBack.weight, twoOps.weight),
                           (fusedBack.bias, twoOps.bias)] {
                #expect(a.scalars(as: Float.self) == b.scalars(as: Float.self))
            }
            // With a shortcut added before the ReLU, and without the ReLU.
            for relu in [false, true] {
                let added = images32.batchNorm(weight: c32, bias: c32, adding: gImages32, followedByReLU: relu)
                let sum = bn32.output + gImages32
                #expect(added.output.scalars(as: Float.self) == (relu ? sum.relu() : sum).scalars(as: Float.self))
                // Evaluation mode, with given statistics.
                let given = images32.batchNorm(mean: bn32.mean, variance: bn32.variance, weight: c32, bias: c32)
                let givenSum = given + gImages32
                #expect(images32.batchNorm(mean: bn32.mean, variance: bn32.variance, weight: c32, bias: c32,
                                           adding: gImages32, followedByReLU: relu).scalars(as: Float.self)
                        == (relu ? givenSum.relu() : givenSum).scalars(as: Float.self))
            }
        }
    }

    @Test func environmentNamesALevel() throws {
        // The test process runs with TESSERA_CPU_LEVEL unset or set to a level's name.
        try KernelLevel.checkEnvironment()
        #expect(KernelLevel.selected <= KernelLevel.cpu && KernelLevel.supported.first == .baseline)
        #expect(KernelLevel.allCases.map(\.description) == ["baseline", "avx2", "avx512"])
    }

    /// Sliding max pooling through each level's kernel against the generic loop of float64 (which the kernel never
    /// runs): the same values and the same chosen indices, with ties, -inf, NaN, padding, ceil mode, dilation and
    /// rows wider than the 16 outputs a vector step takes.
    @Test(arguments: KernelLevel.supported)
    func maxPoolMatchesFloat64(level: KernelLevel) {
        // Values in quarters from -4 to 4, so that windows hold ties.
        var g = SystemRandomNumberGenerator()
        let x32 = Tensor((0..<(3 * 5 * 37 * 41)).map { _ in Float(Int.random(in: -16...16, using: &g)) / 4 },
                         shape: [3, 5, 37, 41])
        let raw = x32.pointer(as: Float.self)
        for i in stride(from: 0, to: x32.count, by: 97) { raw[i] = -.infinity }
        for i in stride(from: 13, to: x32.count, by: 211) { raw[i] = .nan }
        let planeSize = 37 * 41
        (raw + 2 * planeSize).update(repeating: -.infinity, count: planeSize)  // whole windows of -inf
        let x = x32.converted(to: .float64)
        let cases: [(kernel: Int, stride: Int, padding: (Int, Int), ceil: Bool, dilation: Int)] = [
            (3, 2, (1, 1), false, 1), (2, 2, (0, 0), false, 1), (3, 1, (1, 1), false, 1), (3, 2, (1, 1), true, 1),
            (2, 2, (0, 1), true, 1), (3, 2, (1, 1), false, 2), (5, 3, (2, 0), true, 1), (1, 1, (0, 0), false, 1),
        ]
        level.run {
            for c in cases {
                let rows = PoolWindows.sliding(size: 37, kernel: c.kernel, stride: c.stride, padding: c.padding,
                                               ceilMode: c.ceil, dilation: c.dilation)
                let columns = PoolWindows.sliding(size: 41, kernel: c.kernel, stride: c.stride, padding: c.padding,
                                                  ceilMode: c.ceil, dilation: c.dilation)
                let ours = x32.maxPool2d(rows: rows, columns: columns)
                let reference = x.maxPool2d(rows: rows, columns: columns)
                let indices = zip(ours.indices.doubles, reference.indices.doubles).filter { $0 != $1 }.count
                let values = zip(ours.output.doubles, reference.output.doubles)
                    .filter { $0 != $1 && !($0.isNaN && $1.isNaN) }.count
                #expect(indices == 0 && values == 0, "\(level) \(c): \(indices) indices and \(values) values differ")
            }
        }
    }
}
