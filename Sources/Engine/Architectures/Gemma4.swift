import GGUF

/// Gemma 4 MoE (gemma-4-26B-A4B), as llama.cpp's `gemma4` graph computes it: embeddings times
/// sqrt(d); sliding-window and global attention layers with their own head size, KV heads,
/// rotary dims and RoPE base (global layers: proportional RoPE through `rope_freqs`); per-head
/// q/k RMSNorm, V RMS-normalised without weight, score scale 1; post-attention norm; a dense
/// GeGLU MLP beside GeGLU routed experts whose router reads rms_norm(x) / sqrt(d) * scale, each
/// branch with its own norms; per-expert down scale; post-FFN norm; optional layer output
/// scale; shared-KV last layers; final logit soft-capping. Not supported (clear errors):
/// per-layer token embeddings (E2B / E4B), dense layers without experts, fused qkv or gate_up
/// tensors.
public enum Gemma4: ArchitectureDefinition {
    public static let name = "gemma4"

    public static func config(from file: GGUFFile) throws -> ModelConfig {
        let p = name + "."
        var c = try readCommonConfig(file, arch: name, ropeStyle: .neox, qkNorm: .perHead, normalizeTopK: true,
                                     expertFFKey: "expert_feed_forward_length", perLayerKVHeads: true)
        let n = c.layerCount
        if let perLayer = try file.optionalInt(p + "embedding_length_per_layer_input"), perLayer > 0 {
            throw GGUFError("\(file.path): \(p)embedding_length_per_layer_input is \(perLayer): per-layer token embeddings (Gemma 4 E2B / E4B) are not supported")
        }
        let patternKey = p + "attention.sliding_window_pattern"
        guard let patternValue = file.metadata[patternKey] else { throw GGUFError("\(file.path): missing metadata key '\(patternKey)'") }
        guard case .array(_, let flags) = patternValue, flags.count == n else {
            throw GGUFError("\(file.path): metadata '\(patternKey)' must be an array of \(n) flags (one per layer), is \(patternValue.type)")
        }
        let isSWA = try flags.enumerated().map { i, f in
            guard let b = f.bool ?? f.int.map({ $0 != 0 }) else {
                throw GGUFError("\(file.path): metadata '\(patternKey)'[\(i)] is \(f.type), expected a bool")
            }
            return b
        }
        let window = try file.requireInt(p + "attention.sliding_window")
        guard window >= 1 else { throw GGUFError("\(file.path): \(p)attention.sliding_window \(window) must be at least 1") }
        let heads = try file.intPerLayer(p + "attention.head_count", layers: n)!
        let kvHeads = try file.intPerLayer(p + "attention.head_count_kv", layers: n) ?? heads
        let keySWA = try file.requireInt(p + "attention.key_length_swa")
        let valueSWA = try file.requireInt(p + "attention.value_length_swa")
        guard c.headDim == c.valueDim, keySWA == valueSWA else {
            throw GGUFError("\(file.path): Gemma 4 needs key_length == value_length (\(c.headDim), \(c.valueDim)) and key_length_swa == value_length_swa (\(keySWA), \(valueSWA))")
        }
        let ropeSWA = try file.optionalInt(p + "rope.dimension_count_swa") ?? c.ropeDim
        // llama.cpp's default for a missing freq_base_swa is 10000, not the global base.
        let baseSWA = Float(try file.optionalDouble(p + "rope.freq_base_swa") ?? 10000)
        let sharedKV = try file.optionalInt(p + "attention.shared_kv_layers") ?? 0
        let kvFrom = n - sharedKV
        guard sharedKV >= 0, sharedKV == 0 || kvFrom >= 2 else {
            throw GGUFError("\(file.path): \(p)attention.shared_kv_layers \(sharedKV) must leave at least 2 of \(n) layers with their own KV")
        }
        c.layerAttention = (0..<n).map { l in
            let swa = isSWA[l]
            // Shared layers read the last own-KV layer of their kind (llama.cpp: n_layer_kv_from_start - 2 / - 1).
            return AttentionShape(heads: heads[l], kvHeads: kvHeads[l], headDim: swa ? keySWA : c.headDim,
                                  valueDim: swa ? valueSWA : c.valueDim, ropeDim: swa ? ropeSWA : c.ropeDim,
                                  ropeBase: swa ? baseSWA : c.ropeBase, slidingWindow: swa ? window : 0,
                                  kvSource: l >= kvFrom ? kvFrom - (swa ? 2 : 1) : nil)
        }
        c.attentionScale = 1
        c.embeddingScale = Float(c.embeddingLength).squareRoot()
        c.finalLogitSoftcap = Float(try file.optionalDouble(p + "final_logit_softcapping") ?? 0)
        c.ffnActivation = .gelu
        c.sharedExpertFFLength = try file.requireInt(p + "feed_forward_length")
        try c.validate(path: file.path)
        return c
    }

