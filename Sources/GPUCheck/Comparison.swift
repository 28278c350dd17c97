/// Relative L2 error: |got - want| / |want| (|got| when want is all zero).
public enum Comparison {
    public static let tolerance = 1e-2

    public static func relativeL2(_ got: [Float], _ want: [Double]) -> Double {
        guard got.count == want.count, !got.isEmpty else { return .infinity }
        var diff = 0.0, norm = 0.0, gotNorm = 0.0
        for (g, w) in zip(got, want) {
            let dg = Double(g)
            guard dg.isFinite else { return .infinity }
            diff += (dg - w) * (dg - w)
            norm += w * w
            gotNorm += dg * dg
        }
        let scale = norm > 0 ? norm : gotNorm
        return scale > 0 ? (diff / scale).squareRoot() : 0
    }
}

/// A seeded generator (SplitMix64) so a failing check can be rerun with the seed it printed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func floats(_ n: Int, _ range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<n).map { _ in Float.random(in: range, using: &self) }
    }
}
