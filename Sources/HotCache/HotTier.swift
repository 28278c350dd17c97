#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Engine
import ExpertCache

/// The fast tier: resident copies of the planned hot experts, one fixed-size slot per hot
/// expert of a layer (gate, up and down bytes back to back). The layout (slots per layer) is
/// fixed at start-up; replacing an expert copies only that slot. Mutation happens only
/// between decode steps, so readers need no lock.
public final class HotTier: @unchecked Sendable {
    struct LayerSlots {
        let base: UnsafeMutableRawPointer
        let gateBytes: Int
        let upBytes: Int
        let downBytes: Int
        var slotExpert: [Int]
        /// Slot of each expert, or -1.
        var slotOf: [Int]
        var slotBytes: Int { gateBytes + upBytes + downBytes }
    }

    private let weights: ModelWeights
    private var layers: [LayerSlots?]
    public let bytes: Int

    public init(weights: ModelWeights, plan: HotCachePlan, expertCount: Int) {
        self.weights = weights
        var layers = [LayerSlots?](repeating: nil, count: weights.layers.count)
        var total = 0
        for layer in plan.layers where layer < weights.layers.count {
            let experts = plan.slots[layer] ?? []
            guard !experts.isEmpty, let l = weights.layers[layer].moe else { continue }
            let slotBytes = l.gateExperts.expertBytes + l.upExperts.expertBytes + l.downExperts.expertBytes
            var base: UnsafeMutableRawPointer?
            precondition(posix_memalign(&base, 64, slotBytes * experts.count) == 0, "out of memory for the hot tier")
            var slots = LayerSlots(base: base!, gateBytes: l.gateExperts.expertBytes, upBytes: l.upExperts.expertBytes,
                                   downBytes: l.downExperts.expertBytes, slotExpert: experts,
                                   slotOf: [Int](repeating: -1, count: expertCount))
            for (slot, e) in experts.enumerated() {
                slots.slotOf[e] = slot
                HotTier.copy(weights.expertMatrices(layer: layer, expert: e), into: slots, slot: slot)
            }
            layers[layer] = slots
            total += slotBytes * experts.count
        }
        self.layers = layers
        bytes = total
    }

    deinit {
        for l in layers { if let l { free(l.base) } }
    }

    private static func copy(_ m: ExpertMatrices, into l: LayerSlots, slot: Int) {
        let dst = l.base + slot * l.slotBytes
        dst.copyMemory(from: m.gate.data, byteCount: l.gateBytes)
        (dst + l.gateBytes).copyMemory(from: m.up.data, byteCount: l.upBytes)
        (dst + l.gateBytes + l.upBytes).copyMemory(from: m.down.data, byteCount: l.downBytes)
    }

    /// The hot copy of an expert, or nil when it is cold.
    @inline(__always)
    public func matrices(layer: Int, expert: Int) -> ExpertMatrices? {
        guard let l = layers[layer] else { return nil }
        let slot = l.slotOf[expert]
        guard slot >= 0 else { return nil }
        let m = weights.expertMatrices(layer: layer, expert: expert)
        let p = UnsafeRawPointer(l.base + slot * l.slotBytes)
        return ExpertMatrices(gate: m.gate.relocated(to: p), up: m.up.relocated(to: p + l.gateBytes),
                              down: m.down.relocated(to: p + l.gateBytes + l.upBytes), biases: m.biases)
    }

    @inline(__always)
    public func isHot(layer: Int, expert: Int) -> Bool {
        guard let l = layers[layer] else { return false }
        return l.slotOf[expert] >= 0
    }

    public func slotCount(layer: Int) -> Int { layers[layer]?.slotExpert.count ?? 0 }

    /// Delta replacement: copies only the experts that change. Call between decode steps.
    /// Returns the number of slots whose bytes were copied.
    @discardableResult
    public func apply(_ replacements: [SlotReplacement]) -> Int {
        var copied = 0
        for r in replacements {
            guard r.layer < layers.count, var l = layers[r.layer], r.slot < l.slotExpert.count,
                  l.slotExpert[r.slot] == r.oldExpert, l.slotOf[r.newExpert] < 0 else { continue }
            l.slotOf[r.oldExpert] = -1
            l.slotOf[r.newExpert] = r.slot
            l.slotExpert[r.slot] = r.newExpert
            HotTier.copy(weights.expertMatrices(layer: r.layer, expert: r.newExpert), into: l, slot: r.slot)
            layers[r.layer] = l
            copied += 1
        }
        return copied
    }

    /// True when every hot slot holds exactly the bytes of the expert it claims (tests).
    public func verify() -> Bool {
        for (layer, l) in layers.enumerated() {
            guard let l else { continue }
            for (slot, e) in l.slotExpert.enumerated() {
                let m = weights.expertMatrices(layer: layer, expert: e)
                let p = l.base + slot * l.slotBytes
                if memcmp(p, m.gate.data, l.gateBytes) != 0 || memcmp(p + l.gateBytes, m.up.data, l.upBytes) != 0
                    || memcmp(p + l.gateBytes + l.upBytes, m.down.data, l.downBytes) != 0 { return false }
            }
        }
        return true
    }
}
