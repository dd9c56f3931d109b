import Autograd
import NN
import Tensor
import Vision
import Zoo

/// The settings of ViTGAN's training (the paper's Section 5 and the official CIFAR configs).
public struct ViTGANOptions: Sendable {
    /// Learning rates of generator and discriminator (Adam, β = (0, 0.99), as the paper).
    public var generatorLearningRate = 0.002, discriminatorLearningRate = 0.002
    /// R1's γ; 0 turns it off.
    public var r1Gamma = 1.0
    /// bCR's weights on real and generated images; 0 turns it off.
    public var consistencyReal = 10.0, consistencyFake = 10.0
    /// The generator's EMA momentum (`ema` module, the one sampled and evaluated), reached after a
    /// warm-up of min(m, (1 + t)/(10 + t)) at step t.
    public var emaMomentum = 0.999
    /// DiffAugment's policies (the augmentation bCR compares against, and, with `augmentAll`, the
    /// images every discriminator call sees, as the DiffAugment configs).
    public var policy = "color,translation,cutout"
    public var seed: UInt64 = 0

    public init() {}

    public func validate() throws {
        typealias R = ConfigurationError
        for (field, value) in [("generatorLearningRate", generatorLearningRate),
                               ("discriminatorLearningRate", discriminatorLearningRate)] {
            try R.require(value.isFinite && value > 0, field, value, "must be positive")
        }
        for (field, value) in [("r1Gamma", r1Gamma), ("consistencyReal", consistencyReal),
                               ("consistencyFake", consistencyFake)] {
            try R.require(value.isFinite && value >= 0, field, value, "must be 0 (off) or positive")
        }
        try R.require(emaMomentum >= 0 && emaMomentum < 1, "emaMomentum", emaMomentum, "must lie in [0, 1)")
        _ = try DiffAugment(policy: policy)
    }
}

/// ViTGAN's training step: the discriminator on real images against generated ones with the
/// non-saturating loss, R1 on the real images and bCR under DiffAugment; then the generator through
/// the discriminator; then the EMA of the generator. One Adam holds both networks' parameters in two
/// groups (steps count per parameter, so it equals two optimisers and checkpoints as one).
public final class ViTGANRecipe: TrainingRecipe {
    public let generator: ViTGANGenerator
    public let discriminator: ViTGANDiscriminator
    /// The generator's exponential moving average: what samples and metrics use.
    public let ema: ViTGANGenerator
    public let gan: ViTGANOptions
    public let optimizer: Optimizer
    let augment: DiffAugment
    /// The last step's terms: `d_loss`, `g_loss`, `r1`, `bcr`, and D's mean logits on real and fake.
    public private(set) var lastLosses: [String: Double] = [:]
    public var modules: [(name: String, module: Module)] {
        [("generator", generator), ("discriminator", discriminator), ("ema", ema)]
    }

    public init(config: ViTGANConfig, options: ViTGANOptions = ViTGANOptions()) throws {
        try options.validate()
        generator = try ViTGANGenerator(config)
        discriminator = try ViTGANDiscriminator(config)
        ema = try ViTGANGenerator(config)
        Schedule.startEMA(teacher: ema, from: generator)
        gan = options
        augment = try DiffAugment(policy: options.policy)
        optimizer = AdamW([ParameterGroup(generator.parameters(), learningRate: options.generatorLearningRate),
                           ParameterGroup(discriminator.parameters(), learningRate: options.discriminatorLearningRate)],
                          beta1: 0, beta2: 0.99)
    }

    /// `count` latents of the generator's width.
    public func latents(_ count: Int, generator rng: RandomGenerator) -> Tensor {
        Tensor.randn([count, generator.config.latentDim], generator: rng)
    }

