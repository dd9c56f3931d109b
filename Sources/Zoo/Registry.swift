import Foundation
import NN
import Tensor

/// An architecture's settings: what the ``ModelRegistry`` turns a name or a config file into.
public protocol ModelConfiguration: Sendable {
    /// Classes of the classification head; 0 for none (a backbone).
    var numClasses: Int { get set }
    /// Adapts the architecture to inputs of `size` × `size` pixels (a ViT's `img_size`; a
    /// ResNet's stem, which loses its stride below 64 pixels as CIFAR ResNets do).
    mutating func adapt(toImageSize size: Int)
    /// Checks every field, throwing a `ConfigurationError` that names the field, its value and the rule.
    func validate() throws
    /// A freshly initialised model; call ``validate()`` first for configs that came from users.
    func makeModel() -> Module
}

/// A family of architectures in the registry: how its names and its config files read.
public struct ModelFamily: Sendable {
    /// The value of `"arch"` in config files (`"vit"`, `"resnet"`).
    public let arch: String
    /// Names it accepts, for listings and for suggestions when a name is unknown.
    public let examples: [String]
    let configNamed: @Sendable (String) -> (any ModelConfiguration)?
    let decode: @Sendable (Data, String) throws -> any ModelConfiguration

    /// `named` parses this family's names (nil: not one of its names); config files decode as
    /// `Config` with unknown keys rejected (`allowedKeys` besides `"arch"`).
    public init<Config: ModelConfiguration & Decodable>(
        _ type: Config.Type, arch: String, examples: [String], allowedKeys: Set<String>,
        named: @escaping @Sendable (String) -> Config?
    ) {
        self.arch = arch
        self.examples = examples
        configNamed = { named($0) }
        decode = { data, source in
            try ConfigFile.decode(Config.self, from: data, allowedKeys: allowedKeys.union(["arch"]), source: source)
        }
    }
}

/// One table from names to models, as timm's `register_model` / `create_model`: a timm-style
/// name (`vit_small_patch16_224`, `vit-s/8`, `resnet50`), a catalogue name (`dino_vits16`) or a
/// config file with timm's argument names gives a config and its model. The catalogue and every
/// command of the CLI go through it. A new family registers by adding its ``ModelFamily`` to
/// ``families``.
public enum ModelRegistry {
    public static let families: [ModelFamily] = [ViTConfig.family, ResNetConfig.family, SwinConfig.family]

    /// Every name to suggest: each family's examples and the catalogue's entries.
    public static var knownNames: [String] { families.flatMap(\.examples) + Catalogue.entries.map(\.name) }

    /// The config of a registered name or catalogue entry, validated.
    public static func config(named name: String) throws -> any ModelConfiguration {
        let key = name.trimmingCharacters(in: .whitespaces)
        for family in families {
            if let config = family.configNamed(key) {
                try config.validate()
                return config
            }
        }
        if let entry = Catalogue.entry(named: key) { return try config(named: entry.arch) }
        throw RegistryError.unknownName(name, closeMatches: closeMatches(to: key))
    }

