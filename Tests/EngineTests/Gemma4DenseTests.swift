import Foundation
import Testing
@testable import Engine
import GGUF
import Quant

/// Gemma 4's dense models (E2B / E4B: no experts, per-layer token inputs, double-wide MLPs in
/// the shared-KV layers) and the fused tensors its converter writes (attn_qkv,
/// ffn_gate_up_exps). llama.cpp agreement is in the goldens (gemma4-dense-*, gemma4-fused-*).
@Suite struct Gemma4DenseTests {
    /// tiny gemma4 (6 layers, every 3rd global), dense with per-layer inputs of `width`.
    func denseModel(width: Int = 16, seed: UInt64 = 3) throws -> MoEModel {
        var spec = SyntheticModelSpec.preset("tiny", architecture: "gemma4")!
        spec.experts = 0; spec.perLayerInput = width; spec.sharedKVLayers = 3; spec.doubleWideMLP = true
        spec.fusedQKV = true; spec.seed = seed
        let path = tempModelPath("gemma4-dense-\(width)-\(seed).gguf")
        try SyntheticModel.write(spec, to: path)
        return try MoEModel(path: path)
    }

    @Test func denseConfigHasNoExpertsAndPerLayerWidths() throws {
        let model = try denseModel()
        let c = model.config
        #expect(c.expertCount == 0 && c.expertsUsed == 0 && c.moeLayers.isEmpty)
        #expect(c.leadingDenseLayers == 6 && c.perLayerInputLength == 16)
        // tiny's MLP is 64 wide, doubled in the three shared-KV layers.
        #expect(model.weights.layers.map { $0.denseFFN?.gate.rows } == [64, 64, 64, 128, 128, 128])
        #expect(c.denseFFLength == 128)
        #expect(model.weights.layers.allSatisfy { $0.moe == nil && $0.perLayerInput != nil })
        #expect(model.weights.perLayerInputs?.tokenEmbedding.cols == 6 * 16)
    }

    /// The per-layer inputs of a batch against float64 from the file's F32 tensors:
    /// (rms_norm(proj(e * sqrt(d)) / sqrt(d)) * norm + tok_l * sqrt(w)) / sqrt(2).
    @Test func perLayerInputsMatchFloat64() throws {
        let model = try denseModel(seed: UInt64.random(in: 1...1_000_000))
        let c = model.config, w = try #require(model.weights.perLayerInputs)
        let d = c.embeddingLength, width = c.perLayerInputLength, layers = c.layerCount
        let tokens: [Int32] = (0..<7).map { _ in Int32.random(in: 0..<Int32(c.vocabSize)) }
        let session = InferenceSession(model: model, contextSize: 32, maxBatch: 16, threads: 2)
        _ = try session.forward(tokens, logits: .none)
        let got = try #require(session.perLayer).inputs
        func f(_ m: WeightMatrix, _ row: Int, _ col: Int) -> Double {
            Double(m.data.assumingMemoryBound(to: Float.self)[row * m.cols + col])
        }
        for (t, token) in tokens.enumerated() {
            let x = (0..<d).map { f(model.weights.tokenEmbedding, Int(token), $0) * Double(d).squareRoot() }
            for l in 0..<layers {
                let proj = (0..<width).map { j in
                    (0..<d).reduce(0.0) { $0 + f(w.modelProjection, l * width + j, $1) * x[$1] } / Double(d).squareRoot()
                }
                let rms = (proj.reduce(0.0) { $0 + $1 * $1 } / Double(width) + Double(c.normEpsilon)).squareRoot()
                for j in 0..<width {
                    let ref = (proj[j] / rms * Double(w.projectionNorm[j])
                               + f(w.tokenEmbedding, Int(token), l * width + j) * Double(width).squareRoot()) / 2.0.squareRoot()
                    let value = Double(got[(t * layers + l) * width + j])
                    #expect(abs(value - ref) <= 1e-4 * max(1, abs(ref)), "token \(t) layer \(l) j \(j): \(value) vs \(ref)")
                }
            }
        }
    }

    @Test func batchedPromptAndTokenByTokenDecodeAgree() throws {
        let worst = try worstBatchedVsTokenByToken(try denseModel())
        print("gemma4 dense + per-layer inputs: batched vs token-by-token, worst relative L2 \(worst)")
        #expect(worst < 5e-4)
    }

    /// A fused ffn_gate_up_exps is read in place: expert e's gate rows, then its up rows.
    @Test func fusedGateUpExpertsAreHalvesOfEachExpert() throws {
        var spec = SyntheticModelSpec.preset("tiny", architecture: "gemma4")!
        spec.fusedGateUp = true; spec.fusedQKV = true
        let path = tempModelPath("gemma4-fused-layout.gguf")
        try SyntheticModel.write(spec, to: path)
        let model = try MoEModel(path: path)
        let file = model.file, c = model.config
        let t = try #require(file.tensor("blk.1.ffn_gate_up_exps.weight"))
        let base = file.data(t), rowBytes = t.type.byteCount(elements: c.embeddingLength)!
        let ff = c.expertFFLength
        for e in [0, 3, c.expertCount - 1] {
            let m = model.weights.expertMatrices(layer: 1, expert: e)
            #expect(m.gate.data == base + e * 2 * ff * rowBytes)
            #expect(m.up.data == base + (e * 2 + 1) * ff * rowBytes)
            #expect(m.gate.rows == ff && m.up.rows == ff)
        }
        let stack = try #require(model.weights.layers[1].moe).upExperts
        #expect(stack.expertStride == 2 * ff * rowBytes && stack.expertBytes == ff * rowBytes)
        // The fused attn_qkv's k rows follow the q rows.
        guard case .attention(let a) = model.weights.layers[0].mixer else { Issue.record("no attention"); return }
        let qkv = try #require(file.tensor("blk.0.attn_qkv.weight"))
        #expect(a.wk?.data == file.data(qkv) + a.wq.rows * a.wq.rowBytes)
    }

    @Test func hostileDenseFilesNameTheFieldAndValue() throws {
        var spec = SyntheticModelSpec.preset("tiny", architecture: "gemma4")!
        spec.experts = 0; spec.perLayerInput = 8; spec.seed = 9
        let good = tempModelPath("gemma4-dense-good.gguf")
        try SyntheticModel.write(spec, to: good)
        let cases: [HostileCase] = [
            ("missing tensor 'per_layer_model_proj.weight'", [], ["per_layer_model_proj.weight"]),
            ("missing tensor 'blk.2.inp_gate.weight'", [], ["blk.2.inp_gate.weight"]),
            ("tensor 'per_layer_token_embd.weight' has shape", [("gemma4.embedding_length_per_layer_input", .uint32(16))], []),
            ("expert_used_count", [("gemma4.expert_count", .uint32(4))], []),
        ]
        for (i, bad) in cases.enumerated() {
            let path = tempModelPath("gemma4-dense-bad-\(i).gguf")
            try rewriteGGUF(good, to: path, set: bad.set, dropping: bad.dropping)
            #expect(throws: (any Error).self) { try MoEModel(path: path) }
            do { _ = try MoEModel(path: path) } catch {
                #expect("\(error)".contains(bad.message), "\(error)")
            }
        }
    }
}
