import GGUF

/// Qwen3.5 / Qwen3.6 MoE (Qwen3.6-35B-A3B, the model of the hot-cache guide): Qwen3-Next's
/// hybrid stack with separate beta / alpha projections, value heads tiling the key heads, and
/// interleaved multimodal RoPE sections (for text: NEOX RoPE over the pairs the t/h/w sections
/// cover, the others unrotated; InterleavedMRope).
public enum Qwen35MoE: ArchitectureDefinition {
    public static let name = "qwen35moe"
    public static func config(from file: GGUFFile) throws -> ModelConfig {
        try QwenHybrid.config(from: file, arch: name, keyHeadMapping: .tiled)
    }

    public static func layer(_ i: Int, _ t: TensorLoader, _ c: ModelConfig) throws -> LayerWeights {
        try QwenHybrid.layer(i, t, c) { i in
            let p = "blk.\(i).", n = c.deltaNet!, d = c.embeddingLength
            return try QwenHybrid.deltaNetCommon(
                i, t, c, qkv: try t.matrix(p + "attn_qkv.weight", cols: d, rows: n.convChannels),
                z: try t.matrix(p + "attn_gate.weight", cols: d, rows: n.valueDim), inputLayout: .separate,
                beta: try t.matrix(p + "ssm_beta.weight", cols: d, rows: n.valueHeads),
                alpha: try t.matrix(p + "ssm_alpha.weight", cols: d, rows: n.valueHeads), betaAlpha: nil)
        }
    }
}
