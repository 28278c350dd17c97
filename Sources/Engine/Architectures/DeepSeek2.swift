import Foundation
import GGUF

/// DeepSeek-V2 / V2-Lite / V3 / R1, Kimi-K2 and GLM-4.7-Flash-style files (`deepseek2`), as
/// llama.cpp's graph computes them: multi-head latent attention (queries directly or through
/// the q-lora bottleneck, keys and values from one RMS-normed latent per token plus a shared
/// NORM-RoPEd rotary key, both kept compressed in the cache; attn_k_b / attn_v_b, or a legacy
/// attn_kv_b); the score scale mscale^2 / sqrt(key_length_mla) with YaRN's log multiplier;
/// `ffn_norm` feeding the FFN; leading dense SwiGLU layers, then routed experts (softmax or
/// sigmoid gating, optional exp_probs_b selection bias, group-limited top-k, optional
/// renormalisation, expert_weights_scale) plus the shared experts. NextN / MTP blocks are
/// skipped. Not supported (clear errors): attention temperature tuning (Mistral-Large),
/// gating functions other than softmax / sigmoid.
public enum DeepSeek2: ArchitectureDefinition {
    public static let name = "deepseek2"

    public static func config(from file: GGUFFile) throws -> ModelConfig {
        let p = name + "."
        let (trunk, nextN) = try file.trunkLayers(prefix: p)
        _ = try file.requireInt(p + "expert_feed_forward_length")
        _ = try file.requireInt(p + "rope.dimension_count")
        var c = try readCommonConfig(file, arch: name, ropeStyle: .norm, qkNorm: .none, normalizeTopK: false,
                                     expertFFKey: "expert_feed_forward_length", layerCount: trunk)
        c.nextNLayers = nextN
        let mla = try latentShape(file, c)
        c.mla = mla
        // The cache row is the latent + rotary key, one "KV head" read by all heads; the values
        // are the latent part of it.
        c.kvHeadCount = 1
        c.headDim = mla.cacheRowWidth
        c.valueDim = mla.kvLoraRank
        c.layerAttention = (0..<trunk).map { _ in
            AttentionShape(heads: c.headCount, kvHeads: 1, headDim: mla.cacheRowWidth, valueDim: mla.kvLoraRank,
                           ropeDim: mla.ropeDim, ropeBase: c.ropeBase, valuesInKeys: true)
        }
        c.normalizeTopK = try file.optionalBool(p + "expert_weights_norm") ?? false
        c.gating = try gating(file, prefix: p, layers: trunk, vocab: c.vocabSize)
        c.leadingDenseLayers = try file.optionalInt(p + "leading_dense_block_count") ?? 0
        if c.leadingDenseLayers > 0 { c.denseFFLength = try file.requireInt(p + "feed_forward_length") }
        let sharedCount = try file.requireInt(p + "expert_shared_count")
        guard (1...16).contains(sharedCount) else {
            throw GGUFError("\(file.path): \(p)expert_shared_count \(sharedCount) outside 1...16 (llama.cpp always loads the shared experts)")
        }
        c.sharedExpertFFLength = c.expertFFLength * sharedCount
        c.expertGroups = max(1, try file.optionalInt(p + "expert_group_count") ?? 1)
        if c.expertGroups > 1 { c.expertGroupsUsed = try file.requireInt(p + "expert_group_used_count") }
        if let t = try file.optionalDouble(p + "attention.temperature_scale"), t != 0 {
            throw GGUFError("\(file.path): \(p)attention.temperature_scale \(t): attention temperature tuning is not supported")
        }
        // llama.cpp stores the log multiplier divided by 0.1 (the converter multiplied it by 0.1).
        let logMul = Float(try file.optionalDouble(p + "rope.scaling.yarn_log_multiplier") ?? 0) / 0.1
        c.ropeScaling = try GptOSS.ropeScaling(file, prefix: p, trainedContext: c.contextLength, yarnLogMul: logMul)
        c.attentionScale = scoreScale(mla, scaling: c.ropeScaling, yarnLogMul: logMul)
        try c.validate(path: file.path)
        return c
    }

    public static func layer(_ i: Int, _ t: TensorLoader, _ c: ModelConfig) throws -> LayerWeights {
        let p = "blk.\(i).", d = c.embeddingLength
        let attention = MixerWeights.latentAttention(try t.latentAttention(layer: i))
        let attnNorm = try t.vector(p + "attn_norm.weight", d), ffnNorm = try t.vector(p + "ffn_norm.weight", d)
        guard c.isMoELayer(i) else {
            return LayerWeights(attnNorm: attnNorm, mixer: attention, ffnNorm: ffnNorm, moe: nil, denseFFN: try t.denseFFN(layer: i))
        }
        var moe = try t.moe(layer: i, shared: true)
        moe.selectionBias = try t.optionalVector(p + "exp_probs_b.bias", c.expertCount)
        return LayerWeights(attnNorm: attnNorm, mixer: attention, ffnNorm: ffnNorm, moe: moe)
    }

