// SCH(m, rho), segment cache best hit rate (docs/routing-consistency.md): an oracle that,
// before each token, caches the C experts most used in the next m tokens.

extension RoutingConsistency {
    /// SCH at segment length `m` and cache ratio `rho`.
    /// Layer level: C = floor(rho * k) per layer. Model level: C = floor(rho * L * k) shared, ids
    /// distinct per layer. Rates are per sequence (hits / accesses), averaged over sequences.
    /// Ranking ties: more recently used first, then lower id. `coldStart` defaults to the
    /// document's convention (filling the cache is free); `.countMisses` makes first accesses miss.
    public static func sch(_ traces: [RoutingTrace], m: Int, rho: Double,
                           coldStart: ColdStart = .freeFill) -> (model: Double, layers: [Double]) {
        guard let first = traces.first, m > 0 else { return (0, []) }
        let layers = first.layerCount, e = first.expertsPerLayer, k = first.topK
        let layerCap = Int((rho * Double(k) + 1e-9).rounded(.down))
        let modelCap = Int((rho * Double(layers * k) + 1e-9).rounded(.down))
        var model = 0.0
        var perLayer = [Double](repeating: 0, count: layers)
        var used = 0
        for t in traces where t.tokenCount > 0 {
            used += 1
            let all = (0..<t.tokenCount).map { tok in
                (0..<layers).flatMap { l in t.selected(token: tok, layerIndex: l).map { l * e + Int($0) } }
            }
            model += segmentHitRate(all, keys: layers * e, m: m, capacity: modelCap, coldStart: coldStart)
            for l in 0..<layers {
                let one = (0..<t.tokenCount).map { tok in t.selected(token: tok, layerIndex: l).map { Int($0) } }
                perLayer[l] += segmentHitRate(one, keys: e, m: m, capacity: layerCap, coldStart: coldStart)
            }
        }
        let n = Double(max(used, 1))
        return (model / n, perLayer.map { $0 / n })
    }

    /// One sequence of per-token access lists over keys 0..<keys.
    static func segmentHitRate(_ tokens: [[Int]], keys: Int, m: Int, capacity: Int, coldStart: ColdStart) -> Double {
        var future = [Int](repeating: 0, count: keys)      // uses in [t, t+m)
        var lastUse = [Int](repeating: -1, count: keys)
        var seen = [Bool](repeating: false, count: keys)
        var seenCount = 0, hits = 0, accesses = 0
        var rank = [Int](repeating: .max, count: keys)
        for tok in 0..<min(m, tokens.count) { for x in Set(tokens[tok]) { future[x] += 1 } }
        for (t, access) in tokens.enumerated() {
            // Keys with no future use rank below every accessed key, so only f > 0 keys are ordered.
            let live = (0..<keys).filter { future[$0] > 0 }.sorted {
                if future[$0] != future[$1] { return future[$0] > future[$1] }
                if lastUse[$0] != lastUse[$1] { return lastUse[$0] > lastUse[$1] }
                return $0 < $1
            }
            for (r, x) in live.enumerated() { rank[x] = r }
            for x in access {
                accesses += 1
                if !seen[x] {
                    seen[x] = true
                    seenCount += 1
                    if coldStart == .countMisses { continue }
                    if seenCount <= capacity { hits += 1; continue }
                }
                if rank[x] < capacity { hits += 1 }
            }
            for x in live { rank[x] = .max }
            for x in access { lastUse[x] = t }
            for x in Set(access) { future[x] -= 1 }
            if t + m < tokens.count { for x in Set(tokens[t + m]) { future[x] += 1 } }
        }
        return accesses == 0 ? 0 : Double(hits) / Double(accesses)
    }
}
