import Foundation
import Tensor
import Vision
import Zoo

/// The settings of `tessera compare`. Each stage has its own documented options value; every
/// default says why it is what it is, the way `main_dino.py`'s argument parser documents each
/// hyper-parameter.
public struct CompareOptions: Sendable {
    /// How much of the design runs, and at what scale.
    public enum Mode: String, Sendable, CaseIterable {
        /// 1600 / 500 images, 10 supervised and 6 DINO epochs, fractions 4%, 25% and 100%: for CI.
        case quick
        /// The default: data scaling, label efficiency, DINO and attention (findings a, c, d, f).
        case standard
        /// 20 000 training images at equal steps per data size (finding a over more than two decades),
        /// accuracy against training compute for three sizes of each family plus the main ViT at patch 8
        /// (b, and what a 4 × coarser grid costs), and MoCo v3's instability (e).
        case full
    }

    public var output: URL
    public var mode = Mode.standard
    /// Training images and test images of the built-in Shapes set (ignored with `data`): sized so
    /// that the whole job stays under 10 minutes on 2 cores.
    public var trainCount = 3000, testCount = 1000
    /// 32 pixels: small enough for minutes on 2 cores, large enough for an 8 × 8 patch grid at patch 4.
    public var imageSize = 32
    /// How far an object's hue strays from its class's hue in Shapes (0.5: colour says nothing).
    public var hueSpread = 0.1
    /// An image folder, CIFAR folder or MNIST folder instead of Shapes (split 80/20 when it has no test part).
    public var data: URL?
    /// Patch 4: an 8 × 8 grid at 32 pixels, fine enough for the ViT paper's position-embedding
    /// figure and for attention maps that trace the object. On Shapes with class hues it learns as
    /// well as patch 8 supervised (60.7% against 63.5% on 3000 images, seed 0), and DINO's features
    /// are far better (k-NN 37.8% against 28.7%, the DINO paper's "smaller patches" finding), for
    /// 2.4× the ViT's training time (the whole default run 4:11 against 2:50 on the Zen 5 AVX-512 machine).
    public var vit = ViTConfig(imageSize: 32, patchSize: 4, embedDim: 96, depth: 4, numHeads: 3, mlpRatio: 2,
                               numClasses: 0)
    /// One basic block per stage, width 12, a CIFAR stem: a CNN of a size comparable to the ViT (the
    /// report lists both parameter counts).
    public var resnet = ResNetConfig(block: .basic, layers: [1, 1, 1, 1], numClasses: 0, width: 12,
                                     smallInputStem: true)
    /// Images per step in every stage.
    public var batchSize = 64
    public var seed: UInt64 = 0
    public var supervised = Supervised()
    public var dino = SelfSupervised()
    public var attention = Attention()

    public var compute = ComputeScaling()
    public var stability = Stability()

    public init(output: URL, mode: Mode = .standard) {
        self.output = output
        self.mode = mode
        switch mode {
        case .quick:
            (trainCount, testCount, supervised.epochs, dino.epochs) = (1600, 500, 10, 6)
            supervised.fractions = [0.04, 0.25, 1.0]
            dino.linearProbeEpochs = 30
        case .standard:
            break
        case .full:
            // 64 to 20 000 labelled images, each run 1000 steps (about 21 epochs of the default's
            // 3000 images); DINO pre-trains as the default does, on the first 3000.
            trainCount = 20_000
            supervised.fractions = [0.0032, 0.015, 0.1, 1.0]
            supervised.steps = 1000
            dino.trainImages = 3000
            compute.vits = [ViTConfig(imageSize: 32, patchSize: 4, embedDim: 48, depth: 4, numHeads: 3, mlpRatio: 2),
                            ViTConfig(imageSize: 32, patchSize: 4, embedDim: 144, depth: 4, numHeads: 3, mlpRatio: 2),
                            ViTConfig(imageSize: 32, patchSize: 8, embedDim: 96, depth: 4, numHeads: 3, mlpRatio: 2)]
            compute.resnets = [6, 20].map {
                ResNetConfig(block: .basic, layers: [1, 1, 1, 1], width: $0, smallInputStem: true)
            }
            stability.enabled = true
        }
    }

