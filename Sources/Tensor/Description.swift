/// `print(tensor)` in PyTorch's style: nested brackets, aligned values, `...` past 1000 elements.
extension Tensor: CustomStringConvertible {
    public var description: String {
        let summarise = count > 1000
        let values = summarise ? [] : doubles
        func format(_ v: Double) -> String {
            switch dtype {
            case .bool: return v != 0 ? "True" : "False"
            case .int64, .int32: return String(Int(v))
            default:
                if v.isNaN { return "nan" }
                if v.isInfinite { return v > 0 ? "inf" : "-inf" }
                return formatFixed(v, digits: 4)
            }
        }
        // Pad every value to the widest so columns line up.
        let shown: [Double] = summarise ? sampledValues() : values
        let width = shown.map { format($0).count }.max() ?? 1
        func render(_ t: Tensor, depth: Int) -> String {
            if t.rank == 0 {
                let s = format(t.element(atOffset: t.offset))
                return String(repeating: " ", count: Swift.max(0, width - s.count)) + s
            }
            let n = t.shape[0]
            let indices: [Int?] = summarise && n > 6 ? [0, 1, 2, nil, n - 3, n - 2, n - 1] : (0..<n).map { $0 }
            let separator = t.rank == 1 ? ", "
                : "," + String(repeating: "\n", count: t.rank - 1) + String(repeating: " ", count: depth + 8)
            let parts = indices.map { i in i.map { render(t.select(axis: 0, index: $0), depth: depth + 1) } ?? "..." }
            return "[" + parts.joined(separator: separator) + "]"
        }
        var suffix = ""
        if dtype != .float32 && dtype != .int64 && dtype != .bool { suffix += ", dtype=\(dtype)" }
        if count == 0 { suffix += ", size=\(describe(shape))" }
        return "tensor(" + render(self, depth: 0) + suffix + ")"
    }

    /// A few values from each corner, enough to size columns of a summarised print.
    private func sampledValues() -> [Double] {
        let flat = reshaped([-1])
        let n = flat.count
        return (Array(0..<Swift.min(3, n)) + Array(Swift.max(0, n - 3)..<n)).map { flat[element: $0] }
    }
}

/// `v` with `digits` decimals (avoids Foundation's String(format:)).
func formatFixed(_ v: Double, digits: Int) -> String {
    let scale = (0..<digits).reduce(1.0) { a, _ in a * 10 }
    let scaled = (Swift.abs(v) * scale).rounded()
    if scaled >= 1e17 { return String(v) }
    let whole = Int(scaled) / Int(scale), frac = Int(scaled) % Int(scale)
    let fracString = String(frac)
    return (v < 0 && scaled != 0 ? "-" : "") + "\(whole)."
        + String(repeating: "0", count: digits - fracString.count) + fracString
}
