import Autograd
import Distributed
import Foundation
import NN
import Tensor
import Vision
import Zoo

/// SiT's own settings, with the official code's defaults (December 2022).
public struct SiTOptions: Sendable {
    /// λ, the weight of the reconstruction loss (`--lmbda`; SiT's README suggests 5 for small data sets).
    public var reconstructionWeight = 1.0
    /// τ of the contrastive loss (`--simclr_temp`).
    public var temperature = 0.2
    /// The teacher's EMA momentum at the start; it follows a cosine to 1 (`--momentum_teacher`).
    public var teacherMomentum = 0.996
    /// `--drop_replace`: the share of an image covered by blocks of another image in the collate step.
    public var replaceFraction = 0.3
    /// The chance an image's corruption is redrawn from another image (½ in SiT: 1 / (fill types + 1)).
    public var replaceProbability = 0.5
    /// Seeds the collate step's and the rotations' draws, one generator per iteration (so a resumed run repeats them).
    public var seed: UInt64 = 0

    public init(reconstructionWeight: Double = 1, temperature: Double = 0.2, teacherMomentum: Double = 0.996,
                replaceFraction: Double = 0.3, replaceProbability: Double = 0.5, seed: UInt64 = 0) {
        (self.reconstructionWeight, self.temperature, self.teacherMomentum) =
            (reconstructionWeight, temperature, teacherMomentum)
        (self.replaceFraction, self.replaceProbability, self.seed) = (replaceFraction, replaceProbability, seed)
    }

    /// Throws a `ConfigurationError` naming the first setting that breaks its rule.
    public func validate() throws {
        typealias R = ConfigurationError
        try R.require(reconstructionWeight.isFinite && reconstructionWeight >= 0, "lambda", reconstructionWeight,
                      "must not be negative")
        try R.require(temperature.isFinite && temperature > 0, "temperature", temperature, "must be positive")
        try R.require((0...1).contains(teacherMomentum), "momentum-teacher", teacherMomentum, "must be in 0...1")
        try R.require((0..<1).contains(replaceFraction), "drop-replace", replaceFraction,
                      "must be in 0 ..< 1 (0: no replacement)")
        try R.require((0...1).contains(replaceProbability), "replace-probability", replaceProbability,
                      "must be in 0...1")
    }
}

/// SiT (Atito, Awais and Kittler) as in the official `main.py` (December 2022): the student sees
/// the GMML-corrupted views (`SiTAugmentation`, then the collate step that redraws some images'
/// corruption from another image of the batch) and the EMA teacher the clean ones; the loss is
/// MoCo v3's contrastive loss between the student's projection of one view and the teacher's of
/// the other, both ways (`MoCoV3.contrastiveLoss`, τ = 0.2), plus λ × the L1 reconstruction error on
/// the corrupted pixels only; AdamW with DINO's schedules and groups (weight decay 0.04 → 0.1),
/// per-parameter clipping at 3, teacher momentum 0.996 → 1 on a cosine.
///
/// With a first-version model (`SiTModel(vit:firstVersion: true)`) the paper's first version's
/// tasks are added: every image (clean, corrupted and mask alike) is turned by a random multiple
/// of 90°, the student predicts the turn from its class token, and the three losses are weighted
/// by learned uncertainty (`TaskUncertainty`) instead of 1 and λ. That version contrasted two
/// views within one network; here the EMA teacher of the current version gives the targets.
public final class SiTRecipe: TrainingRecipe {
    public let student: SiTModel
    public let teacher: SiTModel
    public let corruption: GMMLCorruption
    public let sit: SiTOptions
    public let optimizer: Optimizer
    let schedules: OptimizationSchedules
    let momenta: [Double]
    let options: OptimizationOptions
    /// Set by ``distribute(over:)``.
    public private(set) var dataParallel: DistributedDataParallel?
    /// The last step's terms: contrastive, reconstruction (L1 on corrupted pixels) and, in the first
    /// version, rotation cross-entropy.
    public private(set) var lastLosses: [String: Double] = [:]
    public var modules: [(name: String, module: Module)] { [("student", student), ("teacher", teacher)] }

