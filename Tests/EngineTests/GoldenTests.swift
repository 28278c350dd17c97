import Foundation
import Testing
@testable import Engine
import GGUF
import Quant
import Tokenizer

/// One llama.cpp reference record (tools/golden/make_golden.py).
struct GoldenRecord: Decodable {
    let architecture: String
    let weight_type: String
    let seed: UInt64
    let layers, embedding, heads, kv_heads, head_dim, experts, experts_used, expert_ff: Int
    let fnv1a64: String
    let prompt: String
    let prompt_tokens: [Int32]
    let vocab: Int
    let logits_f32_base64: String
    let greedy_tokens: [Int32]
    // Hybrid shapes (qwen35moe, qwen3next).
    let shared_expert_ff, ssm_state, ssm_key_heads, ssm_value_heads, full_attention_interval, rope_dim: Int?
    // Gemma 4 shapes.
    let sliding_window, global_head_dim, global_kv_heads, shared_kv_layers, per_layer_input: Int?
    let double_wide_mlp, fused_qkv, fused_gate_up: Bool?
    // deepseek2: 0 for the direct-q (V2-Lite) form.
    let q_lora_rank: Int?

    var spec: SyntheticModelSpec {
        var s = SyntheticModelSpec.preset("tiny", architecture: architecture)!
        s.weightType = weight_type; s.seed = seed
        if let v = shared_expert_ff { s.sharedExpertFF = v }
        if let v = ssm_state { s.ssmStateSize = v }
        if let v = ssm_key_heads { s.ssmKeyHeads = v }
        if let v = ssm_value_heads { s.ssmValueHeads = v }
        if let v = full_attention_interval { s.fullAttentionInterval = v }
        if let v = rope_dim { s.ropeDim = v }
        if let v = sliding_window { s.slidingWindow = v }
        if let v = global_head_dim { s.globalHeadDim = v }
        if let v = global_kv_heads { s.globalKVHeads = v }
        if let v = shared_kv_layers { s.sharedKVLayers = v }
        if let v = per_layer_input { s.perLayerInput = v }
        if let v = double_wide_mlp { s.doubleWideMLP = v }
        if let v = fused_qkv { s.fusedQKV = v }
        if let v = fused_gate_up { s.fusedGateUp = v }
        if let v = q_lora_rank { s.qLoraRank = v }
        s.layers = layers; s.embedding = embedding; s.heads = heads; s.kvHeads = kv_heads; s.headDim = head_dim
        s.experts = experts; s.expertsUsed = experts_used; s.expertFF = expert_ff
        return s
    }

    var logits: [Float] { decodedLogits(logits_f32_base64) }

    var isQuantised: Bool { weight_type != "f32" }

    static func all() throws -> [(String, GoldenRecord)] {
        let dir = Bundle.module.url(forResource: "Golden", withExtension: nil)!
        return try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".json") && $0 != DefaultModelRecord.fileName }.sorted().map {
            ($0, try JSONDecoder().decode(GoldenRecord.self, from: Data(contentsOf: dir.appendingPathComponent($0))))
        }
    }
}

func fnv1a64(path: String) throws -> String {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    data.withUnsafeBytes { for b in $0 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 } }
    return String(format: "%016llx", h)
}

/// llama.cpp's reference for the embedded default model (tools/golden/make_golden.py --default-only).
struct DefaultModelRecord: Decodable {
    static let fileName = "default-model.json"
    let model: String
    let fnv1a64: String
    let prompt: String
    let prompt_tokens: [Int32]
    let vocab: Int
    let logits_f32_base64: String
    let greedy_tokens: [Int32]
    /// Per greedy step: llama.cpp's token, its logit, the runner-up token, its logit.
    let greedy_top2: [[Double]]

    static func load() throws -> DefaultModelRecord? {
        guard let url = Bundle.module.url(forResource: "Golden/\(fileName)", withExtension: nil) else { return nil }
        return try JSONDecoder().decode(DefaultModelRecord.self, from: Data(contentsOf: url))
    }

    /// The package root, from this source file's location (Tests/EngineTests/...).
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

func relativeL2(_ a: [Float], _ b: [Float]) -> Double {
    var num = 0.0, den = 0.0
    for (x, y) in zip(a, b) {
        num += Double(x - y) * Double(x - y)
        den += Double(y) * Double(y)
    }
    return (num / den).squareRoot()
}

func tempModelPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotmoe-engine-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

@Suite struct GoldenTests {
    @Test func defaultModelMatchesLlamaCpp() throws {
        guard let record = try DefaultModelRecord.load() else { return }
        let path = DefaultModelRecord.packageRoot.appendingPathComponent(record.model).path
        #expect(try fnv1a64(path: path) == record.fnv1a64, "the committed default model changed: rerun tools/golden/make_golden.py --default-only")
        let model = try MoEModel(path: path)
        let tokenizer = try Tokenizer(gguf: model.file)
        #expect(Array(tokenizer.encode(record.prompt).prefix(record.prompt_tokens.count)) == record.prompt_tokens)
        let session = InferenceSession(model: model, contextSize: 128, maxBatch: 16, threads: 2)
        let ours = Array(try session.forward(record.prompt_tokens, logits: .all))
        let ref = Data(base64Encoded: record.logits_f32_base64)!.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let err = relativeL2(ours, ref)
        print("golden default model: relative L2 vs llama.cpp \(err) (tolerance 0.01)")
        #expect(err < 1e-2)
        // Decode with llama.cpp's greedy tokens as input (teacher forcing), so one near-tie cannot
        // derail the rest. At each step our argmax must be llama.cpp's token, unless llama.cpp's
        // own top two are within the tolerance (a trained model's logits have near-ties that a
        // different summation order may resolve either way); the chosen token's logit must agree.
        let n = record.prompt_tokens.count, v = record.vocab
        var last = Array(ours[((n - 1) * v)..<(n * v)])
        var agreed = 0, nearTies = 0, maxLogitError = 0.0
        for (step, top) in record.greedy_top2.enumerated() {
            let (token, logit, margin) = (Int(top[0]), top[1], top[1] - top[3])
            let next = Int(last.withUnsafeBufferPointer { Sampler.argmax($0) })
            let scale = max(1, abs(logit))
            maxLogitError = max(maxLogitError, abs(Double(last[token]) - logit) / scale)
            if next == token { agreed += 1 } else {
                nearTies += 1
                #expect(margin < 1e-2 * scale, "step \(step): ours \(next), llama.cpp \(token) with margin \(margin)")
                #expect(Double(last[token]) - Double(last[next]) > -1e-2 * scale)
            }
            last = Array(try session.forward([Int32(token)], logits: .last))
        }
        print("golden default model: \(agreed)/\(record.greedy_top2.count) greedy tokens equal, \(nearTies) near-ties, max relative logit error \(maxLogitError)")
        #expect(maxLogitError < 1e-2)
        #expect(nearTies <= 2)
        #expect(record.greedy_top2.map { Int32($0[0]) } == record.greedy_tokens)
    }

