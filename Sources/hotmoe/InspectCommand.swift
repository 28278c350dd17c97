import ArgumentParser
import Engine
import Foundation
import GGUF
import Tokenizer

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Describe a MoE GGUF: shape, experts, parameters, bytes.")

    @Option(name: [.short, .customLong("model")], help: "GGUF model file (default: the embedded default model).")
    var model: String?
    @Flag(name: .customLong("tensors"), help: "Also list every tensor.") var listTensors = false

    func run() throws {
        Log.setup(verbose: false)
        do {
            let path = try ModelLocator.resolve(model, logger: Log.main)
            let file = try GGUFFile(path: path)
            let m = try MoEModel(file: file)
            // Built and dropped: inspect vouches for everything `run` would load, vocabulary included.
            _ = try Tokenizer(gguf: file)
            print(ModelSummary(model: m).render())
            if listTensors {
                for t in file.tensors {
                    print(String(format: "  %-36@ %-5@ %@", t.name, "\(t.type)", "\(t.dims)"))
                }
            }
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError("\(error)")
        }
    }
}

/// Total vs active parameters and where the bytes are (seed 003's first operational check).
struct ModelSummary {
    let model: MoEModel

    func render() -> String {
        let c = model.config
        let file = model.file
        var expertParams = 0, expertBytes = 0, otherParams = 0, otherBytes = 0
        var types = [String: Int]()
        for t in file.tensors {
            types["\(t.type)", default: 0] += t.byteCount
            if t.name.contains("_exps.") {
                expertParams += t.elementCount; expertBytes += t.byteCount
            } else {
                otherParams += t.elementCount; otherBytes += t.byteCount
            }
        }
        let activeExpertParams = c.expertCount > 0 ? expertParams / c.expertCount * c.expertsUsed : 0
        let perExpert = c.moeLayers.map { model.weights.expertBytes(layer: $0) }
        let sharedBytes = model.weights.layers.reduce(0) { $0 + $1.sharedExpertMatrices.reduce(0) { $0 + $1.byteCount } }
        var lines = [
            "model:          \(file.path)",
            "name:           \(file.metadata["general.name"]?.string ?? "-")",
            "architecture:   \(c.architecture)",
            "layers:         \(c.layerCount) " + (c.expertCount == 0 ? "(all dense: no routed experts, FF up to \(c.denseFFLength))"
                : c.leadingDenseLayers > 0
                ? "(\(c.leadingDenseLayers) leading dense, FF \(c.denseFFLength), always resident; \(c.moeLayers.count) MoE)" : "(all MoE)")
                + (c.perLayerInputLength > 0 ? ", per-layer token inputs of \(c.perLayerInputLength)" : "")
                + (c.nextNLayers > 0 ? ", plus \(c.nextNLayers) MTP block(s), skipped" : ""),
            "layer pattern:  \(layerPattern(c, hasSinks: model.weights.layers.contains { if case .attention(let a) = $0.mixer { a.sinks != nil } else { false } }))",
            "hidden:         \(c.embeddingLength), heads \(c.headCount) (kv \(c.kvHeadCount)), head dim \(c.headDim)",
            "context:        \(c.contextLength), rope base \(c.ropeBase)",
            "experts:        " + (c.expertCount == 0 ? "none (a dense model: nothing for the expert cache)"
                : "\(c.expertCount) per layer, top-\(c.expertsUsed), expert FF \(c.expertFFLength), \(routingDescription(c, model.weights))"),
            "vocabulary:     \(c.vocabSize) tokens",
            "parameters:     total \(fmtCount(expertParams + otherParams)), active per token \(fmtCount(activeExpertParams + otherParams))",
            "expert weights: \(fmtBytes(expertBytes)) (\(fmtCount(expertParams)) params)",
            "other weights:  \(fmtBytes(otherBytes)) (\(fmtCount(otherParams)) params)",
            "bytes/expert:   \(Set(perExpert).sorted().map(fmtBytes).joined(separator: ", ")) (gate+up+down)",
            "shared expert:  " + (c.sharedExpertFFLength > 0
                ? "FF \(c.sharedExpertFFLength), \(fmtBytes(sharedBytes)) in all (always computed, never cached)" : "none"),
            "active experts: \(fmtBytes(perExpert.reduce(0, +) * c.expertsUsed)) of expert weights read per token",
            "tensor types:   " + types.sorted { $0.value > $1.value }.map { "\($0.key) \(fmtBytes($0.value))" }.joined(separator: ", "),
        ]
        if let m = c.mla { lines.insert(latentAttentionLine(m, c), at: 5) }
        lines.append("file size:      \(fmtBytes(file.fileSize))")
        return lines.joined(separator: "\n")
    }
}

