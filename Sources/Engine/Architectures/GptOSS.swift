import Foundation
import GGUF

/// OpenAI gpt-oss (`gpt-oss`, gpt-oss-20b / 120b), as llama.cpp's `openai-moe` graph computes
/// it: GQA attention with q/k/v and output biases and one learned sink logit per head joining
/// the softmax; sliding-window and full-attention layers alternating (attention.sliding_window_pattern,
/// default 2: even layers windowed); NEOX RoPE with YaRN scaling; `post_attention_norm`
/// feeding the experts; a biased router whose top-k logits are softmaxed (SOFTMAX_WEIGHT);
/// per-expert biases on gate, up and down; the clamped SwiGLU (swiglu_oai). Not supported
/// (clear errors): fused qkv, RoPE scaling other than YaRN or linear, per-layer expert sizes.
public enum GptOSS: ArchitectureDefinition {
    public static let name = "gpt-oss"

    public static func config(from file: GGUFFile) throws -> ModelConfig {
        let p = name + "."
        // llama.cpp requires the expert size here (no fallback to feed_forward_length).
        _ = try file.requireInt(p + "expert_feed_forward_length")
        var c = try readCommonConfig(file, arch: name, ropeStyle: .neox, qkNorm: .none, normalizeTopK: false,
                                     expertFFKey: "expert_feed_forward_length")
        // llama.cpp's graph sizes q/k/v heads by the rotary dims (n_rot): all three must agree.
        guard c.ropeDim == c.headDim, c.valueDim == c.headDim else {
            throw GGUFError("\(file.path): \(p)rope.dimension_count \(c.ropeDim), attention.key_length \(c.headDim) and attention.value_length \(c.valueDim) must be equal (llama.cpp sizes the heads by the rotary dims)")
        }
        c.gating = .softmaxWeight
        c.ffnActivation = .swigluOAI
        // llama.cpp does not read expert_weights_scale for this architecture.
        c.expertWeightsScale = 0
        let window = try file.requireInt(p + "attention.sliding_window")
        guard (1...ModelConfig.maxContext).contains(window) else {
            throw GGUFError("\(file.path): \(p)attention.sliding_window \(window) outside 1...\(ModelConfig.maxContext)")
        }
        let isSWA = try slidingLayers(file, key: p + "attention.sliding_window_pattern", layers: c.layerCount)
        let baseSWA = Float(try file.optionalDouble(p + "rope.freq_base_swa") ?? Double(c.ropeBase))
        c.layerAttention = (0..<c.layerCount).map { l in
            AttentionShape(heads: c.headCount, kvHeads: c.kvHeadCount, headDim: c.headDim, valueDim: c.valueDim,
                           ropeDim: c.ropeDim, ropeBase: isSWA[l] ? baseSWA : c.ropeBase,
                           slidingWindow: isSWA[l] ? window : 0)
        }
        c.ropeScaling = try ropeScaling(file, prefix: p, trainedContext: c.contextLength)
        try c.validate(path: file.path)
        return c
    }

    public static func layer(_ i: Int, _ t: TensorLoader, _ c: ModelConfig) throws -> LayerWeights {
        let p = "blk.\(i).", d = c.embeddingLength, s = c.attentionShape(i)
        // q/k/v biases are optional in llama.cpp's loader; the output bias and sinks are not.
        var attention = try t.attentionWithOptionalBiases(layer: i)
        attention.outputBias = try t.vector(p + "attn_output.bias", d)
        attention.sinks = try t.vector(p + "attn_sinks.weight", s.heads)
        var moe = try t.moe(layer: i, shared: false)
        let e = c.expertCount, f = c.expertFFLength
        moe.routerBias = try t.vector(p + "ffn_gate_inp.bias", e)
        moe.expertBiases = ExpertBiasStacks(gate: try t.vector(p + "ffn_gate_exps.bias", f * e, dims: [f, e]),
                                            up: try t.vector(p + "ffn_up_exps.bias", f * e, dims: [f, e]),
                                            down: try t.vector(p + "ffn_down_exps.bias", d * e, dims: [d, e]),
                                            ff: f, d: d)
        return LayerWeights(attnNorm: try t.vector(p + "attn_norm.weight", d), mixer: .attention(attention),
                            ffnNorm: try t.vector(p + "post_attention_norm.weight", d), moe: moe)
    }

