@testable import ExpertCache
import Testing

private func layout(layers: Int = 3, experts: Int = 8, bytes: Int = 1 << 20) throws -> ModelExpertLayout {
    try ModelExpertLayout(layerCount: layers, expertsPerLayer: experts, topK: 2, bytesPerExpert: bytes)
}

@Test func placementPutsDeviceOverResidentOverStream() throws {
    let l = try layout()
    let device = HotCachePlan(slots: [0: [1, 2], 2: [7]], usedBytes: 3 << 20, budgetBytes: 4 << 20)
    let ram = HotCachePlan(slots: [0: [2, 3], 1: [0]], usedBytes: 3 << 20, budgetBytes: 3 << 20)
    let p = TierPlacement(layout: l, device: device, resident: ram)
    #expect(p.tier(of: ExpertID(layer: 0, expert: 2)) == .device)  // in both plans: the faster tier
    #expect(p.tier(of: ExpertID(layer: 0, expert: 3)) == .resident)
    #expect(p.tier(of: ExpertID(layer: 1, expert: 5)) == .stream)
    #expect(p.tier(of: ExpertID(layer: 5, expert: 0)) == nil)
    #expect(p.experts(in: .device) == [ExpertID(layer: 0, expert: 1), ExpertID(layer: 0, expert: 2), ExpertID(layer: 2, expert: 7)])
    #expect(p.count(in: .resident) == 2 && p.count(in: .stream) == 24 - 5)
    #expect(p.bytes(in: .device) == 3 << 20)
    #expect(p.deviceMask(layer: 0) == [false, true, true, false, false, false, false, false])
    // Without a RAM plan everything off the device is resident.
    let allRAM = TierPlacement(layout: l, device: device, resident: nil)
    #expect(allRAM.count(in: .stream) == 0 && allRAM.count(in: .resident) == 21)
}

@Test func autoDeviceBudgetSubtractsReserveKVAndDenseWeights() throws {
    let mib = CacheBudget.mib
    let auto = try CacheBudget(maxMiB: -1, autoReserveMiB: 1024)
    let b = DeviceBudget(budget: auto, freeBytes: 10_000 * mib + 123, kvBytes: 500 * mib, denseBytes: 2000 * mib, computeBytes: 100 * mib)
    #expect(b.bytes == (10_000 - 1024 - 500 - 2000 - 100) * mib && b.requestedBytes == nil)
    #expect(DeviceBudget(budget: auto, freeBytes: 1000 * mib, kvBytes: 0, denseBytes: 0, computeBytes: 0).bytes == 0)
    // A fixed budget above what fits is lowered, and says what was asked.
    let fixed = DeviceBudget(budget: try CacheBudget(maxMiB: 8000), freeBytes: 6000 * mib, kvBytes: 1000 * mib, denseBytes: 0, computeBytes: 0)
    #expect(fixed.bytes == 5000 * mib && fixed.requestedBytes == 8000 * mib)
    let fits = DeviceBudget(budget: try CacheBudget(maxMiB: 100), freeBytes: 6000 * mib, kvBytes: 0, denseBytes: 0, computeBytes: 0)
    #expect(fits.bytes == 100 * mib && fits.requestedBytes == nil)
    #expect(DeviceBudget(budget: .off, freeBytes: 6000 * mib, kvBytes: 0, denseBytes: 0, computeBytes: 0).bytes == 0)
}

