import Foundation
import Testing
@testable import Engine
import GGUF
import Quant

private func uniform(_ n: Int, _ rng: inout SeededGenerator, _ lo: Double, _ hi: Double) -> [Float] {
    (0..<n).map { _ in Float(lo + (hi - lo) * Double(rng.next() >> 11) / Double(1 << 53)) }
}

private func gelu64(_ x: Double) -> Double { 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * x * (1 + 0.044715 * x * x))) }

@Suite struct Gemma4Tests {
    /// ggml's CPU GELU: fp16 table between -10 and 10, 0 / identity outside.
    @Test func geluMatchesFloat64AndGgmlTable() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        let x = uniform(20_000, &rng, -12, 12)
        for v in x {
            let ref = gelu64(Double(v)), got = Double(Ops.gelu(v))
            // Two fp16 roundings (input and output): a few 2^-11 relative.
            #expect(abs(got - ref) <= 2e-3 * max(1, abs(ref)), "gelu(\(v)) = \(got), float64 \(ref), seed=\(seed)")
            if v <= -10 { #expect(got == 0) }
            if v >= 10 { #expect(Float(got) == v) }
            if abs(v) < 10 {
                // The table entry of the fp16-rounded input, as ggml_table_gelu_f16 holds it.
                let h = fp16ToFloat(floatToFp16(v))
                #expect(Float(got) == fp16ToFloat(floatToFp16(Ops.geluTanh(h))))
            }
        }
        var g = Array(x.prefix(100)), up = uniform(100, &rng, -2, 2)
        let expected = zip(g, up).map { Ops.gelu($0) * $1 }
        Ops.gatedActivation(.gelu, gate: &g, up: &up, rows: 1, rowLength: 100)
        #expect(g == expected)
    }

    @Test func ropeTableWithFrequencyFactorsMatchesFloat64() {
        var rng = SeededGenerator(seed: UInt64.random(in: 0...UInt64.max))
        let ropeDim = 32, base: Float = 1_000_000
        // Proportional RoPE: the first pairs rotate (factors near 1), the rest get 1e30.
        var factors = uniform(ropeDim / 2, &rng, 0.5, 2)
        for i in 8..<(ropeDim / 2) { factors[i] = 1e30 }
        for position in [0, 1, 33, 5000] {
            var table = [Float](repeating: .nan, count: ropeDim)
            Ops.ropeTable(position: position, ropeDim: ropeDim, base: base, freqFactors: factors, into: &table)
            for i in 0..<(ropeDim / 2) {
                let theta = Double(position) * pow(Double(base), -2 * Double(i) / Double(ropeDim)) / Double(factors[i])
                #expect(abs(Double(table[2 * i]) - cos(theta)) < 2e-3 * max(1, Double(position) / 1000))
                #expect(abs(Double(table[2 * i + 1]) - sin(theta)) < 2e-3 * max(1, Double(position) / 1000))
                if i >= 8 { #expect(table[2 * i] == 1 && abs(table[2 * i + 1]) < 1e-20, "pair \(i) at \(position) rotates") }
            }
        }
    }

    @Test func unweightedRMSNormAndSoftcapMatchFloat64() {
        var rng = SeededGenerator(seed: UInt64.random(in: 0...UInt64.max))
        for n in [1, 16, 512] {
            let x = uniform(n, &rng, -3, 3)
            var y = [Float](repeating: 0, count: n)
            Ops.rmsNormUnweighted(x, &y, count: n, eps: 1e-6)
            let ms = x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(n)
            for i in 0..<n { #expect(abs(Double(y[i]) - Double(x[i]) / (ms + 1e-6).squareRoot()) <= 1e-5 * max(1, abs(Double(y[i])))) }
        }
        var logits = uniform(1000, &rng, -100, 100)
        let original = logits
        Ops.softcap(&logits, count: logits.count, cap: 30)
        for (got, x) in zip(logits, original) {
            #expect(abs(Double(got) - 30 * tanh(Double(x) / 30)) <= 1e-5 * 30)
        }
    }

    func tinyModel(sharedKV: Int = 0, type: String = "f32") throws -> MoEModel {
        var spec = SyntheticModelSpec.preset("tiny", architecture: "gemma4")!
        spec.weightType = type; spec.seed = 11; spec.sharedKVLayers = sharedKV
        let path = tempModelPath("gemma4-tiny-\(sharedKV)-\(type).gguf")
        try SyntheticModel.write(spec, to: path)
        return try MoEModel(path: path)
    }

    @Test func configReadsTheLayerPattern() throws {
        let c = try tinyModel(sharedKV: 3).config
        // tiny: 6 layers, every 3rd global; head 16 / 32, KV heads 2 / 1, window 8.
        #expect((0..<6).map { c.attentionShape($0).slidingWindow } == [8, 8, 0, 8, 8, 0])
        #expect((0..<6).map { c.attentionShape($0).headDim } == [16, 16, 32, 16, 16, 32])
        #expect((0..<6).map { c.attentionShape($0).kvHeads } == [2, 2, 1, 2, 2, 1])
        #expect((0..<6).map { c.attentionShape($0).ropeBase } == [10_000, 10_000, 1_000_000, 10_000, 10_000, 1_000_000])
        // Shared KV from layer 3 on: sliding layers read layer 1, global ones layer 2.
        #expect((0..<6).map { c.attentionShape($0).kvSource } == [nil, nil, nil, 1, 1, 2])
        #expect(c.attentionScale(0) == 1 && c.ffnActivation == .gelu && c.finalLogitSoftcap == 8)
        #expect(c.embeddingScale == Float(64).squareRoot())
    }

    /// Sliding-window attention (window 8, score scale 1) against a float64 reference that
    /// applies llama.cpp's mask (position p sees p-7...p).
    @Test func slidingWindowAttentionMatchesFloat64() throws {
        let c = try tinyModel().config
        let layer = 0, s = c.attentionShape(layer)
        #expect(s.slidingWindow == 8)
        let cache = KVCache(config: c, capacity: 40)
        var rng = SeededGenerator(seed: UInt64.random(in: 0...UInt64.max))
        let positions = 30, start = 20, tokens = positions - start
        for p in 0..<positions {
            cache.key(layer: layer, position: p).update(from: uniform(s.kvDim, &rng, -1, 1), count: s.kvDim)
            cache.value(layer: layer, position: p).update(from: uniform(s.vDim, &rng, -1, 1), count: s.vDim)
        }
        let q = uniform(tokens * s.qDim, &rng, -1, 1)
        let pool = WorkerPool(threads: 2)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: Attention.scratchFloats(config: c, capacity: cache.capacity, pool: pool))
        defer { scratch.deallocate() }
        for batch in [1, tokens] {  // one token at a time (decode order) and the whole batch
            var out = [Float](repeating: .nan, count: tokens * s.outDim)
            for first in stride(from: 0, to: tokens, by: batch) {
                q.withUnsafeBufferPointer { qp in
                    out.withUnsafeMutableBufferPointer { op in
                        Attention.run(config: c, layer: layer, cache: cache, start: start + first, tokens: batch,
                                      q: qp.baseAddress! + first * s.qDim, out: op.baseAddress! + first * s.outDim,
                                      scratch: scratch,
                                      scratchPerPart: Attention.scratchFloatsPerPart(config: c, capacity: cache.capacity), pool: pool)
                    }
                }
            }
            for t in 0..<tokens {
                let p = start + t
                for h in 0..<s.heads {
                    let kvh = h / (s.heads / s.kvHeads)
                    let visible = Array(max(0, p - 7)...p)
                    let scores = visible.map { j in
                        (0..<s.headDim).reduce(0.0) { $0 + Double(q[t * s.qDim + h * s.headDim + $1]) * Double(cache.key(layer: layer, position: j)[kvh * s.headDim + $1]) }
                    }
                    let m = scores.max()!, e = scores.map { exp($0 - m) }, sum = e.reduce(0, +)
                    for i in 0..<s.valueDim {
                        let ref = zip(visible, e).reduce(0.0) { $0 + $1.1 / sum * Double(cache.value(layer: layer, position: $1.0)[kvh * s.valueDim + i]) }
                        #expect(abs(Double(out[t * s.outDim + h * s.valueDim + i]) - ref) < 1e-5, "batch \(batch) t \(t) h \(h) i \(i)")
                    }
                }
            }
        }
    }

    @Test(arguments: [0, 3])
    func batchedPromptAndTokenByTokenDecodeAgree(sharedKV: Int) throws {
        let model = try tinyModel(sharedKV: sharedKV)
        let worst = try worstBatchedVsTokenByToken(model)
        print("gemma4 (shared KV \(sharedKV)): batched (chunks of 32) vs token-by-token, worst relative L2 \(worst)")
        // Batches and single tokens take llama.cpp's two F32 summation orders (tinyBLAS vs
        // vec_dot, 16- vs 64-lane attention accumulation): equal up to float rounding.
        #expect(worst < 5e-4)
    }

    @Test func kvCacheOwnsRowsOnlyForLayersWithTheirOwnKV() throws {
        let c = try tinyModel(sharedKV: 3).config
        let own = (0..<6).filter(c.ownsKVRows)
        #expect(own == [0, 1, 2])
        let perPosition = own.map { c.attentionShape($0).kvDim + c.attentionShape($0).vDim }.reduce(0, +)
        #expect(KVCache(config: c, capacity: 10).bytes == perPosition * 10 * 4)
        #expect(kvCacheBytes(config: c, capacity: 10) == perPosition * 10 * 4)
    }

    @Test func hostileGemmaFilesNameTheFieldAndValue() throws {
        let cases: [HostileCase] = [
            ("missing metadata key 'gemma4.attention.sliding_window_pattern'", [], ["gemma4.attention.sliding_window_pattern"]),
            ("must be an array of 6 flags", [("gemma4.attention.sliding_window_pattern", .array(.bool, [.bool(true)]))], []),
            ("sliding_window 0 must be at least 1", [("gemma4.attention.sliding_window", .uint32(0))], []),
            ("missing tensor 'per_layer_token_embd.weight'", [("gemma4.embedding_length_per_layer_input", .uint32(4))], []),
            ("shared_kv_layers 5 must leave at least 2", [("gemma4.attention.shared_kv_layers", .uint32(5))], []),
            ("'gemma4.attention.head_count_kv' has 2 entries for 6 layers", [("gemma4.attention.head_count_kv", .array(.uint32, [.uint32(2), .uint32(1)]))], []),
            ("missing tensor 'rope_freqs.weight'", [], ["rope_freqs.weight"]),
            ("missing tensor 'blk.1.ffn_gate_inp.scale'", [], ["blk.1.ffn_gate_inp.scale"]),
            ("missing tensor 'blk.3.ffn_gate_inp.weight'", [], ["blk.3.ffn_gate_inp.weight"]),
            ("a router in a model whose gemma4.expert_count is 0", [("gemma4.expert_count", .uint32(0))], []),
            ("'gemma4.feed_forward_length' has 2 entries for 6 layers", [("gemma4.feed_forward_length", .array(.uint32, [.uint32(64), .uint32(64)]))], []),
            ("missing metadata key 'gemma4.attention.key_length_swa'", [], ["gemma4.attention.key_length_swa"]),
        ]
        try expectEveryVariantRefused(architecture: "gemma4", seed: 5, cases)
    }
}