    /// The MLA sizes, checked against each other: key_length_mla / value_length_mla (both or
    /// neither) give the real head sizes of the absorbed form, whose key_length must then be
    /// kv_lora_rank + rope dims and value_length kv_lora_rank; without them key_length and
    /// value_length are the head sizes (legacy attn_kv_b files).
    static func latentShape(_ file: GGUFFile, _ c: ModelConfig) throws -> MLAConfig {
        let p = name + ".", rope = c.ropeDim
        let kvLora = try file.requireInt(p + "attention.kv_lora_rank")
        guard (2...(1024 - rope)).contains(kvLora), kvLora % 2 == 0 else {
            throw GGUFError("\(file.path): \(p)attention.kv_lora_rank \(kvLora) must be even and in 2...\(1024 - rope) (1024 - rope.dimension_count \(rope))")
        }
        // llama.cpp reads no q-lora rank for the "lite" layer counts (a direct attn_q).
        let lite = c.layerCount == 27 || c.layerCount == 26 || (c.layerCount == 48 && c.vocabSize == 128256)
        let qLora = lite ? 0 : try file.requireInt(p + "attention.q_lora_rank")
        guard (0...ModelConfig.maxEmbedding).contains(qLora) else {
            throw GGUFError("\(file.path): \(p)attention.q_lora_rank \(qLora) outside 0...\(ModelConfig.maxEmbedding)")
        }
        let keyMLA = try file.optionalInt(p + "attention.key_length_mla") ?? 0
        let valueMLA = try file.optionalInt(p + "attention.value_length_mla") ?? 0
        guard (keyMLA == 0) == (valueMLA == 0) else {
            throw GGUFError("\(file.path): \(p)attention.key_length_mla \(keyMLA) and attention.value_length_mla \(valueMLA) must be given together")
        }
        let split = keyMLA != 0
        if split {
            guard c.headDim == kvLora + rope else {
                throw GGUFError("\(file.path): \(p)attention.key_length \(c.headDim) must be kv_lora_rank \(kvLora) + rope.dimension_count \(rope) with key_length_mla")
            }
            guard c.valueDim == kvLora else {
                throw GGUFError("\(file.path): \(p)attention.value_length \(c.valueDim) must be kv_lora_rank \(kvLora) with value_length_mla")
            }
        }
        let keyDim = split ? keyMLA : c.headDim, valueDim = split ? valueMLA : c.valueDim
        guard keyDim > rope, keyDim <= 1024 else {
            throw GGUFError("\(file.path): \(p)attention.key_length\(split ? "_mla" : "") \(keyDim) must exceed rope.dimension_count \(rope) (the non-rotary part) and be at most 1024")
        }
        guard (1...1024).contains(valueDim) else {
            throw GGUFError("\(file.path): \(p)attention.value_length\(split ? "_mla" : "") \(valueDim) outside 1...1024")
        }
        return MLAConfig(qLoraRank: qLora, kvLoraRank: kvLora, nopeDim: keyDim - rope, ropeDim: rope,
                         valueHeadDim: valueDim, splitKV: split)
    }

    /// llama.cpp's kq_scale: the YaRN attention factor's original value (its division by
    /// 1 + 0.1 ln(factor) undone) times 1 + 0.1 mscale_all_dim ln(factor), squared, over
    /// sqrt(key_length_mla); a * b + c contracts to one FMA in llama.cpp's build.
    static func scoreScale(_ m: MLAConfig, scaling: RopeScaling?, yarnLogMul: Float) -> Float {
        let freqScale = scaling?.freqScale ?? 1, attnFactor = scaling?.attnFactor ?? 1
        let lnFactor = logf(1 / freqScale)
        let original = attnFactor * Float(1).addingProduct(0.1, lnFactor)
        let mscale = original * Float(1).addingProduct(0.1 * yarnLogMul, lnFactor)
        return 1 * mscale * mscale / Float(m.qHeadDim).squareRoot()
    }

    /// expert_gating_func: 1 softmax, 2 sigmoid; 0 (unset) softmax, as llama.cpp reads older
    /// DeepSeek-V2 files, except GLM-4.7-Flash's shape (47 / 48 layers, 154880 tokens): sigmoid.
    static func gating(_ file: GGUFFile, prefix p: String, layers: Int, vocab: Int) throws -> ExpertGating {
        switch try file.optionalInt(p + "expert_gating_func") ?? 0 {
        case 0: return (layers == 47 || layers == 48) && vocab == 154880 ? .sigmoid : .softmax
        case 1: return .softmax
        case 2: return .sigmoid
        case let other: throw GGUFError("\(file.path): \(p)expert_gating_func \(other) is not supported (1 softmax, 2 sigmoid)")
        }
    }
}
