import Autograd
import Foundation
import Tensor

/// Counts the multiply–adds of the matrix work in a forward pass (Linear, Conv2d, attention) —
/// the "FLOPs" that timm and fvcore report (ViT-S/16 at 224: 4.6 G).
public final class FlopCounter: @unchecked Sendable {
    /// Multiply–adds counted so far.
    public private(set) var multiplyAdds = 0
    private let lock = NSLock()

    @TaskLocal static var active: FlopCounter?

    /// Runs `body` and returns its multiply–adds.
    public static func count(_ body: () throws -> Void) rethrows -> Int {
        let counter = FlopCounter()
        try $active.withValue(counter) { try body() }
        return counter.multiplyAdds
    }

    /// Adds `n` multiply–adds to the active counter, if any (for layers outside NN, such as Swin's window attention).
    public static func add(_ n: Int) {
        guard let counter = active else { return }
        counter.lock.lock()
        counter.multiplyAdds += n
        counter.lock.unlock()
    }
}
