import Dispatch
import Distributed
import Foundation
import NN
import Tensor
import Vision

/// What a training recipe does each step; ``TrainingLoop`` does the rest (epochs, logging,
/// checkpoints, resume, NaN handling, reporting to its ``TrainingObserver``).
public protocol TrainingRecipe: AnyObject {
    /// The modules whose state is checkpointed, by name ("model", "student", "teacher", "loss", …).
    var modules: [(name: String, module: Module)] { get }
    /// The optimiser whose state is checkpointed.
    var optimizer: Optimizer { get }
    /// One optimisation step on `batch`; returns the loss and the learning rate used.
    func step(_ batch: Batch, iteration: Int, epoch: Int, iterationsPerEpoch: Int) throws
        -> (loss: Double, learningRate: Double)
    /// Prepares data-parallel training over `group` (more than one process): gradients averaged
    /// by `DistributedDataParallel`, batch norms synchronised, statistics shared as the original
    /// recipe shares them. The default throws: a recipe must say how it distributes.
    func distribute(over group: ProcessGroup) throws
}

public extension TrainingRecipe {
    func distribute(over group: ProcessGroup) throws {
        throw ConfigurationError(field: "recipe", value: "\(type(of: self))",
                                 rule: "does not implement distribute(over:), so it cannot train on "
                                     + "\(group.size) processes")
    }
}

/// What a ``TrainingLoop`` tells as it runs, and how it is asked to stop: the library shows
/// nothing itself, so a script, a notebook-like tool or the command line each decide how to
/// show progress and what stops a run (the CLI draws a progress bar and turns Ctrl-C into
/// ``shouldStop``). Every method has an empty default.
public protocol TrainingObserver: AnyObject {
    /// Before the first step of ``TrainingLoop/run()``: the steps of the whole run and the step it resumes from.
    func trainingWillStart(totalSteps: Int, resumingAt step: Int)
    /// After every step, with its record.
    func trainingDidStep(_ record: StepRecord, totalSteps: Int)
    /// After every evaluation between epochs.
    func trainingDidEvaluate(_ record: EvaluationRecord)
    /// When the run ends, normally or by an error.
    func trainingDidEnd(atStep step: Int)
    /// Asked after every step: `true` makes the loop write its checkpoint and throw
    /// ``TrainingError/interrupted(step:checkpoint:)``.
    var shouldStop: Bool { get }
    /// For experiments of several training runs (`tessera compare`), after every step: the run in
    /// progress (its name, index from 0 and the number of runs) and the time the whole experiment
    /// has left by its plan.
    func experimentDidProgress(run: String, index: Int, of count: Int, secondsLeft: Double)
}

public extension TrainingObserver {
    func trainingWillStart(totalSteps: Int, resumingAt step: Int) {}
    func trainingDidStep(_ record: StepRecord, totalSteps: Int) {}
    func trainingDidEvaluate(_ record: EvaluationRecord) {}
    func trainingDidEnd(atStep step: Int) {}
    var shouldStop: Bool { false }
    func experimentDidProgress(run: String, index: Int, of count: Int, secondsLeft: Double) {}
}

/// One logged step.
public struct StepRecord: Codable, Equatable, Sendable {
    public var step: Int
    public var epoch: Int
    public var loss: Double
    public var learningRate: Double
    public var imagesPerSecond: Double
}

/// Metrics measured between epochs (k-NN accuracy, …): the points of a curve over training.
public struct EvaluationRecord: Codable, Equatable, Sendable {
    /// Steps and epochs completed when it was measured (0 and 0: before training).
    public var step: Int
    public var epoch: Int
    public var metrics: [String: Double]
}

/// Why training stopped early.
public enum TrainingError: Error, CustomStringConvertible {
    case nonFinite(step: Int, loss: Double, checkpoint: URL?)
    case interrupted(step: Int, checkpoint: URL?)
    case badCheckpoint(String)

    public var description: String {
        switch self {
        case .nonFinite(let step, let loss, let checkpoint):
            "loss became \(loss) at step \(step); stopped. "
                + (checkpoint.map { "The last good checkpoint is \($0.path)." } ?? "No checkpoint was written.")
        case .interrupted(let step, let checkpoint):
            "interrupted at step \(step)" + (checkpoint.map { "; checkpoint written to \($0.path)" } ?? "")
        case .badCheckpoint(let message): "cannot resume: \(message)"
        }
    }
}

/// Options of a training run.
public struct TrainingOptions: Sendable {
    public var epochs: Int
    /// Write a checkpoint every this many steps (0: only at the end), and at the end.
    public var checkpointEvery = 0
    /// The checkpoint file (safetensors); nil for none.
    public var checkpoint: URL?
    /// Continue from `checkpoint` if it exists.
    public var resume = false
    /// A JSON-lines log of every step; nil for none.
    public var log: URL?
    /// Stop after this many steps (for tests of resuming); nil to run all epochs.
    public var stopAfter: Int?

