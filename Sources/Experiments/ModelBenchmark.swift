import Autograd
import Dispatch
import Distributed
import Foundation
import NN
import Tensor
import Training
import Vision
import Zoo
#if canImport(Glibc)
import Glibc
#endif

/// Images per second of a whole model's forward pass or training step, and the process's peak
/// memory: what `tessera bench` prints, and what `scripts/bench_models.py` measures in PyTorch
/// (timm, torchvision) with the same names, so the two sit side by side.
public enum ModelBenchmark {
    /// The models, at their usual input size and with a classifier head.
    public enum Model: String, CaseIterable, Sendable {
        /// ViT-S/16 and ViT-B/16 at 224², 1000 classes (timm's `vit_small_patch16_224`, `vit_base_patch16_224`).
        case vitS16 = "vit-s16", vitB16 = "vit-b16"
        /// ResNet-50 at 224², 1000 classes (torchvision's `resnet50`).
        case resnet50
        /// Swin-T/W=7 at 224², 1000 classes (timm's `swin_tiny_patch4_window7_224`).
        case swinT = "swin-t"
        /// `tessera compare`'s two models at 32², 10 classes.
        case compareViT = "compare-vit", compareResNet = "compare-resnet"
        /// The small Swin of the EsViT tests at 32², 10 classes: patch 4, width 48, stages of 2 and
        /// 2 blocks with 3 and 6 heads, window 4, MLP ratio 2 (64 then 16 tokens).
        case compareSwin = "compare-swin"
        /// DINO's multi-crop step on ViT-S/16: 2 × 224² + 8 × 96² crops per image, student and EMA
        /// teacher with DINO's head of 65536 outputs (`DINORecipe`); forward: the student on all
        /// crops without a graph. Images/s counts images, each of ten crops.
        case dinoViTS16 = "dino-vit-s16"

        var small: Bool { self == .compareViT || self == .compareResNet || self == .compareSwin }
        var imageSize: Int { small ? 32 : 224 }
        var classes: Int { small ? 10 : 1000 }

        func make() -> Module {
            let compare = CompareOptions(output: URL(fileURLWithPath: "/dev/null"))
            switch self {
            case .vitS16: return VisionTransformer(.preset(.small, patch: 16, numClasses: 1000))
            case .vitB16: return VisionTransformer(.preset(.base, patch: 16, numClasses: 1000))
            case .resnet50: return ResNet(ResNetConfig.depth(50)!)
            case .swinT: return SwinTransformer(SwinConfig(numClasses: 1000))
            case .compareSwin:
                return SwinTransformer(SwinConfig(imageSize: 32, patchSize: 4, embedDim: 48, depths: [2, 2],
                                                  numHeads: [3, 6], windowSize: 4, mlpRatio: 2, numClasses: 10))
            case .dinoViTS16: return VisionTransformer(.preset(.small, patch: 16, numClasses: 0))
            case .compareViT:
                var c = compare.vit
                c.numClasses = classes
                return VisionTransformer(c)
            case .compareResNet:
                var c = compare.resnet
                c.numClasses = classes
                return ResNet(c)
            }
        }
    }

    /// What is timed: an evaluation-mode forward without the graph, or a training step (forward,
    /// cross-entropy, backward, AdamW step with PyTorch's defaults and weight decay 0.05).
    public enum Mode: String, CaseIterable, Sendable { case forward, train }

    public struct Result: Codable, Sendable {
        public var model: String, mode: String, batch: Int
        /// Median over the timed steps.
        public var imagesPerSecond: Double, stepMilliseconds: Double
        /// Peak resident memory of the process (getrusage), and the peak bytes tensors held.
        public var peakRSSMegabytes: Double, peakTensorMegabytes: Double
        /// Multiply–adds of one image's forward pass (timm's and fvcore's "FLOPs"), and the parameters.
        public var forwardGigaMultiplyAdds: Double = 0, parameters = 0
        /// Data-parallel training (train mode under mpirun): processes, `batch` is per process and
        /// images/s counts all of them; the gradient's size, its buckets, the median time the
        /// buckets' all-reduces took (first start to last end) and the median fraction of that
        /// time that ran before backward ended.
        public var ranks = 1
        public var gradientMegabytes: Double?, buckets: Int?
        public var allReduceMilliseconds: Double?, hiddenFraction: Double?
        /// The last step's buckets: [ready, started, finished] in ms after the first bucket was
        /// ready, and when backward ended on the same clock.
        public var bucketTimeline: [[Double]]?, backwardEndedMilliseconds: Double?

        enum CodingKeys: String, CodingKey {
            case model, mode, batch, imagesPerSecond = "images_per_s", stepMilliseconds = "step_ms"
            case peakRSSMegabytes = "peak_rss_mb", peakTensorMegabytes = "peak_tensor_mb"
            case forwardGigaMultiplyAdds = "forward_gmacs", parameters
            case ranks, gradientMegabytes = "gradient_mb", buckets, allReduceMilliseconds = "allreduce_ms"
            case hiddenFraction = "hidden_fraction", bucketTimeline = "bucket_timeline_ms"
            case backwardEndedMilliseconds = "backward_ended_ms"
        }
    }

