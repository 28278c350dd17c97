import Quant

/// Gemma 4's per-layer token inputs (E2B / E4B; llama.cpp's `project_per_layer_inputs`): every
/// token has `width` floats per layer from a second embedding table, mixed with a projection
/// of the token's scaled embedding.
public struct PerLayerInputWeights: @unchecked Sendable {
    /// per_layer_token_embd: one row per vocabulary token, layers x width columns.
    public let tokenEmbedding: WeightMatrix
    /// per_layer_model_proj: layers x width rows over the embedding.
    public let modelProjection: WeightMatrix
    /// per_layer_proj_norm: RMSNorm weight over one layer's `width` projected floats.
    public let projectionNorm: UnsafePointer<Float>
}

/// One layer's use of its input (after the FFN residual): x += norm(proj(gelu(gate x) * input)).
public struct PerLayerInputLayerWeights: @unchecked Sendable {
    /// per_layer_inp_gate: width rows over the embedding.
    public let gate: WeightMatrix
    /// per_layer_proj: embedding rows over width.
    public let projection: WeightMatrix
    /// per_layer_post_norm.
    public let postNorm: UnsafePointer<Float>
}

/// The batch's per-layer inputs, [token][layer][width], and one layer's gate rows.
final class PerLayerInputScratch {
    let inputs, tokenRow, gate: UnsafeMutablePointer<Float>

    init(config c: ModelConfig, tokens n: Int) {
        let perToken = c.layerCount * c.perLayerInputLength
        inputs = .allocate(capacity: n * perToken)
        tokenRow = .allocate(capacity: perToken)
        gate = .allocate(capacity: n * c.perLayerInputLength)
    }

    deinit { for p in [inputs, tokenRow, gate] { p.deallocate() } }
}

extension InferenceSession {
    /// inputs[t][l] = (rms_norm(proj_l(x_t) / sqrt(d)) + embed_l(token_t) * sqrt(width)) / sqrt(2),
    /// in ggml's order of ops; `x` holds the batch's scaled token embeddings.
    func perLayerInputs(_ w: PerLayerInputWeights, tokens: UnsafeBufferPointer<Int32>) {
        guard let s = perLayer else { return }
        let n = tokens.count, d = c.embeddingLength, width = c.perLayerInputLength, perToken = c.layerCount * width
        acts.setInput(x, cols: d, tokens: n)
        Linear.apply(w.modelProjection, acts, tokens: n, out: s.inputs, pool: pool)
        let projectionScale = 1 / Float(d).squareRoot(), embeddingScale = Float(width).squareRoot()
        let inputScale = 1 / Float(2).squareRoot()
        for (i, token) in tokens.enumerated() {
            let row = s.inputs + i * perToken
            for j in 0..<perToken { row[j] *= projectionScale }
            for l in 0..<c.layerCount {
                Ops.rmsNorm(row + l * width, w.projectionNorm, row + l * width, count: width, eps: c.normEpsilon)
            }
            let e = w.tokenEmbedding
            Kernels.dequantizeRow(type: e.type, e.data + Int(token) * e.rowBytes, s.tokenRow, count: perToken)
            for j in 0..<perToken { row[j] = (row[j] + s.tokenRow[j] * embeddingScale) * inputScale }
        }
    }

    /// x += rms_norm(projection(gelu(gate x) * inputs[layer])), per token of the batch.
    func perLayerInputBlock(layer li: Int, weights w: PerLayerInputLayerWeights, tokens n: Int) {
        guard let s = perLayer else { return }
        let d = c.embeddingLength, width = c.perLayerInputLength, perToken = c.layerCount * width
        acts.setInput(x, cols: d, tokens: n)
        Linear.apply(w.gate, acts, tokens: n, out: s.gate, pool: pool)
        let table = Ops.geluTable
        for i in 0..<n {
            let g = s.gate + i * width, input = s.inputs + i * perToken + li * width
            for j in 0..<width { g[j] = Ops.gelu(g[j], table: table) * input[j] }
        }
        acts.setInput(s.gate, cols: width, tokens: n)
        Linear.apply(w.projection, acts, tokens: n, out: tmp, pool: pool)
        for i in 0..<n { Ops.rmsNorm(tmp + i * d, w.postNorm, tmp + i * d, count: d, eps: c.normEpsilon) }
        Ops.add(x, tmp, count: n * d)
    }
}
