// Dynamic hot-cache update: swap the worst hot experts for better observed ones inside the
// fixed slot layout, so only changed expert slices are copied. Same pairing rules as the
// tool's updater (best adds with worst evictions per layer, then gain order across layers).

import Foundation

/// One slot whose contents change: copy expert `newExpert` of `layer` into `slot`.
public struct SlotReplacement: Hashable, Sendable {
    public var layer: Int
    public var slot: Int
    public var oldExpert: Int
    public var newExpert: Int
    public var addScore: UInt64
    public var evictScore: UInt64
    public var gain: UInt64 { addScore > evictScore ? addScore - evictScore : 0 }
}

/// The fields of the tool's `/moe-hot-cache` response.
public struct UpdateStats: Equatable, Sendable {
    public var updateRate: Double = 0
    public var exchanged = 0
    public var candidates = 0
    public var maxExchange = 0
    /// Hot entries in the layers that had observations (the base `update_rate` applies to).
    public var hotExperts = 0
    public var layersChanged = 0

    public init(updateRate: Double = 0, exchanged: Int = 0, candidates: Int = 0, maxExchange: Int = 0,
                hotExperts: Int = 0, layersChanged: Int = 0) {
        self.updateRate = updateRate
        self.exchanged = exchanged
        self.candidates = candidates
        self.maxExchange = maxExchange
        self.hotExperts = hotExperts
        self.layersChanged = layersChanged
    }

    /// `{"success":true,"active":true,"update_rate":1.0,...}` in the seed's field order.
    public func responseJSON(success: Bool = true, active: Bool = true) -> String {
        var rate = JSONPrinter.number(updateRate)
        if !rate.contains(".") && !rate.contains("e") { rate += ".0" }
        return "{\"success\":\(success),\"active\":\(active),\"update_rate\":\(rate),\"exchanged\":\(exchanged),"
            + "\"candidates\":\(candidates),\"max_exchange\":\(maxExchange),\"hot_experts\":\(hotExperts),"
            + "\"layers_changed\":\(layersChanged)}"
    }
}

public struct HotCacheUpdate: Equatable, Sendable {
    /// Applied replacements, in the order they were chosen.
    public var replacements: [SlotReplacement]
    public var stats: UpdateStats
    /// The plan after the replacements.
    public var plan: HotCachePlan
}

public enum HotCacheUpdater {
    /// `ceil(rate * hotExperts)` capped by the candidate count; rate is clamped to 0...1.
    public static func maxExchange(rate: Double, hotExperts: Int, candidates: Int) -> Int {
        let r = rate.isNaN ? 0 : min(max(rate, 0), 1)
        guard r > 0, hotExperts > 0 else { return 0 }
        return min(candidates, Int((r * Double(hotExperts)).rounded(.up)))
    }

    /// Plans and applies one update. `rate` 1.0 is the manual apply (`/moe-hot-cache`).
    /// Already-hot experts get the sticky bonus of `config`. A swap needs a strictly positive
    /// gain: unlike the tool, equal-score swaps are dropped because they only cause copies.
    public static func update(current: HotCachePlan, observations: [LayerObservation], rate: Double,
                              config: WeightingConfig = .init(), layout: ModelExpertLayout? = nil) -> HotCacheUpdate {
        var stats = UpdateStats()
        stats.updateRate = rate.isNaN ? 0 : min(max(rate, 0), 1)
        let scored = Weighting.rank(observations, config: config, currentlyHot: current.hotSet)
        var byLayer: [Int: [(expert: Int, score: UInt64)]] = [:]
        for s in scored where s.score > 0 {
            if let layout, !layout.contains(s.id) { continue }
            byLayer[s.id.layer, default: []].append((s.id.expert, s.score))
        }

        var candidates: [SlotReplacement] = []
        for layer in current.layers {
            guard let ranked = byLayer[layer], let slots = current.slots[layer] else { continue }
            stats.hotExperts += slots.count
            candidates += layerCandidates(layer: layer, slots: slots, ranked: ranked)
        }
        candidates.sort {
            if $0.gain != $1.gain { return $0.gain > $1.gain }
            if $0.layer != $1.layer { return $0.layer < $1.layer }
            return $0.newExpert < $1.newExpert
        }
        stats.candidates = candidates.count
        stats.maxExchange = maxExchange(rate: stats.updateRate, hotExperts: stats.hotExperts, candidates: candidates.count)

        var plan = current
        let chosen = Array(candidates.prefix(stats.maxExchange))
        for r in chosen { plan.replace(layer: r.layer, slot: r.slot, with: r.newExpert) }
        stats.exchanged = chosen.count
        stats.layersChanged = Set(chosen.map(\.layer)).count
        return HotCacheUpdate(replacements: chosen, stats: stats, plan: plan)
    }

    /// Desired set = the layer's top `slots.count` experts by score; pair the best missing ones
    /// with the worst current ones that fell out of the desired set.
    static func layerCandidates(layer: Int, slots: [Int], ranked: [(expert: Int, score: UInt64)]) -> [SlotReplacement] {
        let sortedRanked = ranked.sorted { $0.score != $1.score ? $0.score > $1.score : $0.expert < $1.expert }
        let desired = sortedRanked.prefix(slots.count)
        let desiredSet = Set(desired.map(\.expert))
        let current = Set(slots)
        let adds = desired.filter { !current.contains($0.expert) }
        var scoreOf: [Int: UInt64] = [:]
        for r in ranked { scoreOf[r.expert] = r.score }
        let evicts = slots.enumerated()
            .filter { !desiredSet.contains($0.element) }
            .map { (slot: $0.offset, expert: $0.element, score: scoreOf[$0.element] ?? 0) }
            .sorted { $0.score != $1.score ? $0.score < $1.score : $0.expert < $1.expert }
        return zip(adds, evicts).compactMap { add, ev in
            add.score > ev.score
                ? SlotReplacement(layer: layer, slot: ev.slot, oldExpert: ev.expert, newExpert: add.expert,
                                  addScore: add.score, evictScore: ev.score)
                : nil
        }
    }
}
