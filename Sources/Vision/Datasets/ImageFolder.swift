import Foundation
import Tensor

/// Images in one subfolder per class (`torchvision.datasets.ImageFolder`): classes are the
/// subfolder names sorted, samples the PNG and JPEG files in each, sorted by path. Files are
/// decoded when read, so a damaged one throws naming its path.
public struct ImageFolder: ImageDataset {
    public let root: URL
    public let classes: [String]
    /// Every sample's file and label, in order.
    public let samples: [(url: URL, label: Int)]

    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    public init(root: URL) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError("ImageFolder: \(root.path) is not a folder")
        }
        let subfolders = try fm.contentsOfDirectory(at: root, includingPropertiesForKeys: [.isDirectoryKey])
            .filter {
                (try? $0.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true
                    && !$0.lastPathComponent.hasPrefix(".")
            }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        var samples: [(URL, Int)] = []
        for (label, folder) in subfolders.enumerated() {
            guard let walker = fm.enumerator(at: folder, includingPropertiesForKeys: nil) else { continue }
            let files = walker.compactMap { $0 as? URL }
                .filter { Self.extensions.contains($0.pathExtension.lowercased()) }
                .sorted { $0.path < $1.path }
            samples += files.map { ($0, label) }
        }
        guard !samples.isEmpty else {
            throw DatasetError("ImageFolder: no PNG or JPEG files in class subfolders of \(root.path)")
        }
        self.root = root
        classes = subfolders.map(\.lastPathComponent)
        self.samples = samples
    }

    public var count: Int { samples.count }
    public func image(at index: Int) throws -> Tensor { try ImageFile.read(samples[index].url) }
    public func label(at index: Int) -> Int { samples[index].label }
}
