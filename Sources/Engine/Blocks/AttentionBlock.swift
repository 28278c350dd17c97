/// Softmax attention block: q/k/v projections, optional q/k RMSNorm, RoPE, attention over the
/// KV cache, optional sigmoid output gate, output projection. Input `xn`, output `tmp`.
extension InferenceSession {
    func attentionBlock(layer li: Int, weights l: AttentionWeights, tokens n: Int, start: Int) {
        let d = c.embeddingLength
        acts.setInput(xn, cols: d, tokens: n)
        if l.gated, let qg = queryAndGate, let gate = outputGate {
            Linear.apply(l.wq, l.wk, l.wv, acts, tokens: n, outs: qg, k, v, pool: pool)
            splitQueryAndGate(qg, tokens: n, query: q, gate: gate)
        } else {
            Linear.apply(l.wq, l.wk, l.wv, acts, tokens: n, outs: q, k, v, pool: pool)
        }
        for i in 0..<n {
            let qi = q + i * c.qDim, ki = k + i * c.kvDim
            switch c.qkNorm {
            case .none: break
            case .perHead:
                for h in 0..<c.headCount { Ops.rmsNorm(qi + h * c.headDim, l.qNorm!, qi + h * c.headDim, count: c.headDim, eps: c.normEpsilon) }
                for h in 0..<c.kvHeadCount { Ops.rmsNorm(ki + h * c.headDim, l.kNorm!, ki + h * c.headDim, count: c.headDim, eps: c.normEpsilon) }
            case .wholeProjection:
                Ops.rmsNorm(qi, l.qNorm!, qi, count: c.qDim, eps: c.normEpsilon)
                Ops.rmsNorm(ki, l.kNorm!, ki, count: c.kvDim, eps: c.normEpsilon)
            }
            Ops.rope(qi, heads: c.headCount, headDim: c.headDim, ropeDim: c.ropeDim, style: c.ropeStyle, cosSin: cosSin + i * c.ropeDim)
            Ops.rope(ki, heads: c.kvHeadCount, headDim: c.headDim, ropeDim: c.ropeDim, style: c.ropeStyle, cosSin: cosSin + i * c.ropeDim)
            cache.key(layer: li, position: start + i).update(from: ki, count: c.kvDim)
            cache.value(layer: li, position: start + i).update(from: v + i * c.vDim, count: c.vDim)
        }
        Attention.run(config: c, layer: li, cache: cache, start: start, tokens: n, q: q, out: attnOut, scratch: scores, pool: pool)
        if l.gated, let gate = outputGate {
            for i in 0..<(n * c.qDim) { attnOut[i] *= Ops.sigmoid(gate[i]) }
        }
        acts.setInput(attnOut, cols: c.headCount * c.valueDim, tokens: n)
        Linear.apply(l.wo, acts, tokens: n, out: tmp, pool: pool)
    }

    /// The gated query projection holds, per head, headDim query values then headDim gate values.
    private func splitQueryAndGate(_ qg: UnsafePointer<Float>, tokens n: Int, query: UnsafeMutablePointer<Float>,
                                   gate: UnsafeMutablePointer<Float>) {
        let hd = c.headDim
        for i in 0..<n {
            for h in 0..<c.headCount {
                let src = qg + i * 2 * c.qDim + h * 2 * hd, dst = i * c.qDim + h * hd
                (query + dst).update(from: src, count: hd)
                (gate + dst).update(from: src + hd, count: hd)
            }
        }
    }
}
