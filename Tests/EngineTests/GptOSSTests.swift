import CKernels
import Foundation
import Testing
@testable import Engine
import GGUF

private func tinyGptOSS(seed: UInt64 = 3, type: String = "f32") throws -> MoEModel {
    var spec = SyntheticModelSpec.preset("tiny", architecture: "gpt-oss")!
    spec.seed = seed
    spec.weightType = type
    let path = tempModelPath("gpt-oss-\(type)-\(seed).gguf")
    try SyntheticModel.write(spec, to: path)
    return try MoEModel(path: path)
}

@Suite struct GptOSSTests {
    @Test func configReadsGptOSSHyperParameters() throws {
        let model = try tinyGptOSS()
        let c = model.config
        #expect(c.architecture == "gpt-oss" && c.layerCount == 2)
        // No sliding_window_pattern key: llama.cpp's default period 2 windows the even layers.
        #expect(c.attentionShape(0).slidingWindow == 8 && c.attentionShape(1).slidingWindow == 0)
        #expect(c.gating == .softmaxWeight && !c.normalizeTopK && c.ffnActivation == .swigluOAI)
        #expect(c.ropeStyle == .neox && c.ropeDim == c.headDim && c.ropeBase == 150_000)
        let r = try #require(c.ropeScaling)
        #expect(r.freqScale == 1 / 32 && r.originalContext == 4096 && r.extFactor == 1)
        // get_mscale(32) times 1 / (1 + 0.1 ln 32): one, up to the rounding llama.cpp has too.
        #expect(abs(r.attnFactor - 1) <= 2 * Float.ulpOfOne)
        for layer in model.weights.layers {
            guard case .attention(let a) = layer.mixer else { Issue.record("not attention"); return }
            #expect(a.qBias != nil && a.kBias != nil && a.vBias != nil && a.outputBias != nil && a.sinks != nil)
            #expect(layer.moe?.routerBias != nil && layer.moe?.expertBiases != nil)
        }
        #expect(model.weights.expertMatrices(layer: 1, expert: 3).biases != nil)
    }