@Test func deltaCopiesOnlyChangedExpertsIntoFixedSlots() throws {
    let l = try layout()
    let before = TierPlacement(layout: l, device: HotCachePlan(slots: [0: [1, 2, 3], 1: [4]]), resident: nil)
    var slots = DeviceSlots(placement: before)
    #expect(slots.slots == [0: [1, 2, 3], 1: [4]])
    // Layer 0: 2 stays, 1 and 3 leave, 5 enters; layer 1: 4 -> 6, 0 cannot fit (one slot);
    // layer 2 had no slots, so its expert is unplaced.
    let after = TierPlacement(layout: l, device: HotCachePlan(slots: [0: [2, 5], 1: [0, 6], 2: [1]]), resident: nil)
    let plan = slots.copies(to: after)
    #expect(plan.uploads == [SlotUpload(layer: 0, slot: 0, expert: 5, replaced: 1),
                             SlotUpload(layer: 1, slot: 0, expert: 0, replaced: 4)])
    #expect(plan.freed.map { [$0.layer, $0.slot] } == [[0, 2]])
    #expect(plan.unplaced == [ExpertID(layer: 1, expert: 6), ExpertID(layer: 2, expert: 1)])
    #expect(plan.uploadBytes(layout: l) == 2 << 20)
    slots.apply(plan)
    #expect(slots.slots == [0: [5, 2, nil], 1: [0]])
    #expect(slots.slot(layer: 0, expert: 2) == 1 && slots.slot(layer: 0, expert: 1) == nil)
    // Applying the same placement again copies nothing.
    let again = slots.copies(to: after)
    #expect(again.uploads.isEmpty && again.freed.isEmpty)
    // A freed slot is refilled before anything else.
    let refill = slots.copies(to: TierPlacement(layout: l, device: HotCachePlan(slots: [0: [5, 2, 7]]), resident: nil))
    #expect(refill.uploads == [SlotUpload(layer: 0, slot: 2, expert: 7, replaced: nil)])
    #expect(refill.freed.map { [$0.layer, $0.slot] } == [[1, 0]])
}

@Test func laneSplitAndSlotOrderMergeMatchTheSerialSum() {
    let k = 3, d = 5, tokens = 4
    var rng = SystemRandomNumberGenerator()
    let experts: [Int32] = (0..<(tokens * k)).map { _ in Int32.random(in: 0..<8, using: &rng) }
    let onDevice: Set<Int> = [1, 4, 6]
    let split = LaneSplit(experts: experts, expertsPerLayer: 8) { onDevice.contains($0) }
    #expect(split.hot.allSatisfy { onDevice.contains(Int(experts[$0])) })
    #expect(split.cold.allSatisfy { !onDevice.contains(Int(experts[$0])) })
    #expect((split.hot + split.cold).sorted() == Array(0..<(tokens * k)))
    #expect(LaneSplit(experts: [9, -1], expertsPerLayer: 8) { _ in true }.cold == [0, 1])
    #expect(!LaneSplit(experts: [1, 1], expertsPerLayer: 8) { _ in true }.runsConcurrently(minSlots: 0))
    #expect(LaneSplit(experts: [1, 2], expertsPerLayer: 8) { $0 == 1 }.runsConcurrently(minSlots: 2))
    #expect(!LaneSplit(experts: [1, 2], expertsPerLayer: 8) { $0 == 1 }.runsConcurrently(minSlots: 3))
    // Slot rows written by either lane in any order; the merge adds them in slot order.
    let rows: [Float] = (0..<(tokens * k * d)).map { _ in Float.random(in: -1...1, using: &rng) }
    var merged = [Float](repeating: .nan, count: tokens * d)
    rows.withUnsafeBufferPointer { r in
        merged.withUnsafeMutableBufferPointer { LaneMerge.merge(slotOutputs: r.baseAddress!, tokens: tokens, k: k, d: d, into: $0.baseAddress!) }
    }
    for t in 0..<tokens {
        for i in 0..<d {
            var serial: Float = 0
            for s in 0..<k { serial += rows[(t * k + s) * d + i] }
            #expect(merged[t * d + i].bitPattern == serial.bitPattern)
        }
    }
}

@Test func laneTimesGiveOverlapAndJoinWait() {
    let concurrent = LaneTimes(hotLane: 300, coldLane: 1000, parallelWall: 1050)
    #expect(concurrent.overlap == 250 && concurrent.joinWait == 700)
    let serial = LaneTimes(hotLane: 300, coldLane: 1000, parallelWall: 1400)
    #expect(serial.overlap == 0)
}
