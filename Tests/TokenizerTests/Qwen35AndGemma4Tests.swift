import Foundation
import Testing
@testable import Tokenizer

/// Qwen3.5/3.6 ("qwen35" pre-tokenizer) and Gemma 4 ("gemma4" tokenizer model) specifics that
/// the llama.cpp vectors and golden ids do not spell out.
@Suite struct Qwen35Tests {
    @Test func vocabularyDefaults() throws {
        let tok = try Fixtures.tokenizer("qwen35")
        #expect(tok.model == .bytePairEncoding && tok.preTokenizer == .qwen35)
        #expect(!tok.addBOSByDefault && tok.bosToken == 151643 && tok.eosToken == 151643)
        #expect(tok.eosTokens == [128247, 151643, 151645])
        #expect(tok.encode("<|im_start|>user\nHi<|im_end|>", parseSpecial: true) == [151644, 872, 198, 13048, 151645])
    }

    /// The one difference to qwen2: combining marks stay inside letter runs.
    @Test func combiningMarksStayWithTheirLetters() throws {
        let text = Array("Cafe\u{301} ok".utf8)
        func words(_ kind: PreTokenizerKind) -> [String] {
            PreTokenizer(kind: kind).split(text[...]).map { String(decoding: text[$0], as: UTF8.self) }
        }
        #expect(words(.qwen35) == ["Cafe\u{301}", " ok"])
        #expect(words(.qwen2) == ["Cafe", "\u{301}", " ok"])
        let qwen35 = try Fixtures.tokenizer("qwen35"), qwen2 = try Fixtures.tokenizer("qwen2")
        // Thai vowel signs are marks: qwen35 keeps "กิน" and "ข้าว" whole (llama-tokenize's ids).
        #expect(qwen35.encode("กินข้าว") == [129454, 131661])
        #expect(qwen2.encode("กินข้าว") == [25200, 85045, 47839, 57995, 37213])
        #expect(qwen35.encode("Cafe ok") == qwen2.encode("Cafe ok"))
    }

    @Test func ggufNames() {
        #expect(PreTokenizerKind(ggufName: "qwen35") == .qwen35)
        #expect(PreTokenizerKind(ggufName: "gemma4") == .gemma4)
        #expect(PreTokenizerKind.qwen35.escapesSpaces == false && PreTokenizerKind.gemma4.escapesSpaces)
    }
}

@Suite struct Gemma4Tests {
    @Test func vocabularyDefaults() throws {
        let tok = try Fixtures.tokenizer("gemma-4")
        #expect(tok.model == .bytePairEncoding && tok.preTokenizer == .gemma4)
        #expect(tok.bosToken == 2 && tok.eosToken == 1 && tok.addBOSByDefault && !tok.addSpacePrefix)
        #expect(tok.encode("Hello world") == [2, 9259, 1902])  // llama-tokenize's answer
        #expect(tok.tokenText(1902) == "▁world")
        #expect(tok.decode([2, 9259, 1902]) == "Hello world")
    }

    /// <eos>, <turn|> and <|tool_response>; "</s>" is an ordinary token in Gemma 4.
    @Test func endOfGeneration() throws {
        let tok = try Fixtures.tokenizer("gemma-4")
        #expect(tok.eosTokens == [1, 50, 106])
        let s = try #require(tok.tokenId("</s>"))
        #expect(!tok.eosTokens.contains(s) && tok.tokenTypes[Int(s)] == .normal)
        #expect(tok.encode("x</s>", addBOS: false, parseSpecial: true) == [236781, 954, 236751, 236813])  // "x", "</", "s", ">"
    }