    /// Throws a `ConfigurationError` for settings no run can have.
    public func validate() throws {
        try ConfigurationError.require(epochs >= 1, "epochs", epochs, "must be at least 1")
        try ConfigurationError.require(checkpointEvery >= 0, "checkpoint-every", checkpointEvery,
                                       "must not be negative (0: at the end only)")
        if let stopAfter {
            try ConfigurationError.require(stopAfter >= 1, "stopAfter", stopAfter, "must be at least 1")
        }
    }

    public init(epochs: Int, checkpointEvery: Int = 0, checkpoint: URL? = nil, resume: Bool = false, log: URL? = nil,
                stopAfter: Int? = nil) {
        (self.epochs, self.checkpointEvery, self.checkpoint, self.resume)
            = (epochs, checkpointEvery, checkpoint, resume)
        (self.log, self.stopAfter) = (log, stopAfter)
    }
}

/// Runs a recipe over a loader for some epochs.
///
/// With a `ProcessGroup` of several processes (started by `mpirun`) the loop trains
/// data-parallel: each process loads its `DataShard` of every epoch (so the global batch is
/// `size × batchSize`), the recipe is distributed (``TrainingRecipe/distribute(over:)``), the
/// logged loss is the mean over the processes, a stop request or a non-finite loss on any process
/// stops all of them at the same step, and only rank 0 writes the log and the checkpoints (every
/// process reads the checkpoint to resume, so the output folder must be one all of them see).
public final class TrainingLoop<D: ImageDataset> {
    public let recipe: TrainingRecipe
    public let loader: DataLoader<D>
    public let options: TrainingOptions
    /// The processes training together (one by default).
    public let group: ProcessGroup
    /// Told of every step and evaluation, and asked after each step whether to stop.
    public var observer: (any TrainingObserver)?
    /// Every step so far (restored on resume).
    public private(set) var history: [StepRecord] = []
    /// Seconds spent in steps (excluding checkpoint writing and evaluation).
    public private(set) var trainingSeconds = 0.0
    /// Measured before training and after every `every` epochs (and the last): `evaluate`
    /// receives the epochs completed and returns named metrics, which are logged and kept in
    /// ``evaluations``. It runs outside the random stream, so a run gives the same steps with or without it.
    public var evaluation: (every: Int, evaluate: (_ epoch: Int) throws -> [String: Double])?
    /// Every evaluation so far (restored on resume).
    public private(set) var evaluations: [EvaluationRecord] = []

    private var distributed = false

    public init(recipe: TrainingRecipe, loader: DataLoader<D>, options: TrainingOptions,
                observer: (any TrainingObserver)? = nil, group: ProcessGroup = .single) {
        var loader = loader
        loader.shard = group.dataShard
        (self.recipe, self.loader, self.options, self.observer, self.group) = (recipe, loader, options, observer, group)
    }

    /// Trains to the end (or to `stopAfter`); returns the step records.
    @discardableResult
    public func run() throws -> [StepRecord] {
        try options.validate()
        let perEpoch = loader.batchCount
        try ConfigurationError.require(perEpoch > 0, "batch-size", loader.batchSize,
                                       "must not exceed the \(loader.dataset.count) images of the data set when the "
                                       + "last partial batch is dropped")
        // A run stopped early reports the steps it will take.
        let total = Swift.min(perEpoch * options.epochs, options.stopAfter ?? .max)
        if group.isDistributed && !distributed {
            try recipe.distribute(over: group)
            distributed = true
        }
        var step = 0
        if options.resume, let url = options.checkpoint, FileManager.default.fileExists(atPath: url.path) {
            step = try restore(from: url)
        }
        let logHandle = try options.log.flatMap { url -> FileHandle? in
            guard group.isPrimary else { return nil }
            if !(options.resume && FileManager.default.fileExists(atPath: url.path)) {
                _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            }
            let h = try FileHandle(forWritingTo: url)
            h.seekToEndOfFile()
            return h
        }
        defer { try? logHandle?.close() }
        observer?.trainingWillStart(totalSteps: total, resumingAt: step)
        defer { observer?.trainingDidEnd(atStep: step) }
        let encoder = JSONEncoder()
        if step == 0 { try evaluate(step: 0, epoch: 0, log: logHandle, encoder: encoder) }
        while step < total {
            let epoch = step / perEpoch
            let batches = loader.batches(epoch: epoch, from: step % perEpoch)
            while step < (epoch + 1) * perEpoch, let batch = try batches.next() {
                let start = DispatchTime.now().uptimeNanoseconds
                let result = try recipe.step(batch, iteration: step, epoch: epoch, iterationsPerEpoch: perEpoch)
                let (loss, lr) = (group.isDistributed ? try agreed(result.loss, .mean) : result.loss,
                                  result.learningRate)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                guard loss.isFinite else {
                    throw TrainingError.nonFinite(step: step, loss: loss, checkpoint: existingCheckpoint())
                }
                trainingSeconds += seconds
                let record = StepRecord(step: step, epoch: epoch, loss: loss, learningRate: lr,
                                        imagesPerSecond: Double(batch.images.shape[0] * group.size)
                                            / Swift.max(seconds, 1e-9))
                history.append(record)
                if let logHandle, let line = try? encoder.encode(record) { logHandle.write(line + Data("\n".utf8)) }
                step += 1
                observer?.trainingDidStep(record, totalSteps: total)
                if options.checkpointEvery > 0 && step % options.checkpointEvery == 0 { try save(step: step) }
                var stop = observer?.shouldStop == true
                if group.isDistributed { stop = try agreed(stop ? 1 : 0, .max) > 0 }
                if stop {
                    try save(step: step)
                    throw TrainingError.interrupted(step: step, checkpoint: options.checkpoint)
                }
                if let stop = options.stopAfter, step >= stop {
                    try save(step: step)
                    return history
                }
            }
            if let evaluation, step == (epoch + 1) * perEpoch,
               (epoch + 1) % Swift.max(1, evaluation.every) == 0 || step == total {
                try evaluate(step: step, epoch: epoch + 1, log: logHandle, encoder: encoder)
            }
        }
        try save(step: step)
        return history
    }

