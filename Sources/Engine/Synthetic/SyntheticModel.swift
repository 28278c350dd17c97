import GGUF
import Quant

/// Writes random-weight GGUF models of a real architecture: tiny ones for tests, ~1 GB ones
/// for benches. Weights are deterministic for a seed; matrices are scaled so activations stay
/// in a realistic range through many layers.
public struct SyntheticModelSpec: Sendable, Equatable {
    public var architecture = "qwen3moe"
    public var layers = 2
    public var embedding = 64
    public var heads = 4
    public var kvHeads = 2
    public var headDim = 16
    public var experts = 8
    public var expertsUsed = 2
    public var expertFF = 32
    public var context = 256
    /// Type of the large matrices; "q4_k_m" mixes Q4_K and Q6_K like llama.cpp's preset,
    /// "mxfp4_moe" puts the routed experts in MXFP4 and the rest in Q8_0 (llama.cpp's MXFP4_MOE).
    public var weightType = "f32"
    public var seed: UInt64 = 1
    // Hybrid (qwen3next / qwen35moe) shape; 0 means "derive from the attention shape".
    /// Shared-expert FFN size (0: expertFF).
    public var sharedExpertFF = 0
    /// DeltaNet head size (0: headDim) and key / value head counts (0: heads / 2, heads).
    public var ssmStateSize = 0
    public var ssmKeyHeads = 0
    public var ssmValueHeads = 0
    public var convKernel = 4
    /// Every n-th layer is full attention, the rest DeltaNet.
    public var fullAttentionInterval = 4
    /// Rotary dims (0: headDim, or headDim / 4 for the hybrids, as Qwen3-Next's partial rotary;
    /// gemma4: of the sliding-window layers).
    public var ropeDim = 0
    // Gemma 4 shape (SyntheticGemma4.swift); 0 means "derive": window 16, global head size
    // 2 x headDim, global KV heads kvHeads / 4, dense MLP (sharedExpertFF) 3 x expertFF.
    public var slidingWindow = 0
    public var globalHeadDim = 0
    public var globalKVHeads = 0
    /// The last layers that read earlier layers' KV rows (attention.shared_kv_layers).
    public var sharedKVLayers = 0
    public var logitSoftcap: Float = 8
    /// Per-layer token inputs of this width (Gemma 4 E2B / E4B); 0: none.
    public var perLayerInput = 0
    /// Doubles the MLP of the shared-KV layers (Gemma 4 E2B's use_double_wide_mlp).
    public var doubleWideMLP = false
    /// Writes fused attn_qkv (gemma4, qwen3moe) and ffn_gate_up_exps (gemma4) tensors.
    public var fusedQKV = false
    public var fusedGateUp = false
    // GLM-4.5 shape (SyntheticGlm4MoE.swift); 0 means "derive": 1 leading dense layer of
    // 2 x expertFF.
    public var denseLayers = 0
    public var denseFF = 0
    // DeepSeek-V2/V3 shape (SyntheticDeepSeek2.swift): q_lora_rank (nil: derive, 0: direct
    // attn_q) and kv_lora_rank (0: derive).
    public var qLoraRank: Int? = nil
    public var kvLoraRank = 0

    public var isHybrid: Bool { ["qwen3next", "qwen35moe"].contains(architecture) }

    public init() {}

    /// A preset shape; for the hybrid architectures the shape follows the real models'
    /// proportions (Qwen3.6-35B-A3B: head dim 256, 2 KV heads, partial rotary 1/4, DeltaNet heads
    /// of 128 with twice as many value as key heads, a shared expert, full attention every 4th layer).
    public static func preset(_ name: String, architecture: String) -> SyntheticModelSpec? {
        guard var s = preset(name) else { return nil }
        s.architecture = architecture
        if s.isGemma { return gemmaPreset(name, s) }
        if s.isGlm { return glmPreset(name, s) }
        if s.isGptOSS { return gptOSSPreset(name, s) }
        if s.isDeepSeek2 { return deepSeek2Preset(name, s) }
        guard s.isHybrid else { return s }
        switch name {
        case "tiny":
            s.layers = 4; s.headDim = 32; s.ssmStateSize = 16; s.ssmKeyHeads = 2; s.ssmValueHeads = 4
            s.fullAttentionInterval = 2
        case "small":
            s.heads = 4; s.kvHeads = 2; s.headDim = 128; s.ssmStateSize = 64; s.ssmKeyHeads = 2; s.ssmValueHeads = 4
        default:  // bench: ~1 GB at Q4_K_M
            s.layers = 16; s.embedding = 1024; s.heads = 8; s.kvHeads = 2; s.headDim = 256
            s.ssmStateSize = 128; s.ssmKeyHeads = 8; s.ssmValueHeads = 16
            s.experts = 64; s.expertsUsed = 8; s.expertFF = 512; s.sharedExpertFF = 512
        }
        return s
    }

