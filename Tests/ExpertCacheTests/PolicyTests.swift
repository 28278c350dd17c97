import Testing
@testable import ExpertCache

@Suite struct PolicyTests {
    /// One layer, k = 1, capacity 2. Keys A=0 B=1 C=2: A A A B C A B C A.
    /// LRU by hand: miss hit hit | B miss | C miss (evict A) | A miss (evict B) | B miss (evict C)
    ///   | C miss (evict A) | A miss (evict B)                       -> 2 hits.
    /// LFU by hand (all-time counts): A(3) stays; C evicts B(1); A hit; B evicts C(1);
    ///   C evicts B(2 < A 4); A hit                                  -> 4 hits.
    /// Belady: C at step 5 is used last, so it is not cached; A and B then hit -> 5 hits.
    let crafted = trace([[[0]], [[0]], [[0]], [[1]], [[2]], [[0]], [[1]], [[2]], [[0]]], experts: 3, topK: 1)

    func rate(_ spec: PolicySpec, _ t: RoutingTrace, _ cap: CacheCapacity, _ cs: ColdStart = .countMisses) -> Int {
        Simulator.run([t], policy: spec, capacity: cap, coldStart: cs).hits.reduce(0, +)
    }

    @Test func lruAndLfuDifferOnACraftedTrace() {
        #expect(rate(.lru, crafted, .perLayer(2)) == 2)
        #expect(rate(.lfu, crafted, .perLayer(2)) == 4)
        #expect(rate(.belady(initial: []), crafted, .perLayer(2)) == 5)
        // Free-fill convention: the first accesses of A and B (cache not yet full) count as hits, C's does not.
        #expect(rate(.lru, crafted, .perLayer(2), .freeFill) == 4)
        let r = Simulator.run([crafted], policy: .lfu, capacity: .perLayer(2))
        #expect(r.accesses == [9])
        #expect(r.totalHitRate == 4.0 / 9.0)
    }

