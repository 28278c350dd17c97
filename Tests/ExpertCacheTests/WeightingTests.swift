import Testing
@testable import ExpertCache

/// Hand-made 3-layer runtime profile. Layer pressures (join wait, else cold-hot lane delta):
/// L0 = 30, L1 = 10, L2 = 25 - 5 = 20. Total MoE time: 100, 50, 200.
/// L0E1 is already hot for 10 hits -> sticky bonus 10 * 0.05 = 0.5.
let threeLayerProfile = """
{"schema":"llama.cpp.moe_layer_opt_perf.v1","layers":[
{"layer":0,"hot_experts":[[1,10]],"cold_experts":[[2,20],[3,5]],"parallel_join_wait_time_per_call_us":30,"total_moe_time_per_call_us":100},
{"layer":1,"hot_experts":[],"cold_experts":[[0,40],[4,8]],"parallel_join_wait_time_per_call_us":10,"total_moe_time_per_call_us":50},
{"layer":2,"cold_experts":[[5,30]],"parallel_cold_lane_wall_time_per_call_us":25,"parallel_hot_lane_wall_time_per_call_us":5,"total_moe_time_per_call_us":200}]}
"""

@Suite struct WeightingTests {
    func rank(_ mode: WeightingMode, curve: Double = 0.5) throws -> [ScoredExpert] {
        Weighting.rank(try decode(threeLayerProfile).observations(), config: WeightingConfig(mode: mode, layerCurve: curve))
    }

    @Test func aliasesResolveToTheFiveModes() {
        #expect(WeightingMode(name: "smooth-pressure") == .smooth)
        #expect(WeightingMode(name: "soft-pressure") == .smooth)
        #expect(WeightingMode(name: "capped") == .smooth)
        #expect(WeightingMode(name: "decode-time") == .time)
        #expect(WeightingMode(name: "moe-time") == .time)
        #expect(WeightingMode(name: "layer-rank") == .balanced)
        #expect(WeightingMode(name: "rank") == .balanced)
        #expect(WeightingMode(name: "flat") == .flat)
        #expect(WeightingMode(name: "pressure") == .pressure)
        #expect(WeightingMode(name: "turbo") == nil)
        #expect(WeightingConfig().mode == .flat)
        #expect(WeightingConfig(layerCurve: 1.7).layerCurve == 0.5)
    }

    @Test func pressure() throws {
        // avg 20; w = clamp(1 + 0.5 (p/20 - 1), 0.85, 1.3): L0 1.25, L1 0.85 (clamped from 0.75), L2 1.0.
        // L0E1 10*1.25+0.5 = 13, L0E2 25, L0E3 6.25 -> 6, L1E0 34, L1E4 6.8 -> 7, L2E5 30.
        let r = try rank(.pressure)
        #expect(ids(r) == ["L1E0", "L2E5", "L0E2", "L0E1", "L1E4", "L0E3"])
        #expect(r.map(\.score) == [34, 30, 25, 13, 7, 6])
    }

    @Test func pressureWithZeroCurveIsHitsPlusSticky() throws {
        #expect(try rank(.pressure, curve: 0).map(\.score) == [40, 30, 20, 11, 8, 5])
    }

    @Test func smooth() throws {
        // Sorted pressures 10, 20, 30: p10 = 12, p90 = 28. w = 1 + 0.15 sqrt(clamp((p - 12) / 16)):
        // L0 1.15, L1 1.0, L2 1 + 0.15 sqrt(0.5) = 1.10607.
        // L0E1 11.5+0.5 = 12, L0E2 23, L0E3 5.75 -> 6, L1E0 40, L1E4 8, L2E5 33.18 -> 33.
        let r = try rank(.smooth)
        #expect(ids(r) == ["L1E0", "L2E5", "L0E2", "L0E1", "L1E4", "L0E3"])
        #expect(r.map(\.score) == [40, 33, 23, 12, 8, 6])
    }

