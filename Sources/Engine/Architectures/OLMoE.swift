import GGUF

/// OLMoE: RMSNorm over the whole q and k projections (not per head), NEOX RoPE,
/// softmax routing whose top-k weights are used as they are (no renormalisation).
public enum OLMoE: ArchitectureDefinition {
    public static let name = "olmoe"
    public static func config(from file: GGUFFile) throws -> ModelConfig {
        try readCommonConfig(file, arch: name, ropeStyle: .neox, qkNorm: .wholeProjection,
                             normalizeTopK: false, expertFFKey: "expert_feed_forward_length")
    }
}