    /// Gemma 4 presets in gemma-4-26B-A4B's proportions: every 6th layer global (3rd in the
    /// small ones), global heads twice as wide with a quarter of the KV heads, experts a quarter
    /// and the dense MLP three quarters of the hidden size.
    static func gemmaPreset(_ name: String, _ base: SyntheticModelSpec) -> SyntheticModelSpec {
        var s = base
        switch name {
        case "tiny":
            s.layers = 6; s.fullAttentionInterval = 3; s.embedding = 64; s.heads = 4; s.kvHeads = 2; s.headDim = 16
            s.globalKVHeads = 1; s.slidingWindow = 8; s.expertFF = 32; s.sharedExpertFF = 64
        case "small":
            // K-quant rows need multiples of 256, so the FFNs are wider than the proportions say.
            s.layers = 6; s.fullAttentionInterval = 3; s.embedding = 256; s.heads = 4; s.kvHeads = 4; s.headDim = 64
            s.globalKVHeads = 1; s.slidingWindow = 64; s.experts = 32; s.expertsUsed = 4; s.expertFF = 256; s.sharedExpertFF = 256
            s.context = 1024
        default:  // bench: ~0.5 GB at Q4_K_M
            s.layers = 12; s.fullAttentionInterval = 6; s.embedding = 1024; s.heads = 8; s.kvHeads = 4; s.headDim = 128
            s.globalKVHeads = 1; s.slidingWindow = 512; s.experts = 64; s.expertsUsed = 8; s.expertFF = 256; s.sharedExpertFF = 768
            s.context = 4096; s.weightType = "q4_k_m"
        }
        return s
    }

    /// GLM-4.5 presets in GLM-4.5-Air's proportions: 128-wide heads with 12x fewer KV heads
    /// (small: 4x), half the head rotated, many small experts top-8 beside one shared expert,
    /// one leading dense layer ~8x an expert's width.
    static func glmPreset(_ name: String, _ base: SyntheticModelSpec) -> SyntheticModelSpec {
        var s = base
        switch name {
        case "tiny": s.layers = 3
        case "small":
            s.layers = 4; s.embedding = 256; s.heads = 8; s.kvHeads = 2; s.headDim = 64
            s.experts = 32; s.expertsUsed = 4; s.expertFF = 256; s.denseFF = 1024; s.context = 1024
        default:  // bench: ~1 GB at Q4_K_M
            s.layers = 16; s.embedding = 1024; s.heads = 12; s.kvHeads = 1; s.headDim = 128
            s.experts = 64; s.expertsUsed = 8; s.expertFF = 512; s.denseFF = 4096; s.context = 4096; s.weightType = "q4_k_m"
        }
        return s
    }

    public static func preset(_ name: String) -> SyntheticModelSpec? {
        var s = SyntheticModelSpec()
        switch name {
        case "tiny": return s
        case "small":
            s.layers = 4; s.embedding = 256; s.heads = 8; s.kvHeads = 2; s.headDim = 32
            s.experts = 32; s.expertsUsed = 4; s.expertFF = 256; s.context = 1024
            return s
        case "bench":
            // ~1 GB at Q4_K_M: 16 layers, hidden 1024, 64 experts top-8 (the issue's bench shape).
            s.layers = 16; s.embedding = 1024; s.heads = 16; s.kvHeads = 4; s.headDim = 64
            s.experts = 64; s.expertsUsed = 8; s.expertFF = 768; s.context = 4096; s.weightType = "q4_k_m"
            return s
        default: return nil
        }
    }

