import Foundation

/// "1:05" or "1:02:05".
public func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
        : String(format: "%d:%02d", s / 60, s % 60)
}

/// "12.3%" for 0.123.
func percent(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
