import Foundation
import Testing
import Tensor
@testable import Vision

@Suite struct DatasetTests {
    /// DataShard as PyTorch's DistributedSampler: 10 samples on 3 processes pad to 12 by repeating
    /// the order's start; rank r takes positions r, r + 3, …; the shards cover every sample.
    @Test func dataShardsSplitLikeDistributedSampler() {
        let order = [7, 3, 9, 0, 1, 8, 2, 6, 5, 4]
        let shards = (0..<3).map { DataShard(rank: $0, count: 3).select(order) }
        #expect(shards == [[7, 0, 2, 4], [3, 1, 6, 7], [9, 8, 5, 3]])
        #expect(Set(shards.flatMap { $0 }) == Set(order))
        #expect(DataShard.whole.select(order) == order)
        var loader = DataLoader(Shapes(count: 10, imageSize: 8), batchSize: 2, dropLast: true)
        let full = loader.order(epoch: 1)
        loader.shard = DataShard(rank: 1, count: 3)
        #expect(loader.sampleCount == 4 && loader.batchCount == 2)
        #expect(loader.order(epoch: 1) == DataShard(rank: 1, count: 3).select(full))
    }

    func temporaryFolder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func imageFolderSortsClassesAndFilesAndReportsDamagedFiles() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        for name in ["zebra", "cat", ".hidden"] {
            try fm.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        try ImageFile.writePNG(Tensor.full([3, 5, 6], 0.25), to: root.appendingPathComponent("cat/b.png"))
        try ImageFile.writePNG(Tensor.full([3, 5, 6], 0.75), to: root.appendingPathComponent("cat/a.PNG"))
        try fm.copyItem(at: Reference.image("chelsea_grey.jpg"), to: root.appendingPathComponent("zebra/x.jpg"))
        try Data("not an image".utf8).write(to: root.appendingPathComponent("zebra/y.txt"))
        let folder = try ImageFolder(root: root)
        #expect(folder.classes == ["cat", "zebra"])
        #expect(folder.samples.map(\.url.lastPathComponent) == ["a.PNG", "b.png", "x.jpg"])
        #expect((0..<3).map(folder.label) == [0, 0, 1])
        #expect(abs(try folder.image(at: 0).mean().item() - 0.75) < 0.003)
        #expect(try folder.image(at: 2).shape == [3, 48, 64])

        // A damaged file surfaces from the loader as an error naming it.
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0])
            .write(to: root.appendingPathComponent("zebra/z.png"))
        let loader = DataLoader(try ImageFolder(root: root), batchSize: 4, shuffle: false,
                                transform: Resize(.exactly(height: 8, width: 8)))
        #expect { _ = try loader.batches().next() } throws: { "\($0)".contains("z.png") }

        #expect(throws: DatasetError.self) { try ImageFolder(root: root.appendingPathComponent("cat")) }
    }

    @Test func cifarBinaryRecords() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        var bytes: [UInt8] = []
        for r in 0..<3 { bytes += [UInt8(r * 3)] + [UInt8](repeating: UInt8(r * 100), count: 3072) }
        let file = root.appendingPathComponent("test_batch.bin")
        try Data(bytes).write(to: file)
        let cifar = try CIFAR(folder: root, train: false)
        #expect(cifar.count == 3 && cifar.label(at: 2) == 6 && cifar.classes[6] == "frog")
        #expect(cifar.image(at: 1).shape == [3, 32, 32] && abs(cifar.image(at: 1).mean().item() - 100.0 / 255) < 1e-6)
        try Data(bytes.dropLast()).write(to: file)
        #expect { try CIFAR(folder: root, train: false) } throws: { "\($0)".contains("whole number") }
        #expect(throws: DatasetError.self) { try CIFAR(folder: root, train: true) }
    }

    @Test func mnistIDXFiles() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let images: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3] + (0..<12).map { UInt8($0 * 20) }
        let labels: [UInt8] = [0, 0, 8, 1, 0, 0, 0, 2, 7, 1]
        try Data(images).write(to: root.appendingPathComponent("t10k-images-idx3-ubyte"))
        try Data(labels).write(to: root.appendingPathComponent("t10k-labels-idx1-ubyte"))
        let mnist = try MNIST(folder: root, train: false)
        #expect(mnist.count == 2 && mnist.label(at: 0) == 7)
        let image = mnist.image(at: 1)
        #expect(image.shape == [3, 2, 3])
        expectClose(image.select(axis: 0, index: 2), Tensor((6..<12).map { Float($0 * 20) / 255 }, shape: [2, 3]),
                    atol: 1e-7, rtol: 0)
        try Data(images.dropLast(2)).write(to: root.appendingPathComponent("t10k-images-idx3-ubyte"))
        #expect { try MNIST(folder: root, train: false) } throws: { "\($0)".contains("declares") }
    }

    @Test func loaderIsDeterministicCoversEveryIndexAndCollatesViews() throws {
        let shapes = Shapes(count: 37, imageSize: 16, seed: 2)
        let augment = Compose([RandomResizedCrop(12, scale: 0.5...1), RandomHorizontalFlip(),
                               ColorJitter(brightness: 0.4)])
        let loader = DataLoader(shapes, batchSize: 8, seed: 9, transform: augment, prefetch: 3)
        func run(_ epoch: Int) throws -> [Batch] {
            let it = loader.batches(epoch: epoch)
            var out: [Batch] = []
            while let b = try it.next() { out.append(b) }
            return out
        }
        let first = try run(0), again = try run(0), other = try run(1)
        #expect(first.count == 5 && first.last!.indices.count == 5)
        #expect(first.flatMap(\.indices).sorted() == Array(0..<37))
        #expect(first.map(\.indices) == again.map(\.indices) && first.map(\.indices) != other.map(\.indices))
        for (a, b) in zip(first, again) { expectClose(a.images, b.images, atol: 0, rtol: 0) }
        #expect(first[0].images.shape == [8, 3, 12, 12])
        #expect(first[0].labels.doubles == first[0].indices.map { Double(shapes.label(at: $0)) })

        let dropping = DataLoader(shapes, batchSize: 8, dropLast: true,
                                  views: DINOAugmentation(globalSize: 16, localSize: 8, localCrops: 3))
        #expect(dropping.batchCount == 4)
        let batch = try #require(try dropping.batches().next())
        #expect(batch.views.map(\.shape) == [[8, 3, 16, 16], [8, 3, 16, 16], [8, 3, 8, 8], [8, 3, 8, 8], [8, 3, 8, 8]])
    }
}
