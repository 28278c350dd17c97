import Foundation
import Testing
@testable import Tokenizer

/// The hand-written splitters agree with the original regexes run by Python's `regex` module
/// (fixture from tools/tokenizer/make_pretok_golden.py).
@Suite struct PreTokenizerTests {
    struct Case: Decodable {
        let kind: String
        let text: String
        let words: [String]
    }
    struct File: Decodable { let cases: [Case] }

    static let cases: [Case] = {
        let data = try! Data(contentsOf: Fixtures.directory.appendingPathComponent("pretokenizer.json"))
        return try! JSONDecoder().decode(File.self, from: data).cases
    }()

    @Test(arguments: PreTokenizerKind.allCases)
    func matchesRegexEngine(_ kind: PreTokenizerKind) {
        let cases = Self.cases.filter { $0.kind == kind.rawValue }
        #expect(cases.count > 40)
        for c in cases {
            let bytes = Array(c.text.utf8)
            let words = PreTokenizer(kind: kind).split(bytes[...]).map { String(decoding: bytes[$0], as: UTF8.self) }
            #expect(words == c.words, "\(kind): \(String(reflecting: c.text))")
        }
    }

    @Test func ggufNames() {
        #expect(PreTokenizerKind(ggufName: "qwen2") == .qwen2)
        #expect(PreTokenizerKind(ggufName: "llama-bpe") == .llama3)
        #expect(PreTokenizerKind(ggufName: "gpt-2") == .gpt2)
        #expect(PreTokenizerKind(ggufName: nil) == .default)
        #expect(PreTokenizerKind(ggufName: "deepseek-v3") == nil)
    }

    /// A SentencePiece vocabulary with a token spanning a word start ("x▁y") must not be split
    /// into words before merging; the merge across the space has to happen.
    @Test func sentencePieceMergesAcrossSpacesWhenVocabularyHasSuchTokens() throws {
        let tokens = ["<unk>", "<s>", "</s>", "▁", "x", "y", "▁x", "▁x▁", "x▁y", "▁x▁y"]
        let scores: [Float] = [0, 0, 0, -1, -2, -2, -3, -4, -5, -6]
        let types = [2, 3, 3, 1, 1, 1, 1, 1, 1, 1]
        let tok = try Tokenizer(vocabulary: TokenizerVocabulary(model: "llama", tokens: tokens, tokenTypes: types, scores: scores))
        #expect(tok.encode("x y", addBOS: false) == [9])
        #expect(tok.decode([9]) == "x y")
        // Without such tokens the word-split path is taken and gives the same result as llama.cpp
        // (covered by the llama-spm fixtures).
        #expect(tok.spm?.splitsAtSpaces == false)
        #expect(try Fixtures.tokenizer("llama-spm").spm?.splitsAtSpaces == true)
    }
}