    @Test func time() throws {
        // Total time 100, 50, 200 -> normalised 1/3, 0, 1 on [0.7, 1.4]: L0 0.9333, L1 0.7, L2 1.4.
        // L0E1 9.333+0.5 -> 10, L0E2 18.67 -> 19, L0E3 4.67 -> 5, L1E0 28, L1E4 5.6 -> 6, L2E5 42.
        let r = try rank(.time)
        #expect(ids(r) == ["L2E5", "L1E0", "L0E2", "L0E1", "L1E4", "L0E3"])
        #expect(r.map(\.score) == [42, 28, 19, 10, 6, 5])
    }

    @Test func flat() throws {
        // Per-layer ranks (hits + sticky): L0: E2 20, E1 11, E3 5; L1: E0 40, E4 8; L2: E5 30.
        // Band = (3 - rank) * 1e6 shared by all layers, so rank 0 of every layer comes first.
        let r = try rank(.flat)
        #expect(ids(r) == ["L1E0", "L2E5", "L0E2", "L0E1", "L1E4", "L0E3"])
        #expect(r.map(\.score) == [3_000_040, 3_000_030, 3_000_020, 2_000_011, 2_000_008, 1_000_005])
    }

    @Test func balanced() throws {
        // Band counts down from each layer's own list length: L0 3,2,1; L1 2,1; L2 1.
        let r = try rank(.balanced)
        #expect(ids(r) == ["L0E2", "L1E0", "L0E1", "L2E5", "L1E4", "L0E3"])
        #expect(r.map(\.score) == [3_000_020, 2_000_040, 2_000_011, 1_000_030, 1_000_008, 1_000_005])
    }

    @Test func flatInterleavesEqualRanksAcrossLayers() throws {
        // The tool's own example: layer totals differ 5x, flat still alternates layers per rank.
        let p = try decode("""
        {"schema":"llama.cpp.moe_layer_opt_perf.v1","layers":[{"layer":0,"experts":[[0,100],[1,90],[2,80]]},
        {"layer":1,"experts":[[0,50],[1,40],[2,30]]},{"layer":2,"experts":[[0,20],[1,10],[2,5]]}]}
        """)
        let r = Weighting.rank(p.observations(), config: WeightingConfig(mode: .flat, layerCurve: 1))
        #expect(ids(r) == ["L0E0", "L1E0", "L2E0", "L0E1", "L1E1", "L2E1", "L0E2", "L1E2", "L2E2"])
        // Pressure on the same data (no timings -> weight 1) ranks purely by hits instead.
        let byHits = Weighting.rank(p.observations(), config: WeightingConfig(mode: .pressure))
        #expect(ids(byHits).prefix(4) == ["L0E0", "L0E1", "L0E2", "L1E0"])
    }

    @Test func toolPressureExamplesMatch() throws {
        // Cases from the tool's test-suite: join waits 20 / 10 -> weights 1.1667 / 0.85.
        let p = try decode("""
        {"schema":"llama.cpp.moe_layer_opt_perf.v1","layers":[
        {"layer":0,"hot_experts":[[1,10]],"cold_experts":[[2,10]],"parallel_join_wait_time_per_call_us":20},
        {"layer":1,"hot_experts":[[3,12]],"parallel_join_wait_time_per_call_us":10}]}
        """)
        let r = Weighting.rank(p.observations(), config: WeightingConfig(mode: .pressure))
        #expect(ids(r) == ["L0E1", "L0E2", "L1E3"])
        #expect(r.map(\.score) == [12, 12, 11])
    }

    @Test func zeroHitExpertsAreIgnored() throws {
        let p = try decode("""
        {"schema":"llama.cpp.moe_layer_opt_perf.v1","layers":[{"layer":0,"experts":[[0,0],[1,3]]},{"layer":1,"experts":[[2,0]]}]}
        """)
        for mode in WeightingMode.allCases {
            #expect(ids(Weighting.rank(p.observations(), config: WeightingConfig(mode: mode))) == ["L0E1"])
        }
    }
}
