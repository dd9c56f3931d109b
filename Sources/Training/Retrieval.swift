import Autograd
import Foundation
import NN
import Tensor
import Vision
import Zoo

/// Image retrieval as DINO's `eval_image_retrieval.py` evaluates it on Revisited Oxford and Paris:
/// frozen features of every database and query image, cosine ranking, and revisitop's mAP and
/// mean precision at k under its Easy, Medium and Hard protocols (`compute_map`, reproduced
/// exactly: Tests/Fixtures/retrieval_map.json is revisitop's own code run on random rankings).
public enum Retrieval {
    /// revisitop's ground truth (`gnd_roxford5k.pkl`): database and query image names, and per
    /// query the database indices that are easy and hard positives or junk (ignored), with the
    /// query's crop box. Read from that pickle or from JSON of the same fields (`imlist`,
    /// `qimlist`, `gnd` with `easy`, `hard`, `junk`, `bbx`).
    public struct GroundTruth: Codable, Sendable, Equatable {
        public var images: [String]
        public var queries: [String]
        public var entries: [Entry]

        public struct Entry: Codable, Sendable, Equatable {
            public var easy: [Int], hard: [Int], junk: [Int]
            /// The query's box (x1, y1, x2, y2) in its image, when given.
            public var box: [Double]?

            public init(easy: [Int], hard: [Int], junk: [Int], box: [Double]? = nil) {
                (self.easy, self.hard, self.junk, self.box) = (easy, hard, junk, box)
            }

            enum CodingKeys: String, CodingKey { case easy, hard, junk, box = "bbx" }
        }

        enum CodingKeys: String, CodingKey { case images = "imlist", queries = "qimlist", entries = "gnd" }

        public init(images: [String], queries: [String], entries: [Entry]) throws {
            (self.images, self.queries, self.entries) = (images, queries, entries)
            try validate()
        }

        /// Reads a revisitop pickle (`.pkl`) or its JSON equivalent; throws naming what is malformed.
        public static func read(_ url: URL) throws -> GroundTruth {
            let truth: GroundTruth
            if url.pathExtension == "pkl" {
                truth = try fromPickle(Pickle.load(url), name: url.lastPathComponent)
            } else {
                do { truth = try JSONDecoder().decode(GroundTruth.self, from: Data(contentsOf: url)) } catch {
                    throw DatasetError("\(url.path): not a retrieval ground truth (\(error))")
                }
            }
            try truth.validate()
            return truth
        }

        /// Every query has an entry and every index names a database image.
        public func validate() throws {
            guard entries.count == queries.count else {
                throw DatasetError("ground truth: \(entries.count) gnd entries for \(queries.count) queries (qimlist)")
            }
            for (q, e) in entries.enumerated() {
                for (field, list) in [("easy", e.easy), ("hard", e.hard), ("junk", e.junk)] {
                    if let bad = list.first(where: { !(0..<images.count).contains($0) }) {
                        throw DatasetError("ground truth: query \(q) (\(queries[q])) \(field) index \(bad) is outside "
                                           + "the \(images.count) database images")
                    }
                }
            }
        }

        static func fromPickle(_ value: PickleValue, name: String) throws -> GroundTruth {
            func strings(_ key: String) throws -> [String] {
                guard case .list(let list)? = value[key] else { throw DatasetError("\(name): no list '\(key)'") }
                return try list.items.map {
                    guard case .string(let s) = $0 else { throw DatasetError("\(name): '\(key)' holds \($0)") }
                    return s
                }
            }
            func numbers(_ v: PickleValue?, _ field: String, query: Int) throws -> [Double] {
                let items: [PickleValue]
                switch v {
                case .list(let list)?: items = list.items
                case .tuple(let t)?: items = t
                case nil: return []
                default: throw DatasetError("\(name): gnd[\(query)]['\(field)'] is \(v!), not a list")
                }
                return try items.map {
                    switch $0 {
                    case .int(let i): Double(i)
                    case .float(let f): f
                    default: throw DatasetError("\(name): gnd[\(query)]['\(field)'] holds \($0)")
                    }
                }
            }
            guard case .list(let gnd)? = value["gnd"] else { throw DatasetError("\(name): no list 'gnd'") }
            let entries = try gnd.items.enumerated().map { q, entry in
                let ints = { (field: String) in try numbers(entry[field], field, query: q).map { Int($0) } }
                let box = entry["bbx"] == nil ? nil : try numbers(entry["bbx"], "bbx", query: q)
                return Entry(easy: try ints("easy"), hard: try ints("hard"), junk: try ints("junk"), box: box)
            }
            return try GroundTruth(images: try strings("imlist"), queries: try strings("qimlist"), entries: entries)
        }
    }

    /// revisitop's protocols: which database images count as positives (ok) and which are ignored.
    public enum Difficulty: String, CaseIterable, Sendable, Codable, CodingKeyRepresentable {
        /// ok = easy; junk = junk ∪ hard.
        case easy
        /// ok = easy ∪ hard; junk = junk (DINO's "M").
        case medium
        /// ok = hard; junk = junk ∪ easy (DINO's "H").
        case hard

        public func split(_ e: GroundTruth.Entry) -> (ok: [Int], junk: [Int]) {
            switch self {
            case .easy: (e.easy, e.junk + e.hard)
            case .medium: (e.easy + e.hard, e.junk)
            case .hard: (e.hard, e.junk + e.easy)
            }
        }
    }

