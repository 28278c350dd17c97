import Foundation
import Testing
@testable import Tokenizer

/// llama.cpp's own tokenizer test vectors (models/ggml-vocab-*.gguf.inp/.out), tokenized the
/// way test-tokenizer-0 does: no BOS/EOS, special tokens not parsed.
@Suite struct LlamaCppVocabTests {
    @Test(arguments: Fixtures.vocabNames)
    func matchesEveryExpectedLine(_ name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        let cases = try Fixtures.llamaCppCases(name)
        #expect(cases.count == Fixtures.llamaCppCaseCounts[name])
        for (text, expected) in cases {
            let ids = tok.encode(text, addBOS: false, addEOS: false)
            #expect(ids == expected, "\(name): \(String(reflecting: text))")
        }
    }

    @Test(arguments: Fixtures.vocabNames)
    func roundTripsEveryInput(_ name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        for (text, _) in try Fixtures.llamaCppCases(name) {
            #expect(tok.decode(tok.encode(text, addBOS: false)) == text, "\(name): \(String(reflecting: text))")
            #expect(tok.decode(tok.encode(text, addBOS: true)) == text, "\(name) with BOS: \(String(reflecting: text))")
        }
    }

    /// The gpt-2 vocabulary is not committed (fixture size budget); it is checked when the
    /// llama.cpp checkout the fixtures came from is present.
    static let refModels = "/work/ref/llama_cpp_python-0.3.36/vendor/llama.cpp/models"

    @Test(.enabled(if: FileManager.default.fileExists(atPath: refModels + "/ggml-vocab-gpt-2.gguf")),
          arguments: ["gpt-2", "qwen2", "llama-spm", "llama-bpe", "qwen35", "gemma-4"])
    func referenceCheckout(_ name: String) throws {
        let tok = try Tokenizer(gguf: .init(path: try Fixtures.paddedCopy("\(Self.refModels)/ggml-vocab-\(name).gguf")))
        for (text, expected) in try Fixtures.llamaCppCases(name, directory: Self.refModels) {
            #expect(tok.encode(text, addBOS: false) == expected, "\(name): \(String(reflecting: text))")
        }
    }
}
