import Dispatch
import Foundation
import Tessera

/// The command line's ``TrainingObserver``: a one-line progress bar on standard error (step,
/// loss, learning rate, images/s, time left) when it is a terminal, and Ctrl-C (SIGINT) turned
/// into ``shouldStop`` so that the loop writes its checkpoint before the command exits.
final class ProgressObserver: TrainingObserver {
    private let drawsBar: Bool
    private let interrupt: InterruptFlag
    private var total = 0, start = Date(), lastDraw = Date.distantPast, smoothedRate = 0.0, drawn = false
    /// Where a multi-run experiment stands (run k of n, time left in all), shown after the bar.
    private var experiment = ""

    /// Installs the Ctrl-C handler for as long as this observer lives.
    init(drawsBar: Bool = isatty(STDERR_FILENO) != 0) {
        self.drawsBar = drawsBar
        interrupt = InterruptFlag.install()
    }

    deinit { interrupt.uninstall() }

    var shouldStop: Bool { interrupt.isSet }

    func trainingWillStart(totalSteps: Int, resumingAt step: Int) {
        (total, start, lastDraw, smoothedRate, drawn) = (totalSteps, Date(), .distantPast, 0, false)
    }

    func trainingDidStep(_ record: StepRecord, totalSteps: Int) {
        guard drawsBar else { return }
        let rate = record.imagesPerSecond
        smoothedRate = smoothedRate == 0 ? rate : 0.9 * smoothedRate + 0.1 * rate
        let step = record.step + 1
        guard Date().timeIntervalSince(lastDraw) > 0.2 || step == total else { return }
        lastDraw = Date()
        let elapsed = Date().timeIntervalSince(start)
        let left = step > 0 ? elapsed / Double(step) * Double(total - step) : 0
        let width = 24, filled = total > 0 ? width * Swift.min(step, total) / total : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(format: "\r%@ %d/%d  loss %.4f  lr %.2e  %.0f img/s  %@ left%@ ", bar, step, total,
                          record.loss, record.learningRate, smoothedRate, formatDuration(left), experiment)
        FileHandle.standardError.write(Data(line.utf8))
        drawn = true
    }

    func experimentDidProgress(run: String, index: Int, of count: Int, secondsLeft: Double) {
        experiment = "  · run \(index + 1)/\(count), \(formatDuration(secondsLeft)) in all"
    }

    func trainingDidEnd(atStep step: Int) {
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }
}

/// Turns Ctrl-C (SIGINT) into a flag that the observer reads between steps.
private final class InterruptFlag: @unchecked Sendable {
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