    @Test func turnTokensParsedOnlyWhenAsked() throws {
        let tok = try Fixtures.tokenizer("gemma-4")
        let (turn, endTurn) = (try #require(tok.tokenId("<|turn>")), try #require(tok.tokenId("<turn|>")))
        #expect((turn, endTurn) == (105, 106))
        let prompt = "<|turn>user\nHi<turn|>\n<|turn>model\n"
        let ids = tok.encode(prompt, parseSpecial: true)
        let user = tok.encode("user\nHi", addBOS: false), model = tok.encode("model\n", addBOS: false)
        #expect(ids == [2, turn] + user + [endTurn] + tok.encode("\n", addBOS: false) + [turn] + model)
        #expect(ids == [2, 105, 2364, 107, 10979, 106, 107, 105, 4368, 107])  // llama-tokenize's answer
        #expect(!tok.encode(prompt).contains(turn))
        #expect(tok.decode(ids) == "user\nHi\nmodel\n")
        #expect(tok.decode(ids, renderSpecial: true) == "<bos>" + prompt)
    }

    /// <|tool_response> is user-defined in the GGUF, but llama.cpp makes end-of-generation
    /// tokens control tokens: matched only with parseSpecial and hidden when decoding.
    @Test func toolResponseBecomesControl() throws {
        let tok = try Fixtures.tokenizer("gemma-4")
        #expect(tok.tokenTypes[50] == .control)
        #expect(tok.encode("a<|tool_response>", addBOS: false, parseSpecial: true).last == 50)
        #expect(!tok.encode("a<|tool_response>", addBOS: false).contains(50))
        #expect(tok.decode([50]) == "" && tok.decode([50], renderSpecial: true) == "<|tool_response>")
        // <|"|> stays user-defined: always matched, always rendered.
        #expect(tok.encode("<|\"|>", addBOS: false) == [52])
        #expect(tok.decode([52]) == "<|\"|>")
    }

    @Test func byteFallbackAndNewlineRuns() throws {
        let tok = try Fixtures.tokenizer("gemma-4")
        let cr = try #require(tok.tokenId("<0x0D>"))
        #expect(tok.encode("\r", addBOS: false) == [cr])
        let rare = "\u{10FFFD}"  // no token: its four UTF-8 bytes
        let ids = tok.encode(rare, addBOS: false)
        #expect(ids == [0xF4, 0x8F, 0xBF, 0xBD].map { tok.tokenId(String(format: "<0x%02X>", $0))! })
        #expect(tok.decode(ids) == rare)
        var stream = tok.makeStreamingDecoder()
        #expect(ids.map { stream.push($0) } == ["", "", "", rare])
        // A newline run that is a token is used whole (llama.cpp's Gemma 4 rule).
        #expect(tok.encode("\n\n\n", addBOS: false) == [109])
        #expect(tok.encode("a\n\n\nb", addBOS: false) == tok.encode("a", addBOS: false) + [109] + tok.encode("b", addBOS: false))
    }

    @Test func spacesRoundTrip() throws {
        let tok = try Fixtures.tokenizer("gemma-4")
        for text in ["  two  spaces  ", " ", "a \n b", "tab\t and\u{00A0}nbsp"] {
            let ids = tok.encode(text, addBOS: false)
            #expect(tok.decode(ids) == text, "\(String(reflecting: text))")
        }
        #expect(tok.encode(" ", addBOS: false) == [236743])  // "▁"
    }

    /// Merges run over whole lines, so a long line must not be quadratic.
    @Test func longLineStaysFast() throws {
        let tok = try Fixtures.tokenizer("gemma-4")
        let text = String(repeating: "lorem ipsum dolor sit amet ", count: 4_000) + String(repeating: "a", count: 20_000)
        let clock = ContinuousClock()
        var ids: [Int32] = []
        let t = clock.measure { ids = tok.encode(text, addBOS: false) }
        #expect(t < .seconds(20))
        #expect(tok.decode(ids) == text)
    }
}

/// Small hand-made vocabularies for the rules that the real ones exercise only by accident.
@Suite struct SpaceEscapedBPERulesTests {
    /// A "gemma4" vocabulary gets a BOS even when the GGUF says not to (llama.cpp's override),
    /// spaces become "▁" before merging, and characters without a token fall back to bytes.
    @Test func gemma4Vocabulary() throws {
        let tokens = ["<pad>", "<eos>", "<bos>", "▁", "a", "▁a", "<0x0D>", "b", "ab"]
        let types = [3, 3, 3, 1, 1, 1, 6, 1, 1]
        let v = TokenizerVocabulary(model: "gemma4", tokens: tokens, tokenTypes: types, merges: ["▁ a", "a b"],
                                    bosTokenId: 2, eosTokenId: 1, addBOS: false)
        let tok = try Tokenizer(vocabulary: v)
        #expect(tok.addBOSByDefault)
        #expect(tok.encode(" a") == [2, 5])
        #expect(tok.encode("ab \r", addBOS: false) == [8, 3, 6])
        #expect(tok.encode("x", addBOS: false) == [])  // no token and no <0x78>: dropped, as llama.cpp does
        #expect(tok.decode([5, 3, 6]) == " a \r")
    }

