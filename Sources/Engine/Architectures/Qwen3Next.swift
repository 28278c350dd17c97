import GGUF

/// Qwen3-Next (Qwen3-Next-80B-A3B): hybrid DeltaNet / gated attention, routed experts plus a
/// gated shared expert. Value heads share key heads in consecutive runs. Files from older
/// converters hold one fused `ssm_in` (q, k, v, z grouped per key head) and `ssm_ba`.
public enum Qwen3Next: ArchitectureDefinition {
    public static let name = "qwen3next"
    public static func config(from file: GGUFFile) throws -> ModelConfig {
        try QwenHybrid.config(from: file, arch: name, keyHeadMapping: .interleaved)
    }

    public static func layer(_ i: Int, _ t: TensorLoader, _ c: ModelConfig) throws -> LayerWeights {
        try QwenHybrid.layer(i, t, c) { i in
            let p = "blk.\(i).", n = c.deltaNet!, d = c.embeddingLength
            let ba = try t.matrix(p + "ssm_ba.weight", cols: d, rows: 2 * n.valueHeads)
            if t.has(p + "ssm_in.weight") {
                let qkvz = try t.matrix(p + "ssm_in.weight", cols: d, rows: 2 * n.keyDim + 2 * n.valueDim)
                return try QwenHybrid.deltaNetCommon(i, t, c, qkv: qkvz, z: nil, inputLayout: .groupedQKVZ,
                                                     beta: nil, alpha: nil, betaAlpha: ba)
            }
            return try QwenHybrid.deltaNetCommon(
                i, t, c, qkv: try t.matrix(p + "attn_qkv.weight", cols: d, rows: n.convChannels),
                z: try t.matrix(p + "attn_gate.weight", cols: d, rows: n.valueDim), inputLayout: .separate,
                beta: nil, alpha: nil, betaAlpha: ba)
        }
    }
}
