// Expert ranking before budget packing. Modes, aliases and formulas follow seed 000 and the
// llama.cpp hot-cache tool (adrianhoehne/llama.cpp, src/moe-hot-cache/llama-moe-hot-cache-weighting.cpp):
// scores are integers (rounded, at least 1), sorted by score desc, then layer asc, expert asc.

import Foundation

public enum WeightingMode: String, Sendable, CaseIterable {
    case flat, pressure, smooth, time, balanced

    /// Accepts the canonical names and the documented aliases.
    public init?(name: String) {
        switch name.lowercased() {
        case "flat": self = .flat
        case "pressure": self = .pressure
        case "smooth", "smooth-pressure", "capped", "capped-pressure", "soft-pressure": self = .smooth
        case "time", "moe-time", "decode-time": self = .time
        case "balanced", "rank", "layer-rank": self = .balanced
        default: return nil
        }
    }

    public var name: String { rawValue }
}

public struct WeightingConfig: Sendable, Equatable {
    public static let defaultLayerCurve = 0.5
    public static let defaultStickyBonus = 0.05

    public var mode: WeightingMode
    /// 0...1; values outside (or NaN) fall back to 0.5 like the tool. Ignored by flat and balanced.
    public var layerCurve: Double
    /// Extra score per hit an expert already served from the hot tier.
    public var stickyBonus: Double

    public init(mode: WeightingMode = .flat, layerCurve: Double = defaultLayerCurve, stickyBonus: Double = defaultStickyBonus) {
        self.mode = mode
        self.layerCurve = (0...1).contains(layerCurve) ? layerCurve : Self.defaultLayerCurve
        self.stickyBonus = max(0, stickyBonus)
    }
}

public struct ScoredExpert: Hashable, Sendable {
    public var id: ExpertID
    public var score: UInt64
    public init(id: ExpertID, score: UInt64) {
        self.id = id
        self.score = score
    }
}

public enum Weighting {
    /// Ranks every observed expert with a non-zero hit count.
    ///
    /// Sticky bonus: an expert that is already hot gets `stickyBonus` extra per hot hit. The hot
    /// hits come from `hot_experts`; for first-run data (no lane split) an expert listed in
    /// `currentlyHot` counts all its hits as hot. The tool applies the bonus only in
    /// pressure/smooth/time; seed 000 lists it as a shared rule, so here every mode uses it.
    public static func rank(_ observations: [LayerObservation], config: WeightingConfig = .init(),
                            currentlyHot: Set<ExpertID> = []) -> [ScoredExpert] {
        let curve = config.layerCurve
        func stickyHits(_ l: LayerObservation, _ x: ExpertObservation) -> UInt64 {
            if l.hasBranchCounts { return x.hot }
            return currentlyHot.contains(ExpertID(layer: l.layer, expert: x.expert)) ? x.hits : 0
        }
        func layerScores(_ l: LayerObservation, _ weight: Double) -> [ScoredExpert] {
            l.experts.filter { $0.hits > 0 }.map { x in
                let s = Double(x.hits) * weight + Double(stickyHits(l, x)) * config.stickyBonus
                return ScoredExpert(id: ExpertID(layer: l.layer, expert: x.expert), score: roundScore(s))
            }
        }
        func weighted(_ weight: (LayerObservation) -> Double) -> [ScoredExpert] {
            sorted(observations.flatMap { layerScores($0, weight($0)) })
        }
        switch config.mode {
        case .pressure:
            let st = PressureStats(observations, source: .parallel, robust: false)
            return weighted { pressureWeight($0, curve, st) }
        case .smooth:
            let st = PressureStats(observations, source: .parallel, robust: true)
            return weighted { smoothWeight($0, curve, st) }
        case .time:
            let st = PressureStats(observations, source: .totalTime, robust: false)
            return weighted { timeWeight($0, curve, st) }
        case .flat, .balanced:
            let perLayer = observations.map { sorted(layerScores($0, 1)) }
            let maxRank = perLayer.map(\.count).max() ?? 0
            var out: [ScoredExpert] = []
            for ranked in perLayer {
                // flat: equal ranks share one score band across layers -> interleaving.
                // balanced: the band counts down from the layer's own list length.
                let top = config.mode == .flat ? maxRank : ranked.count
                for (i, e) in ranked.enumerated() {
                    out.append(ScoredExpert(id: e.id, score: UInt64(top - i) * 1_000_000 + min(e.score, 999_999)))
                }
            }
            return sorted(out)
        }
    }