    /// Canonically equivalent spellings are different tokens; Swift String equality must not
    /// merge them (Gemma 4 has both "ά" forms and both ";" and the Greek question mark).
    @Test func canonicallyEquivalentTokensStayDistinct() throws {
        let precomposed = "\u{3AC}", decomposed = "\u{3B1}\u{301}"
        let tokens = ["<bos>", "\u{3B1}", "\u{301}", precomposed, decomposed, "x", "x" + decomposed]
        let v = TokenizerVocabulary(model: "gemma4", tokens: tokens, tokenTypes: [3, 1, 1, 1, 1, 1, 1],
                                    merges: ["\u{3B1} \u{301}", "x \(decomposed)"], bosTokenId: 0)
        let tok = try Tokenizer(vocabulary: v)
        #expect(tok.tokenId(precomposed) == 3 && tok.tokenId(decomposed) == 4)
        #expect(tok.encode(precomposed, addBOS: false) == [3])
        #expect(tok.encode(decomposed, addBOS: false) == [4])
        #expect(tok.encode("x" + decomposed, addBOS: false) == [6])
        #expect(tok.encode("x" + precomposed, addBOS: false) == [5, 3])
    }
}

/// llama.cpp's end-of-generation rules beyond the plain token list.
@Suite struct EndOfGenerationRulesTests {
    func tokenizer(_ tokens: [String], types: [Int]? = nil, edit: (inout TokenizerVocabulary) -> Void = { _ in }) throws -> Tokenizer {
        var v = TokenizerVocabulary(model: "gpt2", pre: "qwen2", tokens: tokens,
                                    tokenTypes: types ?? Array(repeating: 3, count: tokens.count), merges: [])
        edit(&v)
        return try Tokenizer(vocabulary: v)
    }

    /// gpt-oss: <|end|> ends a message, not the generation, when <|return|> and <|call|> exist.
    @Test func harmonyEndIsNotAStop() throws {
        let tok = try tokenizer(["a", "<|end|>", "<|return|>", "<|call|>"], types: [1, 3, 3, 3])
        #expect(tok.eosTokens == [2, 3])
        #expect(tok.tokenTypes[1] == .userDefined)
        #expect(try tokenizer(["a", "<|end|>"], types: [1, 3]).eosTokens == [1])
    }

    /// Fill-in-the-middle pad/repo/separator tokens stop generation, found by text or named
    /// in the GGUF; end-of-turn tokens that are not control become control.
    @Test func fimAndNamedTokens() throws {
        let tok = try tokenizer(["a", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|im_end|>", "<stop>"],
                                types: [1, 3, 3, 3, 1, 1]) { $0.eotTokenId = 5 }
        #expect(tok.eosTokens == [1, 2, 3, 4, 5])
        #expect(tok.tokenTypes[4] == .control)  // <|im_end|> by text
        #expect(tok.tokenTypes[5] == .normal)  // named in the GGUF: type left alone, as llama.cpp does
        #expect(tok.encode("<|im_end|>", parseSpecial: false) != [4])
        #expect(tok.encode("<|im_end|>", parseSpecial: true) == [4])
    }

    @Test func badNamedIdsAreErrors() {
        func field(_ edit: (inout TokenizerVocabulary) -> Void) -> String? {
            do { _ = try tokenizer(["a"], edit: edit); return nil } catch let e as TokenizerError { return e.field } catch { return "?" }
        }
        #expect(field { $0.eotTokenId = 7 } == "tokenizer.ggml.eot_token_id")
        #expect(field { $0.eomTokenId = -1 } == "tokenizer.ggml.eom_token_id")
        #expect(field { $0.fimSepTokenId = 1 } == "tokenizer.ggml.fim_sep_token_id")
    }
}
