import Dispatch
import Foundation
import Tessera

/// `tessera-bench loader FOLDER`: DINO multi-crop (2 × 224 + 8 × 96) images/s from the JPEGs of an
/// image folder, beside scripts/bench_loader.py (torchvision, same augmentation and batch size).
func loaderBenchmark(folder: String) throws {
    let data = try ImageFolder(root: URL(fileURLWithPath: folder))
    let loader = DataLoader(data, batchSize: 16, dropLast: true, views: DINOAugmentation())
    var rate = 0.0
    for epoch in 0..<3 {
        let start = DispatchTime.now().uptimeNanoseconds
        var images = 0
        let batches = loader.batches(epoch: epoch)
        while let b = try batches.next() { images += b.images.shape[0] }
        rate = Double(images) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    print("Tessera DINO multi-crop, \(coreCount) cores: \(String(format: "%.1f", rate)) images/s "
          + "(\(String(format: "%.1f", rate / Double(coreCount))) per core)")
}