/// The MLA shape and what its compressed cache costs per token (F16, the command line's
/// default cache type, and F32).
func latentAttentionLine(_ m: MLAConfig, _ c: ModelConfig) -> String {
    let q = m.qLoraRank > 0 ? "q-lora \(m.qLoraRank)" : "direct q"
    let f16 = kvBytesPerPosition(config: c, types: KVCacheTypes(keys: .f16, values: .f16))
    let f32 = kvBytesPerPosition(config: c, types: .f32)
    return "attention:      multi-head latent (\(q), heads \(c.headCount) x (\(m.nopeDim) + \(m.ropeDim) rotary), values \(m.valueHeadDim), "
        + (m.splitKV ? "attn_k_b/attn_v_b" : "legacy attn_kv_b") + "); cache keeps latent \(m.kvLoraRank) + rotary key \(m.ropeDim) "
        + "per token and layer: \(fmtBytes(f16)) per token at F16 (\(fmtBytes(f32)) at F32)"
}

/// "softmax routing, top-k renormalised" or "sigmoid routing + selection bias, top-k renormalised, x2.5".
func routingDescription(_ c: ModelConfig, _ w: ModelWeights) -> String {
    var s = switch c.gating {
    case .sigmoid: "sigmoid routing"
    case .softmax: "softmax routing"
    case .softmaxWeight: "top-k then softmax of the chosen logits"
    }
    if w.layers.contains(where: { $0.moe?.routerBias != nil }) { s += ", router bias" }
    if w.layers.contains(where: { $0.moe?.expertBiases != nil }) { s += ", expert biases" }
    if c.ffnActivation == .swigluOAI { s += ", clamped SwiGLU (swiglu_oai)" }
    if w.layers.contains(where: { $0.moe?.selectionBias != nil }) { s += " + selection bias" }
    if c.expertGroups > 1 { s += ", experts of the best \(c.expertGroupsUsed) of \(c.expertGroups) groups" }
    if c.normalizeTopK { s += ", top-k renormalised" }
    if c.expertWeightsScale != 0, c.expertWeightsScale != 1 { s += ", weights x\(c.expertWeightsScale)" }
    return s
}

/// "attention x48" or, for hybrids, "DeltaNet x3, attention (x10): D D D A ...".
func layerPattern(_ c: ModelConfig, hasSinks: Bool = false) -> String {
    let kinds = (0..<c.layerCount).map { c.mixer($0) }
    let attention = kinds.filter { $0 == .attention }.count
    if !c.layerAttention.isEmpty { return attentionPattern(c, attentionHasSinks: hasSinks) }
    guard attention < kinds.count else { return "attention x\(kinds.count)" }
    var s = "DeltaNet x\(kinds.count - attention), gated attention x\(attention)"
    if let n = c.deltaNet {
        s += "; DeltaNet heads \(n.keyHeads) key / \(n.valueHeads) value of \(n.stateSize), conv \(n.convKernel)"
    }
    let letters = kinds.prefix(16).map { $0 == .attention ? "A" : "D" }.joined(separator: " ")
    return s + "; " + letters + (kinds.count > 16 ? " ..." : "")
}

/// Gemma-style per-layer attention: "sliding-window x25 (window 1024, head 256, kv 8, base 10000),
/// global x5 (head 512, kv 2, base 1e6, 128 rotary dims); S S S S S G ...".
func attentionPattern(_ c: ModelConfig, attentionHasSinks: Bool = false) -> String {
    let shapes = (0..<c.layerCount).map { c.attentionShape($0) }
    func describe(_ s: AttentionShape) -> String {
        (s.slidingWindow > 0 ? "window \(s.slidingWindow), " : "")
            + "head \(s.headDim), kv \(s.kvHeads), rope base \(s.ropeBase), \(s.ropeDim) rotary dims"
    }
    var parts = [String]()
    if let swa = shapes.first(where: { $0.slidingWindow > 0 }) {
        parts.append("sliding-window x\(shapes.filter { $0.slidingWindow > 0 }.count) (\(describe(swa)))")
    }
    if let global = shapes.first(where: { $0.slidingWindow == 0 }) {
        parts.append("global x\(shapes.filter { $0.slidingWindow == 0 }.count) (\(describe(global)))")
    }
    let shared = shapes.filter { $0.kvSource != nil }.count
    if shared > 0 { parts.append("\(shared) layer(s) reading earlier layers' KV") }
    let letters = shapes.prefix(16).map { $0.kvSource != nil ? "s" : ($0.slidingWindow > 0 ? "S" : "G") }.joined(separator: " ")
    var extra = ""
    if c.finalLogitSoftcap > 0 { extra += "; logit softcap \(c.finalLogitSoftcap)" }
    if let r = c.ropeScaling {
        extra += r.extFactor != 0 ? "; YaRN x\(1 / r.freqScale) over \(r.originalContext) positions"
            : "; linear RoPE scaling x\(1 / r.freqScale)"
    }
    if attentionHasSinks { extra += "; attention sinks" }
    return parts.joined(separator: ", ") + "; " + letters + (shapes.count > 16 ? " ..." : "") + extra
}

