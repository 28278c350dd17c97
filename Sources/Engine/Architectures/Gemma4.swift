import GGUF

/// Gemma 4 MoE (gemma-4-26B-A4B), as llama.cpp's `gemma4` graph computes it: embeddings times
/// sqrt(d); sliding-window and global attention layers with their own head size, KV heads,
/// rotary dims and RoPE base (global layers: proportional RoPE through `rope_freqs`); per-head
/// q/k RMSNorm, V RMS-normalised without weight, score scale 1; post-attention norm; a dense
/// GeGLU MLP beside GeGLU routed experts whose router reads rms_norm(x) / sqrt(d) * scale, each
/// branch with its own norms; per-expert down scale; post-FFN norm; optional layer output
/// scale; shared-KV last layers; final logit soft-capping. The dense models (E2B / E4B / 31B:
/// expert_count 0) run the MLP alone, with E2B / E4B's per-layer token inputs
/// (PerLayerInputBlock) and per-layer MLP widths. Fused attn_qkv and ffn_gate_up_exps (what
/// the converter writes for the experts) are read in place.
public enum Gemma4: ArchitectureDefinition {
    public static let name = "gemma4"

    public static func config(from file: GGUFFile) throws -> ModelConfig {
        let p = name + "."
        var c = try readCommonConfig(file, arch: name, ropeStyle: .neox, qkNorm: .perHead, normalizeTopK: true,
                                     expertFFKey: "expert_feed_forward_length", perLayerKVHeads: true, denseModelAllowed: true)
        let n = c.layerCount
        c.perLayerInputLength = try file.optionalInt(p + "embedding_length_per_layer_input") ?? 0
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
        // The dense MLP beside the experts; feed_forward_length may be per layer (double-wide
        // MLPs in the shared-KV layers of E2B).
        let ff = try feedForwardLengths(file, layers: n)
        if c.expertCount > 0 { c.sharedExpertFFLength = ff.max()! }
        for (l, f) in ff.enumerated() where f < 1 || f > ModelConfig.maxFF {
            throw GGUFError("\(file.path): \(p)feed_forward_length[\(l)] \(f) outside 1...\(ModelConfig.maxFF)")
        }
        try c.validate(path: file.path)
        return c
    }

    static func feedForwardLengths(_ file: GGUFFile, layers: Int) throws -> [Int] {
        let key = name + ".feed_forward_length"
        guard let ff = try file.intPerLayer(key, layers: layers) else { throw GGUFError("\(file.path): missing metadata key '\(key)'") }
        return ff
    }

    public static func perLayerInputs(_ t: TensorLoader, _ c: ModelConfig) throws -> PerLayerInputWeights? {
        let width = c.perLayerInputLength, all = c.layerCount * width
        guard width > 0 else { return nil }
        let why = " (\(c.layerCount) layers x embedding_length_per_layer_input \(width))"
        return PerLayerInputWeights(
            tokenEmbedding: try t.matrix("per_layer_token_embd.weight", cols: all, rows: c.vocabSize, why),
            modelProjection: try t.matrix("per_layer_model_proj.weight", cols: c.embeddingLength, rows: all, why),
            projectionNorm: try t.vector("per_layer_proj_norm.weight", width))
    }

    public static func layer(_ i: Int, _ t: TensorLoader, _ c: ModelConfig) throws -> LayerWeights {
        let p = "blk.\(i).", d = c.embeddingLength, s = c.attentionShape(i), own = s.kvSource == nil
        let kind = s.slidingWindow > 0 ? "sliding-window" : "global"
        // A fused attn_qkv holds k and v rows even where the layer reads another layer's KV
        // (llama.cpp sizes it so); separate files have no attn_k there, and global layers may
        // have no attn_v (values = keys: attention_k_eq_v).
        let fused = t.has(p + "attn_qkv.weight")
        let qkv = try t.qkvProjections(layer: i, qRows: s.qDim, kRows: own || fused ? s.kvDim : 0,
                                       vRows: fused || (own && t.has(p + "attn_v.weight")) ? s.vDim : 0,
                                       " (rows = head_count \(s.heads) x key length \(s.headDim) of this \(kind) layer)")
        var attention = AttentionWeights(
            wq: qkv.q, wk: own ? qkv.k : nil, wv: own ? qkv.v : nil,
            wo: try t.matrix(p + "attn_output.weight", cols: s.outDim, rows: d),
            qNorm: try t.vector(p + "attn_q_norm.weight", s.headDim),
            kNorm: own ? try t.vector(p + "attn_k_norm.weight", s.headDim) : nil,
            gated: false)
        attention.valueNorm = true
        // Global layers: proportional RoPE, the unrotated pairs given huge frequency factors.
        if s.slidingWindow == 0 { attention.ropeFreqs = try t.vector("rope_freqs.weight", s.headDim / 2) }

        // The dense MLP: beside the routed experts in a MoE layer, the whole FFN elsewhere.
        let ff = try feedForwardLengths(t.file, layers: c.layerCount)[i]
        let mlp = SharedExpertWeights(gate: try t.matrix(p + "ffn_gate.weight", cols: d, rows: ff),
                                      up: try t.matrix(p + "ffn_up.weight", cols: d, rows: ff),
                                      down: try t.matrix(p + "ffn_down.weight", cols: ff, rows: d), gateInput: nil)
        var moe: MoEWeights?
        if c.isMoELayer(i) {
            var m = try t.moe(layer: i, shared: false)
            m.shared = mlp
            m.routerInputScale = try t.vector(p + "ffn_gate_inp.scale", d)
            m.expertInputNorm = try t.vector(p + "pre_ffw_norm_2.weight", d)
            m.expertOutputNorm = try t.vector(p + "post_ffw_norm_2.weight", d)
            m.sharedOutputNorm = try t.vector(p + "post_ffw_norm_1.weight", d)
            if t.has(p + "ffn_down_exps.scale") { m.expertScales = try t.vector(p + "ffn_down_exps.scale", c.expertCount) }
            moe = m
        } else if t.has(p + "ffn_gate_inp.weight") {
            throw GGUFError("\(t.file.path): tensor '\(p)ffn_gate_inp.weight': a router in a model whose \(name).expert_count is 0")
        }
        var perLayerInput: PerLayerInputLayerWeights?
        if c.perLayerInputLength > 0 {
            let width = c.perLayerInputLength
            perLayerInput = PerLayerInputLayerWeights(
                gate: try t.matrix(p + "inp_gate.weight", cols: d, rows: width),
                projection: try t.matrix(p + "proj.weight", cols: width, rows: d),
                postNorm: try t.vector(p + "post_norm.weight", d))
        }

        return LayerWeights(attnNorm: try t.vector(p + "attn_norm.weight", d), mixer: .attention(attention),
                            ffnNorm: try t.vector(p + "ffn_norm.weight", d), moe: moe, denseFFN: moe == nil ? mlp : nil,
                            mixerPostNorm: try t.vector(p + "post_attention_norm.weight", d),
                            moePostNorm: try t.vector(p + "post_ffw_norm.weight", d),
                            outputScale: t.has(p + "layer_output_scale.weight") ? try t.vector(p + "layer_output_scale.weight", 1) : nil,
                            perLayerInput: perLayerInput)
    }
}