    static func sorted(_ a: [ScoredExpert]) -> [ScoredExpert] {
        a.sorted { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
    }

    static func roundScore(_ s: Double) -> UInt64 {
        if !(s > 0) { return 0 }
        if s >= 1.8e19 { return UInt64.max }
        return max(1, UInt64((s + 0.5).rounded(.down)))
    }

    // MARK: Layer pressure

    enum PressureSource { case parallel, totalTime }

    /// Seed order: join wait, then cold-minus-hot lane delta, then cold slots per call, then wait per cold slot.
    static func pressure(_ l: LayerObservation, _ source: PressureSource) -> Double {
        if source == .totalTime, l.totalMoePerCallUs > 0 { return l.totalMoePerCallUs }
        if l.joinWaitPerCallUs > 0 { return l.joinWaitPerCallUs }
        let delta = l.coldLaneWallPerCallUs - l.hotLaneWallPerCallUs
        if delta > 0 { return delta }
        if l.coldSlotsPerCall > 0 { return l.coldSlotsPerCall }
        return l.waitPerColdSlotUs
    }

    struct PressureStats {
        var avg = 0.0, min = 0.0, max = 0.0
        init(_ obs: [LayerObservation], source: PressureSource, robust: Bool) {
            let values = obs.map { pressure($0, source) }.filter { $0 > 0 }.sorted()
            guard !values.isEmpty else { return }
            avg = values.reduce(0, +) / Double(values.count)
            min = values.first!
            max = values.last!
            if robust {
                let lo = percentile(values, 0.10), hi = percentile(values, 0.90)
                if hi > lo { min = lo; max = hi }
            }
        }
    }

    /// Linear interpolation between closest ranks (the tool's definition).
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        let pos = p * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
        if lo == hi { return sorted[lo] }
        let t = pos - Double(lo)
        return sorted[lo] * (1 - t) + sorted[hi] * t
    }

    /// hits x clamp(1 + curve (p/avg - 1), 1 - 0.3 curve, 1 + 0.6 curve).
    static func pressureWeight(_ l: LayerObservation, _ curve: Double, _ st: PressureStats) -> Double {
        let p = pressure(l, .parallel)
        guard curve > 0, st.avg > 0, p > 0 else { return 1 }
        return Swift.min(Swift.max(1 + curve * (p / st.avg - 1), 1 - 0.30 * curve), 1 + 0.60 * curve)
    }

    /// 1 + 0.3 curve sqrt(normalised p) with p normalised between the 10th and 90th percentile.
    static func smoothWeight(_ l: LayerObservation, _ curve: Double, _ st: PressureStats) -> Double {
        let p = pressure(l, .parallel)
        guard curve > 0, st.avg > 0, p > 0, st.max > st.min else { return 1 }
        let n = Swift.min(Swift.max((p - st.min) / (st.max - st.min), 0), 1)
        return 1 + 0.30 * curve * n.squareRoot()
    }

    /// Linear from 1 - 0.6 curve (fastest layer) to 1 + 0.8 curve (slowest) on total MoE time.
    static func timeWeight(_ l: LayerObservation, _ curve: Double, _ st: PressureStats) -> Double {
        let p = pressure(l, .totalTime)
        guard curve > 0, st.avg > 0, p > 0, st.max > st.min else { return 1 }
        let n = (p - st.min) / (st.max - st.min)
        let lo = 1 - 0.60 * curve, hi = 1 + 0.80 * curve
        return Swift.min(Swift.max(lo + n * (hi - lo), lo), hi)
    }
}
