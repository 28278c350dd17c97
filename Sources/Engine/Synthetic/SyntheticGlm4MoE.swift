import GGUF
import Quant

/// The GLM-4.5 part of the synthetic model writer: metadata keys and tensors as llama.cpp's
/// `glm4moe` loader expects them, in GLM-4.5's layout: leading dense SwiGLU layers, then
/// sigmoid-routed experts with a selection bias (`exp_probs_b`), renormalised top-k weights
/// times 2.5 and one shared expert; q/k/v biases, per-head q/k norms (the 355B model's), half
/// the head rotated (NEOX); one MTP block declared in the metadata, which loaders skip.
extension SyntheticModelSpec {
    public var isGlm: Bool { architecture == "glm4moe" }
    var glmDenseLayers: Int { denseLayers > 0 ? denseLayers : 1 }
    var glmDenseFF: Int { denseFF > 0 ? denseFF : 2 * expertFF }
    static let glmRoutedScale = 2.5

    func checkGlm() throws {
        guard glmDenseLayers < layers else {
            throw GGUFError("glm4moe: \(glmDenseLayers) leading dense layers leave no MoE layer of \(layers)")
        }
    }

    func writeGlmMetadata(_ w: inout GGUFWriter) {
        let a = architecture + "."
        // The MTP block is counted in block_count; without its tensors llama.cpp loads the trunk only.
        w.set(a + "block_count", uint32: layers + 1)
        w.set(a + "nextn_predict_layers", uint32: 1)
        w.set(a + "feed_forward_length", uint32: glmDenseFF)
        w.set(a + "leading_dense_block_count", uint32: glmDenseLayers)
        w.set(a + "expert_shared_count", uint32: 1)
        w.set(a + "expert_weights_norm", .bool(true))
        w.set(a + "expert_weights_scale", float32: Self.glmRoutedScale)
        w.set(a + "expert_gating_func", uint32: 2)
        w.set(a + "rope.dimension_count", uint32: rotaryDims)
    }

    /// Adds one GLM-4.5 layer's tensors to the plan. `vector(name, dims, scale, offset)` adds an
    /// q/k/v projections with their biases, in the order GLM-4.x and gpt-oss files hold them.
    func planBiasedQKV(_ l: Int, matrix: (String, [Int], Int?, Float?) throws -> Void,
                       vector: (String, [Int], Float, Float) -> Void) throws {
        let p = "blk.\(l).", d = embedding, q = heads * headDim, kv = kvHeads * headDim
        try matrix(p + "attn_q.weight", [d, q], l, nil)
        try matrix(p + "attn_k.weight", [d, kv], l, nil)
        try matrix(p + "attn_v.weight", [d, kv], l, nil)
        vector(p + "attn_q.bias", [q], 0.2, 0)
        vector(p + "attn_k.bias", [kv], 0.2, 0)
        vector(p + "attn_v.bias", [kv], 0.2, 0)
    }

    /// F32 tensor of uniform values.
    func planGlmLayer(_ l: Int, matrix: (String, [Int], Int?, Float?) throws -> Void, norm: (String, Int) -> Void,
                      vector: (String, [Int], Float, Float) -> Void) throws {
        let p = "blk.\(l).", d = embedding, q = heads * headDim
        norm(p + "attn_norm.weight", d)
        try planBiasedQKV(l, matrix: matrix, vector: vector)
        norm(p + "attn_q_norm.weight", headDim)
        norm(p + "attn_k_norm.weight", headDim)
        try matrix(p + "attn_output.weight", [q, d], l, nil)
        norm(p + "post_attention_norm.weight", d)
        if l < glmDenseLayers {
            try matrix(p + "ffn_gate.weight", [d, glmDenseFF], l, nil)
            try matrix(p + "ffn_up.weight", [d, glmDenseFF], l, nil)
            try matrix(p + "ffn_down.weight", [glmDenseFF, d], l, nil)
            return
        }
        vector(p + "ffn_gate_inp.weight", [d, experts], 2 / Float(d).squareRoot(), 0)
        // Sigmoid probabilities are ~0.5 +- 0.4: a bias of this size reorders some choices.
        vector(p + "exp_probs_b.bias", [experts], 0.1, 0)
        try matrix(p + "ffn_gate_exps.weight", [d, expertFF, experts], l, nil)
        try matrix(p + "ffn_up_exps.weight", [d, expertFF, experts], l, nil)
        try matrix(p + "ffn_down_exps.weight", [expertFF, d, experts], l, nil)
        try matrix(p + "ffn_gate_shexp.weight", [d, expertFF], l, nil)
        try matrix(p + "ffn_up_shexp.weight", [d, expertFF], l, nil)
        try matrix(p + "ffn_down_shexp.weight", [expertFF, d], l, nil)
    }
}
