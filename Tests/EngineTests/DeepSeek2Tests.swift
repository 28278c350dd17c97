import Foundation
import Testing
@testable import Engine
import GGUF
import Quant

private func tinyDeepSeek(seed: UInt64 = 3, type: String = "f32", qLoraRank: Int? = nil) throws -> MoEModel {
    var spec = SyntheticModelSpec.preset("tiny", architecture: "deepseek2")!
    spec.seed = seed
    spec.weightType = type
    spec.qLoraRank = qLoraRank
    let path = tempModelPath("deepseek2-\(type)-\(seed)-\(qLoraRank.map(String.init) ?? "qlora").gguf")
    try SyntheticModel.write(spec, to: path)
    return try MoEModel(path: path)
}

@Suite struct DeepSeek2Tests {
    @Test func configReadsTheLatentAttentionAndRouting() throws {
        let model = try tinyDeepSeek()
        let c = model.config, m = try #require(c.mla)
        // tiny: head dim 16 -> nope 16, rope 8, latent 64, q-lora 64, values 16.
        #expect(m.qLoraRank == 64 && m.kvLoraRank == 64 && m.nopeDim == 16 && m.ropeDim == 8 && m.valueHeadDim == 16 && m.splitKV)
        #expect(c.kvHeadCount == 1 && c.headDim == 72 && c.valueDim == 64 && c.ropeStyle == .norm)
        #expect((0..<c.layerCount).allSatisfy { c.attentionShape($0).valuesInKeys })
        #expect(c.gating == .sigmoid && c.normalizeTopK && c.expertWeightsScale == 2.5)
        #expect(c.expertGroups == 4 && c.expertGroupsUsed == 2)
        #expect(c.leadingDenseLayers == 1 && c.moeLayers == [1, 2] && c.sharedExpertFFLength == c.expertFFLength)
        let yarn = try #require(c.ropeScaling)
        #expect(yarn.freqScale == 0.25 && yarn.extFactor == 1 && yarn.originalContext == 64)
        // kq_scale in float64: mscale = 1 + 0.1 x 0.707 x ln 4 (the attention factor's own ln term cancels).
        let mscale = 1 + 0.1 * 0.707 * Foundation.log(4.0)
        let expected = mscale * mscale / Double(m.qHeadDim).squareRoot()
        #expect(abs(Double(c.attentionScale) - expected) < 1e-6 * expected, "\(c.attentionScale) vs \(expected)")
        // YaRN's magnitude goes into the score scale, not into RoPE: cos and sin stay unscaled.
        #expect(abs(yarn.attnFactor * Float(1).addingProduct(0.1, logf(4)) - 1) < 1e-6)
        // The cache keeps latent + rotary key per layer and token, nothing per head.
        #expect(kvBytesPerPosition(config: c) == c.layerCount * (m.kvLoraRank + m.ropeDim) * 4)
        let session = InferenceSession(model: model, contextSize: 32, maxBatch: 8, threads: 2)
        #expect(session.cache.bytes == 32 * c.layerCount * (m.kvLoraRank + m.ropeDim) * 4)
        guard case .latentAttention(let a) = model.weights.layers[1].mixer else { Issue.record("not latent attention"); return }
        #expect(a.queryDown != nil && a.keyUp.count == c.headCount && !a.keyUpTransposed)
        #expect(model.weights.layers[0].moe == nil && model.weights.layers[1].moe?.selectionBias != nil)
    }

    @Test func directQueryFormHasV2LiteRouting() throws {
        let model = try tinyDeepSeek(qLoraRank: 0)
        let c = model.config
        #expect(c.mla?.qLoraRank == 0 && c.gating == .softmax && !c.normalizeTopK && c.expertGroups == 1)
        #expect(c.sharedExpertFFLength == 2 * c.expertFFLength)
        guard case .latentAttention(let a) = model.weights.layers[0].mixer else { Issue.record("not latent attention"); return }
        #expect(a.queryDown == nil && a.queryDownNorm == nil)
        #expect(model.weights.layers[1].moe?.selectionBias == nil)
    }

    /// The cache's values are its key rows: a value type other than the keys' is refused.
    @Test func valueCacheTypeMustEqualTheKeyType() throws {
        let c = try tinyDeepSeek().config
        #expect(throws: KVCacheTypeError.self) { try KVCacheTypes(keys: .f16, values: .q8_0).check(config: c) }
        try KVCacheTypes(keys: .f16, values: .f16).check(config: c)
    }

