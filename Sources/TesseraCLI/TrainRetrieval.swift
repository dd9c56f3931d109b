import ArgumentParser
import Foundation
import Tessera

extension TrainCommand {
    /// IRT on the first half of the classes: the backbone's output is the embedding.
    func trainRetrieval(_ train: AnyImageDataset, name: String, options: TrainingOptions, group: ProcessGroup,
                        run: (TrainingLoop<Subset<AnyImageDataset>>) throws -> [StepRecord]) throws -> [StepRecord] {
        let seen = MetricLearning.classHalf(of: train, testHalf: false)
        let classes = train.classes.count / 2
        guard classes >= 2 else {
            throw ValidationError("retrieval needs at least 4 classes (half to train on), \(name) has "
                                  + "\(train.classes.count)")
        }
        // IRT's m = 2 when there are classes enough; else the fewest per class that fill a batch.
        let m = imagesPerClass ?? (stride(from: 2, through: batchSize, by: 1).first {
            batchSize % $0 == 0 && batchSize / $0 <= classes
        } ?? batchSize)
        guard batchSize / m <= classes else {
            throw ValidationError("--images-per-class \(m) puts \(batchSize / m) classes in a batch of \(batchSize), "
                                  + "but training has \(classes)")
        }
        let model = try source.model(classes: 0)
        if let weights { try ModelSpec.loadWeights(model, from: URL(fileURLWithPath: weights)) }
        var loader = DataLoader(seen, batchSize: batchSize, seed: 0,
                                transform: Compose([RandomResizedCrop(source.imageSize, scale: 0.5...1),
                                                    RandomHorizontalFlip(), ExperimentData.normalize]))
        loader.imagesPerClass = m
        loader.shard = group.dataShard
        if group.isPrimary {
            print("retrieval (IRT): \(model.parameterCount()) parameters, \(seen.count) images of the first "
                  + "\(classes) classes of \(name), \(m) per class in batches of \(batchSize)")
        }
        let recipe = try IRTRecipe(model: model,
                                   options: OptimizationOptions(learningRate: lr,
                                                                warmupEpochs: Swift.min(5, epochs / 10 + 1),
                                                                weightDecay: 0.05, weightDecayEnd: 0.05,
                                                                optimizer: optimizer),
                                   epochs: epochs, iterationsPerEpoch: loader.batchCount,
                                   batchSize: batchSize * group.size)
        let history = try run(TrainingLoop(recipe: recipe, loader: loader, options: options, group: group))
        if group.isPrimary {
            try SafeTensors.write(model.stateDict(),
                                  to: URL(fileURLWithPath: output).appendingPathComponent("backbone.safetensors"))
        }
        return history
    }
}
