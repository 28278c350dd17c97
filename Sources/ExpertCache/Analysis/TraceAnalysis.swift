// Everything `hotmoe analyze` reports about a routing trace, as plain values (seed 002 and 003).

import Foundation

public struct TraceAnalysis: Sendable, Codable {
    public struct LayerUtilisation: Sendable, Codable {
        public var layer: Int
        public var gini, normalizedEntropy, top10Share, top30Share: Double
        public var counts: [UInt64]
    }

    public struct Curve: Sendable, Codable {
        public var policy: String
        /// Hit rate at each capacity of `capacities` (experts per layer).
        public var hitRates: [Double]

        public init(policy: String, hitRates: [Double]) {
            self.policy = policy
            self.hitRates = hitRates
        }
    }

    public struct Consistency: Sendable, Codable {
        public var m: Int
        public var srp: Double
        public var srpRho: Double
        /// Layer-level SCH averaged over layers, keyed "rho=1", "rho=2", "rho=4".
        public var sch: [String: Double]
        public var srpPerLayer: [Double]
        public var schPerLayerRho2: [Double]
    }

    public var tokens: Int
    public var sequences: Int
    public var layers: [Int]
    public var expertsPerLayer: Int
    public var topK: Int
    public var utilisation: [LayerUtilisation]
    public var consistency: [Consistency]
    /// Capacities in experts per layer (multiples of top-k).
    public var capacities: [Int]
    public var curves: [Curve]
    /// Static profile learned on the train split, hit rate on the test split, per capacity.
    public var staticProfile: Curve
    public var trainSequences: Int
    public var uniformExpectation: [Double]
    /// With lookahead guesses in the trace: online policies plus read-ahead of the guessed
    /// experts (Simulator's `lookahead`), per capacity; empty without guesses.
    public var lookaheadCurves: [Curve]
    /// Wasted read-ahead (guessed, not resident, not selected) per token, per capacity, for the
    /// first lookahead curve's policy.
    public var lookaheadWastedPerToken: [Double]
    /// Share of the selections in MoE layers after the first that the guess named; nil without guesses.
    public var lookaheadPrecision: Double?
    public var verdict: String

    public static let onlinePolicies = ["lru", "lfu", "lfu-decay", "window-lfu", "lfru"]
    /// The policies the runtime offers with read-ahead, modelled when the trace has guesses.
    public static let lookaheadPolicies = ["lru", "lfu-decay"]

