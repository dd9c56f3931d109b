import Foundation
import NN
import Tensor

/// The published checkpoints Tessera knows: DINO (backbones and full training checkpoints),
/// torchvision ResNet-50 V1/V2, timm AugReg ViTs, MoCo v3, timm's Swin-T and EsViT, with where to
/// get them, their licence and the results their authors report (Resources/catalogue.json).
public enum Catalogue {
    public struct Entry: Codable, Sendable {
        public var name: String
        public var title: String
        /// The architecture, a ``ModelRegistry`` name: a timm-style ViT name, `resnet50`, or
        /// `resnet50_features` (no fc); a `_in1k` suffix adds the 1000-class head.
        public var arch: String
        public var params: String
        public var url: String
        public var file: String
        /// The first hex digits of the file's SHA-256 where the publisher gives them (torchvision).
        public var sha256Prefix: String?
        public var licence: String
        public var source: String
        /// The sub-dict of a training checkpoint that holds the weights, and prefixes to strip.
        public var entry: String?
        public var strip: [String]?
        /// Prefixes (after stripping) of keys that are not the model's: the training heads of a full checkpoint.
        public var exclude: [String]?
        public var results: [String: Double]

        enum CodingKeys: String, CodingKey {
            case name, title, arch, params, url, file, sha256Prefix = "sha256_prefix", licence, source, entry,
                 strip, exclude, results
        }

        /// A freshly initialised model of this entry's architecture.
        public func makeModel() throws -> Module { try ModelRegistry.create(arch) }

        /// The weights of a downloaded file, from the right sub-dict with prefixes stripped, the
        /// excluded keys dropped and a Swin's original layout turned into timm's.
        public func stateDict(from url: URL) throws -> [String: Tensor] {
            let file = url.pathExtension == "safetensors"
                ? try SafeTensors.read(url, widenHalfPrecision: true).tensors
                : try TorchCheckpoint.stateDict(url, entry: entry, stripPrefixes: strip ?? [])
            let state = excludingPrefixes(exclude ?? [], from: file)
            return try ModelRegistry.config(named: arch) is SwinConfig ? SwinTransformer.timmLayout(state) : state
        }
    }

    /// Every entry, in catalogue order.
    public static let entries: [Entry] = {
        guard let url = Bundle.module.url(forResource: "catalogue", withExtension: "json", subdirectory: "Resources")
                ?? Bundle.module.url(forResource: "catalogue", withExtension: "json"),
              let data = try? Data(contentsOf: url),
              let entries = try? JSONDecoder().decode([Entry].self, from: data) else {
            fatalError("Zoo: the bundled catalogue.json is missing or invalid")
        }
        return entries
    }()

    public static func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// Where fetched files go: $TESSERA_CACHE, or ~/.cache/tessera.
    public static var cacheFolder: URL {
        if let custom = ProcessInfo.processInfo.environment["TESSERA_CACHE"] { return URL(fileURLWithPath: custom) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/tessera")
    }
}
