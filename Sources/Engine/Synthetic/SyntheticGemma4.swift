import GGUF
import Quant

/// The Gemma 4 part of the synthetic model writer: metadata keys and tensors as llama.cpp's
/// `gemma4` loader expects them. The attention shape follows gemma-4-26B-A4B: sliding-window
/// layers (head size `headDim`, `kvHeads` KV heads, RoPE base 1e4, full rotary) and every
/// `fullAttentionInterval`-th layer global (twice the head size, a quarter of the KV heads,
/// RoPE base 1e6, proportional RoPE over a quarter of the dims, values = keys: no attn_v).
/// Every layer has a dense GeGLU MLP (`sharedExpertFF`) beside the routed experts.
extension SyntheticModelSpec {
    public var isGemma: Bool { architecture == "gemma4" }
    var gemmaWindow: Int { slidingWindow > 0 ? slidingWindow : 16 }
    var gemmaGlobalHeadDim: Int { globalHeadDim > 0 ? globalHeadDim : 2 * headDim }
    var gemmaGlobalKVHeads: Int { globalKVHeads > 0 ? globalKVHeads : max(1, kvHeads / 4) }
    var gemmaDenseFF: Int { sharedExpertFF > 0 ? sharedExpertFF : 3 * expertFF }
    /// Rotated pairs of a global layer (partial_rotary_factor 0.25); the others get factor 1e30.
    var gemmaGlobalRotatedPairs: Int { max(1, gemmaGlobalHeadDim / 8) }

    /// First layer that reads another layer's KV rows (layers - shared_kv_layers).
    var gemmaKVFrom: Int { layers - sharedKVLayers }

    func gemmaShape(_ l: Int) -> (headDim: Int, kvHeads: Int) {
        isFullAttention(l) ? (gemmaGlobalHeadDim, gemmaGlobalKVHeads) : (headDim, kvHeads)
    }

    func checkGemma() throws {
        guard fullAttentionInterval >= 1 else { throw GGUFError("gemma4: full-attention interval \(fullAttentionInterval) must be at least 1") }
        guard sharedKVLayers >= 0, sharedKVLayers == 0 || gemmaKVFrom >= 2 else {
            throw GGUFError("gemma4: shared KV layers \(sharedKVLayers) must leave at least 2 of \(layers) layers with their own KV")
        }
        if sharedKVLayers > 0 {
            // llama.cpp's reuse rule: the last own-KV layers must be (sliding-window, global).
            guard !isFullAttention(gemmaKVFrom - 2), isFullAttention(gemmaKVFrom - 1) else {
                throw GGUFError("gemma4: with \(sharedKVLayers) shared KV layers, layers \(gemmaKVFrom - 2) and \(gemmaKVFrom - 1) must be sliding-window then global (set the layers or the full-attention interval)")
            }
        }
    }

    /// The dense MLP's width in layer `l`: doubled in the shared-KV layers with `doubleWideMLP`.
    func gemmaDenseFF(_ l: Int) -> Int { doubleWideMLP && l >= gemmaKVFrom ? 2 * gemmaDenseFF : gemmaDenseFF }

    func writeGemmaMetadata(_ w: inout GGUFWriter) {
        let a = architecture + "."
        if doubleWideMLP {
            w.set(a + "feed_forward_length", .array(.uint32, (0..<layers).map { .uint32(UInt32(gemmaDenseFF($0))) }))
        } else {
            w.set(a + "feed_forward_length", uint32: gemmaDenseFF)
        }
        w.set(a + "attention.head_count_kv", .array(.uint32, (0..<layers).map { .uint32(UInt32(gemmaShape($0).kvHeads)) }))
        w.set(a + "attention.key_length", uint32: gemmaGlobalHeadDim)
        w.set(a + "attention.value_length", uint32: gemmaGlobalHeadDim)
        w.set(a + "attention.key_length_swa", uint32: headDim)
        w.set(a + "attention.value_length_swa", uint32: headDim)
        w.set(a + "rope.dimension_count", uint32: gemmaGlobalHeadDim)
        w.set(a + "rope.dimension_count_swa", uint32: ropeDim > 0 ? ropeDim : headDim)
        w.set(a + "rope.freq_base", float32: 1_000_000)
        w.set(a + "rope.freq_base_swa", float32: 10_000)
        w.set(a + "attention.sliding_window", uint32: gemmaWindow)
        w.set(a + "attention.sliding_window_pattern", .array(.bool, (0..<layers).map { .bool(!isFullAttention($0)) }))
        w.set(a + "attention.shared_kv_layers", uint32: sharedKVLayers)
        w.set(a + "embedding_length_per_layer_input", uint32: perLayerInput)
        w.set(a + "final_logit_softcapping", float32: Double(logitSoftcap))
    }