    /// The config in a JSON file: an object with `"arch"` (a family's name) and timm's argument
    /// names; unknown keys, wrong types and values that break a rule are errors naming the field.
    public static func config(contentsOf url: URL) throws -> any ModelConfiguration {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigurationError(field: "--config", value: url.path, rule: "the file cannot be read")
        }
        return try config(json: data, source: url.lastPathComponent)
    }

    /// The config in JSON `data` (see ``config(contentsOf:)``); `source` names it in errors.
    public static func config(json data: Data, source: String = "config") throws -> any ModelConfiguration {
        let object = try ConfigFile.object(data, source: source)
        guard let arch = object["arch"] as? String else {
            throw ConfigurationError(field: "arch", value: object["arch"].map { "\($0)" } ?? "(missing)",
                                     rule: "must name a model family: "
                                         + families.map { "\"\($0.arch)\"" }.joined(separator: ", "),
                                     source: source)
        }
        guard let family = families.first(where: { $0.arch == arch }) else {
            throw ConfigurationError(field: "arch", value: "\"\(arch)\"",
                                     rule: "unknown family; known: "
                                         + families.map { "\"\($0.arch)\"" }.joined(separator: ", "),
                                     source: source)
        }
        let config = try family.decode(data, source)
        do { try config.validate() } catch var error as ConfigurationError {
            error.source = source
            throw error
        }
        return config
    }

    /// A model by name, with its head resized to `numClasses` and its input to `imageSize` when given.
    public static func create(_ name: String, numClasses: Int? = nil, imageSize: Int? = nil) throws -> Module {
        try make(config(named: name), numClasses: numClasses, imageSize: imageSize)
    }

    /// A model from a config, adapted as ``create(_:numClasses:imageSize:)`` does, validated again after the changes.
    public static func make(_ config: any ModelConfiguration, numClasses: Int? = nil,
                            imageSize: Int? = nil) throws -> Module {
        var config = config
        if let numClasses { config.numClasses = numClasses }
        if let imageSize { config.adapt(toImageSize: imageSize) }
        try config.validate()
        return config.makeModel()
    }

    /// Up to five known names closest to `name` by edit distance (and any that contain it).
    static func closeMatches(to name: String) -> [String] {
        let n = name.lowercased()
        let scored = Set(knownNames).map { candidate -> (String, Int) in
            let c = candidate.lowercased()
            return (candidate, c.contains(n) || n.contains(c) ? 0 : editDistance(n, c))
        }
        return scored.filter { $0.1 <= Swift.max(3, n.count / 3) }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
            .prefix(5).map(\.0)
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...Swift.max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let substitution = previous + (a[i - 1] == b[j - 1] ? 0 : 1)
                previous = row[j]
                row[j] = Swift.min(substitution, row[j] + 1, row[j - 1] + 1)
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}

/// A model name the registry does not know.
public enum RegistryError: Error, CustomStringConvertible, Equatable {
    case unknownName(String, closeMatches: [String])

    public var description: String {
        switch self {
        case .unknownName(let name, let matches):
            "unknown model '\(name)'" + (matches.isEmpty
                ? "; try vit_small_patch16_224, vit-b/8, resnet50 or a catalogue name (tessera zoo list)"
                : "; did you mean " + matches.joined(separator: ", ") + "?")
        }
    }
}

/// Reading config files: a JSON object, keys checked against the allowed ones, and decoding
/// errors turned into messages that name the field.
enum ConfigFile {
    static func object(_ data: Data, source: String) throws -> [String: Any] {
        guard let parsed = try? JSONSerialization.jsonObject(with: data), let object = parsed as? [String: Any] else {
            throw ConfigurationError(field: "(file)", value: "\(data.count) bytes", rule: "must be a JSON object",
                                     source: source)
        }
        return object
    }

    static func decode<Config: Decodable>(_ type: Config.Type, from data: Data, allowedKeys: Set<String>,
                                          source: String) throws -> Config {
        let object = try object(data, source: source)
        if let unknown = object.keys.sorted().first(where: { !allowedKeys.contains($0) }) {
            throw ConfigurationError(field: unknown, value: describeJSON(object[unknown]),
                                     rule: "unknown key; known keys: " + allowedKeys.sorted().joined(separator: ", "),
                                     source: source)
        }
        do {
            return try JSONDecoder().decode(Config.self, from: data)
        } catch let error as DecodingError {
            let (path, rule): ([CodingKey], String)
            switch error {
            case .typeMismatch(let expected, let context):
                (path, rule) = (context.codingPath, "must be \(jsonName(expected))")
            case .valueNotFound(let expected, let context):
                (path, rule) = (context.codingPath, "must be \(jsonName(expected)), not null")
            case .dataCorrupted(let context): (path, rule) = (context.codingPath, context.debugDescription)
            case .keyNotFound(let key, let context): (path, rule) = (context.codingPath + [key], "is required")
            @unknown default: (path, rule) = ([], "\(error)")
            }
            let field = path.first?.stringValue ?? "(file)"
            let fullField = path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            throw ConfigurationError(field: fullField.isEmpty ? field : fullField, value: describeJSON(object[field]),
                                     rule: rule, source: source)
        }
    }

    static func jsonName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        case is [Int].Type, is [Any].Type: "an array"
        default: "\(type)"
        }
    }

    static func describeJSON(_ value: Any?) -> String {
        guard let value else { return "(missing)" }
        if let string = value as? String { return "\"\(string)\"" }
        if let data = try? JSONSerialization.data(withJSONObject: [value], options: [.fragmentsAllowed]),
           let text = String(data: data, encoding: .utf8) { return String(text.dropFirst().dropLast()) }
        return "\(value)"
    }
}