    /// `student` and `teacher` must have the same structure (the teacher starts as the student's copy).
    public init(student: SiTModel, teacher: SiTModel, corruption: GMMLCorruption = GMMLCorruption(),
                sit: SiTOptions = SiTOptions(), options: OptimizationOptions, epochs: Int, iterationsPerEpoch: Int,
                batchSize: Int) throws {
        try options.validate()
        try sit.validate()
        (self.student, self.teacher, self.corruption, self.sit, self.options) =
            (student, teacher, corruption, sit, options)
        Schedule.startEMA(teacher: teacher, from: student)
        schedules = OptimizationSchedules(options, epochs: epochs, iterationsPerEpoch: iterationsPerEpoch,
                                          batchSize: batchSize)
        momenta = Schedule.cosine(base: sit.teacherMomentum, final: 1, epochs: epochs,
                                  iterationsPerEpoch: iterationsPerEpoch)
        optimizer = schedules.makeOptimizer(over: student, options)
    }

    /// As SiT's main.py: synchronised batch norms in student and teacher, averaged gradients, the
    /// teacher broadcast from rank 0, and the keys of every process in the contrastive loss.
    public func distribute(over group: ProcessGroup) throws {
        dataParallel = try distributeStudentAndTeacher(student: student, teacher: teacher, over: group)
    }

    /// The mean absolute error of `reconstruction` against `clean` over the pixels where `masks`
    /// [B, 1, H, W] is 1 (every channel of them), SiT's `recloss[masks == 1].mean()`; 0 without any.
    public static func reconstructionLoss(_ reconstruction: Variable, clean: Tensor, masks: Tensor) -> Variable {
        let count = masks.sum().item() * Double(clean.shape[1])
        guard count > 0 else { return reconstruction.sum() * 0 }
        let m = Variable(masks.converted(to: reconstruction.dtype))
        return ((reconstruction - Variable(clean)).abs() * m).sum() * (1 / count)
    }

    public func step(_ batch: Batch, iteration: Int, epoch: Int, iterationsPerEpoch: Int) throws
        -> (loss: Double, learningRate: Double) {
        check(batch.views.count == 6, "SiTRecipe", "expects SiTAugmentation's six views (clean, corrupted and "
              + "mask of two crops), got \(batch.views.count)")
        student.train()
        teacher.train()
        let lr = schedules.apply(to: optimizer, iteration: iteration)
        let rng = RandomGenerator(seed: sit.seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(iteration + 1))
        let v = batch.views
        var corrupted = [v[2], v[3]], masks = [v[4], v[5]]
        for k in 0..<2 {
            (corrupted[k], masks[k]) = corruption.replacingFromBatch(
                clean: v[k], corrupted: corrupted[k], masks: masks[k], fraction: sit.replaceFraction,
                probability: sit.replaceProbability, using: rng)
        }
        var (clean, input, mask) = (Tensor.concat([v[0], v[1]]), Tensor.concat(corrupted), Tensor.concat(masks))
        var turns: Tensor?
        if student.headRotation != nil {
            let quarterTurns = (0..<clean.shape[0]).map { _ in rng.nextInt(below: 4) }
            (clean, input, mask) = (clean.rotated(quarterTurns: quarterTurns),
                                    input.rotated(quarterTurns: quarterTurns), mask.rotated(quarterTurns: quarterTurns))
            turns = Tensor(quarterTurns.map { Int64($0) }, shape: [quarterTurns.count])
        }
        let targets = noGrad { teacher.forward(Variable(clean), reconstruct: false).projection.data }
        let out = student.forward(Variable(input))
        let n = clean.shape[0] / 2
        var (first, second) = (targets.slice(axis: 0, start: 0, end: n), targets.slice(axis: 0, start: n))
        var firstPositive = 0
        if let group = dataParallel?.group {
            (first, second) = (try group.allGather(first), try group.allGather(second))
            firstPositive = group.rank * n
        }
        let (s1, s2) = (out.projection.slice(axis: 0, start: 0, end: n), out.projection.slice(axis: 0, start: n))
        let contrastive = MoCoV3.contrastiveLoss(s1, second, temperature: sit.temperature, firstPositive: firstPositive)
            + MoCoV3.contrastiveLoss(s2, first, temperature: sit.temperature, firstPositive: firstPositive)
        let reconstruction = Self.reconstructionLoss(out.reconstruction!, clean: clean, masks: mask)
        let loss: Variable
        lastLosses = ["contrastive": contrastive.data.item(), "reconstruction": reconstruction.data.item()]
        if let turns, let logits = out.rotationLogits, let uncertainty = student.uncertainty {
            let rotation = logits.crossEntropy(labels: turns)
            lastLosses["rotation"] = rotation.data.item()
            loss = uncertainty([contrastive, reconstruction, rotation])
        } else {
            loss = contrastive + reconstruction * sit.reconstructionWeight
        }
        try descend(loss, optimizer: optimizer, dataParallel: dataParallel, clip: options.clipGradient)
        Schedule.emaUpdate(teacher: teacher, student: student,
                           momentum: momenta[Swift.min(iteration, momenta.count - 1)])
        return (loss.data.item(), lr)
    }
}

