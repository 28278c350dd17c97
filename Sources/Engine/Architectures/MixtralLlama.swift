import GGUF

/// Mixtral, stored as `llama` with experts: no q/k norm, NORM (adjacent-pair) RoPE,
/// softmax routing with renormalised top-k weights. Experts must be merged 3-D tensors
/// (`ffn_*_exps`), as every current converter writes them.
public enum MixtralLlama: ArchitectureDefinition {
    public static let name = "llama"
    public static func config(from file: GGUFFile) throws -> ModelConfig {
        guard file.metadata["llama.expert_count"] != nil else {
            throw GGUFError("\(file.path): dense llama models are not supported; hotmoe runs MoE models (llama.expert_count missing)")
        }
        return try readCommonConfig(file, arch: name, ropeStyle: .norm, qkNorm: .none,
                                    normalizeTopK: true, expertFFKey: "expert_feed_forward_length")
    }
}
