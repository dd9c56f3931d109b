import Autograd
import Foundation
import NN
import Testing
import Tensor
import TestSupport
@testable import Training
@testable import Vision
import Zoo

/// The small SiT of the fixture (scripts/make_sit_fixtures.py): a ViT of 16 px, patch 4, width 16.
private func fixtureModel() -> SiTModel {
    SiTModel(vit: ViTConfig(imageSize: 16, patchSize: 4, embedDim: 16, depth: 2, numHeads: 2, mlpRatio: 2,
                            numClasses: 0), outDim: 8, hiddenDim: 16)
}

/// Four whole SiT steps in float64 against SiT's main.py written out in PyTorch: teacher (train
/// mode) on the clean crops, student on the corrupted ones, the contrastive loss both ways plus
/// λ = 2 × the L1 error on the masked pixels, AdamW with DINO's groups and schedules, clipping,
/// the EMA teacher. The losses of every step and both networks at the end must match.
@Test func sitStepsMatchPyTorch() throws {
    let fixture = Fixture("sit_steps.safetensors")
    let (student, teacher) = (fixtureModel(), fixtureModel())
    for m in [student, teacher] {
        m.to(.float64)
        try m.loadStateDict(fixture.state("initial"))
    }
    let (epochs, iterations, batchSize) = (2, 2, 4)
    let recipe = try SiTRecipe(student: student, teacher: teacher,
                               sit: SiTOptions(reconstructionWeight: 2, temperature: 0.2, teacherMomentum: 0.9,
                                               replaceFraction: 0),
                               options: OptimizationOptions(learningRate: 0.5, minLearningRate: 1e-5, warmupEpochs: 1,
                                                            weightDecay: 0.04, weightDecayEnd: 0.1, clipGradient: 3),
                               epochs: epochs, iterationsPerEpoch: iterations, batchSize: batchSize)
    let expected = ["loss", "contrastive", "reconstruction"].map { fixture.t("losses.\($0)").scalars(as: Double.self) }
    for step in 0..<(epochs * iterations) {
        let views = ["clean0", "clean1", "corrupted0", "corrupted1", "mask0", "mask1"]
            .map { fixture.t("step\(step).\($0)") }
        let batch = Batch(views: views, labels: .zeros([batchSize], dtype: .int64), indices: Array(0..<batchSize))
        let (loss, _) = try recipe.step(batch, iteration: step, epoch: step / iterations,
                                        iterationsPerEpoch: iterations)
        #expect(abs(loss - expected[0][step]) < 1e-9, "step \(step): loss \(loss), PyTorch \(expected[0][step])")
        #expect(abs(recipe.lastLosses["contrastive"]! - expected[1][step]) < 1e-9)
        #expect(abs(recipe.lastLosses["reconstruction"]! - expected[2][step]) < 1e-9)
    }
    for (name, module) in [("student", student), ("teacher", teacher)] as [(String, Module)] {
        let reference = fixture.state(name), actual = module.stateDict()
        #expect(Set(actual.keys) == Set(reference.keys))
        for (key, value) in reference where !key.hasSuffix("num_batches_tracked") {
            guard let mine = actual[key] else { continue }
            let error = (mine.converted(to: .float64) - value).abs().max().item()
            // A Linear's bias feeding a BatchNorm has a gradient that is zero but for rounding, which
            // AdamW's normalisation turns into steps of either sign; it, and the running mean it
            // shifts, agree only to 1e-5 (the outputs, which BatchNorm makes independent of it, to 1e-9).
            let roundingDriven = ["head.mlp.0.bias", "head.mlp.3.bias", "head.mlp.1.running_mean",
                                  "head.mlp.4.running_mean"].contains(key)
            #expect(error < (roundingDriven ? 1e-5 : 1e-9), "\(name).\(key) differs by \(error)")
        }
    }
}