extension Tensor {
    /// Images [B, C, H, W] with H = W, image i turned counter-clockwise by `quarterTurns[i]` × 90°
    /// (`torch.rot90(x[i], k, dims=(1, 2))`).
    func rotated(quarterTurns: [Int]) -> Tensor {
        check(rank == 4 && shape[2] == shape[3] && quarterTurns.count == shape[0], "rotated(quarterTurns:)",
              "expects square images [B, C, H, H] and one turn per image, got \(describe(shape)) and "
              + "\(quarterTurns.count) turns")
        let (c, s) = (shape[1], shape[2])
        let x = converted(to: .float64).scalars(as: Double.self)
        var out = [Double](repeating: 0, count: x.count)
        for (b, k) in quarterTurns.enumerated() {
            for ch in 0..<c {
                let base = (b * c + ch) * s * s
                for i in 0..<s {
                    for j in 0..<s {
                        // rot90 by k: out[i, j] = x[source(i, j)].
                        let (r, q): (Int, Int) = switch ((k % 4) + 4) % 4 {
                        case 0: (i, j)
                        case 1: (j, s - 1 - i)
                        case 2: (s - 1 - i, s - 1 - j)
                        default: (s - 1 - j, i)
                        }
                        out[base + i * s + j] = x[base + r * s + q]
                    }
                }
            }
        }
        return Tensor(out, shape: shape).converted(to: dtype)
    }
}

/// A fixed set of corrupted images for following SiT's reconstructions over training: the masked
/// L1 error of a model on them, and the figure SiT's main.py saves (rows: input, corrupted input,
/// reconstruction, mask).
public struct SiTSamples: @unchecked Sendable {
    /// Normalised images [N, C, H, W], their corruptions and masks [N, 1, H, W].
    public let clean: Tensor, corrupted: Tensor, masks: Tensor

    /// Corrupts normalised `images` [C, H, W] once, with a generator seeded by `seed`.
    public init(images: [Tensor], corruption: GMMLCorruption, seed: UInt64 = 0) {
        check(!images.isEmpty, "SiTSamples", "needs at least one image")
        let rng = RandomGenerator(seed: seed)
        let pairs = images.map { corruption($0, using: rng) }
        (clean, corrupted, masks) = (Tensor.stack(images), Tensor.stack(pairs.map(\.image)),
                                     Tensor.stack(pairs.map(\.mask)))
    }

    /// `model`'s reconstructions [N, C, H, W], in eval mode.
    public func reconstructions(by model: SiTModel) -> Tensor {
        let wasTraining = model.isTraining
        model.eval()
        defer { if wasTraining { model.train() } }
        return noGrad { model.forward(Variable(corrupted)).reconstruction!.data }
    }

    /// The mean absolute error of `model`'s reconstructions on the corrupted pixels.
    public func reconstructionError(of model: SiTModel) -> Double {
        noGrad {
            SiTRecipe.reconstructionLoss(Variable(reconstructions(by: model)), clean: clean, masks: masks).data.item()
        }
    }

    /// One column per image; rows: the input, the corrupted input, `model`'s reconstruction and the
    /// mask, denormalised with `normalize` and clamped to 0…1: an image [3, H', W'] for `ImageFile`.
    public func figure(of model: SiTModel, normalize: Normalize) -> Tensor {
        let rebuilt = reconstructions(by: model)
        let n = clean.shape[0]
        func shown(_ batch: Tensor) -> [Tensor] {
            (0..<n).map { normalize.denormalized(batch[$0].converted(to: .float32)).clamped(min: 0, max: 1) }
        }
        let maskRow = (0..<n).map { masks[$0].converted(to: .float32).expanded(to: [3] + masks.shape.suffix(2)) }
        return imageGrid(shown(clean) + shown(corrupted) + shown(rebuilt) + maskRow.map { $0.contiguous() },
                         columns: n)
    }
}
