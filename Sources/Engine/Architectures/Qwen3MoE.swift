import GGUF

/// Qwen3-MoE (Qwen3-30B-A3B family): GQA, RMSNorm on q and k per head, NEOX RoPE,
/// softmax routing with the top-k weights renormalised.
public enum Qwen3MoE: ArchitectureDefinition {
    public static let name = "qwen3moe"
    public static func config(from file: GGUFFile) throws -> ModelConfig {
        try readCommonConfig(file, arch: name, ropeStyle: .neox, qkNorm: .perHead,
                             normalizeTopK: true, expertFFKey: "expert_feed_forward_length")
    }
}
