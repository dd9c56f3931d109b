import Autograd
import Dispatch
import Foundation
import NN
import Tensor
import Vision

/// What a training recipe does each step; ``TrainingLoop`` does the rest (epochs, logging,
/// progress, checkpoints, resume, NaN and Ctrl-C handling).
public protocol TrainingRecipe: AnyObject {
    /// The modules whose state is checkpointed, by name ("model", "student", "teacher", "loss", …).
    var modules: [(name: String, module: Module)] { get }
    /// The optimiser whose state is checkpointed.
    var optimizer: Optimizer { get }
    /// One optimisation step on `batch`; returns the loss and the learning rate used.
    func step(_ batch: Batch, iteration: Int, epoch: Int, iterationsPerEpoch: Int) -> (loss: Double, learningRate: Double)
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
            "loss became \(loss) at step \(step); stopped. " + (checkpoint.map { "The last good checkpoint is \($0.path)." } ?? "No checkpoint was written.")
        case .interrupted(let step, let checkpoint):
            "interrupted at step \(step)" + (checkpoint.map { "; checkpoint written to \($0.path) (resume with --resume)" } ?? "")
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
    /// Print a progress bar to standard error.
    public var showProgress = true
    /// Stop after this many steps (for tests of resuming); nil to run all epochs.
    public var stopAfter: Int?

    public init(epochs: Int, checkpointEvery: Int = 0, checkpoint: URL? = nil, resume: Bool = false, log: URL? = nil,
                showProgress: Bool = true, stopAfter: Int? = nil) {
        (self.epochs, self.checkpointEvery, self.checkpoint, self.resume) = (epochs, checkpointEvery, checkpoint, resume)
        (self.log, self.showProgress, self.stopAfter) = (log, showProgress, stopAfter)
    }
}

/// Runs a recipe over a loader for some epochs.
public final class TrainingLoop<D: ImageDataset> {
    public let recipe: TrainingRecipe
    public let loader: DataLoader<D>
    public let options: TrainingOptions
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

    public init(recipe: TrainingRecipe, loader: DataLoader<D>, options: TrainingOptions) {
        (self.recipe, self.loader, self.options) = (recipe, loader, options)
    }

    /// Trains to the end (or to `stopAfter`); returns the step records.
    @discardableResult
    public func run() throws -> [StepRecord] {
        let perEpoch = loader.batchCount
        let total = perEpoch * options.epochs
        var step = 0
        if options.resume, let url = options.checkpoint, FileManager.default.fileExists(atPath: url.path) {
            step = try restore(from: url)
        }
        let interrupt = InterruptFlag.install()
        defer { interrupt.uninstall() }
        let logHandle = try options.log.map { url -> FileHandle in
            if !(options.resume && FileManager.default.fileExists(atPath: url.path)) {
                FileManager.default.createFile(atPath: url.path, contents: nil)
            }
            let h = try FileHandle(forWritingTo: url)
            h.seekToEndOfFile()
            return h
        }
        defer { try? logHandle?.close() }
        let progress = ProgressBar(total: total, enabled: options.showProgress)
        let encoder = JSONEncoder()
        if step == 0 { try evaluate(step: 0, epoch: 0, log: logHandle, encoder: encoder) }
        while step < total {
            let epoch = step / perEpoch
            let batches = loader.batches(epoch: epoch, from: step % perEpoch)
            while step < (epoch + 1) * perEpoch, let batch = try batches.next() {
                let start = DispatchTime.now().uptimeNanoseconds
                let (loss, lr) = recipe.step(batch, iteration: step, epoch: epoch, iterationsPerEpoch: perEpoch)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                guard loss.isFinite else {
                    progress.finish()
                    throw TrainingError.nonFinite(step: step, loss: loss, checkpoint: existingCheckpoint())
                }
                trainingSeconds += seconds
                let record = StepRecord(step: step, epoch: epoch, loss: loss, learningRate: lr,
                                        imagesPerSecond: Double(batch.images.shape[0]) / Swift.max(seconds, 1e-9))
                history.append(record)
                if let logHandle, let line = try? encoder.encode(record) { logHandle.write(line + Data("\n".utf8)) }
                step += 1
                progress.update(step: step, loss: loss, learningRate: lr, imagesPerSecond: record.imagesPerSecond)
                if options.checkpointEvery > 0 && step % options.checkpointEvery == 0 { try save(step: step) }
                if interrupt.isSet {
                    progress.finish()
                    try save(step: step)
                    throw TrainingError.interrupted(step: step, checkpoint: options.checkpoint)
                }
                if let stop = options.stopAfter, step >= stop {
                    progress.finish()
                    try save(step: step)
                    return history
                }
            }
            if let evaluation, step == (epoch + 1) * perEpoch, (epoch + 1) % Swift.max(1, evaluation.every) == 0 || step == total {
                try evaluate(step: step, epoch: epoch + 1, log: logHandle, encoder: encoder)
            }
        }
        progress.finish()
        try save(step: step)
        return history
    }