    /// `value` reduced over the processes: the mean loss, or whether any process was asked to stop.
    private func agreed(_ value: Double, _ op: CollectiveOp) throws -> Double {
        let values = Tensor([value])
        try group.allReduce(values, op)
        return values.doubles[0]
    }

    /// Runs ``evaluation`` (if any) with the random state saved and restored around it, and records it.
    private func evaluate(step: Int, epoch: Int, log: FileHandle?, encoder: JSONEncoder) throws {
        guard let evaluation else { return }
        let random = Random.state
        let metrics = try evaluation.evaluate(epoch)
        Random.state = random
        let record = EvaluationRecord(step: step, epoch: epoch, metrics: metrics)
        evaluations.append(record)
        observer?.trainingDidEvaluate(record)
        if let log, let line = try? encoder.encode(record) { log.write(line + Data("\n".utf8)) }
    }

    private func existingCheckpoint() -> URL? {
        options.checkpoint.flatMap { FileManager.default.fileExists(atPath: $0.path) ? $0 : nil }
    }

    /// Writes modules, optimiser, random state and history atomically (temporary file, fsync, rename).
    func save(step: Int) throws {
        guard let url = options.checkpoint, group.isPrimary else { return }
        var tensors: [String: Tensor] = [:]
        for (name, module) in recipe.modules {
            for (k, v) in module.stateDict() { tensors["\(name).\(k)"] = v }
        }
        for (k, v) in recipe.optimizer.stateDict() { tensors["optimizer.\(k)"] = v }
        let meta = CheckpointMeta(step: step, random: Random.state.map(String.init), history: history,
                                  trainingSeconds: trainingSeconds, evaluations: evaluations)
        let json = String(decoding: try JSONEncoder().encode(meta), as: UTF8.self)
        try SafeTensors.write(tensors, metadata: ["tessera.training": json], to: url)
    }

    /// Loads a checkpoint written by ``save(step:)``; returns the step to continue from.
    func restore(from url: URL) throws -> Int {
        let file = try SafeTensors.read(url)
        guard let json = file.metadata["tessera.training"],
              let meta = try? JSONDecoder().decode(CheckpointMeta.self, from: Data(json.utf8)) else {
            throw TrainingError.badCheckpoint("\(url.path) is not a Tessera training checkpoint")
        }
        for (name, module) in recipe.modules {
            let prefix = name + "."
            let state = Dictionary(uniqueKeysWithValues: file.tensors.filter { $0.key.hasPrefix(prefix) }
                .map { (String($0.key.dropFirst(prefix.count)), $0.value) })
            do { try module.loadStateDict(state) } catch { throw TrainingError.badCheckpoint("\(name): \(error)") }
        }
        let optimizerState = Dictionary(uniqueKeysWithValues: file.tensors.filter { $0.key.hasPrefix("optimizer.") }
            .map { (String($0.key.dropFirst("optimizer.".count)), $0.value) })
        do { try recipe.optimizer.loadStateDict(optimizerState) } catch {
            throw TrainingError.badCheckpoint("optimizer: \(error)")
        }
        Random.state = meta.random.compactMap { UInt64($0) }
        history = meta.history
        trainingSeconds = meta.trainingSeconds
        evaluations = meta.evaluations ?? []
        return meta.step
    }
}

struct CheckpointMeta: Codable {
    var step: Int
    var random: [String]
    var history: [StepRecord]
    var trainingSeconds: Double
    var evaluations: [EvaluationRecord]?
}

public extension ProcessGroup {
    /// This process's shard of a data set (the whole of it for one process).
    var dataShard: DataShard { DataShard(rank: rank, count: size) }
}
