import Foundation
import Testing
import Tensor

/// Programmer mistakes stop the process with a message naming the op and the shapes.
/// Each case runs in a child process (a Swift Testing exit test) and its stderr is checked.
@Suite struct ErrorMessageTests {
    func stderr(_ result: ExitTest.Result?) -> String {
        String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    }

    @Test func matmulNamesBothShapes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).matmul(Tensor.zeros([4, 5]))
        }
        #expect(stderr(result).contains("matmul: inner dimensions differ: [2, 3] × [4, 5]"))
    }

    @Test func broadcastNamesTheOpAndShapes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]) + Tensor.zeros([4])
        }
        #expect(stderr(result).contains("add: shapes [2, 3] and [4] cannot be broadcast together"))
    }

    @Test func dtypeMismatchIsNamed() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2]) * Tensor.zeros([2], dtype: .float64)
        }
        #expect(stderr(result).contains("mul: dtypes differ: float32 [2] and float64 [2]"))
    }

    @Test func axisOutOfRangeIsNamed() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).softmax(axis: 2)
        }
        #expect(stderr(result).contains("softmax: axis 2 is out of range for a tensor of rank 2"))
    }

    @Test func badReshapeIsNamed() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).reshaped([4, -1])
        }
        #expect(stderr(result).contains("reshape: shape [4, -1] is invalid for 6 elements of [2, 3]"))
    }
}
