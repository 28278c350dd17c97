// Files written by llama.cpp's own llama-quantize (tools/golden/make_quantized_golden.py): the
// type mixes of real downloads (Q5_0/Q5_1 fallbacks for rows that are not whole 256-blocks,
// Q2_K and Q3_K mixes, the grid-format mixes of IQ3_XXS and IQ2_XXS) load, and hotmoe's logits
// and greedy tokens are llama.cpp's.
import Foundation
import Testing
@testable import Engine
import GGUF
import Tokenizer

/// One file's record: llama.cpp's logits over the prompt and its greedy tokens after it.
struct LlamaQuantizeRecord: Decodable {
    let file, llama_quantize_type, logits_f32_base64: String
    let prompt_tokens, greedy_tokens: [Int32]
    let vocab: Int
    var logits: [Float] { decodedLogits(logits_f32_base64) }

    static let dir = Bundle.module.url(forResource: "Golden", withExtension: nil)!.appendingPathComponent("LlamaQuantize")

    static func names() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }
}

@Suite struct LlamaQuantizeTests {
    @Test func fixturesArePresent() {
        #expect(LlamaQuantizeRecord.names() == ["t256-IQ2_XXS.json", "t256-IQ3_XXS.json", "t256-Q2_K.json", "t256-Q3_K_S.json",
                                                "tiny-Q4_K_M.json"])
    }

    /// Logits over the 32 prompt positions within 1e-3 relative L2 of llama.cpp's (float
    /// summation order only), and the same 32 greedy tokens.
    @Test(arguments: LlamaQuantizeRecord.names())
    func logitsAndGreedyTokensMatchLlamaCpp(_ name: String) throws {
        let url = LlamaQuantizeRecord.dir.appendingPathComponent(name)
        let record = try JSONDecoder().decode(LlamaQuantizeRecord.self, from: Data(contentsOf: url))
        let model = try MoEModel(path: LlamaQuantizeRecord.dir.appendingPathComponent(record.file).path)
        #expect(model.config.vocabSize == record.vocab)
        let (ours, greedy) = try logitsAndGreedy(model, prompt: record.prompt_tokens, vocab: record.vocab,
                                                 greedyCount: record.greedy_tokens.count)
        let err = relativeL2(ours, record.logits)
        print("llama-quantize \(record.llama_quantize_type) \(name): relative L2 vs llama.cpp \(err)")
        #expect(err < 1e-3, "\(name): relative L2 \(err) vs llama.cpp")
        #expect(greedy == record.greedy_tokens, "\(name)")
    }
}
