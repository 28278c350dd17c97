import Foundation
import GGUF
import Testing
@testable import Tokenizer

@Suite struct StreamingTests {
    /// Feeding tokens one at a time yields only valid text, and the pieces add up to decode().
    @Test(arguments: Fixtures.vocabNames)
    func streamingEqualsDecode(_ name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        for c in Golden.cases where c.vocab == name && !c.parseSpecial {
            let ids = tok.encode(c.text, addBOS: false)
            var stream = tok.makeStreamingDecoder(startOfText: true)
            var text = ""
            for id in ids {
                let piece = stream.push(id)
                #expect(!piece.unicodeScalars.contains("\u{FFFD}"), "\(name): partial character leaked for \(String(reflecting: c.text))")
                text += piece
            }
            text += stream.finish()
            #expect(text == c.text, "\(name): \(String(reflecting: c.text))")
        }
    }

    @Test func emojiSplitAcrossByteTokensIsHeldBack() throws {
        let tok = try Fixtures.tokenizer("llama-spm")
        // "🦙" has no token in the Llama 2 vocabulary: it is four <0xXX> byte tokens.
        let ids = tok.encode("🦙", addBOS: false)
        #expect(ids.count == 5)  // "▁" then four bytes
        var stream = tok.makeStreamingDecoder()
        let pieces = ids.map { stream.push($0) }
        #expect(pieces == [" ", "", "", "", "🦙"])
        #expect(stream.finish() == "")
    }

    @Test func unfinishedCharacterIsFlushedAsReplacement() throws {
        let tok = try Fixtures.tokenizer("llama-spm")
        let bytes = tok.encode("🦙", addBOS: false).dropFirst()
        var stream = tok.makeStreamingDecoder()
        for id in bytes.prefix(2) { #expect(stream.push(id) == "") }
        #expect(stream.finish() == "\u{FFFD}")
    }

    @Test func invalidLeadBytesAreNotHeldForever() {
        #expect(StreamingDecoder.incompleteTailLength([0x41, 0xF0, 0x9F]) == 2)
        #expect(StreamingDecoder.incompleteTailLength([0x41, 0xFF]) == 0)
        #expect(StreamingDecoder.incompleteTailLength([0x80, 0x80, 0x80, 0x80]) == 0)
        #expect(StreamingDecoder.incompleteTailLength([0xE2, 0x96, 0x81]) == 0)
        #expect(StreamingDecoder.incompleteTailLength([]) == 0)
    }
}

@Suite struct RobustnessTests {
    /// Arbitrary byte tokens (invalid UTF-8), bad ids and random texts never crash.
    @Test(arguments: Fixtures.vocabNames)
    func neverCrashes(_ name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        var rng = SplitMix(seed: 42)
        let n = Int32(tok.vocabularySize)
        for _ in 0..<200 {
            let ids = (0..<Int.random(in: 0..<40, using: &rng)).map { _ in Int32.random(in: -5..<(n + 5), using: &rng) }
            _ = tok.decode(ids)
            _ = tok.decode(ids, renderSpecial: true)
            var stream = tok.makeStreamingDecoder()
            for id in ids { _ = stream.push(id) }
            _ = stream.finish()
        }
        for _ in 0..<200 {
            let scalars = (0..<Int.random(in: 0..<60, using: &rng)).compactMap { _ -> Character? in
                let pick = Int.random(in: 0..<4, using: &rng)
                let v: UInt32 = pick == 0 ? .random(in: 0..<0x80, using: &rng)
                    : pick == 1 ? .random(in: 0..<0x3000, using: &rng) : .random(in: 0..<0x110000, using: &rng)
                return Unicode.Scalar(v).map(Character.init)
            }
            let text = String(scalars)
            let ids = tok.encode(text, parseSpecial: Bool.random(using: &rng))
            #expect(ids.allSatisfy { $0 >= 0 && $0 < n })
            // Space-escaping vocabularies (Gemma 4) turn a literal "▁" into a space on decode,
            // like llama.cpp and Hugging Face do.
            let expected = tok.preTokenizer?.escapesSpaces == true ? text.replacingOccurrences(of: "▁", with: " ") : text
            #expect(tok.decode(tok.encode(text, addBOS: false)) == expected, "\(name): \(String(reflecting: text))")
        }
    }

    @Test func emptyInput() throws {
        for name in Fixtures.vocabNames {
            let tok = try Fixtures.tokenizer(name)
            #expect(tok.encode("", addBOS: false) == [])
            #expect(tok.decode([]) == "")
        }
        let spm = try Fixtures.tokenizer("llama-spm")
        #expect(spm.encode("") == [1])  // BOS by default, like SentencePiece with add_special
    }

