// Pure logic of `hotmoe bench --sweep-cache`: which budgets to measure, the seed-000 table
// (budget, hot experts, real hit rate, decode t/s, ratio vs baseline) and the break-even hit
// rate. The measuring itself lives in the bench command; everything here is arithmetic so the
// tests can check it against hand-computed values.

import Foundation

/// Mean and sample standard deviation of repeated measurements (llama-bench's avg_ts / stddev_ts).
public struct SampleStats: Sendable, Equatable {
    public let samples: [Double]
    public init(_ samples: [Double]) { self.samples = samples }

    public var mean: Double { samples.isEmpty ? 0 : samples.reduce(0, +) / Double(samples.count) }
    /// n - 1 in the denominator: a handful of repetitions estimates the spread, it is not the population.
    public var stddev: Double {
        let m = mean, n = Double(samples.count)
        return n < 2 ? 0 : (samples.map { ($0 - m) * ($0 - m) }.reduce(0, +) / (n - 1)).squareRoot()
    }
}

public enum CacheSweep {
    /// One budget to measure. `label` says how it was chosen ("baseline", "2x top-k", "all", "user").
    public struct Budget: Sendable, Equatable, Codable {
        public var label: String
        public var mib: Int
        public init(label: String, mib: Int) { self.label = label; self.mib = mib }
    }

    /// MiB that hold `perLayer` experts in every MoE layer (layers differ in expert size when the
    /// quantisation mix differs), rounded up so the planner can actually fit them.
    public static func mib(holding perLayer: Int, layout: ModelExpertLayout) -> Int {
        let bytes = perLayer * layout.bytesPerExpert.reduce(0, +)
        return (bytes + CacheBudget.mib - 1) / CacheBudget.mib
    }

    /// The default sweep: 0 (baseline), budgets for 1x, 2x, 4x, 8x the active experts (top-k) per
    /// layer while that is fewer than all experts, and one that holds every expert.
    public static func defaultBudgets(layout: ModelExpertLayout, multiples: [Int] = [1, 2, 4, 8]) -> [Budget] {
        var out = [Budget(label: "baseline", mib: 0)]
        for m in multiples where m * layout.topK < layout.expertsPerLayer {
            out.append(Budget(label: "\(m)x top-k", mib: mib(holding: m * layout.topK, layout: layout)))
        }
        out.append(Budget(label: "all", mib: mib(holding: layout.expertsPerLayer, layout: layout)))
        return out
    }

    /// User budgets (`--sweep-mib a,b,c`), with the baseline added first when missing; repeats dropped.
    public static func userBudgets(_ mibs: [Int]) -> [Budget] {
        var seen = Set<Int>([0])
        return [Budget(label: "baseline", mib: 0)] + mibs.filter { seen.insert($0).inserted }.map { Budget(label: "user", mib: $0) }
    }

    /// One measured budget.
    public struct Row: Sendable, Equatable, Encodable {
        public var budget: Budget
        public var hotExperts: Int
        /// Bytes the plan actually holds (at most the budget).
        public var cacheMiB: Double
        /// Hits / selections counted by the runtime's telemetry during the timed decode runs.
        public var hitRate: Double
        public var samplesTokensPerSecond: [Double]

        public init(budget: Budget, hotExperts: Int, cacheMiB: Double, hitRate: Double, samples: [Double]) {
            self.budget = budget; self.hotExperts = hotExperts; self.cacheMiB = cacheMiB
            self.hitRate = hitRate; samplesTokensPerSecond = samples
        }

        public var stats: SampleStats { SampleStats(samplesTokensPerSecond) }

        enum CodingKeys: String, CodingKey {
            case budget, hotExperts = "hot_experts", cacheMiB = "cache_mib", hitRate = "hit_rate"
            case samples = "samples_ts", mean = "avg_ts", stddev = "stddev_ts"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(budget, forKey: .budget); try c.encode(hotExperts, forKey: .hotExperts)
            try c.encode(cacheMiB, forKey: .cacheMiB); try c.encode(hitRate, forKey: .hitRate)
            try c.encode(samplesTokensPerSecond, forKey: .samples)
            try c.encode(stats.mean, forKey: .mean); try c.encode(stats.stddev, forKey: .stddev)
        }
    }