    @Test(arguments: try! GoldenRecord.all().map(\.0))
    func logitsAndGreedyTokensMatchLlamaCpp(_ name: String) throws {
        try checkGolden(name, repack: false)
    }

    /// The records whose weights the eight-row kernels of the 32-element types take
    /// (b32_rows8_x86.c), with the weights repacked as `hotmoe run` and `bench` load them.
    @Test(arguments: try! GoldenRecord.all().map(\.0).filter { n in ["q4_1", "q5_0", "q5_1", "mxfp4_moe"].contains { n.contains("-\($0).") } })
    func repackedLogitsAndGreedyTokensMatchLlamaCpp(_ name: String) throws {
        guard CPU.avx2 else { return }
        try checkGolden(name, repack: true)
    }

    private func checkGolden(_ name: String, repack: Bool) throws {
        let record = try #require(try GoldenRecord.all().first { $0.0 == name }?.1)
        let path = tempModelPath(name + (repack ? "-repacked" : "") + ".gguf")
        try SyntheticModel.write(record.spec, to: path)
        #expect(try fnv1a64(path: path) == record.fnv1a64,
                "generated model differs from the one the golden file was made from: rerun tools/golden/make_golden.py")
        let model = try MoEModel(file: try GGUFFile(path: path), repack: repack)
        if repack { #expect(model.weights.hasRepackedExperts, "\(name): experts not repacked") }
        #expect(model.config.vocabSize == record.vocab)
        let tokenizer = try Tokenizer(gguf: model.file)
        #expect(tokenizer.encode(record.prompt, parseSpecial: false).prefix(record.prompt_tokens.count) == record.prompt_tokens[...])

        let (ours, greedy) = try logitsAndGreedy(model, prompt: record.prompt_tokens, vocab: record.vocab,
                                                 greedyCount: record.greedy_tokens.count, label: name)
        let err = relativeL2(ours, record.logits)
        if ProcessInfo.processInfo.environment["HOTMOE_GOLDEN_DEBUG"] != nil {
            let v = record.vocab, ref = record.logits
            print("per position \(name): " + (0..<record.prompt_tokens.count).map {
                String(format: "%.1e", relativeL2(Array(ours[($0 * v)..<(($0 + 1) * v)]), Array(ref[($0 * v)..<(($0 + 1) * v)])))
            }.joined(separator: " "))
        }
        let tolerance = record.isQuantised ? 1e-2 : 1e-3
        print("golden \(name)\(repack ? " repacked" : ""): relative L2 vs llama.cpp \(err) (tolerance \(tolerance))")
        #expect(err < tolerance, "relative L2 \(err) vs llama.cpp (tolerance \(tolerance))")

        #expect(greedy == record.greedy_tokens)
    }
}

/// The little-endian floats of a golden record's `logits_f32_base64`.
func decodedLogits(_ base64: String) -> [Float] {
    Data(base64Encoded: base64)!.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

/// hotmoe's logits at every position of `prompt`, then `greedyCount` greedy tokens after it:
/// what the llama.cpp golden records hold.
func logitsAndGreedy(_ model: MoEModel, prompt: [Int32], vocab v: Int, greedyCount: Int, label: String = "") throws -> ([Float], [Int32]) {
    let session = InferenceSession(model: model, contextSize: 128, maxBatch: 16, threads: 2)
    let ours = Array(try session.forward(prompt, logits: .all))
    var greedy = [Int32]()
    var last = Array(ours[((prompt.count - 1) * v)..<(prompt.count * v)])
    for _ in 0..<greedyCount {
        let next = last.withUnsafeBufferPointer { Sampler.argmax($0) }
        greedy.append(next)
        last = Array(try session.forward([next], logits: .last))
        if let only = ProcessInfo.processInfo.environment["HOTMOE_GOLDEN_STEPS"], label.hasPrefix(only) {
            let top = last.indices.sorted { last[$0] > last[$1] }.prefix(2)
            print("step \(greedy.count): " + top.map { "\($0) \(last[$0])" }.joined(separator: ", "))
        }
    }
    return (ours, greedy)
}
