import GGUF
import Quant

/// The gpt-oss part of the synthetic model writer: metadata keys and tensors as llama.cpp's
/// `gpt-oss` loader expects them, in gpt-oss-20b's layout: no sliding_window_pattern key (the
/// default period 2: even layers windowed), YaRN x32 over an original context of 4096 with
/// base 150000, biases on q/k/v/o, the router and the experts, one sink logit per head.
extension SyntheticModelSpec {
    public var isGptOSS: Bool { architecture == "gpt-oss" }
    var gptOSSWindow: Int { slidingWindow > 0 ? slidingWindow : 8 }
    static let gptOSSRopeBase = 150_000.0, gptOSSYaRNFactor = 32.0, gptOSSOriginalContext = 4096

    /// gpt-oss presets in gpt-oss-20b's proportions: 64-wide heads with 8x fewer KV heads
    /// (4x in the small ones), q wider than the hidden size, experts as wide as the hidden
    /// size, top-4 of 32, window 128 (smaller in the small ones), experts in MXFP4.
    static func gptOSSPreset(_ name: String, _ base: SyntheticModelSpec) -> SyntheticModelSpec {
        var s = base
        switch name {
        case "tiny":
            s.layers = 2; s.embedding = 64; s.heads = 8; s.kvHeads = 2; s.headDim = 16; s.expertFF = 64; s.slidingWindow = 8
        case "small":
            s.layers = 4; s.embedding = 256; s.heads = 8; s.kvHeads = 2; s.headDim = 64; s.experts = 32; s.expertsUsed = 4
            s.expertFF = 256; s.slidingWindow = 64; s.context = 1024; s.weightType = "mxfp4_moe"
        default:  // bench: ~0.7 GB
            s.layers = 12; s.embedding = 1024; s.heads = 32; s.kvHeads = 4; s.headDim = 64; s.experts = 32; s.expertsUsed = 4
            s.expertFF = 1024; s.slidingWindow = 128; s.context = 4096; s.weightType = "mxfp4_moe"
        }
        return s
    }

    func writeGptOSSMetadata(_ w: inout GGUFWriter) {
        let a = architecture + "."
        w.set(a + "attention.sliding_window", uint32: gptOSSWindow)
        w.set(a + "rope.dimension_count", uint32: headDim)
        w.set(a + "rope.freq_base", float32: Self.gptOSSRopeBase)
        w.set(a + "rope.scaling.type", "yarn")
        w.set(a + "rope.scaling.factor", float32: Self.gptOSSYaRNFactor)
        w.set(a + "rope.scaling.original_context_length", uint32: Self.gptOSSOriginalContext)
        w.set(a + "attention.layer_norm_rms_epsilon", float32: 1e-5)
    }

    /// Adds one gpt-oss layer's tensors to the plan. `vector(name, dims, scale, offset)` adds an
    /// F32 tensor of uniform values.
    func planGptOSSLayer(_ l: Int, matrix: (String, [Int], Int?, Float?) throws -> Void, norm: (String, Int) -> Void,
                         vector: (String, [Int], Float, Float) -> Void) throws {
        let p = "blk.\(l).", d = embedding, q = heads * headDim, f = expertFF
        norm(p + "attn_norm.weight", d)
        try planBiasedQKV(l, matrix: matrix, vector: vector)
        try matrix(p + "attn_output.weight", [q, d], l, nil)
        vector(p + "attn_output.bias", [d], 0.2, 0)
        // Sinks of the scores' size: a real share of each softmax goes to the sink.
        vector(p + "attn_sinks.weight", [heads], 1, 0)
        norm(p + "post_attention_norm.weight", d)
        vector(p + "ffn_gate_inp.weight", [d, experts], 2 / Float(d).squareRoot(), 0)
        vector(p + "ffn_gate_inp.bias", [experts], 0.5, 0)
        try matrix(p + "ffn_gate_exps.weight", [d, f, experts], l, nil)
        try matrix(p + "ffn_up_exps.weight", [d, f, experts], l, nil)
        try matrix(p + "ffn_down_exps.weight", [f, d, experts], l, nil)
        // Gate and up biases wide enough that the clamps at 7 bite on some rows.
        vector(p + "ffn_gate_exps.bias", [f, experts], 2.5, 0)
        vector(p + "ffn_up_exps.bias", [f, experts], 2.5, 0)
        vector(p + "ffn_down_exps.bias", [d, experts], 0.2, 0)
    }
}
