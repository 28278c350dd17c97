import Foundation
import Testing
@testable import Engine
import GGUF

private func tinyGlm(seed: UInt64 = 3, type: String = "f32") throws -> MoEModel {
    var spec = SyntheticModelSpec.preset("tiny", architecture: "glm4moe")!
    spec.seed = seed
    spec.weightType = type
    let path = tempModelPath("glm4moe-\(type)-\(seed).gguf")
    try SyntheticModel.write(spec, to: path)
    return try MoEModel(path: path)
}

@Suite struct Glm4MoETests {
    @Test func configReadsGlmHyperParameters() throws {
        let model = try tinyGlm()
        let c = model.config
        #expect(c.architecture == "glm4moe")
        #expect(c.layerCount == 3 && c.nextNLayers == 1, "the MTP block after the trunk is not a layer")
        #expect(c.leadingDenseLayers == 1 && c.moeLayers == [1, 2])
        #expect(c.denseFFLength == 2 * c.expertFFLength)
        #expect(c.sharedExpertFFLength == c.expertFFLength)
        #expect(c.gating == .sigmoid && c.normalizeTopK && c.expertWeightsScale == 2.5)
        #expect(c.qkNorm == .perHead && c.ropeStyle == .neox && c.ropeDim == c.headDim / 2)
        #expect(model.weights.layers[0].moe == nil && model.weights.layers[0].denseFFN != nil)
        #expect(model.weights.layers[1].moe?.selectionBias != nil && model.weights.layers[1].moe?.shared != nil)
        guard case .attention(let a) = model.weights.layers[0].mixer else { Issue.record("not attention"); return }
        #expect(a.qBias != nil && a.kBias != nil && a.vBias != nil)
        #expect(model.weights.expertBytes(layer: 0) == 0)
    }

    /// Sigmoid gating with a selection bias against a float64 transcription of llama.cpp's
    /// build_moe_ffn: top-k of sigmoid + bias, weights the unbiased sigmoid, renormalised, scaled.
    @Test func sigmoidRoutingWithSelectionBiasMatchesFloat64() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * Double(rng.next() >> 11) / Double(1 << 53) }
        let e = 16, k = 4, scale: Float = 2.5
        var checked = 0
        for _ in 0..<200 {
            let logits = (0..<e).map { _ in Float(uniform(-4, 4)) }
            let bias = (0..<e).map { _ in Float(uniform(-0.3, 0.3)) }
            let probs = logits.map { 1 / (1 + exp(-Double($0))) }
            let biased = zip(probs, bias).map { $0 + Double($1) }
            let order = (0..<e).sorted { biased[$0] > biased[$1] }
            // A near-tie at the k-th place may fall either way in float: skip those rows.
            guard biased[order[k - 1]] - biased[order[k]] > 1e-5 else { continue }
            let expected = Array(order.prefix(k))
            let total = expected.reduce(0) { $0 + probs[$1] }
            var work = logits, selection = [Float](repeating: 0, count: e)
            var experts = [Int32](repeating: -1, count: k), weights = [Float](repeating: 0, count: k)
            Router.route(logits: &work, expertCount: e, k: k, gating: .sigmoid, selectionBias: bias, selection: &selection,
                         normalize: true, scale: scale, experts: &experts, weights: &weights)
            #expect(experts.map(Int.init) == expected, "seed=\(seed)")
            for (s, x) in expected.enumerated() {
                let ref = probs[x] / total * Double(scale)
                #expect(abs(Double(weights[s]) - ref) <= 1e-6 * ref, "weight \(weights[s]) vs float64 \(ref), seed=\(seed)")
            }
            checked += 1
        }
        #expect(checked > 150)
        // The bias decides the choice: a large bias on the smallest logit selects it.
        var work: [Float] = [3, 2, 1, -5], selection = [Float](repeating: 0, count: 4)
        var experts = [Int32](repeating: -1, count: 1), weights: [Float] = [0]
        Router.route(logits: &work, expertCount: 4, k: 1, gating: .sigmoid, selectionBias: [0, 0, 0, 2], selection: &selection,
                     normalize: false, experts: &experts, weights: &weights)
        #expect(experts == [3] && weights[0] == Ops.sigmoid(-5))
    }

    @Test func denseLayersRouteNothing() throws {
        let model = try tinyGlm()
        let session = InferenceSession(model: model, contextSize: 32, maxBatch: 8, threads: 2)
        var routed = Set<Int>()
        session.routeObserver = { layer, _, _ in routed.insert(layer) }
        _ = try session.forward([1, 2, 3], logits: .last)
        #expect(routed == Set(model.config.moeLayers))
    }

    @Test(arguments: ["f32", "q8_0"])
    func batchedPromptAndTokenByTokenDecodeAgree(type: String) throws {
        let worst = try worstBatchedVsTokenByToken(try tinyGlm(seed: 11, type: type))
        print("glm4moe \(type): batched (chunks of 32) vs token-by-token, worst relative L2 \(worst)")
        // Batches and single tokens take llama.cpp's two summation orders: equal up to rounding.
        #expect(worst < 5e-4)
    }

    @Test func hostileGlmFilesNameTheFieldAndValue() throws {
        let cases: [HostileCase] = [
            ("missing tensor 'blk.1.exp_probs_b.bias'", [], ["blk.1.exp_probs_b.bias"]),
            ("missing tensor 'blk.0.ffn_gate.weight'", [], ["blk.0.ffn_gate.weight"]),
            ("missing tensor 'blk.2.ffn_up_shexp.weight'", [], ["blk.2.ffn_up_shexp.weight"]),
            ("missing tensor 'blk.1.post_attention_norm.weight'", [], ["blk.1.post_attention_norm.weight"]),
            ("expected [64, 999] (leading dense layer: rows = glm4moe.feed_forward_length 999)",
             [("glm4moe.feed_forward_length", .uint32(999))], []),
            ("tensor 'blk.0.attn_q.weight' has shape [64, 64], expected [64, 128]", [("glm4moe.attention.head_count", .uint32(8))], []),
            ("leading_dense_block_count 3 must leave at least one MoE layer of 3", [("glm4moe.leading_dense_block_count", .uint32(3))], []),
            ("glm4moe.expert_gating_func 4 is not supported", [("glm4moe.expert_gating_func", .uint32(4))], []),
            ("glm4moe.expert_group_count 4: group-limited expert selection is not supported", [("glm4moe.expert_group_count", .uint32(4))], []),
            ("multimodal RoPE (M-RoPE) is not supported", [("glm4moe.rope.dimension_sections", .array(.int32, [.int32(4), .int32(4), .int32(0), .int32(0)]))], []),
            ("rope.scaling.type 'yarn' with factor 4.0 is not supported",
             [("glm4moe.rope.scaling.type", .string("yarn")), ("glm4moe.rope.scaling.factor", .float32(4))], []),
            ("missing metadata key 'glm4moe.expert_shared_count'", [], ["glm4moe.expert_shared_count"]),
            ("nextn_predict_layers 4 must be below block_count 4", [("glm4moe.nextn_predict_layers", .uint32(4))], []),
            ("metadata 'glm4moe.expert_weights_norm' is string, expected a bool", [("glm4moe.expert_weights_norm", .string("yes"))], []),
        ]
        try expectEveryVariantRefused(architecture: "glm4moe", seed: 5, cases)
    }
}
