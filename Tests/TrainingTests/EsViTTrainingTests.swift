import Autograd
import Foundation
import NN
import Testing
import Tensor
import TestSupport
@testable import Training
import Vision
@testable import Zoo

/// The small Swin of these tests (`tessera bench --model compare-swin`): 32 px, patch 4, two stages
/// (8² then 4² tokens), window 4; `ESVIT_PATCH=2` gives 16² then 8² tokens for the correspondence measurement.
private let smallSwin = SwinConfig(imageSize: 32,
                                   patchSize: Int(ProcessInfo.processInfo.environment["ESVIT_PATCH"] ?? "4")!,
                                   embedDim: 48, depths: [2, 2], numHeads: [3, 6], windowSize: 4, mlpRatio: 2)

/// EsViT's recipe on the built-in data: multi-crop DINO (2 × 32² + 2 × 16²) on the small Swin, with
/// (`regionLevel`) or without the region head and loss; returns the recipe after `epochs` of `n` images.
private func shortRun(regionLevel: Bool, epochs: Int, n: Int, seed: UInt64,
                      lr: Double = 1e-2) throws -> DINORecipe {
    try Random.withGenerator(RandomGenerator(seed: seed)) {
        let augmentation = DINOAugmentation(globalSize: 32, localSize: 16, localCrops: 2, globalScale: 0.4...1,
                                            localScale: 0.1...0.4, normalize: ExperimentData.normalize,
                                            rotation: 180)
        let loader = DataLoader(Shapes(count: n, seed: 1), batchSize: 64, dropLast: true, seed: seed,
                                views: augmentation)
        let recipe = DINORecipe(makeBackbone: { SwinTransformer(smallSwin) }, featureDim: smallSwin.featureDim,
                                outDim: 256, headHidden: 512, headBottleneck: 128, crops: 4, epochs: epochs,
                                iterationsPerEpoch: loader.batchCount, batchSize: 64,
                                options: OptimizationOptions(learningRate: lr, minLearningRate: 1e-5,
                                                             warmupEpochs: 1, weightDecay: 0.04, weightDecayEnd: 0.4),
                                teacherMomentum: 0.99, warmupTeacherTemperature: 0.04, teacherTemperature: 0.02,
                                warmupTeacherEpochs: epochs / 3, regionLevel: regionLevel)
        try TrainingLoop(recipe: recipe, loader: loader, options: TrainingOptions(epochs: epochs)).run()
        return recipe
    }
}

/// Dense correspondence between two views of one image: each test image and its object mask are
/// cropped and flipped twice (the same box for image and mask, RandomResizedCrop at scale 0.5–1);
/// the mask of the first view, at the token grid, is carried to the second by label propagation
/// on the backbone's last-layer tokens (DAVIS's propagation: top 5 of exp(cos / 0.1), whole view),
/// each view coloured as DINO's augmentation does (jitter 0.8, grey 0.2), so that colour alone
/// does not match them; the mean of the object's and the background's Jaccard index against the
/// second view's own mask, averaged over the images. And nearest-neighbour matching: the share of
/// the second view's tokens (those whose centre lies in the first view) whose most similar token
/// in the first view is within one token of the same image point.
func viewCorrespondence(_ backbone: DenseFeatureBackbone, images: Int = 200, size: Int = 32)
    -> (jaccard: Double, matching: Double) {
    backbone.eval()
    let shapes = Shapes(count: images, imageSize: size, seed: 2)
    let crop = RandomResizedCrop(size, scale: 0.5...1)
    let rng = RandomGenerator(seed: 11)
    let colour = Compose([RandomApply(ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1), p: 0.8),
                          RandomGrayscale(p: 0.2), ExperimentData.normalize])
    var total = 0.0, matched = 0, matchable = 0
    for i in 0..<images {
        let (image, _, mask) = shapes.sample(at: i)
        var views: [(image: Tensor, mask: Tensor)] = []
        var geometry: [(box: (top: Int, left: Int, height: Int, width: Int), flipped: Bool)] = []
        for _ in 0..<2 {
            let box = crop.cropBox(height: size, width: size, using: rng)
            func cut(_ planes: Tensor, _ filter: Interpolation) -> Tensor {
                filter.resize(planes.slice(axis: 1, start: box.top, end: box.top + box.height)
                    .slice(axis: 2, start: box.left, end: box.left + box.width), height: size, width: size,
                              antialias: filter == .bilinear)
            }
            var view = (image: cut(image, .bilinear), mask: cut(mask.unsqueezed(0), .bilinear))
            let flipped = rng.nextUniform() < 0.5
            if flipped {
                let flip = RandomHorizontalFlip(p: 1)
                view = (flip(view.image, using: rng), flip(view.mask, using: rng))
            }
            views.append(view)
            geometry.append((box, flipped))
        }
        let tokens = noGrad {
            views.map {
                backbone.viewAndTokenFeatures(Variable(colour($0.image, using: rng).unsqueezed(0)))
                    .tokens.data.select(axis: 0, index: 0)
            }
        }
        let side = Int(Double(tokens[0].shape[0]).squareRoot())
        // Masks at the token grid: a token is the object's where the object covers half its area.
        let grid = views.map {
            Interpolation.bilinear.resize($0.mask, height: side, width: side, antialias: true)
                .scalars(as: Float.self).map { $0 > 0.5 ? Float(1) : 0 }
        }
        let source = Tensor(grid[0].map { 1 - $0 } + grid[0], shape: [2, side, side])
        let propagated = VideoSegmentation.propagate(
            target: tokens[1], contexts: [(tokens[0], source)], height: side, width: side,
            parameters: VideoSegmentation.Parameters(contextFrames: 0, neighborhood: 0, topK: 5, temperature: 0.1))
            .converted(to: .float32).contiguous().scalars(as: Float.self)
        let cells = side * side
        let predicted = (0..<cells).map { propagated[cells + $0] > propagated[$0] }
        // Nearest-neighbour matching: a token of the second view whose centre lies in the first view
        // is matched when its most cosine-similar token there is within one token of that point.
        let unit = tokens.map { Evaluation.l2Normalized($0.converted(to: .float32)) }
        let nearest = unit[1].matmul(unit[0].transposed()).argmax(axis: 1).scalars(as: Int64.self)
        func imagePoint(_ v: Int, _ row: Int, _ column: Int) -> (y: Double, x: Double) {
            let (box, flipped) = geometry[v]
            let c = flipped ? side - 1 - column : column
            return (Double(box.top) + (Double(row) + 0.5) * Double(box.height) / Double(side),
                    Double(box.left) + (Double(c) + 0.5) * Double(box.width) / Double(side))
        }
        for t in 0..<cells {
            let p = imagePoint(1, t / side, t % side), (box, flipped) = geometry[0]
            let row = (p.y - Double(box.top)) / Double(box.height) * Double(side) - 0.5
            var column = (p.x - Double(box.left)) / Double(box.width) * Double(side) - 0.5
            if flipped { column = Double(side - 1) - column }
            guard row > -0.5, row < Double(side) - 0.5, column > -0.5, column < Double(side) - 0.5 else { continue }
            matchable += 1
            let n = Int(nearest[t])
            if abs(Double(n / side) - row) <= 1 && abs(Double(n % side) - column) <= 1 { matched += 1 }
        }
        for object in [false, true] {  // the mean of the object's and the background's Jaccard
            let truth = grid[1].map { ($0 == 1) == object }, guess = predicted.map { $0 == object }
            let intersection = (0..<cells).filter { guess[$0] && truth[$0] }.count
            let union = (0..<cells).filter { guess[$0] || truth[$0] }.count
            total += 0.5 * (union > 0 ? Double(intersection) / Double(union) : 1)
        }
    }
    return (total / Double(images), Double(matched) / Double(Swift.max(matchable, 1)))
}

