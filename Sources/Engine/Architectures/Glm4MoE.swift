import GGUF

/// GLM-4.5 / 4.5-Air / 4.6 / 4.7 (`glm4moe`), as llama.cpp's graph computes it: GQA attention
/// with q/k/v biases, optional per-head q/k RMSNorm, partial NEOX RoPE; `post_attention_norm`
/// feeding the FFN; the first `leading_dense_block_count` layers a dense SwiGLU FFN, the rest
/// sigmoid-routed experts (top-k chosen on sigmoid + `exp_probs_b`, weighted by the unbiased
/// sigmoid, optionally renormalised, times `expert_weights_scale`) plus an ungated shared
/// expert. NextN / MTP blocks after the trunk are skipped. Not supported (clear errors):
/// M-RoPE sections (multimodal GLM-4.xV), RoPE scaling, fused qkv, expert groups.
public enum Glm4MoE: ArchitectureDefinition {
    public static let name = "glm4moe"

    public static func config(from file: GGUFFile) throws -> ModelConfig {
        let p = name + "."
        let (trunk, nextN) = try file.trunkLayers(prefix: p)
        // llama.cpp requires the expert size here (no fallback to feed_forward_length / k).
        _ = try file.requireInt(p + "expert_feed_forward_length")
        var c = try readCommonConfig(file, arch: name, ropeStyle: .neox, qkNorm: .none, normalizeTopK: false,
                                     expertFFKey: "expert_feed_forward_length", layerCount: trunk)
        c.nextNLayers = nextN
        // The 355B GLM-4.5 has per-head q/k norms, Air does not: the tensors decide, as in llama.cpp.
        c.qkNorm = file.tensor("blk.0.attn_q_norm.weight") != nil ? .perHead : .none
        c.normalizeTopK = try file.optionalBool(p + "expert_weights_norm") ?? false
        c.gating = try gating(file, key: p + "expert_gating_func")
        c.leadingDenseLayers = try file.optionalInt(p + "leading_dense_block_count") ?? 0
        if c.leadingDenseLayers > 0 { c.denseFFLength = try file.requireInt(p + "feed_forward_length") }
        let sharedCount = try file.requireInt(p + "expert_shared_count")
        guard (0...16).contains(sharedCount) else {
            throw GGUFError("\(file.path): \(p)expert_shared_count \(sharedCount) outside 0...16")
        }
        c.sharedExpertFFLength = c.expertFFLength * sharedCount
        guard c.headDim == c.valueDim else {
            throw GGUFError("\(file.path): \(p)attention.key_length \(c.headDim) must equal attention.value_length \(c.valueDim) (as llama.cpp requires)")
        }
        if let groups = try file.optionalInt(p + "expert_group_count"), groups > 1 {
            throw GGUFError("\(file.path): \(p)expert_group_count \(groups): group-limited expert selection is not supported")
        }
        if let sections = file.metadata[p + "rope.dimension_sections"]?.intArray, sections.contains(where: { $0 != 0 }) {
            throw GGUFError("\(file.path): \(p)rope.dimension_sections \(sections): multimodal RoPE (M-RoPE) is not supported")
        }
        try refuseRopeScaling(file, prefix: p)
        try c.validate(path: file.path)
        return c
    }

    public static func layer(_ i: Int, _ t: TensorLoader, _ c: ModelConfig) throws -> LayerWeights {
        let p = "blk.\(i).", d = c.embeddingLength
        let attention = try t.attentionWithOptionalBiases(layer: i)
        let attnNorm = try t.vector(p + "attn_norm.weight", d)
        let ffnNorm = try t.vector(p + "post_attention_norm.weight", d)
        guard c.isMoELayer(i) else {
            return LayerWeights(attnNorm: attnNorm, mixer: .attention(attention), ffnNorm: ffnNorm, moe: nil,
                                denseFFN: try t.denseFFN(layer: i))
        }
        var moe = try t.moe(layer: i, shared: c.sharedExpertFFLength > 0)
        moe.selectionBias = try t.vector(p + "exp_probs_b.bias", c.expertCount)
        return LayerWeights(attnNorm: attnNorm, mixer: .attention(attention), ffnNorm: ffnNorm, moe: moe)
    }

    /// expert_gating_func: 0 (unset) means sigmoid for GLM-4.5, 1 softmax, 2 sigmoid.
    static func gating(_ file: GGUFFile, key: String) throws -> ExpertGating {
        switch try file.optionalInt(key) ?? 0 {
        case 0, 2: return .sigmoid
        case 1: return .softmax
        case let other: throw GGUFError("\(file.path): \(key) \(other) is not supported (1 softmax, 2 sigmoid)")
        }
    }

    /// A RoPE scaling hotmoe does not compute is refused rather than ignored.
    static func refuseRopeScaling(_ file: GGUFFile, prefix p: String) throws {
        let type = file.metadata[p + "rope.scaling.type"]?.string ?? "none"
        let factor = try file.optionalDouble(p + "rope.scaling.factor") ?? 0
        guard type == "none" || factor == 0 || factor == 1 else {
            throw GGUFError("\(file.path): \(p)rope.scaling.type '\(type)' with factor \(factor) is not supported")
        }
    }
}
