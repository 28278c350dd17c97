import Foundation
import Testing
@testable import Tokenizer

/// Ids produced by llama.cpp's llama-tokenize for a varied text set
/// (regenerate with tools/tokenizer/make_golden.py).
struct GoldenCase: Decodable {
    let vocab: String
    let text: String
    /// nil: the vocabulary's default.
    let addBOS: Bool?
    let parseSpecial: Bool
    let ids: [Int32]
}

private struct GoldenFile: Decodable {
    let cases: [GoldenCase]
}

enum Golden {
    static let cases: [GoldenCase] = {
        let data = try! Data(contentsOf: Fixtures.directory.appendingPathComponent("golden.json"))
        return try! JSONDecoder().decode(GoldenFile.self, from: data).cases
    }()
}

@Suite struct GoldenTests {
    @Test func fixtureCoversEveryVocabulary() {
        #expect(Golden.cases.count > 100)
        #expect(Set(Golden.cases.map(\.vocab)) == Set(Fixtures.vocabNames))
    }

    @Test(arguments: Fixtures.vocabNames)
    func matchesLlamaCpp(_ name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        for c in Golden.cases where c.vocab == name {
            let ids = tok.encode(c.text, addBOS: c.addBOS, addEOS: false, parseSpecial: c.parseSpecial)
            #expect(ids == c.ids, "\(name) parseSpecial=\(c.parseSpecial): \(String(reflecting: c.text))")
        }
    }

    /// decode(encode(x)) == x for every plain text, with and without BOS. For SentencePiece the
    /// space that encoding prepends is dropped again by decode, so the round trip is exact too.
    @Test(arguments: Fixtures.vocabNames)
    func roundTrips(_ name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        for c in Golden.cases where c.vocab == name && !c.parseSpecial {
            #expect(tok.decode(tok.encode(c.text, addBOS: false)) == c.text, "\(name): \(String(reflecting: c.text))")
            #expect(tok.decode(tok.encode(c.text, addBOS: true)) == c.text, "\(name) BOS: \(String(reflecting: c.text))")
        }
    }

    /// Special-token texts come back when special tokens are rendered. SentencePiece puts a
    /// space in front of the text after every special token (llama.cpp's rule), and decode only
    /// removes the one at the very start, so those spaces stay visible.
    @Test(arguments: Fixtures.vocabNames)
    func roundTripsSpecialText(_ name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        let spmExpected = [
            "[INST] Hi there! [/INST] Hello</s>[INST] again [/INST]": "[INST] Hi there! [/INST] Hello</s> [INST] again [/INST]",
            "<s>after bos</s> after eos <unk> unk": "<s>after bos</s>  after eos <unk>  unk",
        ]
        for c in Golden.cases where c.vocab == name && c.parseSpecial {
            let text = tok.decode(tok.encode(c.text, addBOS: false, parseSpecial: true), renderSpecial: true)
            let expected = tok.model == .sentencePiece ? spmExpected[c.text] : c.text
            #expect(text == expected, "\(name): \(String(reflecting: c.text))")
        }
    }
}