func fmtBytes(_ b: Int) -> String {
    let d = Double(b)
    if b >= 1 << 30 { return String(format: "%.2f GiB", d / Double(1 << 30)) }
    if b >= 1 << 20 { return String(format: "%.2f MiB", d / Double(1 << 20)) }
    if b >= 1 << 10 { return String(format: "%.1f KiB", d / Double(1 << 10)) }
    return "\(b) B"
}

func fmtCount(_ n: Int) -> String {
    let d = Double(n)
    if d >= 1e9 { return String(format: "%.2fB", d / 1e9) }
    if d >= 1e6 { return String(format: "%.2fM", d / 1e6) }
    if d >= 1e3 { return String(format: "%.1fK", d / 1e3) }
    return "\(n)"
}

struct GenerateModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-model",
        abstract: "Write a random-weight GGUF of a real architecture (for tests and benches).")

    @Option(name: .shortAndLong, help: "Output GGUF path.") var output: String
    @Option(help: "Preset: tiny, small, bench.") var preset: String = "tiny"
    @Option(help: "Architecture: qwen3moe, olmoe, llama (Mixtral), qwen3next, qwen35moe, gemma4, glm4moe, gpt-oss, deepseek2.") var arch: String?
    @Option(help: "Weight type: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, mxfp4, iq4_nl, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_xs, iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s, iq1_s, iq1_m (every matrix in that type, as llama-quantize --pure; grid types as with an importance matrix of ones), q4_k_m, mxfp4_moe (experts MXFP4, rest Q8_0). Rows a type's block does not divide fall back as llama-quantize does (e.g. to IQ4_NL, Q4_0, Q5_0).") var type: String?
    @Option(help: "Layers.") var layers: Int?
    @Option(help: "Hidden size.") var embedding: Int?
    @Option(help: "Attention heads.") var heads: Int?
    @Option(name: .customLong("kv-heads"), help: "KV heads.") var kvHeads: Int?
    @Option(name: .customLong("head-dim"), help: "Head dimension.") var headDim: Int?
    @Option(help: "Experts per layer.") var experts: Int?
    @Option(name: .customLong("experts-used"), help: "Experts per token (top-k).") var expertsUsed: Int?
    @Option(name: .customLong("expert-ff"), help: "Expert FFN size.") var expertFF: Int?
    @Option(name: .customLong("shared-expert-ff"), help: "Shared-expert FFN size (hybrids; default: expert FF), dense MLP size (gemma4; default: 3 x expert FF).") var sharedExpertFF: Int?
    @Option(name: .customLong("ssm-state"), help: "DeltaNet head size (hybrids).") var ssmState: Int?
    @Option(name: .customLong("ssm-key-heads"), help: "DeltaNet key heads (hybrids).") var ssmKeyHeads: Int?
    @Option(name: .customLong("ssm-value-heads"), help: "DeltaNet value heads (hybrids).") var ssmValueHeads: Int?
    @Option(name: .customLong("full-attention-interval"), help: "Every n-th layer is full (global) attention (hybrids, gemma4).") var fullAttentionInterval: Int?
    @Option(name: .customLong("rope-dim"), help: "Rotary dimensions (hybrids default: head dim / 4; gemma4: of the sliding-window layers).") var ropeDim: Int?
    @Option(name: .customLong("sliding-window"), help: "Sliding-window length (gemma4, gpt-oss).") var slidingWindow: Int?
    @Option(name: .customLong("global-head-dim"), help: "Head size of the global layers (gemma4; default: 2 x head dim).") var globalHeadDim: Int?
    @Option(name: .customLong("global-kv-heads"), help: "KV heads of the global layers (gemma4; default: kv heads / 4).") var globalKVHeads: Int?
    @Option(name: .customLong("shared-kv-layers"), help: "Last layers reading earlier layers' KV (gemma4).") var sharedKVLayers: Int?
    @Option(name: .customLong("dense-layers"), help: "Leading dense layers (glm4moe; default 1).") var denseLayers: Int?
    @Option(name: .customLong("dense-ff"), help: "FFN size of the leading dense layers (glm4moe; default: 2 x expert FF).") var denseFF: Int?
    @Option(name: .customLong("q-lora-rank"), help: "Query bottleneck rank (deepseek2; default 4 x head dim; 0: a direct attn_q in V2-Lite's layout).") var qLoraRank: Int?
    @Option(name: .customLong("kv-lora-rank"), help: "Latent size of keys and values (deepseek2; default 4 x head dim).") var kvLoraRank: Int?
    @Option(name: .customLong("per-layer-input"), help: "Per-layer token inputs of this width (gemma4, as E2B / E4B; with --experts 0 for their dense layout).") var perLayerInput: Int?
    @Flag(name: .customLong("double-wide-mlp"), help: "Double the MLP of the shared-KV layers (gemma4, as E2B).") var doubleWideMLP = false
    @Flag(name: .customLong("fused-qkv"), help: "Write one attn_qkv per layer (gemma4, qwen3moe).") var fusedQKV = false
    @Flag(name: .customLong("fused-gate-up"), help: "Write ffn_gate_up_exps (gemma4, as its converter does).") var fusedGateUp = false
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(name: .customLong("context"), help: "Training context length written to the file (default: the preset's; depth benches need more).") var context: Int?
    @Option(name: [.short, .customLong("threads")]) var threads: Int?

    func run() throws {
        Log.setup(verbose: false)
        guard var spec = SyntheticModelSpec.preset(preset, architecture: arch ?? "qwen3moe") else {
            throw CLIError("unknown preset '\(preset)' (tiny, small, bench)")
        }
        if let type { spec.weightType = type }
        if let layers { spec.layers = layers }
        if let embedding { spec.embedding = embedding }
        if let heads { spec.heads = heads }
        if let kvHeads { spec.kvHeads = kvHeads }
        if let headDim { spec.headDim = headDim }
        if let experts { spec.experts = experts }
        if let expertsUsed { spec.expertsUsed = expertsUsed }
        if let expertFF { spec.expertFF = expertFF }
        if let sharedExpertFF { spec.sharedExpertFF = sharedExpertFF }
        if let ssmState { spec.ssmStateSize = ssmState }
        if let ssmKeyHeads { spec.ssmKeyHeads = ssmKeyHeads }
        if let ssmValueHeads { spec.ssmValueHeads = ssmValueHeads }
        if let fullAttentionInterval { spec.fullAttentionInterval = fullAttentionInterval }
        if let ropeDim { spec.ropeDim = ropeDim }
        if let slidingWindow { spec.slidingWindow = slidingWindow }
        if let globalHeadDim { spec.globalHeadDim = globalHeadDim }
        if let globalKVHeads { spec.globalKVHeads = globalKVHeads }
        if let sharedKVLayers { spec.sharedKVLayers = sharedKVLayers }
        if let denseLayers { spec.denseLayers = denseLayers }
        if let denseFF { spec.denseFF = denseFF }
        if let qLoraRank { spec.qLoraRank = qLoraRank }
        if let kvLoraRank { spec.kvLoraRank = kvLoraRank }
        if let perLayerInput { spec.perLayerInput = perLayerInput }
        spec.doubleWideMLP = doubleWideMLP
        spec.fusedQKV = fusedQKV
        spec.fusedGateUp = fusedGateUp
        if let context {
            guard context >= 8 else { throw CLIError("--context must be at least 8, got \(context)") }
            spec.context = context
        }
        spec.seed = seed
        let clock = ContinuousClock()
        let t0 = clock.now
        var lastPercent = -1
        do {
            try SyntheticModel.write(spec, to: output, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount) { done, total in
                let percent = done * 100 / total
                if percent / 10 != lastPercent / 10 {
                    lastPercent = percent
                    Log.main.info("writing \(output): \(percent)% (\(done)/\(total) tensors)")
                }
            }
        } catch {
            throw CLIError("\(error)")
        }
        Log.main.info("wrote \(output) in \(String(format: "%.1f", (clock.now - t0).seconds)) s")
    }
}