    /// The tensor type for one weight, honouring the q4_k_m mix (embeddings, output,
    /// attn_v and every other ffn_down in Q6_K, the rest Q4_K).
    func type(for name: String, layer: Int?) throws -> GGMLType {
        // The MLA per-head maps stay in the converter's type (F16; llama-quantize would quantise them).
        if name.hasSuffix("attn_k_b.weight") || name.hasSuffix("attn_v_b.weight") {
            return weightType.lowercased() == "f32" ? .f32 : .f16
        }
        if weightType.lowercased() == "q4_k_m" {
            if name == "output.weight" || name.hasSuffix("attn_v.weight") { return .q6_K }
            if name.hasSuffix("ffn_down_exps.weight"), let l = layer, l % 2 == 0 { return .q6_K }
            return .q4_K
        }
        if weightType.lowercased() == "mxfp4_moe" { return name.hasSuffix("_exps.weight") ? .mxfp4 : .q8_0 }
        guard let t = GGMLType(name: weightType), t.isComputeSupported, t.isQuantizeSupported else {
            let names = GGMLType.allCases.filter { $0.isComputeSupported && $0.isQuantizeSupported }.map { $0.description.lowercased() }
            throw GGUFError("unsupported weight type '\(weightType)' (use \(names.joined(separator: ", ")), q4_k_m or mxfp4_moe)")
        }
        return t
    }
}

extension SyntheticModelSpec {
    /// llama-quantize's tensor_type_fallback: where the type's block does not divide the row
    /// length, the grid types and IQ4_XS take IQ4_NL, Q2_K and Q3_K Q4_0, Q4_K Q5_0, Q5_K Q5_1
    /// and Q6_K Q8_0; F16 where that block does not divide it either.
    static func compatibleType(_ type: GGMLType, cols: Int) -> GGMLType {
        guard cols % type.blockSize != 0 else { return type }
        let fallback: GGMLType
        switch type {
        case .iq1_s, .iq1_m, .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq4_xs: fallback = .iq4_nl
        case .q2_K, .q3_K: fallback = .q4_0
        case .q4_K: fallback = .q5_0
        case .q5_K: fallback = .q5_1
        case .q6_K: fallback = .q8_0
        default: fallback = type
        }
        return cols % fallback.blockSize == 0 ? fallback : .f16
    }
}

