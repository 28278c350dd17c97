import CKernels

/// Buffers of the shared expert: gate and up rows, the gate-input logit, the down output.
final class SharedExpertScratch {
    let gate, up, gateLogit, out: UnsafeMutablePointer<Float>

    /// Sized for the widest of the shared expert and the leading dense layers' FFN.
    static func width(_ c: ModelConfig) -> Int { max(c.sharedExpertFFLength, c.leadingDenseLayers > 0 ? c.denseFFLength : 0) }

    init(config c: ModelConfig, tokens n: Int) {
        gate = .allocate(capacity: n * Self.width(c))
        up = .allocate(capacity: n * Self.width(c))
        gateLogit = .allocate(capacity: n)
        out = .allocate(capacity: n * c.embeddingLength)
    }

    deinit { for p in [gate, up, gateLogit, out] { p.deallocate() } }
}

/// Inputs of a routed branch that reads the residual stream itself (Gemma 4): the router's
/// and the experts' rows.
final class RoutedInputScratch {
    let router, experts: UnsafeMutablePointer<Float>

    init(config c: ModelConfig, tokens n: Int) {
        router = .allocate(capacity: n * c.embeddingLength)
        experts = .allocate(capacity: n * c.embeddingLength)
    }

    deinit { router.deallocate(); experts.deallocate() }
}

/// MoE block: router, top-k, routed experts through the executor (wherever they live), then
/// the optional shared expert (or dense MLP), which is always computed here (never a hot or
/// cold slot). Input `xn` (and the residual `x` where the router or the experts normalise it
/// themselves), output `moeOut`.
extension InferenceSession {
    func moeBlock(layer li: Int, weights l: MoEWeights, tokens n: Int) {
        let d = c.embeddingLength, e = c.expertCount, kUsed = c.expertsUsed
        var actsHoldXn = true
        if let scale = l.routerInputScale, let r = routedInputs {
            // rms_norm(x) / sqrt(d) * scale, in ggml's order (norm, scale, mul).
            let inv = 1 / Float(d).squareRoot()
            for i in 0..<n {
                let dst = r.router + i * d
                Ops.rmsNormUnweighted(x + i * d, dst, count: d, eps: c.normEpsilon)
                for j in 0..<d { dst[j] = (dst[j] * inv) * scale[j] }
            }
            acts.setInput(r.router, cols: d, tokens: n)
            actsHoldXn = false
        } else {
            acts.setInput(xn, cols: d, tokens: n)
        }
        Linear.apply(l.router, acts, tokens: n, out: routerLogits, pool: pool)
        if let bias = l.routerBias { for i in 0..<n { Ops.add(routerLogits + i * e, bias, count: e) } }
        for i in 0..<n {
            Router.route(logits: routerLogits + i * e, expertCount: e, k: kUsed, gating: c.gating,
                         selectionBias: l.selectionBias, selection: routerSelection, normalize: c.normalizeTopK,
                         scale: c.expertWeightsScale, groups: c.expertGroups, groupsUsed: c.expertGroupsUsed, experts: routeExperts + i * kUsed, weights: routeWeights + i * kUsed)
        }
        var routes = ExpertRoutes(tokenCount: n, k: kUsed, experts: routeExperts, weights: routeWeights)
        routeObserver?(li, routes, xn)
        if let scales = l.expertScales {
            for j in 0..<(n * kUsed) { routeScales[j] = scales[Int(routeExperts[j])] }
            routes.outputScales = UnsafePointer(routeScales)
        }
        var input = UnsafePointer(xn)
        if let norm = l.expertInputNorm, let r = routedInputs {
            for i in 0..<n { Ops.rmsNorm(x + i * d, norm, r.experts + i * d, count: d, eps: c.normEpsilon) }
            input = UnsafePointer(r.experts)
        }
        executor.computeExperts(layer: li, input: input, routes: routes, output: moeOut)
        if let norm = l.expertOutputNorm {
            for i in 0..<n { Ops.rmsNorm(moeOut + i * d, norm, moeOut + i * d, count: d, eps: c.normEpsilon) }
        }
        if let sw = l.shared, let s = shared {
            if !actsHoldXn { acts.setInput(xn, cols: d, tokens: n) }
            sharedExpert(sw, s, tokens: n, outputNorm: l.sharedOutputNorm)
        }
    }

    /// A leading dense layer's FFN: moeOut = down(act(gate xn) * up xn). Input `xn`.
    func denseFFNBlock(weights w: SharedExpertWeights, tokens n: Int) {
        guard let s = shared else { return }
        acts.setInput(xn, cols: c.embeddingLength, tokens: n)
        moeOut.update(repeating: 0, count: n * c.embeddingLength)
        sharedExpert(w, s, tokens: n, outputNorm: nil)
    }

    /// moeOut += sigmoid(gateInput . x) * down(act(gate x) * up x), as llama.cpp's Qwen3-Next;
    /// without a gate input, moeOut += norm(down(act(gate x) * up x)) (Gemma 4's dense MLP,
    /// `outputNorm` its post_ffw_norm_1). Reads the input set on `acts`.
    private func sharedExpert(_ w: SharedExpertWeights, _ s: SharedExpertScratch, tokens n: Int,
                              outputNorm: UnsafePointer<Float>?) {
        let d = c.embeddingLength, f = w.gate.rows
        Linear.apply(w.gate, w.up, w.gateInput, acts, tokens: n, outs: s.gate, s.up, s.gateLogit, pool: pool)
        Ops.gatedActivation(c.ffnActivation, gate: s.gate, up: s.up, rows: n, rowLength: f)
        acts.setInput(s.gate, cols: f, tokens: n)
        Linear.apply(w.down, acts, tokens: n, out: s.out, pool: pool)
        for t in 0..<n {
            let g: Float = w.gateInput == nil ? 1 : Ops.sigmoid(s.gateLogit[t])
            let o = moeOut + t * d, so = s.out + t * d
            if let norm = outputNorm { Ops.rmsNorm(so, norm, so, count: d, eps: c.normEpsilon) }
            for i in 0..<d { o[i] += so[i] * g }
        }
    }
}
