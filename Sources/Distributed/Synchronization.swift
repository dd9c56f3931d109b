import Autograd
import NN
import Tensor

public extension ProcessGroup {
    /// The sum of `tensor` over the processes, as a new tensor; a failed collective stops this
    /// process with the MPI error (the job then ends, as mpirun ends it for any rank that dies).
    /// For the layers whose forward and backward passes cannot throw.
    func summed(_ tensor: Tensor) -> Tensor {
        guard isDistributed else { return tensor }
        let out = tensor.copy()
        do { try allReduce(out, .sum) } catch { fail("ProcessGroup.summed", "\(error)") }
        return out
    }

    /// The mean of `tensor` over the processes, as a new tensor (see ``summed(_:)``).
    func averaged(_ tensor: Tensor) -> Tensor {
        guard isDistributed else { return tensor }
        let out = tensor.copy()
        do { try allReduce(out, .mean) } catch { fail("ProcessGroup.averaged", "\(error)") }
        return out
    }
}

public extension Module {
    /// Makes every batch-norm layer of this module a `SyncBatchNorm` over `group`: in training
    /// they normalise with the statistics of the whole batch across the processes (PyTorch's
    /// `SyncBatchNorm.convert_sync_batchnorm`, which DINO and MoCo v3 apply to ResNets and MLP heads).
    /// With one process it changes nothing. Returns how many layers it converted.
    @discardableResult
    func synchronizeBatchNorm(over group: ProcessGroup) -> Int {
        guard group.isDistributed else { return 0 }
        var converted = 0
        for case let (_, norm as BatchNorm) in namedModules() {
            norm.sumOverProcesses = { group.summed($0) }
            converted += 1
        }
        return converted
    }
}