    /// Where the hot-cache runs reach the baseline's decode speed.
    public enum BreakEven: Sendable, Equatable {
        /// Interpolated hit rate between the last budget below the baseline and the first at or above it.
        case at(hitRate: Double)
        /// Even the lowest measured hit rate already matches the baseline: break-even is at or below it.
        case atOrBelow(hitRate: Double)
        /// No budget reaches the baseline.
        case notReached

        public var description: String {
            switch self {
            case .at(let h): String(format: "%.2f%%", h * 100)
            case .atOrBelow(let h): String(format: "<= %.2f%% (every measured budget matches or beats the baseline)", h * 100)
            case .notReached: "not reached (no budget beats the baseline)"
            }
        }
    }

    /// Break-even hit rate, as seed 000 reports it: points sorted by hit rate, the first upward
    /// crossing of the baseline speed, linearly interpolated between its two neighbours. Later
    /// dips back under the baseline (noise) do not move it.
    public static func breakEven(baseline: Double, points: [(hitRate: Double, tokensPerSecond: Double)]) -> BreakEven {
        let sorted = points.sorted { $0.hitRate < $1.hitRate }
        guard let first = sorted.first else { return .notReached }
        if first.tokensPerSecond >= baseline { return .atOrBelow(hitRate: first.hitRate) }
        for (lo, hi) in zip(sorted, sorted.dropFirst()) where lo.tokensPerSecond < baseline && hi.tokensPerSecond >= baseline {
            // hi.tps >= baseline > lo.tps, so the denominator is positive.
            let f = (baseline - lo.tokensPerSecond) / (hi.tokensPerSecond - lo.tokensPerSecond)
            return .at(hitRate: lo.hitRate + f * (hi.hitRate - lo.hitRate))
        }
        return .notReached
    }

    /// The sweep's result: rows in budget order, the first being the baseline (budget 0).
    public struct Report: Sendable, Equatable, Encodable {
        public var profileSource: String
        public var totalExperts: Int
        public var rows: [Row]

        public init(profileSource: String, totalExperts: Int, rows: [Row]) {
            self.profileSource = profileSource; self.totalExperts = totalExperts; self.rows = rows
        }

        public var baseline: Row? { rows.first { $0.budget.mib == 0 } }

        public func ratio(_ row: Row) -> Double? {
            guard let b = baseline?.stats.mean, b > 0 else { return nil }
            return row.stats.mean / b
        }

        public var breakEven: BreakEven {
            guard let b = baseline?.stats.mean else { return .notReached }
            return CacheSweep.breakEven(baseline: b, points: rows.filter { $0.budget.mib > 0 }.map { ($0.hitRate, $0.stats.mean) })
        }

        enum CodingKeys: String, CodingKey {
            case profileSource = "profile_source", totalExperts = "total_experts", rows, ratios = "ratio_vs_baseline"
            case breakEven = "break_even_hit_rate", breakEvenText = "break_even"
        }

        /// Rows plus what the table derives from them: ratios and the break-even (null when not an interpolated value).
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(profileSource, forKey: .profileSource); try c.encode(totalExperts, forKey: .totalExperts)
            try c.encode(rows, forKey: .rows); try c.encode(rows.map { ratio($0) }, forKey: .ratios)
            if case .at(let h) = breakEven { try c.encode(h, forKey: .breakEven) } else { try c.encodeNil(forKey: .breakEven) }
            try c.encode(breakEven.description, forKey: .breakEvenText)
        }

        /// The seed-000 table as markdown rows (header included).
        public func markdownTable() -> [String] {
            var s = ["| budget | MiB | hot experts | real hit rate | decode t/s | vs baseline |",
                     "| --- | ---: | ---: | ---: | ---: | ---: |"]
            for r in rows {
                let value = ratio(r)
                let shown = value.map { String(format: "%.3fx", $0) } ?? "-"
                let verdict = r.budget.mib == 0 ? "" : ((value ?? 0) >= 1 ? " above" : " below")
                s.append(String(format: "| %@ | %d | %d/%d | %.2f%% | %.2f ± %.2f | %@%@ |", r.budget.label, r.budget.mib, r.hotExperts,
                                totalExperts, r.hitRate * 100, r.stats.mean, r.stats.stddev, shown, verdict))
            }
            return s
        }
    }
}