/// The EsViT issue's short run, on the small Swin and the built-in data: 8 epochs of 1500 images
/// (184 steps of 64) lift the teacher's k-NN above its random init. Measured (AVX-512 machine,
/// 2 cores, 93 s of training): 18.2% against 14.8%. With `ESVIT_COMPARE=1` the same run without
/// the region head follows, and both are measured for correspondence between two views
/// (``viewCorrespondence(_:images:size:)``). Measured so, nothing shows the region loss helping
/// at this scale: k-NN 18.2% against 16.6% for the view loss alone; mask Jaccard 0.613 against
/// 0.607 (random init 0.597); token matching 0.348 against 0.351 (random 0.355); nor with 8 × 8
/// last-stage tokens (`ESVIT_PATCH=2`) or 552 steps (`ESVIT_EPOCHS=24`) — see Docs/Tutorial.md §11.
/// Only the k-NN lift is asserted.
@Test func shortEsViTRunLiftsKNNAboveRandomInit() throws {
    let env = ProcessInfo.processInfo.environment
    let epochs = Int(env["ESVIT_EPOCHS"] ?? "8")!, n = Int(env["ESVIT_N"] ?? "1500")!
    let seed = UInt64(env["ESVIT_SEED"] ?? "3")!
    let train = Shapes(count: 2000, seed: 1), test = Shapes(count: 500, seed: 2)
    let random = Random.withGenerator(RandomGenerator(seed: seed)) { SwinTransformer(smallSwin) }
    let knnRandom = try knnTop1OfShapes(random, train: train, test: test)
    var start = Date()
    let esvit = try shortRun(regionLevel: true, epochs: epochs, n: n, seed: seed)
    let esvitSeconds = Date().timeIntervalSince(start)
    let esvitTeacher = try #require(esvit.teacher.backbone as? SwinTransformer)
    let knn = try knnTop1OfShapes(esvitTeacher, train: train, test: test)
    print("EsViT small Swin, \(epochs) epochs of \(n): k-NN \(knn) against \(knnRandom) at random init "
          + "(\(esvitSeconds) s)")
    #expect(knn >= knnRandom + 0.025)
    guard env["ESVIT_COMPARE"] != nil else { return }
    start = Date()
    let viewOnly = try shortRun(regionLevel: false, epochs: epochs, n: n, seed: seed)
    let viewSeconds = Date().timeIntervalSince(start)
    let viewTeacher = try #require(viewOnly.teacher.backbone as? SwinTransformer)
    let knnViewOnly = try knnTop1OfShapes(viewTeacher, train: train, test: test)
    print("view loss only: k-NN \(knnViewOnly) (\(viewSeconds) s); correspondence (mask Jaccard, token matching): "
          + "EsViT \(viewCorrespondence(esvitTeacher)), view loss only \(viewCorrespondence(viewTeacher)), "
          + "random init \(viewCorrespondence(random))")
}