    public func step(_ batch: Batch, iteration: Int, epoch: Int, iterationsPerEpoch: Int) throws
        -> (loss: Double, learningRate: Double) {
        generator.train()
        discriminator.train()
        let rng = RandomGenerator(seed: gan.seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(iteration + 1))
        let real = batch.images, n = real.shape[0]
        // Discriminator: generated images are constants here.
        let fake = noGrad { generator(Variable(latents(n, generator: rng))).data }
        optimizer.zeroGrad()
        let (dReal, dFake) = (discriminator(Variable(real)), discriminator(Variable(fake)))
        var dLoss = GANLoss.discriminator(real: dReal, fake: dFake)
        var terms: [String: Double] = [:]
        if gan.consistencyReal > 0 || gan.consistencyFake > 0 {
            let augmented = discriminator(augment(Variable(Tensor.concat([real, fake])), generator: rng))
            let bcr = GANLoss.balancedConsistency(real: dReal, augmentedReal: augmented.slice(axis: 0, end: n),
                                                  fake: dFake, augmentedFake: augmented.slice(axis: 0, start: n),
                                                  lambdaReal: gan.consistencyReal, lambdaFake: gan.consistencyFake)
            terms["bcr"] = bcr.data.item()
            dLoss = dLoss + bcr
        }
        if gan.r1Gamma > 0 {
            let r1 = GANLoss.r1Penalty(real: real, gamma: gan.r1Gamma) { discriminator($0) }
            terms["r1"] = r1.data.item()
            dLoss = dLoss + r1
        }
        dLoss.backward()
        optimizer.step()
        // Generator: the loss passes through D, whose gradients are dropped before the step.
        optimizer.zeroGrad()
        let gLoss = GANLoss.generator(fake: discriminator(generator(Variable(latents(n, generator: rng)))))
        gLoss.backward()
        for p in discriminator.parameters() { p.grad = nil }
        optimizer.step()
        // Warm-up as TensorFlow's ExponentialMovingAverage(num_updates): the average follows closely at first.
        let momentum = Swift.min(gan.emaMomentum, Double(1 + iteration) / Double(10 + iteration))
        Schedule.emaUpdate(teacher: ema, student: generator, momentum: momentum)
        terms["d_loss"] = dLoss.data.item()
        terms["g_loss"] = gLoss.data.item()
        terms["d_real"] = dReal.data.mean().item()
        terms["d_fake"] = dFake.data.mean().item()
        lastLosses = terms
        return (terms["d_loss"]!, gan.generatorLearningRate)
    }

    /// `count` images of the EMA generator (evaluation mode), from a fixed seed.
    public func samples(_ count: Int, seed: UInt64 = 1) -> Tensor {
        ema.eval()
        return noGrad { ema(Variable(latents(count, generator: RandomGenerator(seed: seed)))).data }
    }
}

extension ViTGANRecipe {
    /// A grid of images [N, 3, H, W] in [−1, 1] as one picture [3, rows·(H + 1) − 1, columns·(W + 1) − 1]
    /// in [0, 1], a white line between cells (for `ImageFile.writePNG`).
    public static func grid(_ images: Tensor, columns: Int = 8) -> Tensor {
        let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
        let rows = (n + columns - 1) / columns
        let picture = Tensor.ones([3, rows * (h + 1) - 1, columns * (w + 1) - 1])
        let pixels = ((images.converted(to: .float32) + 1) * 0.5).clamped(min: 0, max: 1)
        for i in 0..<n {
            let (r, c) = (i / columns, i % columns)
            picture.slice(axis: 1, start: r * (h + 1), end: r * (h + 1) + h)
                .slice(axis: 2, start: c * (w + 1), end: c * (w + 1) + w).assign(pixels.select(axis: 0, index: i))
        }
        return picture
    }

    /// Features of images [N, 3, H, W] for a Fréchet distance without a trained network: the
    /// images average-pooled to `size` × `size`, flattened (a coarse, honest stand-in; pass a
    /// classifier's features to ``GenerativeMetrics/frechetDistance(_:_:)`` for FID-like numbers).
    public static func pooledPixels(_ images: Tensor, size: Int = 4) -> Tensor {
        let k = images.shape[2] / size
        let windows = PoolWindows.sliding(size: images.shape[2], kernel: k, stride: k, padding: 0)
        let pooled = images.avgPool2d(rows: windows, columns: windows)
        return pooled.reshaped([images.shape[0], -1]).converted(to: .float64)
    }
}