    /// Which layers use the sliding window, as llama.cpp's load_swa_pattern reads them: an
    /// array of per-layer flags, or a period n (default 2) where layer l is windowed when
    /// l % n < n - 1 (n = 0: every layer).
    static func slidingLayers(_ file: GGUFFile, key: String, layers n: Int) throws -> [Bool] {
        if let value = file.metadata[key], case .array(_, let flags) = value {
            guard flags.count == n else {
                throw GGUFError("\(file.path): metadata '\(key)' has \(flags.count) entries for \(n) layers")
            }
            return try flags.enumerated().map { i, f in
                guard let b = f.bool ?? f.int.map({ $0 != 0 }) else {
                    throw GGUFError("\(file.path): metadata '\(key)'[\(i)] is \(f.type), expected a bool")
                }
                return b
            }
        }
        let period = try file.optionalInt(key) ?? 2
        guard (0...n).contains(period) else {
            throw GGUFError("\(file.path): metadata '\(key)' \(period) outside 0...block_count (\(n))")
        }
        return (0..<n).map { period == 0 || $0 % period < period - 1 }
    }

    /// rope.scaling.* as llama.cpp turns them into ggml_rope_ext's arguments (llama_context's
    /// cparams): YaRN with ext_factor 1 and its attention factor, or linear (ext_factor 0);
    /// nil when nothing scales. Missing type: llama.cpp's default "linear". `yarnLogMul`:
    /// deepseek2's mscale_all_dim (rope.scaling.yarn_log_multiplier / 0.1), with which llama.cpp
    /// leaves the YaRN magnitude out of RoPE (deepseek2 puts it into the score scale instead).
    static func ropeScaling(_ file: GGUFFile, prefix p: String, trainedContext: Int, yarnLogMul: Float = 0) throws -> RopeScaling? {
        let typeKey = p + "rope.scaling.type"
        let type = file.metadata[typeKey] == nil ? "linear" : try file.requireString(typeKey)
        let factor = Float(try file.optionalDouble(p + "rope.scaling.factor") ?? 0)
        guard factor >= 0, factor.isFinite else {
            throw GGUFError("\(file.path): \(p)rope.scaling.factor \(factor) must be >= 0")
        }
        let freqScale: Float = factor == 0 ? 1 : 1 / factor
        let attnFactorKey = p + "rope.scaling.attn_factor"
        let ropeAttnFactor = Float(try file.optionalDouble(attnFactorKey) ?? 1)
        guard ropeAttnFactor > 0, ropeAttnFactor.isFinite else {
            throw GGUFError("\(file.path): \(attnFactorKey) \(ropeAttnFactor) must be positive")
        }
        let original = try file.optionalInt(p + "rope.scaling.original_context_length") ?? trainedContext
        guard original > 0 else {
            throw GGUFError("\(file.path): \(p)rope.scaling.original_context_length \(original) must be positive")
        }
        switch type {
        case "yarn":
            // get_mscale(factor, 1) cancelled by 1 / (1 + 0.1 ln factor) (llama.cpp divides out the
            // magnitude ggml's rope_yarn applies again), times rope.scaling.attn_factor; a * b + c
            // contracts to one FMA in llama.cpp's build.
            let scale = 1 / freqScale, boost = Float(1).addingProduct(0.1, logf(scale))
            // With a log multiplier llama.cpp divides get_mscale(factor, m) by itself: 1.
            var attn: Float = scale <= 1 || yarnLogMul != 0 ? 1 : boost
            attn *= 1 / boost
            return RopeScaling(freqScale: freqScale, originalContext: original, extFactor: 1, attnFactor: attn * ropeAttnFactor)
        case "linear":
            guard freqScale != 1 || ropeAttnFactor != 1 else { return nil }
            return RopeScaling(freqScale: freqScale, originalContext: original, extFactor: 0, attnFactor: ropeAttnFactor)
        case "none":
            // llama.cpp would still scale the sliding-window layers by the factor: refused.
            guard freqScale == 1 else {
                throw GGUFError("\(file.path): \(typeKey) 'none' with rope.scaling.factor \(factor) is not supported")
            }
            return ropeAttnFactor == 1 ? nil
                : RopeScaling(freqScale: 1, originalContext: original, extFactor: 0, attnFactor: ropeAttnFactor)
        default:
            throw GGUFError("\(file.path): \(typeKey) '\(type)' is not supported (yarn, linear, none)")
        }
    }
}