    /// Supervised training of each model on growing fractions of the training set (AdamW with a
    /// cosine schedule, as DeiT trains ViTs).
    public struct Supervised: Sendable {
        /// Epochs on every fraction, so smaller subsets get fewer steps, as in the ViT paper's subsets.
        /// With `steps`, the epochs of the learning-rate schedule (its warm-up is one of them).
        public var epochs = 15
        /// Steps of every run whatever its data size (equal compute); nil: `epochs` passes over each subset.
        public var steps: Int?
        /// Fractions of the training set, smallest first: the points of the data-scaling curve and
        /// the labelled subsets of the label-efficiency comparison (each holds at least one batch, so
        /// 2% of 3000 is 64 images: about 6 per class, the scale of ImageNet's 1% in the DINO paper).
        public var fractions = [0.02, 0.1, 0.3, 1.0]
        /// Peak learning rates at batch 64, tuned by hand for these short runs (the first choices,
        /// 2e-3 and 4e-3, were lower).
        public var vitLearningRate = 4e-3, resnetLearningRate = 1.2e-2
        /// One warm-up epoch: a fifteenth of the run.
        public var warmupEpochs = 1
        /// DeiT's constant weight decay.
        public var weightDecay = 0.05
        /// DINO's per-parameter gradient clip (`clip_grad` 3.0).
        public var clipGradient = 3.0
        /// DeiT's label smoothing.
        public var labelSmoothing = 0.1
        /// RandomResizedCrop's area range: milder than ImageNet's 0.08…1, since an 8% crop of a
        /// 32-pixel image rarely shows the object.
        public var cropScale = 0.6...1.0
    }

    /// DINO pre-training of each model on all training images without labels, then frozen-feature
    /// evaluation by weighted k-NN and a linear probe.
    public struct SelfSupervised: Sendable {
        public var epochs = 12
        /// Pre-train on the first this many training images (nil: all); k-NN and the probes still use all.
        public var trainImages: Int?
        /// Local crops per image besides the two global crops (DINO's multi-crop, scaled down: 10 in the paper).
        public var localCrops = 2
        /// DINO's global and local crop scales at 32 pixels; the local range starts at 0.1, not DINO's
        /// 0.05, which leaves about 7 × 7 source pixels.
        public var globalScale = 0.4...1.0, localScale = 0.1...0.4
        /// Peak and final learning rates of the cosine schedule: the rates this short run was tuned
        /// with (DINO's rule, 5e-4 × batch / 256, was set for ImageNet's hundreds of thousands of steps).
        public var learningRate = 1e-2, minLearningRate = 1e-5
        /// DINO's weight decay, following a cosine from 0.04 to 0.4.
        public var weightDecay = 0.04, weightDecayEnd = 0.4
        /// Prototypes and head sizes: DINO's 65536 / 2048 / 256 scaled down to 10 classes and small backbones.
        public var outDim = 256, headHidden = 512, headBottleneck = 128
        /// The teacher's EMA momentum, starting lower than DINO's 0.996 because the run has only a few
        /// hundred steps: the teacher averages over about 1 / (1 − m) = 100 steps instead of 250.
        public var teacherMomentum = 0.99
        /// Teacher temperature, warmed up from 0.04 over the first third of the epochs: sharper than
        /// ImageNet's 0.07, which collapses to uniform outputs at this scale.
        public var warmupTeacherTemperature = 0.04, teacherTemperature = 0.02
        /// Linear-probe epochs on the frozen features of the last evaluation.
        public var linearProbeEpochs = 60
        /// Shapes' classes ignore orientation, so its views also differ by a rotation up to this angle
        /// (DINO has none); 0 for other data.
        public var rotationOnShapes = 180.0
    }

    /// Finding b (the ViT paper's Figure 5, right): more sizes of each family, trained supervised on
    /// all images with the main runs' recipe; the main models are the middle points. Empty: not run.
    public struct ComputeScaling: Sendable {
        public var vits: [ViTConfig] = []
        public var resnets: [ResNetConfig] = []
        public init() {}
    }

