// The device tier's slot table and the copies that move it from one placement to the next.

/// One expert copy into a device slot (the slot's previous expert, if any, is overwritten).
public struct SlotUpload: Hashable, Sendable {
    public var layer: Int
    public var slot: Int
    public var expert: Int
    /// The expert the slot held before, nil for a slot that was empty.
    public var replaced: Int?
}

/// What moving the device tier to a new placement takes: uploads into slots (applied on a
/// side stream between requests), slots left empty, experts that found no slot.
public struct DeviceCopyPlan: Equatable, Sendable {
    public var uploads: [SlotUpload] = []
    /// Slots whose expert left and that no entering expert took: freed (marked empty).
    public var freed: [(layer: Int, slot: Int)] = []
    /// Entering experts with no slot left in their layer (the slot layout is fixed at start).
    public var unplaced: [ExpertID] = []

    /// Bytes the uploads copy host -> device.
    public func uploadBytes(layout: ModelExpertLayout) -> Int {
        uploads.reduce(0) { $0 + (layout.bytes(ofLayer: $1.layer) ?? 0) }
    }

    public static func == (a: DeviceCopyPlan, b: DeviceCopyPlan) -> Bool {
        a.uploads == b.uploads && a.unplaced == b.unplaced
            && a.freed.map { [$0.layer, $0.slot] } == b.freed.map { [$0.layer, $0.slot] }
    }
}

/// Per layer, the expert in each device slot (nil: empty). The slot count per layer is fixed
/// when the cache is built; updates replace contents only (as the tool's delta apply).
public struct DeviceSlots: Equatable, Sendable {
    public private(set) var slots: [Int: [Int?]]

    /// The initial layout: one slot per device-tier expert, in expert order.
    public init(placement: TierPlacement) {
        var s: [Int: [Int?]] = [:]
        for id in placement.experts(in: .device) { s[id.layer, default: []].append(id.expert) }
        slots = s
    }

    public init(slots: [Int: [Int?]]) { self.slots = slots }

    public func slot(layer: Int, expert: Int) -> Int? { slots[layer]?.firstIndex { $0 == expert } }

    /// The copies that make the slots hold `target`'s device tier: experts staying keep their
    /// slot (no copy), leaving experts' slots take entering experts in (layer, expert) order,
    /// leftover slots are freed, entering experts beyond the layer's slots are unplaced.
    public func copies(to target: TierPlacement) -> DeviceCopyPlan {
        var plan = DeviceCopyPlan()
        var wanted: [Int: [Int]] = [:]
        for id in target.experts(in: .device) { wanted[id.layer, default: []].append(id.expert) }
        for layer in Set(slots.keys).union(wanted.keys).sorted() {
            let current = slots[layer] ?? []
            let want = wanted[layer] ?? []
            let wantSet = Set(want)
            let held = Set(current.compactMap { $0 })
            var entering = want.filter { !held.contains($0) }[...]
            for (slot, expert) in current.enumerated() where expert.map({ !wantSet.contains($0) }) ?? true {
                if let next = entering.popFirst() {
                    plan.uploads.append(SlotUpload(layer: layer, slot: slot, expert: next, replaced: expert))
                } else if expert != nil {
                    plan.freed.append((layer, slot))
                }
            }
            plan.unplaced += entering.map { ExpertID(layer: layer, expert: $0) }
        }
        return plan
    }

    /// The slots after `plan` has been copied.
    public mutating func apply(_ plan: DeviceCopyPlan) {
        for u in plan.uploads { slots[u.layer]?[u.slot] = u.expert }
        for f in plan.freed { slots[f.layer]?[f.slot] = nil }
    }
}
