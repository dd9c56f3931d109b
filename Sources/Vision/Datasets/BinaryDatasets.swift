import Foundation
import Tensor

/// CIFAR-10 or CIFAR-100 from the binary version's files (`data_batch_1.bin` … `test_batch.bin`;
/// `train.bin` / `test.bin` for CIFAR-100): records of label byte(s) then 3×32×32 pixel bytes.
public struct CIFAR: ImageDataset {
    public enum Variant: Sendable { case cifar10, cifar100 }
    public let classes: [String]
    let pixels: [UInt8]
    let labels: [Int]

    public static let cifar10Classes = [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"
    ]

    /// Reads the training or test files of the binary release found in `folder`.
    public init(folder: URL, train: Bool = true, variant: Variant = .cifar10) throws {
        let names: [String] = switch (variant, train) {
        case (.cifar10, true): (1...5).map { "data_batch_\($0).bin" }
        case (.cifar10, false): ["test_batch.bin"]
        case (.cifar100, true): ["train.bin"]
        case (.cifar100, false): ["test.bin"]
        }
        try self.init(files: names.map { folder.appendingPathComponent($0) }, variant: variant)
    }

    /// Reads the given batch files.
    public init(files: [URL], variant: Variant = .cifar10) throws {
        let labelBytes = variant == .cifar10 ? 1 : 2
        let record = labelBytes + 3072
        var pixels: [UInt8] = [], labels: [Int] = []
        for url in files {
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw DatasetError("CIFAR: cannot read \(url.path) "
                                   + "(download the binary version and point at its folder)")
            }
            guard !data.isEmpty, data.count % record == 0 else {
                throw DatasetError("CIFAR: \(url.lastPathComponent) has \(data.count) bytes, "
                                   + "not a whole number of \(record)-byte records")
            }
            let bytes = [UInt8](data)
            for r in 0..<(bytes.count / record) {
                let label = Int(bytes[r * record + labelBytes - 1])  // CIFAR-100: the fine label
                guard label < (variant == .cifar10 ? 10 : 100) else {
                    throw DatasetError("CIFAR: record \(r) of \(url.lastPathComponent) "
                                       + "has label \(label), out of range")
                }
                labels.append(label)
                pixels += bytes[(r * record + labelBytes)..<((r + 1) * record)]
            }
        }
        self.pixels = pixels
        self.labels = labels
        classes = variant == .cifar10 ? Self.cifar10Classes : (0..<100).map { "class \($0)" }
    }

    public var count: Int { labels.count }
    public func label(at index: Int) -> Int { labels[index] }
    public func image(at index: Int) -> Tensor {
        Tensor(pixels[(index * 3072)..<((index + 1) * 3072)].map { Float($0) / 255 }, shape: [3, 32, 32])
    }
}

/// MNIST or Fashion-MNIST from IDX files (optionally gzip-compressed): `train-images-idx3-ubyte`
/// and `train-labels-idx1-ubyte` (or `t10k-…`). Grey digits are given as 3 equal channels, as
/// `convert("RGB")` would, so the same models read them.
public struct MNIST: ImageDataset {
    public let classes: [String]
    let pixels: [UInt8]
    let labels: [Int]
    public let height: Int, width: Int

    public init(folder: URL, train: Bool = true, classes: [String] = (0...9).map(String.init)) throws {
        let prefix = train ? "train" : "t10k"
        func find(_ name: String) -> URL {
            let plain = folder.appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: plain.path)
                ? plain : folder.appendingPathComponent(name + ".gz")
        }
        try self.init(images: find("\(prefix)-images-idx3-ubyte"),
                      labels: find("\(prefix)-labels-idx1-ubyte"), classes: classes)
    }

    public init(images: URL, labels: URL, classes: [String] = (0...9).map(String.init)) throws {
        let (imageDims, imageBytes) = try Self.readIDX(images, expectedRank: 3)
        let (labelDims, labelBytes) = try Self.readIDX(labels, expectedRank: 1)
        guard imageDims[0] == labelDims[0] else {
            throw DatasetError("MNIST: \(imageDims[0]) images but \(labelDims[0]) labels")
        }
        if let bad = labelBytes.first(where: { Int($0) >= classes.count }) {
            throw DatasetError("MNIST: label \(bad) out of range for \(classes.count) classes")
        }
        (pixels, self.labels, height, width, self.classes) =
            (imageBytes, labelBytes.map(Int.init), imageDims[1], imageDims[2], classes)
    }

    /// An IDX file of unsigned bytes: magic 0x0000_08_rank, big-endian dimensions, data.
    static func readIDX(_ url: URL, expectedRank: Int) throws -> (dims: [Int], data: [UInt8]) {
        var bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: url)) } catch { throw DatasetError("MNIST: cannot read \(url.path)") }
        if bytes.starts(with: [0x1F, 0x8B]) {
            do { bytes = try Gzip.decompress(bytes, limit: 1 << 30) } catch {
                throw DatasetError("MNIST: \(url.lastPathComponent): \(error)")
            }
        }
        guard bytes.count >= 4 + 4 * expectedRank, bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08,
              Int(bytes[3]) == expectedRank else {
            throw DatasetError("MNIST: \(url.lastPathComponent) is not an IDX file "
                               + "of bytes with \(expectedRank) dimensions")
        }
        let dims = (0..<expectedRank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * d + $1]) } }
        let header = 4 + 4 * expectedRank
        guard dims.reduce(1, *) == bytes.count - header else {
            throw DatasetError("MNIST: \(url.lastPathComponent) declares \(dims) "
                               + "but holds \(bytes.count - header) bytes of data")
        }
        return (dims, Array(bytes[header...]))
    }

    public var count: Int { labels.count }
    public func label(at index: Int) -> Int { labels[index] }
    public func image(at index: Int) -> Tensor {
        let plane = height * width
        let grey = pixels[(index * plane)..<((index + 1) * plane)].map { Float($0) / 255 }
        return Tensor(grey + grey + grey, shape: [3, height, width])
    }
}
