// How evenly a layer uses its experts: skew is what makes a small hot set worthwhile.

import Foundation

public struct UtilisationStats: Sendable, Equatable {
    /// 0 = perfectly even, (n-1)/n = one expert takes everything.
    public var gini: Double
    /// Shannon entropy of the selection distribution, bits.
    public var entropyBits: Double
    /// entropy / log2(n): 1 = uniform.
    public var normalizedEntropy: Double
    /// Share of selections taken by the top ceil(10%) / ceil(30%) experts.
    public var top10Share: Double
    public var top30Share: Double
}

public enum ExpertUtilisation {
    /// `counts` has one entry per expert of the layer, zeros included (they matter for Gini).
    public static func stats(counts: [UInt64]) -> UtilisationStats {
        let n = counts.count
        let total = counts.reduce(0.0) { $0 + Double($1) }
        guard n > 0, total > 0 else {
            return UtilisationStats(gini: 0, entropyBits: 0, normalizedEntropy: 0, top10Share: 0, top30Share: 0)
        }
        let asc = counts.map { Double($0) }.sorted()   // not Double.init: that picks init(bitPattern:)
        // Gini via the sorted form: 2 sum(i x_i) / (n sum x) - (n + 1) / n, i from 1.
        let weighted = asc.enumerated().reduce(0.0) { $0 + Double($1.offset + 1) * $1.element }
        let gini = 2 * weighted / (Double(n) * total) - Double(n + 1) / Double(n)
        let entropy = asc.reduce(0.0) { h, c in c > 0 ? h - (c / total) * log2(c / total) : h }
        func top(_ f: Double) -> Double {
            let take = Int((Double(n) * f).rounded(.up))
            return asc.suffix(take).reduce(0, +) / total
        }
        return UtilisationStats(gini: gini, entropyBits: entropy, normalizedEntropy: n > 1 ? entropy / log2(Double(n)) : 0,
                                top10Share: top(0.10), top30Share: top(0.30))
    }

    /// Per-layer stats of a profile (hits from the planner's observation rules).
    public static func stats(profile: PerfProfile, expertsPerLayer: Int) -> [(layer: Int, stats: UtilisationStats)] {
        profile.observations().map { l in
            var counts = [UInt64](repeating: 0, count: expertsPerLayer)
            for x in l.experts where x.expert < expertsPerLayer { counts[x.expert] = x.hits }
            return (l.layer, stats(counts: counts))
        }
    }
}
