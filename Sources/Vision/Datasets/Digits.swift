import Foundation
import Tensor

/// The 1,797 8×8 handwritten digits of the UCI optical-recognition set (as in scikit-learn's
/// `load_digits`), bundled with Tessera: a real data set for tests and quick experiments.
public struct Digits {
    /// Images [1797, 1, 8, 8], float32, pixel values scaled from 0…16 to 0…1.
    public let images: Tensor
    /// Labels [1797], int64, 0…9.
    public let labels: Tensor

    /// Loads the bundled copy.
    public init() throws {
        guard let url = Bundle.module.url(forResource: "digits.csv", withExtension: "gz") else {
            throw DatasetError("Digits: the bundled digits.csv.gz is missing from the Vision resources")
        }
        try self.init(contentsOf: url)
    }

    /// Loads a `digits.csv.gz` (64 pixel values and a label per line).
    public init(contentsOf url: URL) throws {
        let bytes = try Gzip.decompress([UInt8](Data(contentsOf: url)), limit: 16 << 20)
        var pixels: [Float] = [], labels: [Int64] = []
        for (number, line) in String(decoding: bytes, as: UTF8.self).split(separator: "\n").enumerated() {
            let fields = line.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard fields.count == 65, fields.allSatisfy({ $0 != nil }), let label = fields[64], (0...9).contains(label),
                  fields.dropLast().allSatisfy({ (0...16).contains($0!) }) else {
                throw DatasetError("Digits: line \(number + 1) of \(url.lastPathComponent) "
                                   + "is not 64 pixels in 0…16 and a label in 0…9")
            }
            pixels += fields.dropLast().map { Float($0!) / 16 }
            labels.append(Int64(label))
        }
        images = Tensor(pixels, shape: [labels.count, 1, 8, 8])
        self.labels = Tensor(labels)
    }
}

