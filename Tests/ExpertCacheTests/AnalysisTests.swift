import Foundation
import Testing
@testable import ExpertCache

@Suite struct AnalysisTests {
    func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) < 1e-9 }

    @Test func srpOnATinyTraceByHand() {
        // Layer 0: A A B; layer 1: C C C; E = 3, k = 1, m = 2 -> windows [0,2) and [1,3).
        // Layer 0 pairs: w0 A2 B0 C0, w1 A1 B1 C0 -> hist c0:3 c1:2 c2:1, A = 4.
        //   tau 0: 2*4/(12+4) = .5; tau 1: 8/(6+4) = .8; tau 2: 4/(2+4) = .667 -> SRP .8, rho 6/4.
        // Layer 1: hist c0:4 c2:2, A = 4: tau 1 and 2 both give 8/8 = 1 -> smallest tau 1, rho 1.
        // Pooled: c0:7 c1:2 c2:3, A = 8: tau 1: 16/(10+8) = .8889 beats tau 2: 12/(6+8) = .857.
        let t = trace([[[0], [2]], [[0], [2]], [[1], [2]]], experts: 3, topK: 1)
        let r = RoutingConsistency.srp([t], m: 2)
        #expect(close(r.layers[0].srp, 0.8) && r.layers[0].tau == 1 && close(r.layers[0].rho, 1.5))
        #expect(close(r.layers[1].srp, 1.0) && r.layers[1].tau == 1 && close(r.layers[1].rho, 1.0))
        #expect(close(r.model.srp, 16.0 / 18.0) && r.model.tau == 1 && close(r.model.rho, 1.25))
        // A sequence shorter than m has no windows.
        #expect(RoutingConsistency.srp([t], m: 4).model.srp == 0)
    }

    @Test func srpPoolsWindowsAcrossSequences() {
        let a = trace([[[0]], [[0]], [[1]]], experts: 3, topK: 1)
        let both = RoutingConsistency.srp([a, a], m: 2)
        #expect(close(both.model.srp, 0.8))   // same histogram shape, doubled
        let concatenated = trace([[[0]], [[0]], [[1]], [[0]], [[0]], [[1]]], experts: 3, topK: 1)
        #expect(!close(RoutingConsistency.srp([concatenated], m: 2).model.srp, 0.8))   // cross-sequence windows differ
    }

    @Test func schOnATinyTraceByHand() {
        // One layer, k = 1, tokens A B A C A, m = 2.
        // rho 1 (C = 1): t0 A ranks 0 (tie, lower id), free fill -> hit; t1 B ranks 1 behind the
        // more recent A -> miss; t2 A hit; t3 C ranks 1 behind A -> miss; t4 A hit. 3/5.
        // rho 2 (C = 2): every access ranks < 2 or fills -> 5/5.
        // Counting first accesses as misses: A, B, C each miss once -> 2/5 at both sizes.
        let t = trace([[[0]], [[1]], [[0]], [[2]], [[0]]], experts: 3, topK: 1)
        #expect(close(RoutingConsistency.sch([t], m: 2, rho: 1).layers[0], 0.6))
        #expect(close(RoutingConsistency.sch([t], m: 2, rho: 2).layers[0], 1.0))
        #expect(close(RoutingConsistency.sch([t], m: 2, rho: 1, coldStart: .countMisses).layers[0], 0.4))
        #expect(close(RoutingConsistency.sch([t], m: 2, rho: 2, coldStart: .countMisses).layers[0], 0.4))
    }

    @Test func schModelLevelSharesOneCache() {
        // Layer 0: A A; layer 1: B C. rho 0.5 -> model C = 0.5 * 2 layers * 1 = 1.
        // t0: L0A (f 2) ranks 0 -> fill hit; L1B ranks 1 -> miss. t1: L0A hit; L1C ranks 1 -> miss. 2/4.
        let t = trace([[[0], [1]], [[0], [2]]], experts: 3, topK: 1)
        #expect(close(RoutingConsistency.sch([t], m: 2, rho: 0.5).model, 0.5))
        // With one layer, model level and layer level coincide.
        let one = randomTrace(seed: 3, tokens: 40, layers: 1, experts: 8, topK: 2)
        let r = RoutingConsistency.sch([one], m: 4, rho: 2)
        #expect(close(r.model, r.layers[0]))
    }

    @Test func schWithOneTokenSegmentsHitsEverythingAndGrowsWithCapacity() {
        for seed in 0..<10 {
            let t = randomTrace(seed: UInt64(seed), tokens: 80, layers: 2, experts: 16, topK: 2)
            let sch = RoutingConsistency.sch([t], m: 1, rho: 2)   // m = 1: cache exactly this token's experts
            #expect(sch.layers.allSatisfy { close($0, 1) })
            let s16 = RoutingConsistency.sch([t], m: 16, rho: 2).layers
            let s16big = RoutingConsistency.sch([t], m: 16, rho: 4).layers
            for l in 0..<2 { #expect(s16big[l] >= s16[l]) }
            #expect(s16.contains { $0 < 1 })   // rho 2 is not enough for 16-token segments here
        }
    }

    @Test func utilisationStatsByHand() {
        let u = ExpertUtilisation.stats(counts: [1, 2, 3, 4])
        #expect(close(u.gini, 0.25))               // 2*30/(4*10) - 5/4
        #expect(abs(u.entropyBits - 1.846439344671) < 1e-9)
        #expect(close(u.top10Share, 0.4))          // ceil(0.4) = 1 expert
        #expect(close(u.top30Share, 0.7))          // ceil(1.2) = 2 experts
        let even = ExpertUtilisation.stats(counts: .init(repeating: 5, count: 10))
        #expect(close(even.gini, 0) && close(even.normalizedEntropy, 1) && close(even.top10Share, 0.1))
        let one = ExpertUtilisation.stats(counts: [0, 0, 0, 10])
        #expect(close(one.gini, 0.75) && one.entropyBits == 0 && one.top10Share == 1)
    }

    @Test func utilisationFromProfileIncludesUnusedExperts() throws {
        let p = try decode(#"{"schema":"llama.cpp.moe_layer_opt_perf.v1","layers":[{"layer":1,"experts":[[3,10]]}]}"#)
        let s = ExpertUtilisation.stats(profile: p, expertsPerLayer: 4)
        #expect(s.count == 1 && s[0].layer == 1)
        #expect(close(s[0].stats.gini, 0.75))
    }
}
