/// Softmax attention block in the layer's shape: q/k/v projections (optional biases), optional q/k RMSNorm,
/// optional unweighted V RMSNorm, RoPE (with the layer's base and frequency factors), attention
/// over the KV cache (sliding-window or global, optional per-head sinks), optional sigmoid
/// output gate, output projection (optional bias). A layer without its own k (shared KV) reads its source layer's cache rows.
/// Input `xn`, output `tmp`.
extension InferenceSession {
    func attentionBlock(layer li: Int, weights l: AttentionWeights, tokens n: Int, start: Int) {
        let d = c.embeddingLength, s = c.attentionShape(li), ownKV = l.wk != nil
        acts.setInput(xn, cols: d, tokens: n)
        if l.gated, let qg = queryAndGate, let gate = outputGate {
            Linear.apply(l.wq, l.wk, l.wv, acts, tokens: n, outs: qg, k, v, pool: pool)
            splitQueryAndGate(qg, shape: s, tokens: n, query: q, gate: gate)
        } else {
            Linear.apply(l.wq, l.wk, l.wv, acts, tokens: n, outs: q, k, v, pool: pool)
        }
        addBias(l.qBias, to: q, width: s.qDim, tokens: n)
        if ownKV {
            addBias(l.kBias, to: k, width: s.kvDim, tokens: n)
            addBias(l.vBias, to: v, width: s.vDim, tokens: n)
        }
        // No v projection: the values are the raw key projection (before k's norm and RoPE).
        if ownKV, l.wv == nil { v.update(from: k, count: n * s.kvDim) }
        let table = ropeTable(layer: li)
        for i in 0..<n {
            let qi = q + i * s.qDim, ki = k + i * s.kvDim, vi = v + i * s.vDim
            switch c.qkNorm {
            case .none: break
            case .perHead:
                for h in 0..<s.heads { Ops.rmsNorm(qi + h * s.headDim, l.qNorm!, qi + h * s.headDim, count: s.headDim, eps: c.normEpsilon) }
                if ownKV {
                    for h in 0..<s.kvHeads { Ops.rmsNorm(ki + h * s.headDim, l.kNorm!, ki + h * s.headDim, count: s.headDim, eps: c.normEpsilon) }
                }
            case .wholeProjection:
                Ops.rmsNorm(qi, l.qNorm!, qi, count: s.qDim, eps: c.normEpsilon)
                if ownKV { Ops.rmsNorm(ki, l.kNorm!, ki, count: s.kvDim, eps: c.normEpsilon) }
            }
            let cs = table + i * s.ropeDim
            Ops.rope(qi, heads: s.heads, headDim: s.headDim, ropeDim: s.ropeDim, style: c.ropeStyle, cosSin: cs)
            guard ownKV else { continue }
            if l.valueNorm {
                for h in 0..<s.kvHeads { Ops.rmsNormUnweighted(vi + h * s.valueDim, vi + h * s.valueDim, count: s.valueDim, eps: c.normEpsilon) }
            }
            Ops.rope(ki, heads: s.kvHeads, headDim: s.headDim, ropeDim: s.ropeDim, style: c.ropeStyle, cosSin: cs)
            cache.store(layer: li, position: start + i, key: ki, value: vi)
        }
        Attention.run(config: c, layer: li, cache: cache, start: start, tokens: n, q: q, out: attnOut, scratch: scores,
                      scratchPerPart: attentionScratchPerPart, pool: pool, sinks: l.sinks)
        if l.gated, let gate = outputGate {
            for i in 0..<(n * s.qDim) { attnOut[i] *= Ops.sigmoid(gate[i]) }
        }
        acts.setInput(attnOut, cols: s.outDim, tokens: n)
        Linear.apply(l.wo, acts, tokens: n, out: tmp, pool: pool)
        addBias(l.outputBias, to: tmp, width: d, tokens: n)
    }

    /// rows[t] += bias for each token's row of `width` (ggml_add after the projection).
    private func addBias(_ bias: UnsafePointer<Float>?, to rows: UnsafeMutablePointer<Float>, width: Int, tokens n: Int) {
        guard let bias else { return }
        for t in 0..<n {
            let r = rows + t * width
            for j in 0..<width { r[j] += bias[j] }
        }
    }

    /// The gated query projection holds, per head, headDim query values then headDim gate values.
    private func splitQueryAndGate(_ qg: UnsafePointer<Float>, shape s: AttentionShape, tokens n: Int,
                                   query: UnsafeMutablePointer<Float>, gate: UnsafeMutablePointer<Float>) {
        let hd = s.headDim
        for i in 0..<n {
            for h in 0..<s.heads {
                let src = qg + i * 2 * s.qDim + h * 2 * hd, dst = i * s.qDim + h * hd
                (query + dst).update(from: src, count: hd)
                (gate + dst).update(from: src + hd, count: hd)
            }
        }
    }
}