    /// The model-level tensors of the per-layer token inputs, when the spec has them.
    func planGemmaModel(vocabulary n: Int, matrix: (String, [Int], Int?, Float?) throws -> Void,
                        norm: (String, Int) -> Void) throws {
        guard perLayerInput > 0 else { return }
        // Entries of 1 / sqrt(width): llama.cpp scales them by sqrt(width).
        try matrix("per_layer_token_embd.weight", [layers * perLayerInput, n], nil, 1 / Float(perLayerInput).squareRoot())
        try matrix("per_layer_model_proj.weight", [embedding, layers * perLayerInput], nil, nil)
        norm("per_layer_proj_norm.weight", perLayerInput)
    }

    /// Adds one Gemma 4 layer's tensors to the plan. `vector(name, dims, scale, offset)` adds an
    /// F32 tensor of uniform values.
    func planGemmaLayer(_ l: Int, matrix: (String, [Int], Int?, Float?) throws -> Void, norm: (String, Int) -> Void,
                        vector: (String, [Int], Float, Float) -> Void) throws {
        let p = "blk.\(l).", d = embedding, (hd, kv) = gemmaShape(l), own = l < gemmaKVFrom
        let ff = gemmaDenseFF(l)
        norm(p + "attn_norm.weight", d)
        if fusedQKV {
            // llama.cpp sizes a fused projection q + k + v in every layer.
            try matrix(p + "attn_qkv.weight", [d, (heads + 2 * kv) * hd], l, nil)
        } else {
            try matrix(p + "attn_q.weight", [d, heads * hd], l, nil)
            if own {
                try matrix(p + "attn_k.weight", [d, kv * hd], l, nil)
                if !isFullAttention(l) { try matrix(p + "attn_v.weight", [d, kv * hd], l, nil) }
            }
        }
        try matrix(p + "attn_output.weight", [heads * hd, d], l, nil)
        norm(p + "attn_q_norm.weight", hd)
        if own { norm(p + "attn_k_norm.weight", hd) }
        norm(p + "post_attention_norm.weight", d)
        // The dense MLP: beside the experts, or alone in a dense model.
        norm(p + "ffn_norm.weight", d)
        try matrix(p + "ffn_gate.weight", [d, ff], l, nil)
        try matrix(p + "ffn_up.weight", [d, ff], l, nil)
        try matrix(p + "ffn_down.weight", [ff, d], l, nil)
        if experts > 0 {
            norm(p + "post_ffw_norm_1.weight", d)
            // Routed experts; the router reads rms_norm(x) / sqrt(d) * scale, so its weights are O(1).
            vector(p + "ffn_gate_inp.weight", [d, experts], 2, 0)
            vector(p + "ffn_gate_inp.scale", [d], 0.1, 1)
            norm(p + "pre_ffw_norm_2.weight", d)
            if fusedGateUp {
                try matrix(p + "ffn_gate_up_exps.weight", [d, 2 * expertFF, experts], l, nil)
            } else {
                try matrix(p + "ffn_gate_exps.weight", [d, expertFF, experts], l, nil)
                try matrix(p + "ffn_up_exps.weight", [d, expertFF, experts], l, nil)
            }
            try matrix(p + "ffn_down_exps.weight", [expertFF, d, experts], l, nil)
            vector(p + "ffn_down_exps.scale", [experts], 0.2, 1)
            norm(p + "post_ffw_norm_2.weight", d)
        }
        norm(p + "post_ffw_norm.weight", d)
        if perLayerInput > 0 {
            try matrix(p + "inp_gate.weight", [d, perLayerInput], l, nil)
            try matrix(p + "proj.weight", [perLayerInput, d], l, nil)
            norm(p + "post_norm.weight", d)
        }
        vector(p + "layer_output_scale.weight", [1], 0.05, 0.8)
    }

    /// rope_freqs: 1 for the rotated pairs of a global layer, 1e30 (no rotation) for the rest.
    var gemmaRopeFreqs: [Float] {
        (0..<(gemmaGlobalHeadDim / 2)).map { $0 < gemmaGlobalRotatedPairs ? 1 : 1e30 }
    }
}