public enum SyntheticModel {
    /// Writes the model; `progress(done, total)` is called per tensor.
    public static func write(_ spec: SyntheticModelSpec, to path: String, threads: Int = 2,
                             progress: (Int, Int) -> Void = { _, _ in }) throws {
        let s = spec
        guard ["qwen3moe", "olmoe", "llama", "qwen3next", "qwen35moe", "gemma4", "glm4moe", "gpt-oss", "deepseek2"].contains(s.architecture) else {
            throw GGUFError("unknown architecture '\(s.architecture)' (qwen3moe, olmoe, llama, qwen3next, qwen35moe, gemma4, glm4moe, gpt-oss, deepseek2)")
        }
        if s.isGemma { try s.checkGemma() }
        if s.isGlm { try s.checkGlm() }
        if s.isDeepSeek2 { try s.checkDeepSeek2() }
        if s.experts == 0, !s.isGemma { throw GGUFError("\(s.architecture): a model without experts is written only for gemma4") }
        if s.fusedGateUp, !s.isGemma || s.experts == 0 { throw GGUFError("fused gate_up experts are written only for gemma4 MoE models") }
        if s.fusedQKV, !s.isGemma, s.architecture != "qwen3moe" { throw GGUFError("fused attn_qkv is written only for gemma4 and qwen3moe") }
        if s.architecture == "olmoe", s.kvHeads != s.heads {
            throw GGUFError("olmoe has no grouped KV heads (llama.cpp sizes attn_k_norm to the full width): set kv heads = heads (\(s.heads))")
        }
        let vocab = SyntheticVocabulary.make()
        var w = GGUFWriter()
        let a = s.architecture + "."
        w.set("general.architecture", s.architecture)
        w.set("general.name", "hotmoe synthetic \(s.architecture) \(s.layers)x\(s.embedding) e\(s.experts)k\(s.expertsUsed) \(s.weightType)")
        w.set("general.file_type", uint32: 0)
        w.set(a + "block_count", uint32: s.layers)
        w.set(a + "context_length", uint32: s.context)
        w.set(a + "embedding_length", uint32: s.embedding)
        w.set(a + "feed_forward_length", uint32: s.expertFF)
        w.set(a + "expert_feed_forward_length", uint32: s.expertFF)
        w.set(a + "attention.head_count", uint32: s.heads)
        w.set(a + "attention.head_count_kv", uint32: s.kvHeads)
        w.set(a + "attention.key_length", uint32: s.headDim)
        w.set(a + "attention.value_length", uint32: s.headDim)
        w.set(a + "rope.freq_base", float32: 10000)
        w.set(a + "attention.layer_norm_rms_epsilon", float32: 1e-6)
        // A dense model (gemma4 with 0 experts) has no expert keys, as the converter writes it.
        if s.experts > 0 {
            w.set(a + "expert_count", uint32: s.experts)
            w.set(a + "expert_used_count", uint32: s.expertsUsed)
        }
        if s.architecture == "llama" {
            w.set(a + "rope.dimension_count", uint32: s.headDim)
            w.set(a + "vocab_size", uint32: vocab.tokens.count)
        }
        if s.isHybrid { s.writeHybridMetadata(&w) }
        if s.isGemma { s.writeGemmaMetadata(&w) }
        if s.isGlm { s.writeGlmMetadata(&w) }
        if s.isGptOSS { s.writeGptOSSMetadata(&w) }
        if s.isDeepSeek2 { s.writeDeepSeek2Metadata(&w) }
        w.set("tokenizer.ggml.model", "gpt2")
        w.set("tokenizer.ggml.pre", "qwen2")
        w.set("tokenizer.ggml.tokens", strings: vocab.tokens)
        w.set("tokenizer.ggml.token_type", int32s: vocab.tokenTypes)
        w.set("tokenizer.ggml.merges", strings: vocab.merges)
        w.set("tokenizer.ggml.bos_token_id", uint32: vocab.specialTokens["<|endoftext|>"]!)
        w.set("tokenizer.ggml.eos_token_id", uint32: vocab.specialTokens["<|im_end|>"]!)
        w.set("tokenizer.ggml.padding_token_id", uint32: vocab.specialTokens["<|endoftext|>"]!)
        w.set("tokenizer.ggml.add_bos_token", .bool(false))
        w.set("tokenizer.chat_template", SyntheticVocabulary.chatMLTemplate)

        let pool = WorkerPool(threads: threads)
        let d = s.embedding, n = vocab.tokens.count
        var plan: [(String, [Int], GGMLType, Float, Float)] = []  // name, dims, type, scale, offset
        func matrix(_ name: String, _ dims: [Int], layer: Int?, scale: Float? = nil) throws {
            let type = SyntheticModelSpec.compatibleType(try s.type(for: name, layer: layer), cols: dims[0])
            plan.append((name, dims, type, scale ?? (1 / Float(dims[0]).squareRoot()), 0))
        }
        func norm(_ name: String, _ size: Int) { plan.append((name, [size], .f32, 0.1, 1)) }
        try matrix("token_embd.weight", [d, n], layer: nil, scale: 1)
        if s.isGemma { try s.planGemmaModel(vocabulary: n, matrix: matrix, norm: norm) }
        for l in 0..<s.layers where s.isHybrid {
            try s.planHybridLayer(l, matrix: matrix, norm: norm, vector: { plan.append(($0, $1, .f32, $2, $3)) })
        }
        for l in 0..<s.layers where s.isGemma {
            try s.planGemmaLayer(l, matrix: matrix, norm: norm, vector: { plan.append(($0, $1, .f32, $2, $3)) })
        }
        for l in 0..<s.layers where s.isGlm {
            try s.planGlmLayer(l, matrix: matrix, norm: norm, vector: { plan.append(($0, $1, .f32, $2, $3)) })
        }
        for l in 0..<s.layers where s.isGptOSS {
            try s.planGptOSSLayer(l, matrix: matrix, norm: norm, vector: { plan.append(($0, $1, .f32, $2, $3)) })
        }
        for l in 0..<s.layers where s.isDeepSeek2 {
            try s.planDeepSeek2Layer(l, matrix: matrix, norm: norm, vector: { plan.append(($0, $1, .f32, $2, $3)) })
        }
        for l in 0..<s.layers where !s.isHybrid && !s.isGemma && !s.isGlm && !s.isGptOSS && !s.isDeepSeek2 {
            let p = "blk.\(l)."
            norm(p + "attn_norm.weight", d)
            if s.fusedQKV {
                try matrix(p + "attn_qkv.weight", [d, (s.heads + 2 * s.kvHeads) * s.headDim], layer: l)
            } else {
                try matrix(p + "attn_q.weight", [d, s.heads * s.headDim], layer: l)
                try matrix(p + "attn_k.weight", [d, s.kvHeads * s.headDim], layer: l)
                try matrix(p + "attn_v.weight", [d, s.kvHeads * s.headDim], layer: l)
            }
            try matrix(p + "attn_output.weight", [s.heads * s.headDim, d], layer: l)
            if s.architecture == "qwen3moe" {
                norm(p + "attn_q_norm.weight", s.headDim)
                norm(p + "attn_k_norm.weight", s.headDim)
            } else if s.architecture == "olmoe" {
                norm(p + "attn_q_norm.weight", s.heads * s.headDim)
                norm(p + "attn_k_norm.weight", s.kvHeads * s.headDim)
            }
            norm(p + "ffn_norm.weight", d)
            plan.append((p + "ffn_gate_inp.weight", [d, s.experts], .f32, 2 / Float(d).squareRoot(), 0))
            try matrix(p + "ffn_gate_exps.weight", [d, s.expertFF, s.experts], layer: l)
            try matrix(p + "ffn_up_exps.weight", [d, s.expertFF, s.experts], layer: l)
            try matrix(p + "ffn_down_exps.weight", [s.expertFF, d, s.experts], layer: l)
        }
        norm("output_norm.weight", d)
        // Gemma's real checkpoints tie the output to the token embeddings; a random model that
        // did would keep predicting its input token (the embedding dominates the residual
        // stream, so that blocks stay small updates and the stack is not chaotic). Gemma gets a
        // separate output with logits of a few units, where the soft-cap is far from linear.
        try matrix("output.weight", [d, n], layer: nil, scale: s.isGemma ? 3 / Float(d).squareRoot() : nil)

        for (index, (name, dims, type, scale, offset)) in plan.enumerated() {
            let seed = s.seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index)
            try w.addTensor(name: name, type: type, dims: dims) { buffer in
                fillRandom(buffer, type: type, dims: dims, scale: scale, offset: offset, seed: seed, pool: pool)
            }
        }
        if s.isGemma { try w.addTensor(name: "rope_freqs.weight", dims: [s.gemmaGlobalHeadDim / 2], values: s.gemmaRopeFreqs) }
        try w.write(to: path, progress: progress)
    }

    /// Uniform values in offset ± scale*sqrt(3) (standard deviation `scale`), quantised row by row.
    static func fillRandom(_ buffer: UnsafeMutableRawBufferPointer, type: GGMLType, dims: [Int],
                           scale: Float, offset: Float, seed: UInt64, pool: WorkerPool) {
        let cols = dims[0], rows = dims.dropFirst().reduce(1, *)
        let rowBytes = type.byteCount(elements: cols)!
        let base = UncheckedBox(buffer.baseAddress!)
        let half = scale * Float(3).squareRoot()
        pool.forRanges(rows, granularity: 8) { range in
            var row = [Float](repeating: 0, count: cols)
            for r in range {
                var rng = SeededGenerator(seed: seed &+ UInt64(r) &* 0xD6E8_FEB8_6659_FD93)
                for i in 0..<cols {
                    let u = Float(Double(rng.next() >> 40) / Double(1 << 24))
                    row[i] = offset + (2 * u - 1) * half
                }
                row.withUnsafeBufferPointer {
                    Kernels.quantizeRow(type: type, $0.baseAddress!, base.value + r * rowBytes, count: cols)
                }
            }
        }
    }
}
