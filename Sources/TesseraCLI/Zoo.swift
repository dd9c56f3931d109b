import ArgumentParser
import Foundation
import Tessera

struct ZooCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo", abstract: "The catalogue of published checkpoints, and checkpoint files.",
        subcommands: [List.self, Info.self, Fetch.self, Verify.self, Convert.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the catalogue.")
        func run() {
            let rows = Catalogue.entries.map { e in
                [e.name, e.arch, e.params,
                 e.results.sorted { $0.key < $1.key }
                     .map { "\($0.key.replacingOccurrences(of: "imagenet_", with: "")) \($0.value)" }
                     .joined(separator: ", "),
                 e.licence]
            }
            printTable(["name", "architecture", "params", "published ImageNet results", "licence"], rows)
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one catalogue entry.")
        @Argument var name: String
        func run() throws {
            guard let e = Catalogue.entry(named: name) else {
                throw ValidationError("no catalogue entry \(name); see `tessera zoo list`")
            }
            print("""
            \(e.name): \(e.title)
              architecture  \(e.arch) (\(e.params) parameters)
              source        \(e.source)
              url           \(e.url)
              file          \(e.file)\(e.sha256Prefix.map { " (SHA-256 starts \($0))" } ?? "")
              weights       \(e.entry.map { "the \"\($0)\" entry" } ?? "the whole file")\
            \(e.strip.map { ", prefixes \($0.joined(separator: " ")) stripped" } ?? "")
              licence       \(e.licence)
              results       \
            \(e.results.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
              cached at     \(Catalogue.cacheFolder.appendingPathComponent(e.file).path)
            """)
        }
    }

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a catalogue entry into the cache ($TESSERA_CACHE or ~/.cache/tessera).")
        @Argument var name: String
        func run() throws {
            guard let entry = Catalogue.entry(named: name) else {
                throw ValidationError("no catalogue entry \(name); see `tessera zoo list`")
            }
            let file = try Catalogue.fetch(entry) { received, total in
                let done = Double(received) / 1e6
                let line = total.map { t in
                    let fraction = Double(received) / Double(t)
                    let bar = String(repeating: "█", count: Int(fraction * 30))
                        + String(repeating: "·", count: 30 - Int(fraction * 30))
                    return String(format: "\r%@ %.1f / %.1f MB", bar, done, Double(t) / 1e6)
                } ?? String(format: "\r%.1f MB", done)
                FileHandle.standardError.write(Data(line.utf8))
            }
            FileHandle.standardError.write(Data("\n".utf8))
            print("\(entry.name): \(file.path)")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every key and shape of a weights file against an architecture.")
        @Argument var file: String
        @Option(help: """
            A catalogue name, a ViT or Swin name (vit_small_patch16_224, swin_tiny_patch4_window7_224), resnet18…152.
            """)
        var arch: String?
        @Option(help: "A JSON model config with timm's names instead of --arch.") var config: String?
        @Option(help: "Key prefixes that are not the model's, comma-separated (training heads: head.,head_dense.).")
        var exclude: String = ""
        func run() throws {
            let url = URL(fileURLWithPath: file)
            let model = try ModelSpec.load(config: config, arch: arch)
            let file: [String: Tensor]
            if config == nil, let arch, let entry = Catalogue.entry(named: arch) {
                file = try entry.stateDict(from: url)
            } else {
                file = try TorchCheckpoint.modelWeights(url, for: model)
            }
            let state = excludingPrefixes(exclude.split(separator: ",").map(String.init), from: file)
            let name = config ?? arch ?? ""
            let report = model.differences(from: state)
            let matched = model.stateDictKeys().count - report.missing.count - report.mismatched.count
            print("\(file): \(state.count) tensors; "
                  + "\(matched) of \(model.stateDictKeys().count) keys of \(name) match in name and shape")
            if report.missing.isEmpty && report.unexpected.isEmpty && report.mismatched.isEmpty { print("OK"); return }
            print(report.description)
            throw ExitCode(1)
        }
    }

    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Convert a PyTorch .pth state dict to safetensors.")
        @Argument var input: String
        @Argument var output: String
        @Option(help: "The entry holding the weights in a training checkpoint (teacher, model, state_dict).")
        var entry: String?
        @Option(help: "Prefixes to strip, comma-separated (module.,backbone.).") var strip: String = ""
        func run() throws {
            let n = try TorchCheckpoint.convert(
                URL(fileURLWithPath: input), to: URL(fileURLWithPath: output), entry: entry,
                stripPrefixes: strip.split(separator: ",").map(String.init))
            print("wrote \(n) tensors to \(output)")
        }
    }
}

func printTable(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }
    print(line(header))
    print(line(widths.map { String(repeating: "-", count: $0) }))
    for r in rows { print(line(r)) }
}