    @Test func longRunsStayFast() throws {
        let tok = try Fixtures.tokenizer("qwen2")
        let text = String(repeating: "a", count: 50_000) + String(repeating: " ", count: 30_000) + "x"
        let clock = ContinuousClock()
        let t = clock.measure { _ = tok.encode(text) }
        #expect(t < .seconds(20))
        #expect(tok.decode(tok.encode(text)) == text)
    }
}

@Suite struct SpecialTokenTests {
    @Test func controlTokensOnlyParsedWhenAsked() throws {
        let tok = try Fixtures.tokenizer("qwen2")
        let imEnd = try #require(tok.tokenId("<|im_end|>"))
        #expect(tok.encode("a<|im_end|>b", parseSpecial: true).contains(imEnd))
        #expect(!tok.encode("a<|im_end|>b", parseSpecial: false).contains(imEnd))
        #expect(tok.decode(tok.encode("a<|im_end|>b")) == "a<|im_end|>b")
        // Control tokens are hidden unless asked for.
        #expect(tok.decode([imEnd]) == "")
        #expect(tok.decode([imEnd], renderSpecial: true) == "<|im_end|>")
        #expect(tok.tokenPiece(imEnd) == Array("<|im_end|>".utf8))
    }

    /// A chat format's preserved tokens (as Llama 3.x's <|python_tag|>, which this older
    /// vocabulary lacks: <|end_header_id|> stands in) reach the streamed text; other control
    /// tokens stay hidden.
    @Test func streamingDecoderRendersPreservedTokens() throws {
        let tok = try Fixtures.tokenizer("llama-bpe")
        let kept = try #require(tok.tokenId("<|end_header_id|>")), hidden = try #require(tok.tokenId("<|start_header_id|>"))
        #expect(tok.tokenTypes[Int(kept)] == .control)
        let ids = tok.encode("<|start_header_id|>x<|end_header_id|>{}", addBOS: false, parseSpecial: true)
        #expect(ids.contains(kept) && ids.contains(hidden))
        var plain = tok.makeStreamingDecoder(), preserving = tok.makeStreamingDecoder(preserving: [kept])
        #expect(ids.map { plain.push($0) }.joined() + plain.finish() == "x{}")
        #expect(ids.map { preserving.push($0) }.joined() + preserving.finish() == "x<|end_header_id|>{}")
    }

    @Test func userDefinedTokensAlwaysMatched() throws {
        // As in llama.cpp and Hugging Face, user-defined added tokens are split out of plain text.
        let tok = try Fixtures.tokenizer("qwen2")
        let pad = try #require(tok.tokenId("[PAD151700]"))
        #expect(tok.tokenTypes[Int(pad)] == .userDefined)
        #expect(tok.encode("x[PAD151700]y", parseSpecial: false).contains(pad))
    }

    @Test func longestSpecialTokenWins() throws {
        let tokens = ["a", "b", "<x>", "<x><y>", "<y>", "<x><"]
        let types = [1, 1, 3, 3, 3, 3]
        let v = TokenizerVocabulary(model: "gpt2", pre: "gpt2", tokens: tokens, tokenTypes: types, merges: [])
        let tok = try Tokenizer(vocabulary: v)
        #expect(tok.encode("a<x><y>b", parseSpecial: true) == [0, 3, 1])
        #expect(tok.encode("<x><x><y>", parseSpecial: true) == [2, 3])
    }

    @Test func eosTokens() throws {
        let qwen = try Fixtures.tokenizer("qwen2")
        // <|endoftext|> (eos), <|im_end|>, and "</s>": an ordinary token in Qwen's vocabulary
        // that llama.cpp's end-of-generation list still catches by its text.
        #expect(qwen.eosTokens == [128247, 151643, 151645])
        #expect(qwen.tokenTypes[128247] == .control)
        let llama3 = try Fixtures.tokenizer("llama-bpe")
        #expect(llama3.eosTokens == [128001, 128009])  // <|end_of_text|>, <|eot_id|>
        let spm = try Fixtures.tokenizer("llama-spm")
        #expect(spm.eosTokens == [2])
    }

    @Test func vocabularyDefaults() throws {
        let qwen = try Fixtures.tokenizer("qwen2")
        #expect(qwen.model == .bytePairEncoding && qwen.preTokenizer == .qwen2)
        #expect(!qwen.addBOSByDefault && qwen.bosToken == 151643)
        let llama3 = try Fixtures.tokenizer("llama-bpe")
        #expect(llama3.preTokenizer == .llama3 && llama3.addBOSByDefault)
        #expect(llama3.encode("Hi").first == 128000)
        let spm = try Fixtures.tokenizer("llama-spm")
        #expect(spm.model == .sentencePiece && spm.addSpacePrefix && spm.unknownToken == 0)
        #expect(spm.encode("Hello world") == [1, 15043, 3186])
        #expect(spm.encode("Hello world", addEOS: true) == [1, 15043, 3186, 2])
    }
}

/// Deterministic generator so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