    /// LRU, capacity 1, k = 1, one layer, accesses A B A B with guesses -, B, C, B.
    /// Without lookahead every access misses (capacity 1 alternates). With it: step 1 B was guessed
    /// and not resident -> read-ahead hit; step 2 guessed C (wrong: wasted), A misses; step 3 B
    /// guessed again -> hit. The policy sees the same accesses, so residency is unchanged.
    @Test func lookaheadServesGuessedMissesAndCountsWrongGuesses() throws {
        var t = trace([[[0]], [[1]], [[0]], [[1]]], experts: 3, topK: 1)
        try t.attachLookahead([-1, 1, 2, 1])
        let plain = Simulator.run([t], policy: .lru, capacity: .perLayer(1))
        let ahead = Simulator.run([t], policy: .lru, capacity: .perLayer(1), lookahead: true)
        #expect(plain.hits == [0])
        #expect(ahead.hits == [2])
        #expect(ahead.readAheadHits == 2)
        #expect(ahead.readAheadWasted == 1)
        // A guess of an expert already resident costs no read and adds no hit.
        var r = trace([[[0]], [[0]]], experts: 3, topK: 1)
        try r.attachLookahead([-1, 0])
        let resident = Simulator.run([r], policy: .lru, capacity: .perLayer(1), lookahead: true)
        #expect(resident.hits == [1] && resident.readAheadHits == 0 && resident.readAheadWasted == 0)
        // Belady stays the demand bound.
        #expect(Simulator.run([t], policy: .belady(initial: []), capacity: .perLayer(1), lookahead: true).hits
                == Simulator.run([t], policy: .belady(initial: []), capacity: .perLayer(1)).hits)
    }

    @Test func policyNamesParse() throws {
        #expect(try PolicySpec(name: "lru") == .lru)
        #expect(try PolicySpec(name: "lfu-decay", halfLifeTokens: 32) == .lfuDecay(halfLifeTokens: 32))
        #expect(try PolicySpec(name: "window-lfu", windowTokens: 64) == .windowLFU(windowTokens: 64))
        #expect(try PolicySpec(name: "lfru") == .lfru(privilegedFraction: 0.5))
        let pinned = [ExpertID(layer: 0, expert: 1)]
        #expect(try PolicySpec(name: "pinned", pinned: pinned, remainder: "lfu") == .pinned(pinned, remainder: .lfu))
        #expect(throws: PolicySpec.UnknownPolicy.self) { try PolicySpec(name: "fifo") }
    }

    @Test func decayForgetsOldPopularityAndWindowLFUOnlyCountsTheWindow() {
        // A is used at ticks 0-4, then B and C alternate (B at 5, C at 6, ...). Capacity 2.
        // LFU keeps A forever (count 5) and thrashes B/C.
        // Decay, half-life 1: at tick 6 A's score is 1/4+1/8+... < 1/2 = B's, so A goes; B/C then all hit.
        // Window of 4 tokens: at tick 6 A still has 2 uses (ticks 3, 4) vs B's 1 -> B evicted;
        // at tick 7 A (1 use) ties C and is older -> A goes. One more miss than decay.
        var tokens: [[[Int]]] = Array(repeating: [[0]], count: 5)
        for i in 0..<10 { tokens.append([[1 + i % 2]]) }
        let t = trace(tokens, experts: 3, topK: 1)
        #expect(rate(.lfu, t, .perLayer(2)) == 4)   // A hits 4x, every B/C access misses
        #expect(rate(.lfuDecay(halfLifeTokens: 1), t, .perLayer(2)) == 4 + 8)
        #expect(rate(.windowLFU(windowTokens: 4), t, .perLayer(2)) == 4 + 7)
    }

    @Test func lfruPromotesOnSecondUseAndPinnedNeverEvicts() {
        var l = LFRUPolicy(capacity: 2)   // 1 privileged + 1 unprivileged
        // 0 misses, then hits and is promoted; 1 enters unprivileged; 2 replaces it there.
        let flags = [0, 0, 1, 2].enumerated().map { l.access($0.element, tick: $0.offset) }
        #expect(flags == [false, true, false, false])
        #expect(l.residents == [0, 2])

        var p = PinnedPolicy(capacity: 2, pinned: [7]) { LRUPolicy(capacity: $0) }
        for k in [1, 2, 3, 4] { _ = p.access(k, tick: k) }
        #expect(p.residents == [7, 4])
        let pinnedHit = p.access(7, tick: 9)
        #expect(pinnedHit)
    }

    @Test(arguments: 0..<40)
    func beladyBoundsEveryOnlinePolicy(seed: Int) {
        let t = randomTrace(seed: UInt64(seed), tokens: 60, layers: 2, experts: 12, topK: 2)
        let pinned = [ExpertID(layer: 0, expert: 0), ExpertID(layer: 1, expert: 1), ExpertID(layer: 1, expert: 0)]
        for cap in [CacheCapacity.perLayer(3), .perLayer(5), .global(4), .global(9)] {
            for cs in [ColdStart.countMisses, .freeFill] {
                let best = rate(.belady(initial: []), t, cap, cs)
                for spec in [PolicySpec.lru, .lfu, .lfuDecay(halfLifeTokens: 8), .windowLFU(windowTokens: 10), .lfru(privilegedFraction: 0.5)] {
                    let got = rate(spec, t, cap, cs)
                    #expect(got <= best, "seed \(seed) \(spec) \(cap) \(cs): \(got) > \(best)")
                }
                // Pinned starts pre-warmed, so compare with Belady given the same initial contents.
                let warmBest = rate(.belady(initial: pinned), t, cap, cs)
                #expect(rate(.pinned(pinned, remainder: .lru), t, cap, cs) <= warmBest)
                #expect(rate(.pinned(pinned, remainder: .lfu), t, cap, cs) <= warmBest)
            }
        }
    }

    @Test func fullyPinnedCacheStillBoundedThanksToBypass() {
        // Capacity 1 pinned to A: A B A hits twice. Forced-insert MIN would get only 1; MIN with bypass gets 2.
        let t = trace([[[0]], [[1]], [[0]]], experts: 2, topK: 1)
        let a = [ExpertID(layer: 0, expert: 0)]
        #expect(rate(.pinned(a, remainder: .lru), t, .perLayer(1)) == 2)
        #expect(rate(.belady(initial: a), t, .perLayer(1)) == 2)
    }

    @Test func traceRejectsBadTokens() {
        var t = RoutingTrace(layerIDs: [0], expertsPerLayer: 4, topK: 2)
        #expect(throws: RoutingTrace.TraceError.self) { try t.append([[1, 1]]) }
        #expect(throws: RoutingTrace.TraceError.self) { try t.append([[1, 4]]) }
        #expect(throws: RoutingTrace.TraceError.self) { try t.append([[1, 2], [0, 1]]) }
    }
}
