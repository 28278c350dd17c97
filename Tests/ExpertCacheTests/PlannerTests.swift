import Testing
@testable import ExpertCache

@Suite struct PlannerTests {
    // Expert sizes differ per layer: L0 40 B, L1 70 B, L2 20 B.
    let sized = try! ModelExpertLayout(moeLayers: [0, 1, 2], expertsPerLayer: 4, topK: 1, bytesPerExpert: [40, 70, 20])
    let ranked = [(0, 0), (1, 0), (2, 0), (2, 1), (0, 1)].enumerated().map { i, le in
        ScoredExpert(id: ExpertID(layer: le.0, expert: le.1), score: UInt64(100 - i))
    }

    @Test func packingSkipsWhatDoesNotFitAndUsesRealSizes() {
        // 40 -> 40; 70 would make 110 > 100, skip; 20 -> 60; 20 -> 80; 40 would make 120, skip.
        let p = HotCachePlanner.pack(ranked, layout: sized, budgetBytes: 100)
        #expect(p.slots == [0: [0], 2: [0, 1]])
        #expect(p.usedBytes == 80)
        let q = HotCachePlanner.pack(ranked, layout: sized, budgetBytes: 110)
        #expect(q.slots == [0: [0], 1: [0]])
        #expect(q.usedBytes == 110)   // exactly the budget
    }

    @Test func fillingAddsUnseenExpertsEvenlyWithinTheBudget() {
        let p = HotCachePlanner.pack(ranked, layout: sized, budgetBytes: 100)   // [0: [0], 2: [0, 1]], 80 B
        // 20 B left: L0E1 (40) and L1E0 (70) do not fit, L2E2 (20) does; the ranked slots stay first.
        let q = p.filled(layout: sized, budgetBytes: 100)
        #expect(q.slots == [0: [0], 2: [0, 1, 2]])
        #expect(q.usedBytes == 100)
        // A budget for everything holds every expert, each once.
        let all = p.filled(layout: sized, budgetBytes: 4 * (40 + 70 + 20))
        #expect(all.hotCount == 12)
        #expect(all.slots.mapValues { Set($0).count } == [0: 4, 1: 4, 2: 4])
        #expect(all.slots[2]!.prefix(2) == [0, 1])
        #expect(all.usedBytes == 520)
        #expect(p.filled(layout: sized, budgetBytes: 50) == HotCachePlan(slots: p.slots, usedBytes: 80, budgetBytes: 100))
    }

    @Test func packingCanChargeThePerLayerPaddingSlot() {
        // First expert of a layer costs 2x: L0E0 80; L1E0 140 no; L2E0 40 -> 120 no; L2E1 no; L0E1 40 -> 120 no.
        let p = HotCachePlanner.pack(ranked, layout: sized, budgetBytes: 100, paddingSlotPerLayer: true)
        #expect(p.slots == [0: [0]])
        #expect(p.usedBytes == 80)
    }

