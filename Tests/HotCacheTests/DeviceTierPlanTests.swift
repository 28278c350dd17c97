import ExpertCache
@testable import HotCache
import Testing

/// `--device CUDA<n>`: the VRAM tier's budget and experts, decided without a device.
@Suite struct DeviceTierPlanTests {
    let layout = try! ModelExpertLayout(moeLayers: [0, 1], expertsPerLayer: 4, topK: 1, bytesPerExpert: [100, 100])

    @Test func budgetFollowsTheHotCacheFlagsWithAutoByDefault() throws {
        var o = HotCacheOptions()
        o.autoReserveMiB = 512
        #expect(try DeviceTierPlan.budget(o) == .auto(reserveMiB: 512), "no flag: everything that fits, as llama.cpp's default")
        o.cpuMoE = true
        #expect(try DeviceTierPlan.budget(o) == nil, "--cpu-moe without a budget keeps every expert on the CPU")
        o.maxMiB = 300
        #expect(try DeviceTierPlan.budget(o) == .fixed(mib: 300), "--cpu-moe with a budget: the hot experts go to VRAM")
        o.maxMiB = -1
        #expect(try DeviceTierPlan.budget(o) == .auto(reserveMiB: 512))
        o.maxMiB = -2
        #expect(throws: BudgetError.self) { try DeviceTierPlan.budget(o) }
    }

    @Test func profileRanksFirstThenUnseenExpertsFill() {
        let profile = PerfProfile(layers: [LayerProfile(layer: 1, experts: [ExpertHits(expert: 3, hits: 50), ExpertHits(expert: 2, hits: 9)])])
        let some = DeviceTierPlan.plan(profile: profile, layout: layout, budgetBytes: 300, config: .init())
        #expect(some.slots[1]?.prefix(2) == [3, 2], "the profile's experts, by hits")
        #expect(some.hotCount == 3 && some.usedBytes == 300 && some.slots[0] == [0], "then expert 0 of layer 0 fills the last 100 B")
        let all = DeviceTierPlan.plan(profile: profile, layout: layout, budgetBytes: 10_000, config: .init())
        #expect(all.hotCount == 8 && all.usedBytes == 800)
        let none = DeviceTierPlan.plan(profile: nil, layout: layout, budgetBytes: 250, config: .init())
        #expect(none.slots == [0: [0], 1: [0]], "no profile: expert 0 of every layer, then expert 1, ...")
    }

    @Test func layersFollowNGLAndNCPUMoEAsLlamaCppPlacesThem() {
        // 6 layers, MoE from layer 1 (layer 0 dense).
        let moe = [1, 2, 3, 4, 5]
        #expect(DeviceTierPlan.deviceLayers(moeLayers: moe, layerCount: 6, gpuLayers: nil, cpuMoELayers: 0) == moe)
        #expect(DeviceTierPlan.deviceLayers(moeLayers: moe, layerCount: 6, gpuLayers: 2, cpuMoELayers: 0) == [4, 5], "-ngl 2: the last two")
        #expect(DeviceTierPlan.deviceLayers(moeLayers: moe, layerCount: 6, gpuLayers: 99, cpuMoELayers: 3) == [3, 4, 5])
        #expect(DeviceTierPlan.deviceLayers(moeLayers: moe, layerCount: 6, gpuLayers: 0, cpuMoELayers: 0).isEmpty)
        // The plan holds experts of those layers only, the profile's first.
        let profile = PerfProfile(layers: [LayerProfile(layer: 0, experts: [ExpertHits(expert: 1, hits: 99)]),
                                           LayerProfile(layer: 1, experts: [ExpertHits(expert: 2, hits: 5)])])
        let p = DeviceTierPlan.plan(profile: profile, layout: layout, budgetBytes: 10_000, config: .init(), layers: [1])
        #expect(p.layers == [1] && p.slots[1]?.first == 2 && p.hotCount == 4 && p.usedBytes == 400)
        #expect(DeviceTierPlan.plan(profile: nil, layout: layout, budgetBytes: 10_000, config: .init(), layers: []).hotCount == 0)
    }
}
