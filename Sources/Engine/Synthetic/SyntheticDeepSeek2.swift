import GGUF
import Quant

/// The DeepSeek-V2/V3 part of the synthetic model writer: metadata keys and tensors as
/// llama.cpp's `deepseek2` loader expects them from current converters (key_length_mla /
/// value_length_mla with split attn_k_b / attn_v_b, kept in F32 or F16 as converters write
/// them). The q-lora form is written in DeepSeek-V3's layout (sigmoid routing with a selection
/// bias, four expert groups of which two are eligible, renormalised weights x2.5, one shared
/// expert); the direct-q form (q_lora_rank 0) in DeepSeek-V2-Lite's (softmax routing, no
/// groups, no renormalisation, two shared experts). Both: one leading dense layer, YaRN x4 with
/// V2's log multiplier (mscale_all_dim 0.707).
extension SyntheticModelSpec {
    public var isDeepSeek2: Bool { architecture == "deepseek2" }
    /// q_lora_rank (nil: 4 x headDim; 0: a direct attn_q) and kv_lora_rank (0: 4 x headDim).
    var dsQLoraRank: Int { qLoraRank ?? 4 * headDim }
    var dsKVLoraRank: Int { kvLoraRank > 0 ? kvLoraRank : 4 * headDim }
    /// headDim is the non-rotary query/key part; the rotary part is ropeDim (0: headDim / 2).
    var dsRopeDim: Int { ropeDim > 0 ? ropeDim : max(2, headDim / 2) }
    var dsLite: Bool { dsQLoraRank == 0 }
    var dsSharedExperts: Int { dsLite ? 2 : 1 }
    static let dsYaRNFactor = 4.0, dsYaRNLogMultiplier = 0.0707

    /// Presets: tiny (V3's layout, test shapes), small and bench in DeepSeek-V2-Lite's
    /// proportions (16 heads of 128 + 64 rotary, latent 512 -> here 4 x the head, 64 experts
    /// top-6 of ~0.7 x hidden, two shared, one dense layer ~5x hidden).
    static func deepSeek2Preset(_ name: String, _ base: SyntheticModelSpec) -> SyntheticModelSpec {
        var s = base
        switch name {
        case "tiny": s.layers = 3
        case "small":
            s.layers = 4; s.embedding = 256; s.heads = 4; s.headDim = 64; s.qLoraRank = 0
            s.experts = 32; s.expertsUsed = 6; s.expertFF = 256; s.denseFF = 1280; s.context = 1024
        default:  // bench: ~1 GB at Q4_K_M
            s.layers = 16; s.embedding = 1024; s.heads = 16; s.headDim = 64; s.qLoraRank = 0
            s.experts = 64; s.expertsUsed = 6; s.expertFF = 768; s.denseFF = 5376; s.context = 4096; s.weightType = "q4_k_m"
        }
        return s
    }

    func checkDeepSeek2() throws {
        guard glmDenseLayers < layers else {
            throw GGUFError("deepseek2: \(glmDenseLayers) leading dense layers leave no MoE layer of \(layers)")
        }
        guard dsLite || experts % 4 == 0, dsLite || experts / 2 >= expertsUsed else {
            throw GGUFError("deepseek2: the q-lora layout's 4 expert groups (2 used) need expert_count \(experts) divisible by 4 and at least 2 x expert_used_count \(expertsUsed)")
        }
    }

    func writeDeepSeek2Metadata(_ w: inout GGUFWriter) {
        let a = architecture + ".", lora = dsKVLoraRank, rope = dsRopeDim
        w.set(a + "feed_forward_length", uint32: glmDenseFF)
        w.set(a + "leading_dense_block_count", uint32: glmDenseLayers)
        w.set(a + "attention.head_count_kv", uint32: 1)
        w.set(a + "attention.q_lora_rank", uint32: dsQLoraRank)
        w.set(a + "attention.kv_lora_rank", uint32: lora)
        w.set(a + "attention.key_length", uint32: lora + rope)
        w.set(a + "attention.value_length", uint32: lora)
        w.set(a + "attention.key_length_mla", uint32: headDim + rope)
        w.set(a + "attention.value_length_mla", uint32: headDim)
        w.set(a + "rope.dimension_count", uint32: rope)
        w.set(a + "expert_shared_count", uint32: dsSharedExperts)
        w.set(a + "expert_weights_norm", .bool(!dsLite))
        w.set(a + "expert_weights_scale", float32: dsLite ? 1 : Self.glmRoutedScale)
        w.set(a + "expert_gating_func", uint32: dsLite ? 1 : 2)
        if !dsLite {
            w.set(a + "expert_group_count", uint32: 4)
            w.set(a + "expert_group_used_count", uint32: 2)
        }
        w.set(a + "rope.scaling.type", "yarn")
        w.set(a + "rope.scaling.factor", float32: Self.dsYaRNFactor)
        w.set(a + "rope.scaling.original_context_length", uint32: max(1, context / 4))
        w.set(a + "rope.scaling.yarn_log_multiplier", float32: Self.dsYaRNLogMultiplier)
    }

    /// Adds one layer's tensors to the plan; `vector(name, dims, scale, offset)` adds an F32 tensor.
    func planDeepSeek2Layer(_ l: Int, matrix: (String, [Int], Int?, Float?) throws -> Void, norm: (String, Int) -> Void,
                            vector: (String, [Int], Float, Float) -> Void) throws {
        let p = "blk.\(l).", d = embedding, lora = dsKVLoraRank, rope = dsRopeDim, q = heads * (headDim + rope)
        norm(p + "attn_norm.weight", d)
        if dsLite {
            try matrix(p + "attn_q.weight", [d, q], l, nil)
        } else {
            try matrix(p + "attn_q_a.weight", [d, dsQLoraRank], l, nil)
            norm(p + "attn_q_a_norm.weight", dsQLoraRank)
            try matrix(p + "attn_q_b.weight", [dsQLoraRank, q], l, nil)
        }
        try matrix(p + "attn_kv_a_mqa.weight", [d, lora + rope], l, nil)
        norm(p + "attn_kv_a_norm.weight", lora)
        try matrix(p + "attn_k_b.weight", [headDim, lora, heads], l, nil)
        try matrix(p + "attn_v_b.weight", [lora, headDim, heads], l, nil)
        try matrix(p + "attn_output.weight", [heads * headDim, d], l, nil)
        norm(p + "ffn_norm.weight", d)
        if l < glmDenseLayers {
            try matrix(p + "ffn_gate.weight", [d, glmDenseFF], l, nil)
            try matrix(p + "ffn_up.weight", [d, glmDenseFF], l, nil)
            try matrix(p + "ffn_down.weight", [glmDenseFF, d], l, nil)
            return
        }
        let shared = expertFF * dsSharedExperts
        vector(p + "ffn_gate_inp.weight", [d, experts], 2 / Float(d).squareRoot(), 0)
        if !dsLite { vector(p + "exp_probs_b.bias", [experts], 0.1, 0) }
        try matrix(p + "ffn_gate_exps.weight", [d, expertFF, experts], l, nil)
        try matrix(p + "ffn_up_exps.weight", [d, expertFF, experts], l, nil)
        try matrix(p + "ffn_down_exps.weight", [expertFF, d, experts], l, nil)
        try matrix(p + "ffn_gate_shexp.weight", [d, shared], l, nil)
        try matrix(p + "ffn_up_shexp.weight", [d, shared], l, nil)
        try matrix(p + "ffn_down_shexp.weight", [shared, d], l, nil)
    }
}