    /// Group-limited sigmoid routing with a selection bias against a float64 transcription of
    /// llama.cpp's build_moe_ffn: groups scored by their top-2 biased probabilities, top-k
    /// within the best groups, weights the unbiased probabilities, renormalised, scaled.
    @Test func groupLimitedRoutingMatchesFloat64() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * Double(rng.next() >> 11) / Double(1 << 53) }
        let e = 32, k = 4, groups = 8, used = 3, per = e / groups, scale: Float = 2.5
        var checked = 0
        for _ in 0..<300 {
            let logits = (0..<e).map { _ in Float(uniform(-4, 4)) }
            let bias = (0..<e).map { _ in Float(uniform(-0.3, 0.3)) }
            let probs = logits.map { 1 / (1 + Foundation.exp(-Double($0))) }
            let biased = zip(probs, bias).map { $0 + Double($1) }
            let groupScores = (0..<groups).map { g in biased[(g * per)..<((g + 1) * per)].sorted(by: >).prefix(2).reduce(0, +) }
            let groupOrder = (0..<groups).sorted { groupScores[$0] > groupScores[$1] }
            let eligible = (0..<e).filter { groupOrder.prefix(used).contains($0 / per) }
            let order = eligible.sorted { biased[$0] > biased[$1] }
            // Near-ties (of groups at the cut, of experts at the k-th place) may fall either way in float.
            guard groupScores[groupOrder[used - 1]] - groupScores[groupOrder[used]] > 1e-5,
                  biased[order[k - 1]] - biased[order[k]] > 1e-5 else { continue }
            let expected = Array(order.prefix(k))
            let total = expected.reduce(0) { $0 + probs[$1] }
            var work = logits, selection = [Float](repeating: 0, count: e)
            var experts = [Int32](repeating: -1, count: k), weights = [Float](repeating: 0, count: k)
            Router.route(logits: &work, expertCount: e, k: k, gating: .sigmoid, selectionBias: bias, selection: &selection,
                         normalize: true, scale: scale, groups: groups, groupsUsed: used, experts: &experts, weights: &weights)
            #expect(experts.map(Int.init) == expected, "seed=\(seed)")
            for (s, x) in expected.enumerated() {
                let ref = probs[x] / total * Double(scale)
                #expect(abs(Double(weights[s]) - ref) <= 1e-6 * ref, "weight \(weights[s]) vs float64 \(ref), seed=\(seed)")
            }
            checked += 1
        }
        #expect(checked > 200)
        // The groups decide: the best single expert sits in a group whose runner-up is poor.
        var work: [Float] = [5, -5, 1, 1, 0.9, 0.9], selection = [Float](repeating: 0, count: 6)
        var experts = [Int32](repeating: -1, count: 1), weights: [Float] = [0]
        Router.route(logits: &work, expertCount: 6, k: 1, gating: .sigmoid, selection: &selection,
                     normalize: false, groups: 3, groupsUsed: 1, experts: &experts, weights: &weights)
        #expect(experts == [2], "group {2, 3} has the largest top-2 sum, so expert 0 is not eligible")
    }

    /// A legacy attn_kv_b's key rows applied transposed, against float64, F32 and Q8_0 rows.
    @Test(arguments: [GGMLType.f32, .q8_0])
    func transposedKeyAbsorptionMatchesFloat64(type: GGMLType) {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        let nope = 8, lora = 64, n = 3
        let rowBytes = type.byteCount(elements: lora)!
        let raw = UnsafeMutableRawPointer.allocate(byteCount: nope * rowBytes, alignment: 64)
        defer { raw.deallocate() }
        var dequantized = [[Float]]()
        for j in 0..<nope {
            let row = (0..<lora).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) }
            row.withUnsafeBufferPointer { Kernels.quantizeRow(type: type, $0.baseAddress!, raw + j * rowBytes, count: lora) }
            var back = [Float](repeating: 0, count: lora)
            Kernels.dequantizeRow(type: type, raw + j * rowBytes, &back, count: lora)
            dequantized.append(back)
        }
        let w = WeightMatrix(type: type, rows: nope, cols: lora, rowBytes: rowBytes, data: UnsafeRawPointer(raw))
        let queries = (0..<(n * nope)).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) }
        let stride = lora + 5
        var out = [Float](repeating: .nan, count: n * stride), scratch = [Float](repeating: 0, count: nope * lora)
        LatentAttention.absorbTransposed(w, queries: queries, tokens: n, rowsScratch: &scratch, out: &out, outStride: stride)
        for t in 0..<n {
            for c in 0..<lora {
                let ref = (0..<nope).reduce(0.0) { $0 + Double(queries[t * nope + $1]) * Double(dequantized[$1][c]) }
                #expect(abs(Double(out[t * stride + c]) - ref) < 1e-5, "t \(t) c \(c): \(out[t * stride + c]) vs \(ref), seed=\(seed)")
            }
        }
    }

    @Test func denseLayersRouteNothing() throws {
        let model = try tinyDeepSeek()
        let session = InferenceSession(model: model, contextSize: 32, maxBatch: 8, threads: 2)
        var routed = Set<Int>()
        session.routeObserver = { layer, _, _ in routed.insert(layer) }
        _ = try session.forward([1, 2, 3], logits: .last)
        #expect(routed == Set(model.config.moeLayers))
    }

    @Test(arguments: ["f32", "q8_0"], [nil, 0] as [Int?])
    func batchedPromptAndTokenByTokenDecodeAgree(type: String, qLoraRank: Int?) throws {
        let worst = try worstBatchedVsTokenByToken(try tinyDeepSeek(seed: 11, type: type, qLoraRank: qLoraRank))
        print("deepseek2 \(type) q-lora \(qLoraRank.map(String.init) ?? "64"): batched vs token-by-token, worst relative L2 \(worst)")
        #expect(worst < 5e-4)
    }

    @Test func hostileDeepSeekFilesNameTheFieldAndValue() throws {
        let a = "deepseek2."
        let cases: [HostileCase] = [
            ("missing tensor 'blk.1.attn_k_b.weight'", [], ["blk.1.attn_k_b.weight"]),
            ("missing tensor 'blk.0.attn_v_b.weight'", [], ["blk.0.attn_v_b.weight"]),
            ("missing tensor 'blk.2.attn_kv_a_norm.weight'", [], ["blk.2.attn_kv_a_norm.weight"]),
            ("missing tensor 'blk.0.attn_q_a.weight'", [], ["blk.0.attn_q_a.weight"]),
            ("missing tensor 'blk.1.ffn_gate_shexp.weight'", [], ["blk.1.ffn_gate_shexp.weight"]),
            ("missing metadata key 'deepseek2.attention.kv_lora_rank'", [], [a + "attention.kv_lora_rank"]),
            ("missing metadata key 'deepseek2.attention.q_lora_rank'", [], [a + "attention.q_lora_rank"]),
            ("attention.key_length 72 must be kv_lora_rank 32 + rope.dimension_count 8", [(a + "attention.kv_lora_rank", .uint32(32))], []),
            ("attention.value_length 64 must be kv_lora_rank 72", [(a + "attention.kv_lora_rank", .uint32(72)), (a + "attention.key_length", .uint32(80))], []),
            ("attention.kv_lora_rank 63 must be even", [(a + "attention.kv_lora_rank", .uint32(63))], []),
            ("key_length_mla 24 and attention.value_length_mla 0 must be given together", [], [a + "attention.value_length_mla"]),
            ("key_length_mla 8 must exceed rope.dimension_count 8", [(a + "attention.key_length_mla", .uint32(8))], []),
            ("tensor 'blk.0.attn_q_b.weight' has shape [64, 96], expected [64, 112]", [(a + "attention.key_length_mla", .uint32(28))], []),
            ("tensor 'blk.0.attn_kv_a_mqa.weight' has shape [64, 72], expected [64, 80]",
             [(a + "attention.kv_lora_rank", .uint32(72)), (a + "attention.key_length", .uint32(80)), (a + "attention.value_length", .uint32(72))], []),
            ("expert_group_used_count 5 must be in 1...expert_group_count (4)", [(a + "expert_group_used_count", .uint32(5))], []),
            ("expert_group_count 3 must divide expert_count 8", [(a + "expert_group_count", .uint32(3))], []),
            ("deepseek2.expert_gating_func 3 is not supported", [(a + "expert_gating_func", .uint32(3))], []),
            ("deepseek2.expert_shared_count 0 outside 1...16", [(a + "expert_shared_count", .uint32(0))], []),
            ("attention temperature tuning is not supported", [(a + "attention.temperature_scale", .float32(0.1))], []),
            ("missing metadata key 'deepseek2.rope.dimension_count'", [], [a + "rope.dimension_count"]),
        ]
        try expectEveryVariantRefused(architecture: "deepseek2", seed: 5, cases)
    }
}