    /// Finding e (MoCo v3's Figures 1 and 5): MoCo v3 on the ViT at a high learning rate, once with
    /// the patch projection learnt and once frozen at its random initialisation, with the k-NN
    /// accuracy after every epoch and the loss at every step.
    public struct Stability: Sendable {
        public var enabled = false
        /// The first training images: 3000, so an epoch is 46 steps and k-NN is scored often.
        public var trainImages = 3000
        public var epochs = 16
        /// AdamW's peak rate at batch 256 (scaled by batch / 256, as MoCo v3's `--lr`): 10× what the
        /// DINO runs use, where the learnt projection's training becomes unstable.
        public var learningRate = 0.1
        /// MoCo v3's ViT momentum and temperature.
        public var momentum = 0.99, temperature = 0.2
        public init() {}
    }

    /// Scoring the ViTs' attention maps as segmentations (Shapes only: it has object masks).
    public struct Attention: Sendable {
        /// The first test images scored: 200 keep the scoring to seconds.
        public var images = 200
    }
}

extension CompareOptions {
    /// DINO's local crops: half the image, as DINO's 96 of 224 pixels, rounded down to whole patches
    /// (the ViT cannot embed a partial patch) and at least two patches across.
    public var dinoLocalCropSize: Int {
        let patch = Swift.max(vit.patchSize, 1)
        return Swift.max(2 * patch, imageSize / 2 / patch * patch)
    }

    /// Checks every setting before minutes of training start: a `ConfigurationError` names
    /// the option, its value and the rule.
    public func validate() throws {
        typealias R = ConfigurationError
        try R.require(supervised.epochs >= 1, "epochs", supervised.epochs, "must be at least 1")
        try R.require(dino.epochs >= 1, "dino-epochs", dino.epochs, "must be at least 1")
        try R.require(batchSize >= 2, "batch-size", batchSize, "must be at least 2 (batch norm needs two images)")
        try R.require(!supervised.fractions.isEmpty && supervised.fractions.allSatisfy { $0 > 0 && $0 <= 1 },
                      "fractions", supervised.fractions, "each must be in (0, 1]")
        try R.require(dino.localCrops >= 0, "local-crops", dino.localCrops, "must not be negative")
        try R.require(imageSize >= 8, "image-size", imageSize, "must be at least 8")
        try R.require(imageSize % vit.patchSize == 0 || vit.patchSize <= 0, "image-size", imageSize,
                      "must be a multiple of the patch size \(vit.patchSize)")
        try R.require(attention.images >= 1, "attention.images", attention.images, "must be at least 1")
        if let images = dino.trainImages {
            try R.require(images >= batchSize, "dino.trainImages", images,
                          "must be at least the batch size \(batchSize)")
        }
        if let steps = supervised.steps {
            try R.require(steps >= supervised.epochs, "supervised.steps", steps,
                          "must be at least the schedule's \(supervised.epochs) epochs")
        }
        if stability.enabled {
            try R.require(stability.trainImages >= batchSize, "stability.trainImages", stability.trainImages,
                          "must be at least the batch size \(batchSize)")
            try R.require(stability.epochs >= 1, "stability.epochs", stability.epochs, "must be at least 1")
            try R.require(stability.learningRate > 0, "stability.learningRate", stability.learningRate,
                          "must be positive")
        }
        for (k, config) in compute.vits.enumerated() {
            var vit = config
            vit.imageSize = imageSize
            do { try vit.validate() } catch var error as ConfigurationError {
                error.field = "compute.vits[\(k)]." + error.field
                throw error
            }
        }
        for config in compute.resnets { try config.validate() }
        if data == nil {
            try R.require(trainCount >= batchSize, "train-images", trainCount,
                          "must be at least the batch size \(batchSize)")
            try R.require(testCount >= 1, "test-images", testCount, "must be at least 1")
            try R.require(Shapes.hueSpreads.contains(hueSpread), "hue-spread", hueSpread,
                          "must be in \(Shapes.hueSpreads)")
        }
        var vit = self.vit
        vit.imageSize = imageSize
        do { try vit.validate() } catch var error as ConfigurationError {
            error.field = "vit." + error.field
            throw error
        }
        try resnet.validate()
    }
}