/// Tessera's GMML corruption draws from the same distribution as SiT's `GMML_drop_rand_patches`:
/// the mean and spread of the share of the image covered (the spread reflects the block sizes),
/// over 2000 draws each, agree with the fixture's (SiT's own function, 2000 draws) within sampling noise.
@Test(arguments: [("pixel", 1, 0.5), ("patch", 8, 0.5), ("small", 1, 0.3)])
func gmmlStatisticsMatchSiT(name: String, align: Int, drop: Double) throws {
    let reference = Fixture("sit_steps.safetensors").t("gmml.\(name)").scalars(as: Double.self)
    let corruption = GMMLCorruption(dropPercentage: drop, fill: .zeros, align: align)
    try corruption.validate(height: 32, width: 32)
    let rng = RandomGenerator(seed: 9)
    var shares: [Double] = []
    let ones = Tensor.ones([1, 32, 32])
    for _ in 0..<2000 {
        let (image, mask) = corruption(ones, using: rng)
        shares.append(mask.mean().item())
        // With zeros on an image of ones, the corrupted image is exactly 1 − mask.
        #expect(((image + mask) - ones).abs().max().item() == 0)
    }
    let meanShare = shares.reduce(0, +) / 2000
    let spread = (shares.map { ($0 - meanShare) * ($0 - meanShare) }.reduce(0, +) / 2000).squareRoot()
    #expect(abs(spread - reference[1]) <= 0.15 * reference[1], "\(name): spread \(spread), SiT \(reference[1])")
    #expect(abs(meanShare - reference[0]) < 5 * Swift.max(reference[1], 1e-4) / 2000.squareRoot(),
            "\(name): mean share \(meanShare), SiT \(reference[0])")
    if align == 8 {
        #expect(shares.allSatisfy { $0 == 0.5 }, "whole 8 × 8 patches: exactly half of a 32 × 32 image")
    }
}

/// Blocks start and end on the alignment grid; noise fills stay inside the mask; a replacement
/// image's pixels are copied exactly where the mask is set.
@Test func gmmlMasksAlignAndReplacementsCopy() throws {
    let rng = RandomGenerator(seed: 4)
    let image = Tensor.uniform([3, 32, 32], generator: rng), other = Tensor.uniform([3, 32, 32], generator: rng)
    let (aligned, mask) = GMMLCorruption(dropPercentage: 0.5, fill: .noise, align: 8)(image, using: rng)
    let m: [Float] = mask.scalars(as: Float.self)
    let offGrid = (0..<(32 * 32)).filter { p in
        let (i, j) = (p / 32, p % 32)
        return m[p] != m[(i / 8 * 8) * 32 + j / 8 * 8]
    }
    #expect(offGrid.isEmpty, "pixels whose mask differs from their 8 × 8 cell's: \(offGrid.prefix(5))")
    let keep: Tensor = Tensor.ones([1, 32, 32]) - mask
    let unchanged: Tensor = (aligned - image).abs() * keep
    #expect(unchanged.max().item() == 0)
    let (copied, copyMask) = GMMLCorruption(dropPercentage: 0.3)(image, replacement: other, using: rng)
    let expected: Tensor = other * copyMask + image * (Tensor.ones([1, 32, 32]) - copyMask)
    #expect((copied - expected).abs().max().item() == 0)
    #expect(abs(copyMask.mean().item() - 0.3) < 0.05)
    #expect(throws: ConfigurationError.self) { try GMMLCorruption(dropPercentage: 1.2).validate(height: 32, width: 32) }
    #expect(throws: ConfigurationError.self) { try GMMLCorruption(align: 16).validate(height: 32, width: 32) }
}

