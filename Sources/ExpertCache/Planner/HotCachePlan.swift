// Which experts live in the fast tier, slot by slot, and how the budget is packed.

/// Per MoE layer, the expert held in each hot slot. The slot count of a layer is fixed once
/// the cache is built (dynamic updates replace slot contents, never add slots).
public struct HotCachePlan: Equatable, Sendable {
    /// layer -> expert id per slot, in slot order.
    public private(set) var slots: [Int: [Int]]
    /// Bytes charged against the budget (expert slices plus any per-layer padding slot).
    public private(set) var usedBytes: Int
    public let budgetBytes: Int

    public init(slots: [Int: [Int]] = [:], usedBytes: Int = 0, budgetBytes: Int = 0) {
        self.slots = slots.filter { !$0.value.isEmpty }
        self.usedBytes = usedBytes
        self.budgetBytes = budgetBytes
    }

    public static let empty = HotCachePlan()

    public var layers: [Int] { slots.keys.sorted() }
    public var hotCount: Int { slots.values.reduce(0) { $0 + $1.count } }
    public func slotCount(layer: Int) -> Int { slots[layer]?.count ?? 0 }
    public func isHot(_ id: ExpertID) -> Bool { slots[id.layer]?.contains(id.expert) ?? false }
    public var hotSet: Set<ExpertID> {
        Set(slots.flatMap { l, es in es.map { ExpertID(layer: l, expert: $0) } })
    }

    /// Per-layer hot mask of `expertsPerLayer` flags, the engine's placement lookup.
    public func hotMask(layer: Int, expertsPerLayer: Int) -> [Bool] {
        var m = [Bool](repeating: false, count: expertsPerLayer)
        for e in slots[layer] ?? [] where e < expertsPerLayer { m[e] = true }
        return m
    }

    mutating func replace(layer: Int, slot: Int, with expert: Int) { slots[layer]![slot] = expert }

    /// This plan plus the experts it lacks, while they fit in `budgetBytes`: expert 0 of every
    /// layer, then expert 1, ... (spread evenly over the layers). A profile names only the
    /// experts it saw; a budget that holds more should still be used (the sweep's "all" row
    /// then holds every expert).
    public func filled(layout: ModelExpertLayout, budgetBytes: Int) -> HotCachePlan {
        var slots = self.slots
        var used = usedBytes
        for e in 0..<layout.expertsPerLayer {
            for layer in layout.moeLayers {
                guard let bytes = layout.bytes(ofLayer: layer), used + bytes <= budgetBytes,
                      !(slots[layer]?.contains(e) ?? false) else { continue }
                slots[layer, default: []].append(e)
                used += bytes
            }
        }
        return HotCachePlan(slots: slots, usedBytes: used, budgetBytes: max(budgetBytes, self.budgetBytes))
    }
}

public enum BudgetError: Error, Equatable, CustomStringConvertible {
    case invalidMiB(Int)
    public var description: String {
        switch self {
        case .invalidMiB(let v): "cache budget \(v) MiB: expected 0 (off), a positive MiB value, or -1 (auto)"
        }
    }
}

/// `--moe-hot-cache-max-mib` semantics: 0 off, > 0 fixed MiB, -1 auto.
public enum CacheBudget: Equatable, Sendable {
    case off
    case fixed(mib: Int)
    case auto(reserveMiB: Int)

    public static let mib = 1 << 20

    public init(maxMiB: Int, autoReserveMiB: Int = 1024) throws(BudgetError) {
        switch maxMiB {
        case 0: self = .off
        case 1...: self = .fixed(mib: maxMiB)
        case -1: self = .auto(reserveMiB: max(0, autoReserveMiB))
        default: throw .invalidMiB(maxMiB)
        }
    }

    /// Resolves to bytes; the auto inputs are only read for `.auto`.
    public func bytes(freeBytes: Int = 0, kvBytes: Int = 0, computeBytes: Int = 0) -> Int {
        switch self {
        case .off: 0
        case .fixed(let m): m * Self.mib
        case .auto(let r): HotCachePlanner.autoBudget(freeBytes: freeBytes, reserveMiB: r, kvBytes: kvBytes, computeBytes: computeBytes)
        }
    }
}

public enum HotCachePlanner {
    /// Free fast-tier bytes minus the safety reserve, the KV estimate and compute buffers,
    /// rounded down to whole MiB (as the tool does); never negative.
    public static func autoBudget(freeBytes: Int, reserveMiB: Int, kvBytes: Int, computeBytes: Int) -> Int {
        let reserved = max(0, reserveMiB).multipliedReportingOverflow(by: CacheBudget.mib)
        guard !reserved.overflow else { return 0 }
        let left = freeBytes - reserved.partialValue - max(0, kvBytes) - max(0, computeBytes)
        return left <= 0 ? 0 : (left / CacheBudget.mib) * CacheBudget.mib
    }

    /// KV cache bytes: K and V rows of `kvHeads * headDim` elements per layer and cached token.
    /// Like llama.cpp, the context is padded to 256; with `unified == false` each of the
    /// `parallel` sequences gets its own padded share (ctx / parallel), one stream each.
    public static func kvCacheBytes(layers: Int, kvHeads: Int, headDim: Int, ctx: Int, parallel: Int = 1,
                                    bytesPerElement: Double, unified: Bool = false) -> Int {
        let seqs = max(1, parallel)
        let ctxPadded = pad256(ctx)
        let perStream = unified ? ctxPadded : pad256(ctxPadded / seqs)
        let streams = unified ? 1 : seqs
        let elements = 2.0 * Double(layers) * Double(kvHeads * headDim) * Double(perStream) * Double(streams)
        return Int((elements * bytesPerElement).rounded(.up))
    }

    private static func pad256(_ x: Int) -> Int { (max(0, x) + 255) / 256 * 256 }

    /// Greedy packing in rank order: take each expert whose real size still fits, skip the rest
    /// (a smaller expert further down may still fit). Experts outside the layout are ignored.
    /// `paddingSlotPerLayer` charges one extra expert-sized slot for each layer that gets any
    /// hot expert: the tool's CUDA graph keeps a zero dummy expert per hot layer.
    public static func pack(_ ranked: [ScoredExpert], layout: ModelExpertLayout, budgetBytes: Int,
                            paddingSlotPerLayer: Bool = false) -> HotCachePlan {
        var slots: [Int: [Int]] = [:]
        var used = 0
        var taken = Set<ExpertID>()
        for r in ranked {
            guard let bytes = layout.bytes(ofLayer: r.id.layer), layout.contains(r.id), !taken.contains(r.id) else { continue }
            let cost = bytes * (paddingSlotPerLayer && slots[r.id.layer] == nil ? 2 : 1)
            guard cost <= budgetBytes - used else { continue }
            slots[r.id.layer, default: []].append(r.id.expert)
            used += cost
            taken.insert(r.id)
        }
        return HotCachePlan(slots: slots, usedBytes: used, budgetBytes: budgetBytes)
    }

    /// Profile -> ranking -> packing in one call.
    public static func plan(profile: PerfProfile, layout: ModelExpertLayout, budgetBytes: Int,
                            config: WeightingConfig = .init(), paddingSlotPerLayer: Bool = false) -> HotCachePlan {
        pack(Weighting.rank(profile.observations(), config: config), layout: layout,
             budgetBytes: budgetBytes, paddingSlotPerLayer: paddingSlotPerLayer)
    }
}