    /// Runs ``evaluation`` (if any) with the random state saved and restored around it, and records it.
    private func evaluate(step: Int, epoch: Int, log: FileHandle?, encoder: JSONEncoder) throws {
        guard let evaluation else { return }
        let random = Random.state
        let metrics = try evaluation.evaluate(epoch)
        Random.state = random
        let record = EvaluationRecord(step: step, epoch: epoch, metrics: metrics)
        evaluations.append(record)
        if let log, let line = try? encoder.encode(record) { log.write(line + Data("\n".utf8)) }
    }

    private func existingCheckpoint() -> URL? {
        options.checkpoint.flatMap { FileManager.default.fileExists(atPath: $0.path) ? $0 : nil }
    }

    /// Writes modules, optimiser, random state and history atomically (temporary file, fsync, rename).
    func save(step: Int) throws {
        guard let url = options.checkpoint else { return }
        var tensors: [String: Tensor] = [:]
        for (name, module) in recipe.modules {
            for (k, v) in module.stateDict() { tensors["\(name).\(k)"] = v }
        }
        for (k, v) in recipe.optimizer.stateDict() { tensors["optimizer.\(k)"] = v }
        let meta = CheckpointMeta(step: step, random: Random.state.map(String.init), history: history, trainingSeconds: trainingSeconds,
                                  evaluations: evaluations)
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
            let state = Dictionary(uniqueKeysWithValues: file.tensors.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
            do { try module.loadStateDict(state) } catch { throw TrainingError.badCheckpoint("\(name): \(error)") }
        }
        let optimizerState = Dictionary(uniqueKeysWithValues: file.tensors.filter { $0.key.hasPrefix("optimizer.") }
            .map { (String($0.key.dropFirst("optimizer.".count)), $0.value) })
        do { try recipe.optimizer.loadStateDict(optimizerState) } catch { throw TrainingError.badCheckpoint("optimizer: \(error)") }
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

/// A one-line progress bar on standard error: step, loss, learning rate, images/s, time left.
final class ProgressBar {
    let total: Int
    let enabled: Bool
    let start = Date()
    var lastDraw = Date.distantPast
    var smoothedRate = 0.0

    init(total: Int, enabled: Bool) { (self.total, self.enabled) = (total, enabled) }

    func update(step: Int, loss: Double, learningRate: Double, imagesPerSecond: Double) {
        guard enabled else { return }
        smoothedRate = smoothedRate == 0 ? imagesPerSecond : 0.9 * smoothedRate + 0.1 * imagesPerSecond
        guard Date().timeIntervalSince(lastDraw) > 0.2 || step == total else { return }
        lastDraw = Date()
        let elapsed = Date().timeIntervalSince(start)
        let left = step > 0 ? elapsed / Double(step) * Double(total - step) : 0
        let width = 24, filled = total > 0 ? width * step / total : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(format: "\r%@ %d/%d  loss %.4f  lr %.2e  %.0f img/s  %@ left ", bar, step, total, loss, learningRate,
                          smoothedRate, formatDuration(left))
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

/// "1:05" or "1:02:05".
public func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

/// Turns Ctrl-C (SIGINT) into a flag the loop checks between steps, so it can checkpoint first.
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    private var source: DispatchSourceSignal?

    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return set }

    static func install() -> InterruptFlag {
        let flag = InterruptFlag()
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [flag] in
            flag.lock.lock()
            flag.set = true
            flag.lock.unlock()
        }
        source.resume()
        flag.source = source
        return flag
    }

    func uninstall() {
        source?.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
