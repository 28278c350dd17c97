// One placement model over the three tiers an expert can live in, so VRAM, RAM and disk are
// one decision rather than one code path each. Pure values: built from planner output and
// budgets, testable without a device.

/// Where one expert's weights are computed from.
public enum ExpertTier: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// A copy in GPU memory: the hot lane computes it on the device.
    case device
    /// Resident in RAM (mapped or copied): the CPU lane.
    case resident
    /// Read from the model file on a miss: the CPU lane through the streaming reader.
    case stream

    public var description: String { ["device", "resident", "stream"][rawValue] }
}

/// Per (MoE layer, expert), the tier that holds it.
public struct TierPlacement: Equatable, Sendable {
    public let layout: ModelExpertLayout
    /// moeIndex * expertsPerLayer + expert.
    private var tiers: [ExpertTier]

    /// Every expert in `base` (resident when all experts fit in RAM, stream otherwise).
    public init(layout: ModelExpertLayout, base: ExpertTier) {
        self.layout = layout
        tiers = [ExpertTier](repeating: base, count: layout.totalExperts)
    }

    /// The tiers from the fastest down: experts in `device` (the VRAM plan) go to the device,
    /// then those in `resident` (a RAM expert cache's plan; nil: every other expert is
    /// resident), the rest stream. Experts outside the layout are ignored.
    public init(layout: ModelExpertLayout, device: HotCachePlan, resident: HotCachePlan?) {
        self.init(layout: layout, base: resident == nil ? .resident : .stream)
        if let resident { for id in resident.hotSet { set(id, .resident) } }
        for id in device.hotSet { set(id, .device) }
    }

    private func index(_ id: ExpertID) -> Int? {
        guard layout.contains(id), let m = layout.moeIndex(ofLayer: id.layer) else { return nil }
        return m * layout.expertsPerLayer + id.expert
    }

    /// The expert's tier; nil for an expert outside the layout.
    public func tier(of id: ExpertID) -> ExpertTier? { index(id).map { tiers[$0] } }

    public mutating func set(_ id: ExpertID, _ tier: ExpertTier) {
        if let i = index(id) { tiers[i] = tier }
    }

    /// The experts of `tier`, in (layer, expert) order.
    public func experts(in tier: ExpertTier) -> [ExpertID] {
        var out: [ExpertID] = []
        for (m, layer) in layout.moeLayers.enumerated() {
            for e in 0..<layout.expertsPerLayer where tiers[m * layout.expertsPerLayer + e] == tier {
                out.append(ExpertID(layer: layer, expert: e))
            }
        }
        return out
    }

    public func count(in tier: ExpertTier) -> Int { tiers.reduce(0) { $0 + ($1 == tier ? 1 : 0) } }

    /// Bytes the experts of `tier` take.
    public func bytes(in tier: ExpertTier) -> Int {
        experts(in: tier).reduce(0) { $0 + (layout.bytes(ofLayer: $1.layer) ?? 0) }
    }

    /// The per-layer device-tier membership, the hot lane's lookup (`expertsPerLayer` flags).
    public func deviceMask(layer: Int) -> [Bool] {
        guard let m = layout.moeIndex(ofLayer: layer) else { return [Bool](repeating: false, count: layout.expertsPerLayer) }
        return (0..<layout.expertsPerLayer).map { tiers[m * layout.expertsPerLayer + $0] == .device }
    }
}

/// The VRAM the device tier may take, from what the device reports.
public struct DeviceBudget: Equatable, Sendable {
    /// Bytes for expert copies.
    public let bytes: Int
    /// Set when a fixed budget was lowered to what is free (it would not fit).
    public let requestedBytes: Int?

    /// `--moe-hot-cache-max-mib` (`budget`) against the device: auto is free VRAM (cuMemGetInfo)
    /// minus the reserve, the KV cache and the dense weights and buffers placed on the device;
    /// a fixed budget is capped to free minus those same figures (never above what fits).
    public init(budget: CacheBudget, freeBytes: Int, kvBytes: Int, denseBytes: Int, computeBytes: Int) {
        let room = HotCachePlanner.autoBudget(freeBytes: freeBytes, reserveMiB: 0, kvBytes: kvBytes,
                                              computeBytes: max(0, denseBytes) + max(0, computeBytes))
        switch budget {
        case .off:
            bytes = 0
            requestedBytes = nil
        case .auto:
            bytes = budget.bytes(freeBytes: freeBytes, kvBytes: kvBytes, computeBytes: max(0, denseBytes) + max(0, computeBytes))
            requestedBytes = nil
        case .fixed:
            let asked = budget.bytes()
            bytes = min(asked, room)
            requestedBytes = asked > room ? asked : nil
        }
    }
}