    /// Full analysis. `budgetExperts`: the user's cache size per layer for the verdict.
    public static func analyze(_ traces: [RoutingTrace], capacityMultiples: [Int] = [1, 2, 3, 4, 6, 8],
                               segments: [Int] = [4, 16, 64, 256], budgetExperts: Int? = nil) -> TraceAnalysis {
        let used = traces.filter { $0.tokenCount > 0 }
        precondition(!used.isEmpty, "no tokens in the trace")
        let first = used[0]
        let L = first.layerCount, E = first.expertsPerLayer, k = first.topK
        var counts = [[UInt64]](repeating: [UInt64](repeating: 0, count: E), count: L)
        for t in used { for tok in 0..<t.tokenCount { for l in 0..<L { for e in t.selected(token: tok, layerIndex: l) { counts[l][Int(e)] += 1 } } } }
        let util = (0..<L).map { l -> LayerUtilisation in
            let s = ExpertUtilisation.stats(counts: counts[l])
            return LayerUtilisation(layer: first.layerIDs[l], gini: s.gini, normalizedEntropy: s.normalizedEntropy,
                                    top10Share: s.top10Share, top30Share: s.top30Share, counts: counts[l])
        }
        let longest = used.map(\.tokenCount).max()!
        let consistency = segments.filter { $0 <= longest }.map { m -> Consistency in
            let srp = RoutingConsistency.srp(used, m: m)
            var sch = [String: Double]()
            var perLayer2 = [Double]()
            for rho in [1.0, 2.0, 4.0] {
                let r = RoutingConsistency.sch(used, m: m, rho: rho)
                sch["rho=\(Int(rho))"] = r.layers.reduce(0, +) / Double(max(1, r.layers.count))
                if rho == 2 { perLayer2 = r.layers }
            }
            return Consistency(m: m, srp: srp.model.srp, srpRho: srp.model.rho, sch: sch,
                               srpPerLayer: srp.layers.map(\.srp), schPerLayerRho2: perLayer2)
        }
        let capacities = capacityMultiples.map { min(E, $0 * k) }
        var curves = onlinePolicies.map { name in
            Curve(policy: name, hitRates: capacities.map { c in
                Simulator.run(used, policy: try! PolicySpec(name: name), capacity: .perLayer(c)).totalHitRate
            })
        }
        curves.append(Curve(policy: "belady", hitRates: capacities.map { c in
            Simulator.run(used, policy: .belady(initial: []), capacity: .perLayer(c)).totalHitRate
        }))
        // Static profile: learned on the first half of the sequences (or of the tokens, for one).
        let (train, test) = split(used)
        var trainCounts = [[UInt64]](repeating: [UInt64](repeating: 0, count: E), count: L)
        for t in train { for tok in 0..<t.tokenCount { for l in 0..<L { for e in t.selected(token: tok, layerIndex: l) { trainCounts[l][Int(e)] += 1 } } } }
        let staticRates = capacities.map { c -> Double in
            let sets = trainCounts.map { row in Set(row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(c)) }
            var hits = 0, total = 0
            for t in test { for tok in 0..<t.tokenCount { for l in 0..<L { for e in t.selected(token: tok, layerIndex: l) {
                total += 1
                if sets[l].contains(Int(e)) { hits += 1 }
            } } } }
            return total == 0 ? 0 : Double(hits) / Double(total)
        }
        let staticCurve = Curve(policy: "static-profile", hitRates: staticRates)
        let uniform = capacities.map { Double($0) / Double(E) }
        let hasGuesses = used.allSatisfy { $0.lookahead != nil }
        var lookaheadCurves = [Curve](), wasted = [Double]()
        if hasGuesses {
            let tokens = Double(used.reduce(0) { $0 + $1.tokenCount })
            for (i, name) in lookaheadPolicies.enumerated() {
                let runs = capacities.map { c in
                    Simulator.run(used, policy: try! PolicySpec(name: name), capacity: .perLayer(c), lookahead: true)
                }
                lookaheadCurves.append(Curve(policy: name + "+lookahead", hitRates: runs.map(\.totalHitRate)))
                if i == 0 { wasted = runs.map { Double($0.readAheadWasted) / tokens } }
            }
        }
        let precision = hasGuesses ? lookaheadPrecision(used) : nil
        let verdict = makeVerdict(capacities: capacities, curves: curves, staticCurve: staticCurve, uniform: uniform,
                                  consistency: consistency, k: k, budget: budgetExperts ?? min(E, 2 * k),
                                  lookahead: lookaheadCurves, precision: precision)
        return TraceAnalysis(tokens: used.reduce(0) { $0 + $1.tokenCount }, sequences: used.count, layers: first.layerIDs,
                             expertsPerLayer: E, topK: k, utilisation: util, consistency: consistency, capacities: capacities,
                             curves: curves, staticProfile: staticCurve, trainSequences: train.count, uniformExpectation: uniform,
                             lookaheadCurves: lookaheadCurves, lookaheadWastedPerToken: wasted, lookaheadPrecision: precision,
                             verdict: verdict)
    }

    /// Of the selections in every MoE layer that has a guess, the share the guess named.
    static func lookaheadPrecision(_ traces: [RoutingTrace]) -> Double {
        var named = 0, total = 0
        for t in traces {
            for tok in 0..<t.tokenCount {
                for l in 0..<t.layerCount {
                    guard let g = t.guessed(token: tok, layerIndex: l) else { continue }
                    let guess = Set(g)
                    for e in t.selected(token: tok, layerIndex: l) {
                        total += 1
                        if guess.contains(e) { named += 1 }
                    }
                }
            }
        }
        return total == 0 ? 0 : Double(named) / Double(total)
    }

