import GGUF
import Quant

/// The hybrid (Qwen3-Next / Qwen3.5-MoE) part of the synthetic model writer: metadata keys and
/// tensors as llama.cpp's loader expects them.
extension SyntheticModelSpec {
    var stateSize: Int { ssmStateSize > 0 ? ssmStateSize : headDim }
    var keyHeads: Int { ssmKeyHeads > 0 ? ssmKeyHeads : max(1, heads / 2) }
    var valueHeads: Int { ssmValueHeads > 0 ? ssmValueHeads : heads }
    var sharedFF: Int { sharedExpertFF > 0 ? sharedExpertFF : expertFF }
    /// Rotary dims: the hybrids rotate a quarter of the head, GLM-4.5 half of it.
    var rotaryDims: Int { ropeDim > 0 ? ropeDim : (isHybrid ? max(2, headDim / 4) : isGlm ? max(2, headDim / 2) : headDim) }

    /// Every `fullAttentionInterval`-th layer is full (global) attention: the hybrids' pattern
    /// and Gemma 4's global layers.
    func isFullAttention(_ layer: Int) -> Bool { (layer + 1) % fullAttentionInterval == 0 }

    func writeHybridMetadata(_ w: inout GGUFWriter) {
        let a = architecture + "."
        w.set(a + "expert_shared_feed_forward_length", uint32: sharedFF)
        w.set(a + "rope.dimension_count", uint32: rotaryDims)
        w.set(a + "full_attention_interval", uint32: fullAttentionInterval)
        w.set(a + "ssm.conv_kernel", uint32: convKernel)
        w.set(a + "ssm.state_size", uint32: stateSize)
        w.set(a + "ssm.group_count", uint32: keyHeads)
        w.set(a + "ssm.time_step_rank", uint32: valueHeads)
        w.set(a + "ssm.inner_size", uint32: valueHeads * stateSize)
        if architecture == "qwen35moe" {
            // Text-only positions: the sections only have to cover the rotary pairs.
            let half = rotaryDims / 2, t = (half + 2) / 3
            w.set(a + "rope.dimension_sections", int32s: [t, t, half - 2 * t, 0])
        }
    }

    /// Adds one hybrid layer's tensors to the plan. `vector(name, dims, scale, offset)` adds an
    /// F32 tensor of uniform values.
    func planHybridLayer(_ l: Int, matrix: (String, [Int], Int?, Float?) throws -> Void, norm: (String, Int) -> Void,
                         vector: (String, [Int], Float, Float) -> Void) throws {
        let p = "blk.\(l).", d = embedding
        let keyDim = keyHeads * stateSize, valueDim = valueHeads * stateSize
        // Blocks write small updates into the residual stream, as in trained models: random
        // unit-gain blocks make a recurrent stack chaotic, so one last-bit difference (a
        // quantisation step) would grow instead of fading.
        let residualGain = 0.25 / Float(layers).squareRoot()
        func out(_ name: String, _ dims: [Int]) throws { try matrix(name, dims, l, residualGain / Float(dims[0]).squareRoot()) }
        norm(p + "attn_norm.weight", d)
        if isFullAttention(l) {
            try matrix(p + "attn_q.weight", [d, 2 * heads * headDim], l, nil)
            try matrix(p + "attn_k.weight", [d, kvHeads * headDim], l, nil)
            try matrix(p + "attn_v.weight", [d, kvHeads * headDim], l, nil)
            try out(p + "attn_output.weight", [heads * headDim, d])
            norm(p + "attn_q_norm.weight", headDim)
            norm(p + "attn_k_norm.weight", headDim)
        } else {
            try matrix(p + "attn_qkv.weight", [d, 2 * keyDim + valueDim], l, nil)
            try matrix(p + "attn_gate.weight", [d, valueDim], l, nil)
            vector(p + "ssm_conv1d.weight", [convKernel, 2 * keyDim + valueDim], 0.5, 0)
            vector(p + "ssm_dt.bias", [valueHeads], 0.5, 0)
            // -exp(A_log): negative, so the state decays by exp(g) < 1 each token.
            vector(p + "ssm_a", [valueHeads], 0.3, -1)
            if architecture == "qwen3next" {
                try matrix(p + "ssm_ba.weight", [d, 2 * valueHeads], l, nil)
            } else {
                try matrix(p + "ssm_beta.weight", [d, valueHeads], l, nil)
                try matrix(p + "ssm_alpha.weight", [d, valueHeads], l, nil)
            }
            norm(p + "ssm_norm.weight", stateSize)
            try out(p + "ssm_out.weight", [valueDim, d])
        }
        norm(p + "post_attention_norm.weight", d)
        vector(p + "ffn_gate_inp.weight", [d, experts], 2 / Float(d).squareRoot(), 0)
        try matrix(p + "ffn_gate_exps.weight", [d, expertFF, experts], l, nil)
        try matrix(p + "ffn_up_exps.weight", [d, expertFF, experts], l, nil)
        try out(p + "ffn_down_exps.weight", [expertFF, d, experts])
        vector(p + "ffn_gate_inp_shexp.weight", [d], 1 / Float(d).squareRoot(), 0)
        try matrix(p + "ffn_gate_shexp.weight", [d, sharedFF], l, nil)
        try matrix(p + "ffn_up_shexp.weight", [d, sharedFF], l, nil)
        try out(p + "ffn_down_shexp.weight", [sharedFF, d])
    }
}
