// Train a small ViT on an image folder (class per subfolder), with a checkpoint you can resume.
//
//   swift run -c release train-vit PATH/TO/FOLDER [--tiny]
//
// Without a folder it trains on the built-in Shapes data. `--tiny` is the few-second version CI runs.
import Foundation
import Tessera

let arguments = CommandLine.arguments.dropFirst()
let tiny = arguments.contains("--tiny")
let folder = arguments.first { !$0.hasPrefix("--") }
let size = 32, epochs = tiny ? 1 : 15

let data: AnyImageDataset = try folder.map { AnyImageDataset(try ImageFolder(root: URL(fileURLWithPath: $0))) }
    ?? AnyImageDataset(Shapes(count: tiny ? 128 : 3000, imageSize: size, seed: 1))
let normalize = Normalize()
let loader = DataLoader(data, batchSize: 32, dropLast: true,
                        transform: Compose([RandomResizedCrop(size, scale: 0.6...1),
                                            RandomHorizontalFlip(), normalize]))

let vit = VisionTransformer(ViTConfig(imageSize: size, patchSize: 4, embedDim: 96, depth: tiny ? 1 : 4, numHeads: 3,
                                      mlpRatio: 2, numClasses: data.classes.count))
print("ViT with \(vit.parameterCount()) parameters on \(data.count) images of \(data.classes.count) classes")
let recipe = SupervisedRecipe(model: vit, options: OptimizationOptions(learningRate: 4e-3, warmupEpochs: 1),
                              epochs: epochs, iterationsPerEpoch: loader.batchCount, batchSize: 32)
let checkpoint = FileManager.default.temporaryDirectory.appendingPathComponent("train-vit.safetensors")
let history = try TrainingLoop(recipe: recipe, loader: loader,
                               options: TrainingOptions(epochs: epochs, checkpointEvery: 50,
                                                        checkpoint: checkpoint, resume: !tiny)).run()
print("final loss \(history.last?.loss ?? .nan); checkpoint at \(checkpoint.path)")
