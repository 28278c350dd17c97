import Quant

/// Buffers of the latent attention block: the q-lora bottleneck, the projected queries, the
/// latent + rotary key rows, one head's gathered rows, the heads' expanded values.
final class LatentAttentionScratch {
    let queryDown, query, latent, headRows, values, keyUpRows: UnsafeMutablePointer<Float>

    init(mla m: MLAConfig, heads: Int, tokens n: Int) {
        queryDown = .allocate(capacity: max(1, n * m.qLoraRank))
        query = .allocate(capacity: n * heads * m.qHeadDim)
        latent = .allocate(capacity: n * m.cacheRowWidth)
        headRows = .allocate(capacity: n * max(m.nopeDim, m.kvLoraRank))
        values = .allocate(capacity: n * heads * m.valueHeadDim)
        keyUpRows = .allocate(capacity: m.nopeDim * m.kvLoraRank)
    }

    deinit { for p in [queryDown, query, latent, headRows, values, keyUpRows] { p.deallocate() } }
}

/// Multi-head latent attention as llama.cpp's deepseek2 graph computes it with the absorbed
/// attn_k_b / attn_v_b: the cache row of a token is its RMS-normed latent then its RoPEd
/// rotary key (one "KV head" shared by all heads, the values being the latent). Each head's
/// query is [keyUp(q_nope), RoPE(q_pe)], attention runs over the cached rows with llama.cpp's
/// kq_scale, and the head's output over the latent goes through valueUp, then attn_output.
/// Input `xn`, output `tmp`.
extension InferenceSession {
    func latentAttentionBlock(layer li: Int, weights w: MLAWeights, tokens n: Int, start: Int) {
        guard let m = c.mla, let s = latent else { return }
        let d = c.embeddingLength, heads = c.headCount, qh = m.qHeadDim, row = m.cacheRowWidth, lora = m.kvLoraRank
        acts.setInput(xn, cols: d, tokens: n)
        if let down = w.queryDown, let norm = w.queryDownNorm {
            Linear.apply(down, w.latent, nil, acts, tokens: n, outs: s.queryDown, s.latent, s.latent, pool: pool)
            for i in 0..<n {
                let r = s.queryDown + i * m.qLoraRank
                Ops.rmsNorm(r, norm, r, count: m.qLoraRank, eps: c.normEpsilon)
            }
            acts.setInput(s.queryDown, cols: m.qLoraRank, tokens: n)
            Linear.apply(w.query, acts, tokens: n, out: s.query, pool: pool)
        } else {
            Linear.apply(w.query, w.latent, nil, acts, tokens: n, outs: s.query, s.latent, s.latent, pool: pool)
        }
        let table = ropeTable(layer: li)
        for i in 0..<n {
            let kv = s.latent + i * row, cs = table + i * m.ropeDim, qRow = q + i * heads * row
            Ops.rmsNorm(kv, w.latentNorm, kv, count: lora, eps: c.normEpsilon)
            Ops.rope(kv + lora, heads: 1, headDim: m.ropeDim, ropeDim: m.ropeDim, style: c.ropeStyle, cosSin: cs)
            cache.store(layer: li, position: start + i, key: kv, value: kv)
            for h in 0..<heads { (qRow + h * row + lora).update(from: s.query + i * heads * qh + h * qh + m.nopeDim, count: m.ropeDim) }
            Ops.rope(qRow + lora, heads: heads, headDim: row, ropeDim: m.ropeDim, style: c.ropeStyle, cosSin: cs)
        }
        for h in 0..<heads {
            for i in 0..<n { (s.headRows + i * m.nopeDim).update(from: s.query + i * heads * qh + h * qh, count: m.nopeDim) }
            if w.keyUpTransposed {
                LatentAttention.absorbTransposed(w.keyUp[h], queries: s.headRows, tokens: n, rowsScratch: s.keyUpRows,
                                                 out: q + h * row, outStride: heads * row)
            } else {
                acts.setInput(s.headRows, cols: m.nopeDim, tokens: n)
                Linear.apply(w.keyUp[h], acts.activations(for: w.keyUp[h].type), tokens: n, out: q + h * row,
                             outStride: heads * row, pool: pool)
            }
        }
        Attention.run(config: c, layer: li, cache: cache, start: start, tokens: n, q: q, out: attnOut, scratch: scores,
                      scratchPerPart: attentionScratchPerPart, pool: pool)
        for h in 0..<heads {
            for i in 0..<n { (s.headRows + i * lora).update(from: attnOut + i * heads * lora + h * lora, count: lora) }
            acts.setInput(s.headRows, cols: lora, tokens: n)
            Linear.apply(w.valueUp[h], acts.activations(for: w.valueUp[h].type), tokens: n,
                         out: s.values + h * m.valueHeadDim, outStride: heads * m.valueHeadDim, pool: pool)
        }
        acts.setInput(s.values, cols: heads * m.valueHeadDim, tokens: n)
        Linear.apply(w.output, acts, tokens: n, out: tmp, pool: pool)
    }
}

enum LatentAttention {
    /// out[t * outStride + c] = sum_j queries[t * nope + j] * keyRows[j][c]: a legacy attn_kv_b's
    /// key rows (nope x kv_lora_rank) applied transposed, in float from their dequantised rows.
    static func absorbTransposed(_ keyRows: WeightMatrix, queries: UnsafePointer<Float>, tokens n: Int,
                                 rowsScratch: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, outStride: Int) {
        let nope = keyRows.rows, lora = keyRows.cols
        for j in 0..<nope {
            Kernels.dequantizeRow(type: keyRows.type, keyRows.data + j * keyRows.rowBytes, rowsScratch + j * lora, count: lora)
        }
        for t in 0..<n {
            let o = out + t * outStride
            o.update(repeating: 0, count: lora)
            for j in 0..<nope { Ops.axpy(queries[t * nope + j], rowsScratch + j * lora, o, count: lora) }
        }
    }
}