    @Test func packingNeverExceedsBudgetOnRandomInputs() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200 {
            let sizes = (0..<4).map { _ in Int(rng.next() % 90) + 10 }
            let l = try! ModelExpertLayout(moeLayers: [0, 1, 2, 3], expertsPerLayer: 6, topK: 2, bytesPerExpert: sizes)
            let r = (0..<24).map { ScoredExpert(id: ExpertID(layer: $0 / 6, expert: $0 % 6), score: rng.next() % 50) }
            let budget = Int(rng.next() % 600)
            let p = HotCachePlanner.pack(Weighting.sorted(r), layout: l, budgetBytes: budget)
            let sum = p.slots.reduce(0) { $0 + $1.value.count * sizes[$1.key] }
            #expect(sum == p.usedBytes)
            #expect(p.usedBytes <= budget)
            // Greedy is maximal: nothing left out would still fit.
            let left = budget - p.usedBytes
            #expect(r.allSatisfy { p.isHot($0.id) || sizes[$0.id.layer] > left })
        }
    }

    @Test func budgetModesAndAutoSizing() throws {
        #expect(try CacheBudget(maxMiB: 0) == .off)
        #expect(try CacheBudget(maxMiB: 512).bytes() == 512 << 20)
        #expect(try CacheBudget(maxMiB: -1, autoReserveMiB: 1024) == .auto(reserveMiB: 1024))
        #expect(throws: BudgetError.invalidMiB(-2)) { try CacheBudget(maxMiB: -2) }
        // 10240 MiB free - 1024 reserve - 2560 KV - (100 MiB + 5 B) compute = 6556 MiB - 5 B -> floor 6555 MiB.
        let free = 10 << 30, kv = 5 << 29
        #expect(HotCachePlanner.autoBudget(freeBytes: free, reserveMiB: 1024, kvBytes: kv, computeBytes: (100 << 20) + 5)
                == 6555 << 20)
        #expect(HotCachePlanner.autoBudget(freeBytes: 1 << 30, reserveMiB: 1024, kvBytes: 1, computeBytes: 0) == 0)
        #expect(try CacheBudget(maxMiB: -1).bytes(freeBytes: 3 << 30, kvBytes: 0) == 2 << 30)
    }

    @Test func kvEstimate() {
        // 2 (K,V) x 48 layers x 4 heads x 128 dims x 4096 ctx x 2 bytes = 384 MiB.
        #expect(HotCachePlanner.kvCacheBytes(layers: 48, kvHeads: 4, headDim: 128, ctx: 4096, bytesPerElement: 2) == 384 << 20)
        // ctx pads to 256: 1000 -> 1024.
        #expect(HotCachePlanner.kvCacheBytes(layers: 1, kvHeads: 1, headDim: 1, ctx: 1000, bytesPerElement: 1) == 2048)
        // 3 sequences of 4096 / 3 = 1365 -> 1536 each.
        #expect(HotCachePlanner.kvCacheBytes(layers: 1, kvHeads: 1, headDim: 1, ctx: 4096, parallel: 3, bytesPerElement: 1) == 2 * 1536 * 3)
        #expect(HotCachePlanner.kvCacheBytes(layers: 1, kvHeads: 1, headDim: 1, ctx: 4096, parallel: 3, bytesPerElement: 1, unified: true) == 2 * 4096)
    }

    // MARK: Dynamic update

    let current = HotCachePlan(slots: [0: [0, 1], 1: [5]])
    /// First-run counts. Flat ranks with sticky (current hot get +5% of their hits):
    /// L0: E3 40, E1 21, E2 5, E0 1; L1: E6 50, E5 2; L2: E7 100 (L2 has no hot slots).
    let firstRun = """
    {"schema":"llama.cpp.moe_layer_opt_perf.v1","layers":[{"layer":0,"experts":[[0,1],[1,20],[2,5],[3,40]]},
    {"layer":1,"experts":[[5,2],[6,50]]},{"layer":2,"experts":[[7,100]]}]}
    """

    @Test func updateRespectsRateAndOrdersByGain() throws {
        let obs = try decode(firstRun).observations()
        // Candidates: L0 slot0 0->3 (gain 4000040-1000001), L1 slot0 5->6 (gain 4000050-3000002).
        // rate 0.3 of 3 hot entries -> ceil(0.9) = 1 exchange: the larger gain (layer 0).
        let u = HotCacheUpdater.update(current: current, observations: obs, rate: 0.3, layout: layout())
        #expect(u.stats == UpdateStats(updateRate: 0.3, exchanged: 1, candidates: 2, maxExchange: 1, hotExperts: 3, layersChanged: 1))
        #expect(u.replacements.map { [$0.layer, $0.slot, $0.oldExpert, $0.newExpert] } == [[0, 0, 0, 3]])
        #expect(u.plan.slots == [0: [3, 1], 1: [5]])
    }

    @Test func manualApplyUsesFullRateButKeepsTheLayout() throws {
        let u = HotCacheUpdater.update(current: current, observations: try decode(firstRun).observations(), rate: 1.0)
        #expect(u.plan.slots == [0: [3, 1], 1: [6]])
        #expect(u.plan.slotCount(layer: 2) == 0)   // L2E7 is the best expert overall, but L2 has no slots
        #expect(u.stats.responseJSON() ==
                #"{"success":true,"active":true,"update_rate":1.0,"exchanged":2,"candidates":2,"max_exchange":2,"hot_experts":3,"layers_changed":2}"#)
        #expect(HotCacheUpdater.maxExchange(rate: 0.25, hotExperts: 10, candidates: 8) == 3)
        #expect(HotCacheUpdater.maxExchange(rate: 1.5, hotExperts: 10, candidates: 8) == 8)
        #expect(HotCacheUpdater.maxExchange(rate: -1, hotExperts: 10, candidates: 8) == 0)
    }

    @Test func stickyBonusKeepsANearlyEqualHotExpert() throws {
        // E0 is hot with 100 hot-lane hits, E1 cold with 103: 100 + 5 sticky > 103, no churn.
        let obs = try decode("""
        {"schema":"llama.cpp.moe_layer_opt_perf.v1","layers":[{"layer":0,"hot_experts":[[0,100]],"cold_experts":[[1,103]]}]}
        """).observations()
        let plan = HotCachePlan(slots: [0: [0]])
        let config = WeightingConfig(mode: .pressure)
        #expect(HotCacheUpdater.update(current: plan, observations: obs, rate: 1, config: config).stats.exchanged == 0)
        let noSticky = WeightingConfig(mode: .pressure, stickyBonus: 0)
        let u = HotCacheUpdater.update(current: plan, observations: obs, rate: 1, config: noSticky)
        #expect(u.plan.slots == [0: [1]])
    }

    @Test func toolDeltaExamplesMatch() throws {
        // From the tool's tests: current {0,1}; desired top-2 {1,2} -> only slot of 0 changes to 2.
        let obs = try decode("""
        {"schema":"llama.cpp.moe_layer_perf.v1","layers":[{"layer":0,"hot_experts":[[1,100],[2,90]],"cold_experts":[[0,5],[3,10]]}]}
        """).observations()
        let u = HotCacheUpdater.update(current: HotCachePlan(slots: [0: [0, 1]]), observations: obs, rate: 1)
        #expect(u.replacements.map { [$0.slot, $0.oldExpert, $0.newExpert] } == [[0, 0, 2]])
    }
}