    /// Train/test split: by sequence when there are several, else the one sequence's halves.
    static func split(_ traces: [RoutingTrace]) -> ([RoutingTrace], [RoutingTrace]) {
        if traces.count >= 2 {
            let n = traces.count / 2
            return (Array(traces.prefix(n)), Array(traces.dropFirst(n)))
        }
        let t = traces[0], half = t.tokenCount / 2
        func slice(_ r: Range<Int>) -> RoutingTrace {
            var out = RoutingTrace(layerIDs: t.layerIDs, expertsPerLayer: t.expertsPerLayer, topK: t.topK)
            for tok in r { try? out.append((0..<t.layerCount).map { l in t.selected(token: tok, layerIndex: l).map { Int($0) } }) }
            return out
        }
        return ([slice(0..<half)], [slice(half..<t.tokenCount)])
    }

    static func makeVerdict(capacities: [Int], curves: [Curve], staticCurve: Curve, uniform: [Double],
                            consistency: [Consistency], k: Int, budget: Int,
                            lookahead: [Curve] = [], precision: Double? = nil) -> String {
        // Interpolate each curve at the budget (capacities are increasing).
        func at(_ rates: [Double]) -> Double {
            guard let hi = capacities.firstIndex(where: { $0 >= budget }) else { return rates.last! }
            if hi == 0 || capacities[hi] == budget { return rates[hi] }
            let lo = hi - 1, f = Double(budget - capacities[lo]) / Double(capacities[hi] - capacities[lo])
            return rates[lo] + f * (rates[hi] - rates[lo])
        }
        let online = curves.filter { $0.policy != "belady" }
        let best = online.max { at($0.hitRates) < at($1.hitRates) }!
        let bestRate = at(best.hitRates), staticRate = at(staticCurve.hitRates), bound = at(curves.first { $0.policy == "belady" }!.hitRates)
        let uniformRate = at(uniform)
        let sch2 = consistency.first { $0.m == 16 }?.sch["rho=2"]
        var v = String(format: "At %d experts per layer (%.1fx top-%d): best online policy %@ %.1f%%, static profile %.1f%%, Belady bound %.1f%%, uniform routing %.1f%%. ",
                       budget, Double(budget) / Double(k), k, best.policy, bestRate * 100, staticRate * 100, bound * 100, uniformRate * 100)
        let recommend = staticRate >= bestRate ? "a static hot cache from a profile (--moe-hot-cache)" : "the online policy \(best.policy) (--moe-cache-policy \(best.policy))"
        v += "Use \(recommend). "
        if let bestAhead = lookahead.max(by: { at($0.hitRates) < at($1.hitRates) }), let precision {
            // Read-ahead is prefetch, not replacement: it can pass Belady's demand-caching bound.
            v += String(format: "With lookahead read-ahead (guesses name %.1f%% of the selections) %@ reaches %.1f%%, %+.1f points from Belady, at the cost of the wrong guesses' reads (--moe-prefetch on). ",
                        precision * 100, bestAhead.policy, at(bestAhead.hitRates) * 100, (at(bestAhead.hitRates) - bound) * 100)
        }
        let lift = max(bestRate, staticRate) / max(uniformRate, 1e-9)
        let schNote = sch2.map { String(format: ", SCH(16, 2) = %.2f", $0) } ?? ""
        if lift >= 2 {
            v += String(format: "Routing is skewed and local (%.1fx the uniform hit rate%@): this model and workload suit expert offloading.", lift, schNote)
        } else if lift >= 1.3 {
            v += String(format: "Some locality (%.1fx the uniform hit rate%@): a cache helps, but the slow tier still carries most selections.", lift, schNote)
        } else {
            v += String(format: "Routing is close to uniform (%.1fx): a cache of this size gains little; offloading will be bound by the slow tier.", lift)
        }
        return v
    }
}
