import GGUF

/// One supported architecture: how to read its hyper-parameters. Tensor names are shared by
/// all of them (llama.cpp's naming), so an architecture file only states what differs.
public protocol ArchitectureDefinition {
    static var name: String { get }
    static func config(from file: GGUFFile) throws -> ModelConfig
}

public enum Architectures {
    public static let names = [Qwen3MoE.name, OLMoE.name, MixtralLlama.name]

    public static func config(for file: GGUFFile) throws -> ModelConfig {
        // requireString: a non-string architecture is named as such, not reported as missing.
        let arch = try file.requireString("general.architecture")
        switch arch {
        case Qwen3MoE.name: return try Qwen3MoE.config(from: file)
        case OLMoE.name: return try OLMoE.config(from: file)
        case MixtralLlama.name: return try MixtralLlama.config(from: file)
        default:
            throw GGUFError("\(file.path): architecture '\(arch)' is not supported (supported: \(names.joined(separator: ", ")))")
        }
    }
}