    /// The median wall time in seconds of `steps` runs of `body` after `warmup` untimed runs.
    public static func medianSeconds(steps: Int, warmup: Int = 2, _ body: () -> Void) -> Double {
        for _ in 0..<warmup { body() }
        let times = (0..<Swift.max(steps, 1)).map { _ in
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        return times.sorted()[times.count / 2]
    }

    /// Times `steps` steps after two warm-up steps; with a distributed `group` the training step
    /// averages gradients with `DistributedDataParallel` (DDP's default buckets).
    public static func run(_ model: Model, mode: Mode, batch: Int, steps: Int = 5,
                           group: ProcessGroup = .single) throws -> Result {
        try ConfigurationError.require(batch >= 1, "batch", batch, "must be at least 1")
        try ConfigurationError.require(mode == .forward || batch >= 2, "batch", batch,
                                       "must be at least 2 to train (batch norm needs two images)")
        try ConfigurationError.require(steps >= 1, "steps", steps, "must be at least 1")
        Random.seed(0)
        let network = model.make()
        let images = Tensor.randn([batch, 3, model.imageSize, model.imageSize])
        let labels = Tensor((0..<batch).map { Int64($0 % model.classes) })
        let dataParallel = mode == .train && group.isDistributed && model != .dinoViTS16
            ? try DistributedDataParallel(network, group: group) : nil
        var timelines: [StepTimeline] = []
        let step: () -> Void
        var dino: DINORecipe?
        if model == .dinoViTS16 {
            var made = 0  // the student's backbone is `network`, the teacher's a second one
            let recipe = DINORecipe(makeBackbone: { made += 1; return made == 1 ? network : model.make() },
                                    featureDim: 384, crops: 10, epochs: 100,
                                    iterationsPerEpoch: 1000, batchSize: batch, options: OptimizationOptions())
            let crops = [Tensor.randn([batch, 3, 224, 224]), Tensor.randn([batch, 3, 224, 224])]
                + (0..<8).map { _ in Tensor.randn([batch, 3, 96, 96]) }
            let dinoBatch = Batch(views: crops, labels: labels, indices: Array(0..<batch))
            if mode == .train && group.isDistributed { try recipe.distribute(over: group) }
            step = mode == .forward
                ? { recipe.student.eval(); _ = noGrad { recipe.student(crops.map { Variable($0) }) } }
                : { // epoch 1: DINO's last layer is no longer frozen
                    do { _ = try recipe.step(dinoBatch, iteration: 1000, epoch: 1, iterationsPerEpoch: 1000) } catch {
                        fail("bench", "\(error)")
                    }
                }
            dino = recipe
        } else if mode == .forward {
            network.eval()
            step = { _ = noGrad { network(Variable(images)) } }
        } else {
            network.train()
            let optimizer = AdamW(ParameterGroup.dinoGroups(network, learningRate: 1e-4, weightDecay: 0.05))
            step = {
                optimizer.zeroGrad()
                Loss.crossEntropy(network(Variable(images)), labels: labels).backward()
                if let dataParallel {
                    do { try dataParallel.synchronizeGradients() } catch { fail("bench", "\(error)") }
                    timelines.append(dataParallel.lastStepTimeline)
                }
                optimizer.step()
            }
        }
        let median = medianSeconds(steps: steps, step)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        var result = Result(model: model.rawValue, mode: mode.rawValue, batch: batch,
                            imagesPerSecond: Double(batch * group.size) / median, stepMilliseconds: median * 1000,
                            peakRSSMegabytes: Double(usage.ru_maxrss) / 1024,
                            peakTensorMegabytes: Double(TensorMemory.peakBytes) / Double(1 << 20))
        network.eval()
        let one = images.slice(axis: 0, start: 0, end: 1)
        result.forwardGigaMultiplyAdds = Double(FlopCounter.count {
            _ = noGrad { dino.map { $0.student([Variable(one)]) } ?? network(Variable(one)) }
        }) / 1e9
        result.parameters = dino?.student.parameterCount() ?? network.parameterCount()
        if let dataParallel {
            let timed = timelines.suffix(steps)
            func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
            result.ranks = group.size
            result.buckets = dataParallel.buckets.count
            result.gradientMegabytes = Double(dataParallel.parameters.reduce(0) { $0 + $1.data.count * 4 })
                / Double(1 << 20)
            result.allReduceMilliseconds = median(timed.map { t in
                Double((t.finished.max() ?? 0) - (t.started.min() ?? 0)) / 1e6
            })
            result.hiddenFraction = median(timed.map(\.hiddenFraction))
            if let last = timed.last, let origin = last.ready.filter({ $0 > 0 }).min() {
                let ms = { (t: UInt64) in (Double(Int64(t) - Int64(origin)) / 1e6 * 10).rounded() / 10 }
                result.bucketTimeline = last.ready.indices.map { [ms(last.ready[$0]), ms(last.started[$0]),
                                                                  ms(last.finished[$0])] }
                result.backwardEndedMilliseconds = ms(last.backwardEnded)
            }
        }
        return result
    }
}
