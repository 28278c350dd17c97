import CKernels

/// Buffers of the shared expert: gate and up rows, the gate-input logit, the down output.
final class SharedExpertScratch {
    let gate, up, gateLogit, out: UnsafeMutablePointer<Float>

    init(config c: ModelConfig, tokens n: Int) {
        gate = .allocate(capacity: n * c.sharedExpertFFLength)
        up = .allocate(capacity: n * c.sharedExpertFFLength)
        gateLogit = .allocate(capacity: n)
        out = .allocate(capacity: n * c.embeddingLength)
    }

    deinit { for p in [gate, up, gateLogit, out] { p.deallocate() } }
}

/// MoE block: router, top-k, routed experts through the executor (wherever they live), then
/// the optional shared expert, which is always computed here (never a hot or cold slot).
/// Input `xn`, output `moeOut`.
extension InferenceSession {
    func moeBlock(layer li: Int, weights l: MoEWeights, tokens n: Int) {
        let d = c.embeddingLength, e = c.expertCount, kUsed = c.expertsUsed
        acts.setInput(xn, cols: d, tokens: n)
        Linear.apply(l.router, acts, tokens: n, out: routerLogits, pool: pool)
        for i in 0..<n {
            Router.route(logits: routerLogits + i * e, expertCount: e, k: kUsed, normalize: c.normalizeTopK,
                         scale: c.expertWeightsScale, experts: routeExperts + i * kUsed, weights: routeWeights + i * kUsed)
        }
        let routes = ExpertRoutes(tokenCount: n, k: kUsed, experts: routeExperts, weights: routeWeights)
        routeObserver?(li, routes)
        executor.computeExperts(layer: li, input: xn, routes: routes, output: moeOut)
        if let sw = l.shared, let s = shared { sharedExpert(sw, s, tokens: n) }
    }

    /// moeOut += sigmoid(gateInput . x) * down(silu(gate x) * up x), as llama.cpp's Qwen3-Next.
    private func sharedExpert(_ w: SharedExpertWeights, _ s: SharedExpertScratch, tokens n: Int) {
        let d = c.embeddingLength, f = c.sharedExpertFFLength
        if let gi = w.gateInput {
            Linear.apply(w.gate, w.up, gi, acts, tokens: n, outs: s.gate, s.up, s.gateLogit, pool: pool)
        } else {
            Linear.apply(w.gate, acts, tokens: n, out: s.gate, pool: pool)
            Linear.apply(w.up, acts, tokens: n, out: s.up, pool: pool)
        }
        for t in 0..<n { hm_ggml_swiglu_f32(s.gate + t * f, s.up + t * f, s.gate + t * f, Int64(f)) }
        acts.setInput(s.gate, cols: f, tokens: n)
        Linear.apply(w.down, acts, tokens: n, out: s.out, pool: pool)
        for t in 0..<n {
            let g: Float = w.gateInput == nil ? 1 : Ops.sigmoid(s.gateLogit[t])
            let o = moeOut + t * d, so = s.out + t * d
            for i in 0..<d { o[i] += so[i] * g }
        }
    }
}
