// SRP(m), segment routing best performance, as defined in docs/routing-consistency.md (seed 002).

/// Best F1 of "keep a fixed expert group for each m-token window", and the group size it implies.
public struct SRPResult: Sendable, Equatable {
    /// max over tau of 2 M(tau) / (P(tau) + A); 0 when there are no windows.
    public var srp: Double
    /// The threshold achieving it (smallest tau on ties).
    public var tau: Int
    /// P(tau*) / A: experts kept per actual activation.
    public var rho: Double
}

public enum RoutingConsistency {
    /// SRP at segment length `m` over sequences `traces` (windows never cross sequences).
    /// Model level pools all layers under one tau; `layers[i]` uses one tau per layer.
    public static func srp(_ traces: [RoutingTrace], m: Int) -> (model: SRPResult, layers: [SRPResult]) {
        guard let first = traces.first, m > 0 else { return (SRPResult(srp: 0, tau: 0, rho: 0), []) }
        let layers = first.layerCount, e = first.expertsPerLayer
        // hist[l][c] = number of (window, expert) pairs with c selections of the expert in the window.
        var hist = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: layers)
        for t in traces where t.tokenCount >= m {
            for l in 0..<layers {
                var count = [Int](repeating: 0, count: e)
                func add(_ tok: Int, _ d: Int) {
                    for x in Set(t.selected(token: tok, layerIndex: l)) { count[Int(x)] += d }
                }
                for tok in 0..<m { add(tok, 1) }
                for start in 0...(t.tokenCount - m) {
                    if start > 0 { add(start - 1, -1); add(start + m - 1, 1) }
                    for c in count { hist[l][c] += 1 }
                }
            }
        }
        let pooled = (0...m).map { c in hist.reduce(0) { $0 + $1[c] } }
        return (best(pooled, m: m), hist.map { best($0, m: m) })
    }

    static func best(_ hist: [Int], m: Int) -> SRPResult {
        let a = hist.enumerated().reduce(0.0) { $0 + Double($1.offset * $1.element) }
        guard a > 0 else { return SRPResult(srp: 0, tau: 0, rho: 0) }
        var result = SRPResult(srp: -1, tau: 0, rho: 0)
        // Walk tau downwards so M and kept-count accumulate; keep the smallest tau on ties.
        var covered = 0.0, kept = 0.0
        for tau in stride(from: m, through: 0, by: -1) {
            covered += Double(tau * hist[tau])
            kept += Double(hist[tau])
            let p = Double(m) * kept
            let f1 = 2 * covered / (p + a)
            if f1 >= result.srp { result = SRPResult(srp: f1, tau: tau, rho: p / a) }
        }
        return result
    }
}