/// The collate step redraws about `probability` of the images, each as blocks of a batch image.
@Test func gmmlCollateStepReplacesFromTheBatch() {
    let rng = RandomGenerator(seed: 6)
    let clean = Tensor.uniform([40, 3, 16, 16], generator: rng)
    let corruption = GMMLCorruption()
    let views = (0..<40).map { corruption(clean[$0], using: rng) }
    let corrupted = Tensor.stack(views.map(\.image)), masks = Tensor.stack(views.map(\.mask))
    let (replaced, newMasks) = corruption.replacingFromBatch(clean: clean, corrupted: corrupted, masks: masks,
                                                            fraction: 0.3, using: rng)
    let redrawn = (0..<40).filter { (newMasks[$0] - masks[$0]).abs().max().item() > 0 }
    #expect((8...32).contains(redrawn.count), "\(redrawn.count) of 40 redrawn at probability ½")
    for i in redrawn { #expect(abs(newMasks[i].mean().item() - 0.3) < 0.08) }
    for i in 0..<40 where !redrawn.contains(i) { #expect((replaced[i] - corrupted[i]).abs().max().item() == 0) }
}

/// The first version's quarter turns equal `torch.rot90(x, k, dims=(1, 2))`.
@Test func quarterTurnsMatchTorchRot90() {
    let fixture = Fixture("sit_steps.safetensors")
    let input = fixture.t("rot90.input")
    for k in 0..<4 {
        #expect((input.rotated(quarterTurns: [k, k]) - fixture.t("rot90.k\(k)")).abs().max().item() == 0, "k = \(k)")
    }
    let mixed = input.rotated(quarterTurns: [1, 3])
    #expect((mixed[1] - fixture.t("rot90.k3")[1]).abs().max().item() == 0)
}

/// The masked L1 loss and the uncertainty weighting, gradient-checked in float64.
@Test func sitLossesPassGradientChecks() {
    let rng = RandomGenerator(seed: 2)
    let clean = Tensor.uniform([2, 3, 4, 4], dtype: .float64, generator: rng)
    let masks = (Tensor.uniform([2, 1, 4, 4], dtype: .float64, generator: rng) .> 0.5).converted(to: .float64)
    let reconstruction = Tensor.uniform([2, 3, 4, 4], dtype: .float64, generator: rng) + 2  // away from the kink
    let l1 = gradCheck({ SiTRecipe.reconstructionLoss($0[0], clean: clean, masks: masks) }, inputs: [reconstruction])
    #expect(l1.passed, "\(l1)")
    let (l, v): ([Double], [Double]) = ([0.7, 1.3, 2.1], [0.1, -0.4, 0.3])
    let losses = Tensor(l, shape: [3]), logVariances = Tensor(v, shape: [3])
    let check = gradCheck({ v in
        TaskUncertainty.weighted((0..<3).map { v[0].select(axis: 0, index: $0) }, logVariances: v[1])
    }, inputs: [losses, logVariances])
    #expect(check.passed, "\(check)")
    let total = TaskUncertainty.weighted((0..<3).map { Variable(losses.select(axis: 0, index: $0)) },
                                         logVariances: Variable(logVariances)).data.item()
    let expected: [Double] = (0..<3).map { (i: Int) -> Double in 0.5 * exp(-v[i]) * l[i] + 0.5 * v[i] }
    #expect(abs(total - expected.reduce(0, +)) < 1e-12)
}

/// The masked L1 error of `model`'s reconstructions of a fixed corrupted batch (eval mode).
private func heldOutReconstructionError(_ model: SiTModel, clean: Tensor, corrupted: Tensor, masks: Tensor) -> Double {
    model.eval()
    defer { model.train() }
    return noGrad {
        SiTRecipe.reconstructionLoss(model.forward(Variable(corrupted)).reconstruction!, clean: clean, masks: masks)
            .data.item()
    }
}

/// Issue 19's SiT test: a short SiT run on the built-in data lifts the teacher's k-NN above the
/// same network at initialisation and lowers the student's reconstruction error on corrupted
/// held-out images. The ViT is `tessera compare`'s (patch 8, width 96, depth 4); 10 epochs of
/// 2000 images in batches of 32, λ = 1 (SiT's default). Measured (AVX-512 machine, 82 s): k-NN
/// 32.6% against 21.0% at init, masked L1 0.435 against 0.862; with `SIT_SEED=4` 34.0% against
/// 21.4%. λ = 5, which SiT's README advises for small data sets, lifts k-NN less here (seeds 3, 4,
/// 5: 33.2, 24.2 and 27.4% against 21.0, 21.4 and 20.8%) while reconstructing slightly better (0.41).
@Test func shortSiTRunLiftsKNNAndLowersReconstructionError() throws {
    let env = ProcessInfo.processInfo.environment
    try Random.withGenerator(RandomGenerator(seed: UInt64(env["SIT_SEED"] ?? "3")!)) {
        let epochs = Int(env["SIT_EPOCHS"] ?? "10")!, n = Int(env["SIT_N"] ?? "2000")!
        let train = Shapes(count: n, seed: 1), test = Shapes(count: 500, seed: 2)
        let normalize = ExperimentData.normalize
        let corruption = GMMLCorruption(dropPercentage: Double(env["SIT_DROP"] ?? "0.5")!,
                                        align: Int(env["SIT_ALIGN"] ?? "1")!)
        let augmentation = SiTAugmentation(size: 32, scale: 0.4...1, corruption: corruption, normalize: normalize,
                                           rotation: 180)
        let batchSize = Int(env["SIT_BATCH"] ?? "32")!
        let loader = DataLoader(train, batchSize: batchSize, dropLast: true, seed: UInt64(env["SIT_SEED"] ?? "1")!,
                                views: augmentation)
        let config = ViTConfig(imageSize: 32, patchSize: 8, embedDim: 96, depth: 4, numHeads: 3, mlpRatio: 2,
                               numClasses: 0)
        let (student, teacher) = (SiTModel(vit: config, outDim: 128, hiddenDim: 512),
                                  SiTModel(vit: config, outDim: 128, hiddenDim: 512))
        let recipe = try SiTRecipe(student: student, teacher: teacher, corruption: corruption,
                                   sit: SiTOptions(reconstructionWeight: Double(env["SIT_LAMBDA"] ?? "1")!,
                                                   teacherMomentum: 0.99),
                                   options: OptimizationOptions(learningRate: Double(env["SIT_LR"] ?? "2e-2")!,
                                                                warmupEpochs: 1, weightDecay: 0.04,
                                                                weightDecayEnd: 0.1),
                                   epochs: epochs, iterationsPerEpoch: loader.batchCount, batchSize: batchSize)
        // A fixed held-out batch: 64 test images, corrupted once.
        let rng = RandomGenerator(seed: 8)
        let clean = Tensor.stack((0..<64).map { normalize(test.image(at: $0), using: rng) })
        let pairs = (0..<64).map { corruption(clean[$0], using: rng) }
        let (corrupted, masks) = (Tensor.stack(pairs.map(\.image)), Tensor.stack(pairs.map(\.mask)))
        let knnRandom = try knnTop1OfShapes(teacher.backbone, train: train, test: test)
        let errorRandom = heldOutReconstructionError(student, clean: clean, corrupted: corrupted, masks: masks)
        let start = Date()
        let history = try TrainingLoop(recipe: recipe, loader: loader, options: TrainingOptions(epochs: epochs)).run()
        let knn = try knnTop1OfShapes(teacher.backbone, train: train, test: test)
        let error = heldOutReconstructionError(student, clean: clean, corrupted: corrupted, masks: masks)
        print("SiT k-NN \(knn) vs random init \(knnRandom); held-out masked L1 \(error) vs \(errorRandom); loss "
              + "\(history.first!.loss) → \(history.last!.loss) (\(epochs) epochs of \(n), "
              + "\(Date().timeIntervalSince(start)) s)")
        #expect(knn >= knnRandom + 0.05, "k-NN \(knn) against \(knnRandom) at init")
        #expect(error < 0.8 * errorRandom, "held-out reconstruction error \(error) against \(errorRandom) at init")
    }
}