    public static func layer(_ i: Int, _ t: TensorLoader, _ c: ModelConfig) throws -> LayerWeights {
        let p = "blk.\(i).", d = c.embeddingLength, s = c.attentionShape(i), own = s.kvSource == nil
        for fused in ["attn_qkv.weight", "ffn_gate_up_exps.weight"] where t.has(p + fused) {
            throw GGUFError("\(t.file.path): tensor '\(p + fused)': fused Gemma 4 tensors are not supported")
        }
        guard t.has(p + "ffn_gate_inp.weight") else {
            throw GGUFError("\(t.file.path): blk.\(i) has no ffn_gate_inp.weight: dense Gemma 4 layers are not supported (hotmoe runs MoE models)")
        }
        let qkWhy = " (rows = head_count_kv \(s.kvHeads) x key length \(s.headDim) of this \(s.slidingWindow > 0 ? "sliding-window" : "global") layer)"
        var attention = AttentionWeights(
            wq: try t.matrix(p + "attn_q.weight", cols: d, rows: s.qDim,
                             " (rows = head_count \(s.heads) x key length \(s.headDim) of this \(s.slidingWindow > 0 ? "sliding-window" : "global") layer)"),
            wk: own ? try t.matrix(p + "attn_k.weight", cols: d, rows: s.kvDim, qkWhy) : nil,
            // Without attn_v the values are the key projection (attention_k_eq_v).
            wv: own && t.has(p + "attn_v.weight") ? try t.matrix(p + "attn_v.weight", cols: d, rows: s.vDim, qkWhy) : nil,
            wo: try t.matrix(p + "attn_output.weight", cols: s.outDim, rows: d),
            qNorm: try t.vector(p + "attn_q_norm.weight", s.headDim),
            kNorm: own ? try t.vector(p + "attn_k_norm.weight", s.headDim) : nil,
            gated: false)
        attention.valueNorm = true
        // Global layers: proportional RoPE, the unrotated pairs given huge frequency factors.
        if s.slidingWindow == 0 { attention.ropeFreqs = try t.vector("rope_freqs.weight", s.headDim / 2) }

        var moe = try t.moe(layer: i, shared: false)
        let ff = c.sharedExpertFFLength
        moe.shared = SharedExpertWeights(gate: try t.matrix(p + "ffn_gate.weight", cols: d, rows: ff),
                                         up: try t.matrix(p + "ffn_up.weight", cols: d, rows: ff),
                                         down: try t.matrix(p + "ffn_down.weight", cols: ff, rows: d), gateInput: nil)
        moe.routerInputScale = try t.vector(p + "ffn_gate_inp.scale", d)
        moe.expertInputNorm = try t.vector(p + "pre_ffw_norm_2.weight", d)
        moe.expertOutputNorm = try t.vector(p + "post_ffw_norm_2.weight", d)
        moe.sharedOutputNorm = try t.vector(p + "post_ffw_norm_1.weight", d)
        if t.has(p + "ffn_down_exps.scale") { moe.expertScales = try t.vector(p + "ffn_down_exps.scale", c.expertCount) }

        return LayerWeights(attnNorm: try t.vector(p + "attn_norm.weight", d), mixer: .attention(attention),
                            ffnNorm: try t.vector(p + "ffn_norm.weight", d), moe: moe,
                            mixerPostNorm: try t.vector(p + "post_attention_norm.weight", d),
                            moePostNorm: try t.vector(p + "post_ffw_norm.weight", d),
                            outputScale: t.has(p + "layer_output_scale.weight") ? try t.vector(p + "layer_output_scale.weight", 1) : nil)
    }
}
