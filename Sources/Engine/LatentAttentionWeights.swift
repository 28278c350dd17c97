import GGUF
import Quant

/// Multi-head latent attention weights (deepseek2), as llama.cpp loads them. Per head, the
/// key's non-rotary part and the value are linear maps of the token's latent, so attention runs
/// on the cached latent directly: each query's non-rotary part is mapped into latent space
/// (`keyUp`), the output over the latent is mapped back per head (`valueUp`).
public struct MLAWeights: @unchecked Sendable {
    /// attn_q_a and its RMSNorm before `query` (q-lora form); nil: `query` reads the input (attn_q).
    public var queryDown: WeightMatrix?
    public let queryDownNorm: UnsafePointer<Float>?
    /// attn_q_b or attn_q: heads x (nope + rope) rows.
    public var query: WeightMatrix
    /// attn_kv_a_mqa: the latent (kv_lora_rank rows) then the shared rotary key.
    public var latent: WeightMatrix
    public let latentNorm: UnsafePointer<Float>
    /// Per head, the latent-to-key map: attn_k_b's kv_lora_rank x nope matrices, or, with
    /// `keyUpTransposed`, the nope x kv_lora_rank key rows of a legacy attn_kv_b.
    public let keyUp: [WeightMatrix]
    public let keyUpTransposed: Bool
    /// Per head, value_length_mla x kv_lora_rank: attn_v_b, or the value rows of attn_kv_b.
    public let valueUp: [WeightMatrix]
    public var output: WeightMatrix
}

extension TensorLoader {
    /// The MLA tensors of a layer in the config's shape: attn_k_b / attn_v_b when the file gives
    /// key_length_mla (llama.cpp's absorbed form, what current converters write), else attn_kv_b.
    func latentAttention(layer i: Int) throws -> MLAWeights {
        guard let m = c.mla else { throw GGUFError("\(file.path): \(c.architecture) has no multi-head latent attention shape") }
        let p = "blk.\(i).", d = c.embeddingLength, heads = c.headCount, a = c.architecture + "."
        let qWhy = " (rows = \(a)attention.head_count \(heads) x (nope \(m.nopeDim) + rope \(m.ropeDim)))"
        var queryDown: WeightMatrix?, queryDownNorm: UnsafePointer<Float>?
        let query: WeightMatrix
        if m.qLoraRank > 0 {
            queryDown = try matrix(p + "attn_q_a.weight", cols: d, rows: m.qLoraRank, " (rows = \(a)attention.q_lora_rank \(m.qLoraRank))")
            queryDownNorm = try vector(p + "attn_q_a_norm.weight", m.qLoraRank)
            query = try matrix(p + "attn_q_b.weight", cols: m.qLoraRank, rows: heads * m.qHeadDim, qWhy)
        } else {
            query = try matrix(p + "attn_q.weight", cols: d, rows: heads * m.qHeadDim, qWhy)
        }
        let latent = try matrix(p + "attn_kv_a_mqa.weight", cols: d, rows: m.cacheRowWidth,
                                " (rows = \(a)attention.kv_lora_rank \(m.kvLoraRank) + rope.dimension_count \(m.ropeDim))")
        let keyUp: [WeightMatrix], valueUp: [WeightMatrix]
        if m.splitKV {
            keyUp = try perHead(p + "attn_k_b.weight", cols: m.nopeDim, rows: m.kvLoraRank)
            valueUp = try perHead(p + "attn_v_b.weight", cols: m.kvLoraRank, rows: m.valueHeadDim)
        } else {
            let per = m.nopeDim + m.valueHeadDim
            let kv = try matrix(p + "attn_kv_b.weight", cols: m.kvLoraRank, rows: heads * per,
                                " (rows = head_count \(heads) x (nope \(m.nopeDim) + \(a)attention.value_length \(m.valueHeadDim)))")
            func rows(_ first: Int, _ count: Int) -> WeightMatrix {
                WeightMatrix(type: kv.type, rows: count, cols: kv.cols, rowBytes: kv.rowBytes, data: kv.data + first * kv.rowBytes)
            }
            keyUp = (0..<heads).map { rows($0 * per, m.nopeDim) }
            valueUp = (0..<heads).map { rows($0 * per + m.nopeDim, m.valueHeadDim) }
        }
        return MLAWeights(queryDown: queryDown, queryDownNorm: queryDownNorm, query: query, latent: latent,
                          latentNorm: try vector(p + "attn_kv_a_norm.weight", m.kvLoraRank),
                          keyUp: keyUp, keyUpTransposed: !m.splitKV, valueUp: valueUp,
                          output: try matrix(p + "attn_output.weight", cols: heads * m.valueHeadDim, rows: d))
    }

    /// A [cols, rows, heads] tensor as one rows x cols matrix per head.
    private func perHead(_ name: String, cols: Int, rows: Int) throws -> [WeightMatrix] {
        let t = try tensor(name), heads = c.headCount
        try checkShape(t, [cols, rows, heads], " (one \(rows) x \(cols) matrix per head, \(c.architecture).attention.head_count \(heads))")
        let rowBytes = t.type.byteCount(elements: cols)!, data = file.data(t)
        return (0..<heads).map { WeightMatrix(type: t.type, rows: rows, cols: cols, rowBytes: rowBytes, data: data + $0 * rows * rowBytes) }
    }

    /// A dense SwiGLU FFN (ffn_gate / ffn_up / ffn_down) of `c.denseFFLength`: the leading dense layers.
    func denseFFN(layer i: Int) throws -> SharedExpertWeights {
        let p = "blk.\(i).", d = c.embeddingLength
        let f = c.denseFFLength, why = " (leading dense layer: rows = \(c.architecture).feed_forward_length \(f))"
        return SharedExpertWeights(gate: try matrix(p + "ffn_gate.weight", cols: d, rows: f, why),
                                   up: try matrix(p + "ffn_up.weight", cols: d, rows: f, why),
                                   down: try matrix(p + "ffn_down.weight", cols: f, rows: d), gateInput: nil)
    }
}