    /// The scores of one protocol: mean AP and mean precision at each k over the queries that have
    /// positives, and the per-query values (nil for a query without positives, revisitop's NaN).
    public struct Scores: Codable, Sendable {
        public var meanAveragePrecision: Double
        public var kappas: [Int]
        public var meanPrecision: [Double]
        public var averagePrecisions: [Double?]
        public var precisions: [[Double]?]
    }

    /// revisitop's `compute_map`: `ranking[q]` lists database indices best first (every image
    /// once). Positives' positions are shifted down past the junk ranked before them; AP is the
    /// trapezoidal area under the precision-recall steps; precision at k uses min(k, last positive's rank).
    public static func scores(ranking: [[Int]], truth: [(ok: [Int], junk: [Int])], kappas: [Int] = [1, 5, 10])
        -> Scores {
        precondition(ranking.count == truth.count, "one ranking per query")
        var aps: [Double?] = [], prs: [[Double]?] = []
        for (ranked, gnd) in zip(ranking, truth) {
            guard !gnd.ok.isEmpty else {
                aps.append(nil)
                prs.append(nil)
                continue
            }
            let ok = Set(gnd.ok), junk = Set(gnd.junk)
            var positions: [Int] = [], junkBefore = 0
            for (position, image) in ranked.enumerated() {
                if ok.contains(image) {
                    positions.append(position - junkBefore)
                } else if junk.contains(image) {
                    junkBefore += 1
                }
            }
            // compute_ap: trapezoids between the precisions just before and at each positive.
            var ap = 0.0
            let step = 1 / Double(gnd.ok.count)
            for (j, rank) in positions.enumerated() {
                let before = rank == 0 ? 1 : Double(j) / Double(rank)
                let at = Double(j + 1) / Double(rank + 1)
                ap += (before + at) * step / 2
            }
            aps.append(ap)
            let oneBased = positions.map { $0 + 1 }
            prs.append(kappas.map { k in
                guard let last = oneBased.max() else { return 0 }
                let kq = Swift.min(last, k)
                return Double(oneBased.filter { $0 <= kq }.count) / Double(kq)
            })
        }
        let counted = aps.compactMap { $0 }
        let kept = prs.compactMap { $0 }
        let n = Double(Swift.max(counted.count, 1))
        return Scores(meanAveragePrecision: counted.reduce(0, +) / n, kappas: kappas,
                      meanPrecision: kappas.indices.map { j in kept.reduce(0) { $0 + $1[j] } / n },
                      averagePrecisions: aps, precisions: prs)
    }

    /// Database indices by decreasing cosine similarity to each query (`torch.argsort(-sim)`;
    /// stable, so ties keep database order).
    public static func ranking(database: Tensor, queries: Tensor) -> [[Int]] {
        let similarity = Evaluation.l2Normalized(queries).matmul(Evaluation.l2Normalized(database).T)
        let order = similarity.argsort(axis: 1, descending: true).scalars(as: Int64.self)
        let n = database.shape[0]
        return (0..<queries.shape[0]).map { q in order[(q * n)..<((q + 1) * n)].map { Int($0) } }
    }

    /// eval_image_retrieval's descriptor of one image [3, H, W] (values in 0…1): shrunk so that
    /// its longer side is at most `imageSize` keeping its shape (PIL's `thumbnail`; Tessera
    /// resamples bicubic with antialiasing where PIL uses Lanczos), normalised with `normalize`,
    /// cropped to whole patches (what DINO's strided patch convolution ignores), `extract`ed (the
    /// class token of a ViT), averaged over the scales 1, 1/√2 and 1/2 (bilinear, as `multi_scale`)
    /// when `multiscale`, and L2-normalised.
    public static func descriptor(of image: Tensor, imageSize: Int, patchSize: Int, multiscale: Bool,
                                  normalize: any ImageTransform = Normalize(),
                                  extract: (Variable) -> Variable) -> Tensor {
        let (h, w) = (image.shape[1], image.shape[2])
        let ratio = Swift.min(1, Double(imageSize) / Double(Swift.max(h, w)))
        let size = (Swift.max(1, Int((Double(h) * ratio).rounded())), Swift.max(1, Int((Double(w) * ratio).rounded())))
        let shrunk = ratio < 1
            ? Resize(.exactly(height: size.0, width: size.1), interpolation: .bicubic)(image, seed: 0) : image
        let input = normalize(shrunk, seed: 0)
        var total: Tensor?
        for scale in multiscale ? [1, 1 / 2.0.squareRoot(), 0.5] : [1] {
            var x = input
            if scale != 1 {
                let (sh, sw) = (Int(Double(x.shape[1]) * scale), Int(Double(x.shape[2]) * scale))
                x = Resize(.exactly(height: sh, width: sw), antialias: false)(x, seed: 0)
            }
            let (ph, pw) = (x.shape[1] / patchSize * patchSize, x.shape[2] / patchSize * patchSize)
            x = x.slice(axis: 1, start: 0, end: Swift.max(ph, patchSize))
                .slice(axis: 2, start: 0, end: Swift.max(pw, patchSize)).contiguous()
            let features = noGrad { extract(Variable(x.unsqueezed(0))).data }
            total = total.map { $0 + features } ?? features
        }
        return Evaluation.l2Normalized(total!)
    }
}
