// Planner input derived from a profile, following the tool's parser rules:
// hot_experts + cold_experts win when either has a non-zero count, else raw `experts`;
// zero-hit entries are ignored; layers with no hits are dropped.

public struct ExpertObservation: Hashable, Sendable {
    public var expert: Int
    public var hot: UInt64
    public var cold: UInt64
    public var raw: UInt64
    /// Hits used for ranking: hot + cold for runtime data, raw for first-run data.
    public var hits: UInt64 { hot &+ cold &+ raw }
}

public struct LayerObservation: Sendable, Equatable {
    public var layer: Int
    /// Sorted by expert id.
    public var experts: [ExpertObservation]
    public var hasBranchCounts: Bool
    public var coldSlotsPerCall: Double = 0
    public var joinWaitPerCallUs: Double = 0
    public var coldLaneWallPerCallUs: Double = 0
    public var hotLaneWallPerCallUs: Double = 0
    public var totalMoePerCallUs: Double = 0
    public var waitPerColdSlotUs: Double = 0

    public init(layer: Int, experts: [ExpertObservation], hasBranchCounts: Bool) {
        self.layer = layer
        self.experts = experts
        self.hasBranchCounts = hasBranchCounts
    }
}

extension LayerObservation {
    /// Builds one layer's observation; nil when it carries no hits.
    public init?(_ p: LayerProfile) {
        var byExpert: [Int: ExpertObservation] = [:]
        func add(_ list: [ExpertHits]?, _ kp: WritableKeyPath<ExpertObservation, UInt64>) -> Bool {
            var any = false
            for h in list ?? [] where h.hits > 0 {
                byExpert[h.expert, default: ExpertObservation(expert: h.expert, hot: 0, cold: 0, raw: 0)][keyPath: kp] &+= h.hits
                any = true
            }
            return any
        }
        let addedHot = add(p.hotExperts, \.hot)
        let addedCold = add(p.coldExperts, \.cold)
        let branch = addedHot || addedCold
        if !branch, !add(p.experts, \.raw) { return nil }
        self.init(layer: p.layer, experts: byExpert.values.sorted { $0.expert < $1.expert }, hasBranchCounts: branch)

        coldSlotsPerCall = p[.coldSlotsPerCall]
        if coldSlotsPerCall <= 0, p[.calls] > 0, p[.coldSlotsTotal] > 0 {
            coldSlotsPerCall = p[.coldSlotsTotal] / p[.calls]
        }
        joinWaitPerCallUs = p[.joinWaitPerCallUs]
        coldLaneWallPerCallUs = p[.coldLaneWallPerCallUs]
        hotLaneWallPerCallUs = p[.hotLaneWallPerCallUs]
        totalMoePerCallUs = p[.totalMoePerCallUs]
        var wait = joinWaitPerCallUs
        if wait <= 0 { wait = max(0, coldLaneWallPerCallUs - hotLaneWallPerCallUs) }
        if wait > 0, coldSlotsPerCall > 0 { waitPerColdSlotUs = wait / coldSlotsPerCall }
    }
}

extension PerfProfile {
    /// Planner observations, sorted by layer.
    public func observations() -> [LayerObservation] {
        layers.compactMap(LayerObservation.init).sorted { $0.layer < $1.layer }
    }
}
