import GGUF

/// One supported architecture: how to read its hyper-parameters and how to assemble each
/// layer from typed blocks. Tensor names follow llama.cpp; an architecture file states only
/// what differs from the classic attention + MoE layer.
public protocol ArchitectureDefinition {
    static var name: String { get }
    static func config(from file: GGUFFile) throws -> ModelConfig
    static func layer(_ index: Int, _ tensors: TensorLoader, _ config: ModelConfig) throws -> LayerWeights
    /// The model-level tensors of per-layer token inputs, where the architecture has them.
    static func perLayerInputs(_ tensors: TensorLoader, _ config: ModelConfig) throws -> PerLayerInputWeights?
}

extension ArchitectureDefinition {
    public static func perLayerInputs(_ t: TensorLoader, _ c: ModelConfig) throws -> PerLayerInputWeights? { nil }

    /// The classic MoE transformer layer: attention, `ffn_norm`, routed experts.
    public static func layer(_ i: Int, _ t: TensorLoader, _ c: ModelConfig) throws -> LayerWeights {
        let p = "blk.\(i)."
        return LayerWeights(attnNorm: try t.vector(p + "attn_norm.weight", c.embeddingLength),
                            mixer: .attention(try t.attention(layer: i, gated: false)),
                            ffnNorm: try t.vector(p + "ffn_norm.weight", c.embeddingLength),
                            moe: try t.moe(layer: i, shared: false))
    }
}

public enum Architectures {
    static let all: [any ArchitectureDefinition.Type] = [Qwen3MoE.self, OLMoE.self, MixtralLlama.self, Qwen3Next.self, Qwen35MoE.self, Gemma4.self, Glm4MoE.self, GptOSS.self, DeepSeek2.self]
    public static let names = all.map { $0.name }

    public static func definition(for file: GGUFFile) throws -> any ArchitectureDefinition.Type {
        // requireString: a non-string architecture is named as such, not reported as missing.
        let arch = try file.requireString("general.architecture")
        guard let def = all.first(where: { $0.name == arch }) else {
            throw GGUFError("\(file.path): architecture '\(arch)' is not supported (supported: \(names.joined(separator: ", ")))")
        }
        return def
    }

    public static func config(for file: GGUFFile) throws -> ModelConfig {
        try definition(for: file).config(from: file)
    }
}