    /// swiglu_oai against its float64 formula, over values well past both clamps.
    @Test func clampedSwiGLUMatchesFloat64() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        func uniform() -> Float { Float(Double(rng.next() >> 11) / Double(1 << 53) * 40 - 20) }
        for _ in 0..<2000 {
            let g = uniform(), u = uniform()
            let x = min(Double(g), 7), y = min(max(Double(u), -7), 7)
            let ref = x / (1 + exp(-1.702 * x)) * (y + 1)
            let got = Ops.swigluOAI(g, u)
            #expect(abs(Double(got) - ref) <= 1e-6 * max(1, abs(ref)), "gate \(g) up \(u): \(got) vs \(ref), seed=\(seed)")
        }
        #expect(Ops.swigluOAI(12, 30) == Ops.swigluOAI(7, 7), "both inputs clamp at 7")
        #expect(Ops.swigluOAI(1, -30) == Ops.swigluOAI(1, -7))
        #expect(Ops.swigluOAI(.nan, 1).isNaN, "NaN passes through the clamps")
        var gate: [Float] = [9, -3, 0.5], up: [Float] = [2, 8, -9]
        Ops.gatedActivation(.swigluOAI, gate: &gate, up: up, rows: 1, rowLength: 3)
        #expect(gate == [Ops.swigluOAI(9, 2), Ops.swigluOAI(-3, 8), Ops.swigluOAI(0.5, -9)])
    }

    /// SOFTMAX_WEIGHT gating against float64: top-k on the raw logits, the k chosen softmaxed.
    @Test func topKThenSoftmaxRoutingMatchesFloat64() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) * 8 - 4 }
        let e = 32, k = 4
        var checked = 0
        for _ in 0..<200 {
            let logits = (0..<e).map { _ in Float(uniform()) }
            let order = (0..<e).sorted { logits[$0] > logits[$1] }
            guard logits[order[k - 1]] - logits[order[k]] > 1e-6 else { continue }
            let chosen = Array(order.prefix(k))
            let top = Double(logits[chosen[0]])
            let total = chosen.reduce(0.0) { $0 + exp(Double(logits[$1]) - top) }
            var work = logits, experts = [Int32](repeating: -1, count: k), weights = [Float](repeating: 0, count: k)
            Router.route(logits: &work, expertCount: e, k: k, gating: .softmaxWeight, normalize: false,
                         experts: &experts, weights: &weights)
            #expect(experts.map(Int.init) == chosen, "seed=\(seed)")
            for (s, x) in chosen.enumerated() {
                let ref = exp(Double(logits[x]) - top) / total
                #expect(abs(Double(weights[s]) - ref) <= 1e-6, "weight \(weights[s]) vs \(ref), seed=\(seed)")
            }
            checked += 1
        }
        #expect(checked > 150)
    }

    /// The attention kernel with a sink against float64: the sink logit joins the softmax's
    /// normaliser and carries no value; with a sliding window as well.
    @Test(arguments: [Int32(0), 1]) func attentionSinkMatchesFloat64(batched: Int32) {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        func uniform() -> Float { Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) }
        for (n, first) in [(1, 0), (7, 0), (40, 0), (90, 75), (130, 3)] {
            let hd = 64, scale = 1 / Float(hd).squareRoot()
            let q = (0..<hd).map { _ in uniform() * 3 }, keys = (0..<n * hd).map { _ in uniform() * 3 }
            let values = (0..<n * hd).map { _ in uniform() }
            let sink = uniform() * 4
            var logits = (first..<n).map { p in Double(scale) * (0..<hd).reduce(0.0) { $0 + Double(q[$1]) * Double(keys[p * hd + $1]) } }
            let m = max(logits.max()!, Double(sink))
            logits = logits.map { exp($0 - m) }
            let total = logits.reduce(0, +) + exp(Double(sink) - m)
            var ref = [Double](repeating: 0, count: hd)
            for (j, w) in logits.enumerated() { for i in 0..<hd { ref[i] += w / total * Double(values[(first + j) * hd + i]) } }
            var out = [Float](repeating: .nan, count: hd), scores = [Float](repeating: .nan, count: Attention.roundedPositions(n))
            var acc = [Float](repeating: .nan, count: 64 * hd), s = sink
            hm_attend_ggml_f32(q, keys, Int64(hd), values, Int64(hd), Int64(first), Int64(n), Int64(hd), Int64(hd), scale,
                               batched, &s, &scores, &acc, &out)
            let err = zip(out, ref).map { abs(Double($0) - $1) }.max()!
            #expect(err <= 2e-6, "n \(n) first \(first): max error \(err), seed=\(seed)")
        }
        // A dominant sink takes (almost) all the weight: the output goes to zero.
        var out = [Float](repeating: .nan, count: 4), scores = [Float](repeating: 0, count: 16)
        var acc = [Float](repeating: 0, count: 256), sink: Float = 60
        hm_attend_ggml_f32([1, 1, 1, 1], [1, 1, 1, 1], 4, [5, 5, 5, 5], 4, 0, 1, 4, 4, 1, batched, &sink, &scores, &acc, &out)
        #expect(out.allSatisfy { abs($0) < 1e-20 }, "\(out)")
    }

    /// The YaRN RoPE table against a float64 transcription of ggml's rope_yarn (the angle's
    /// float recurrence as ggml runs it, the rest in double), at gpt-oss-20b's values.
    @Test func yarnRopeTableMatchesFloat64() {
        let scaling = RopeScaling(freqScale: 1 / 32, originalContext: 4096, extFactor: 1, attnFactor: 1)
        let dim = 64, base: Float = 150_000
        let (low, high) = scaling.correctionDims(ropeDim: dim, base: base)
        func corr(_ rot: Double) -> Double { Double(dim) * log(4096 / (rot * 2 * Double.pi)) / (2 * log(Double(base))) }
        #expect(Double(low) == max(0, floor(corr(32))) && Double(high) == min(Double(dim - 1), ceil(corr(1))))
        #expect(low == 8 && high == 18, "gpt-oss-20b's ramp runs over pairs 8...18")
        var table = [Float](repeating: 0, count: dim)
        let mscale = 1 + 0.1 * log(32.0)
        for position in [0, 1, 17, 1000, 4095, 9000] {
            Ops.ropeTable(position: position, ropeDim: dim, base: base, scaling: scaling, into: &table)
            var theta = Float(position)
            let thetaScale = powf(base, -2 / Float(dim))
            for i in 0..<(dim / 2) {
                let ramp = 1 - min(1, max(0, (Double(i) - Double(low)) / max(0.001, Double(high - low))))
                let extrapolated = Double(theta), interpolated = extrapolated / 32
                let angle = interpolated * (1 - ramp) + extrapolated * ramp
                let tolerance = 4e-7 * max(1, abs(angle)) * mscale
                #expect(abs(Double(table[2 * i]) - cos(angle) * mscale) <= tolerance, "cos pos \(position) pair \(i)")
                #expect(abs(Double(table[2 * i + 1]) - sin(angle) * mscale) <= tolerance, "sin pos \(position) pair \(i)")
                theta *= thetaScale
            }
        }
    }

    @Test(arguments: ["f32", "q8_0", "mxfp4_moe"])
    func batchedPromptAndTokenByTokenDecodeAgree(type: String) throws {
        let worst = try worstBatchedVsTokenByToken(try tinyGptOSS(seed: 11, type: type))
        print("gpt-oss \(type): batched (chunks of 32) vs token-by-token, worst relative L2 \(worst)")
        #expect(worst < 5e-4)
    }

    @Test func hostileGptOSSFilesNameTheFieldAndValue() throws {
        let cases: [HostileCase] = [
            ("missing tensor 'blk.1.attn_sinks.weight'", [], ["blk.1.attn_sinks.weight"]),
            ("missing tensor 'blk.0.attn_output.bias'", [], ["blk.0.attn_output.bias"]),
            ("missing tensor 'blk.1.ffn_gate_inp.bias'", [], ["blk.1.ffn_gate_inp.bias"]),
            ("missing tensor 'blk.0.ffn_gate_exps.bias'", [], ["blk.0.ffn_gate_exps.bias"]),
            ("missing tensor 'blk.0.ffn_up_exps.bias'", [], ["blk.0.ffn_up_exps.bias"]),
            ("missing tensor 'blk.1.ffn_down_exps.bias'", [], ["blk.1.ffn_down_exps.bias"]),
            ("missing tensor 'blk.0.post_attention_norm.weight'", [], ["blk.0.post_attention_norm.weight"]),
            ("missing metadata key 'gpt-oss.attention.sliding_window'", [], ["gpt-oss.attention.sliding_window"]),
            ("missing metadata key 'gpt-oss.expert_feed_forward_length'", [], ["gpt-oss.expert_feed_forward_length"]),
            // Heads and head size changed so that every projection still fits: the sinks do not.
            ("tensor 'blk.0.attn_sinks.weight' has shape [8], expected [4]",
             [("gpt-oss.attention.head_count", .uint32(4)), ("gpt-oss.attention.head_count_kv", .uint32(1)),
              ("gpt-oss.attention.key_length", .uint32(32)), ("gpt-oss.attention.value_length", .uint32(32)),
              ("gpt-oss.rope.dimension_count", .uint32(32))], []),
            ("gpt-oss.rope.dimension_count 8, attention.key_length 16 and attention.value_length 16 must be equal",
             [("gpt-oss.rope.dimension_count", .uint32(8))], []),
            ("gpt-oss.rope.scaling.type 'longrope' is not supported", [("gpt-oss.rope.scaling.type", .string("longrope"))], []),
            ("rope.scaling.type 'none' with rope.scaling.factor 32.0 is not supported", [("gpt-oss.rope.scaling.type", .string("none"))], []),
            ("metadata 'gpt-oss.attention.sliding_window_pattern' has 3 entries for 2 layers",
             [("gpt-oss.attention.sliding_window_pattern", .array(.bool, [.bool(true), .bool(false), .bool(true)]))], []),
            ("gpt-oss.attention.sliding_window 0 outside 1...", [("gpt-oss.attention.sliding_window", .uint32(0))], []),
        ]
        try expectEveryVariantRefused(architecture: "gpt-oss", seed: 5, cases)
    }

    /// A pattern array from the file overrides the default period (llama.cpp's get_arr first).
    @Test func slidingWindowPatternArrayDecidesTheLayers() throws {
        var spec = SyntheticModelSpec.preset("tiny", architecture: "gpt-oss")!
        spec.seed = 9
        let good = tempModelPath("gpt-oss-pattern-good.gguf"), path = tempModelPath("gpt-oss-pattern.gguf")
        try SyntheticModel.write(spec, to: good)
        try rewriteGGUF(good, to: path, set: [("gpt-oss.attention.sliding_window_pattern", .array(.bool, [.bool(false), .bool(true)]))])
        let c = try MoEModel(path: path).config
        #expect(c.attentionShape(0).slidingWindow == 0 && c.attentionShape(1).slidingWindow == 8)
        try rewriteGGUF(good, to: path, set: [("gpt-oss.attention.sliding_window_pattern", .uint32(1))])
        #expect(try MoEModel(path: path).config.attentionShape(0).slidingWindow == 0, "period 1: no windowed layer")
    }
}
