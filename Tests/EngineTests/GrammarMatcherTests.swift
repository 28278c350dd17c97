@testable import Engine
import Foundation
import Testing

/// Matching cases transcribed from llama.cpp's tests/test-grammar-integration.cpp (strings
/// that must pass and must fail per grammar), then the token-level mask.
@Suite struct GrammarMatcherTests {
    static let cases: [(String, [String], [String])] = [
        ("root ::= expr\nexpr ::= term (\"+\" term)*\nterm ::= number\nnumber ::= [0-9]+",
         ["42", "1+2+3+4+5", "123+456"], ["+", "/ 3", "1+2+3+4+5+", "12a45"]),
        ("""
            root ::= expression
            expression ::= term ws (("+"|"-") ws term)*
            term ::= factor ws (("*"|"/") ws factor)*
            factor ::= number | variable | "(" expression ")" | function-call
            number ::= [0-9]+
            variable ::= [a-zA-Z_][a-zA-Z0-9_]*
            function-call ::= variable ws "(" (expression ("," ws expression)*)? ")"
            ws ::= [ \\t\\n\\r]?
        """,
         ["42", "1*2*3*4*5", "x", "x+10", "x1+y2", "(a+b)*(c-d)", "func()", "func(x,y+2)", "a*(b+c)-d/e", "f(g(x),h(y,z))",
          "x + 10", "x1 + y2", "(a + b) * (c - d)", "func(x, y + 2)", "a * (b + c) - d / e", "f(g(x), h(y, z))", "123+456",
          "123*456*789-123/456+789*123"],
         ["+", "/ 3x", "x + + y", "a * / b", "func(,)", "func(x y)", "(a + b", "x + y)", "a + b * (c - d", "42 +", "x +",
          "x + 10 +", "(a + b) * (c - d", "func(", "func(x, y + 2", "a * (b + c) - d /", "f(g(x), h(y, z)"]),
        ("root ::= ... \"abc\" ...", ["abcabcabc", "aaaabcccc", "🔵🟠✅abc❌🟠🔵"],
         ["aaabcccc", "aaaaabcccc", "aaaabccc", "aaaabccccc", "🔵🟠✅❌abc❌✅🟠🔵", "🔵🟠abc🟠🔵"]),
        ("root ::= \"a\"*", ["", "a", "aaaaa", String(repeating: "a", count: 62)], ["b", "ab", "aab", "ba", String(repeating: "a", count: 61) + "b"]),
        ("root ::= \"a\"+", ["a", "aaaaa", String(repeating: "a", count: 62)], ["", "b", "ab", "aab", "ba"]),
        ("root ::= \"a\"?", ["", "a"], ["b", "ab", "aa", "ba"]),
        ("root ::= cons+ vowel* cons? (vowel cons)*\nvowel ::= [aeiouy]\ncons ::= [bcdfghjklmnpqrstvwxyz]",
         ["yes", "no", "noyes", "crwth", "four", "bryyyy"], ["yess", "yesno", "forty", "catyyy"]),
        ("root ::= [ab]{4}", ["aaaa", "bbbb", "abab"], ["a", "b", "aaaaa"]),
        ("root ::= [ab]{4,}", ["aaaa", "aaaaab", "bbbb", "ababab"], ["", "aba"]),
        ("root ::= [ab]{0,4}", ["", "a", "aa", "aaa", "aaab"], ["aaaaa"]),
        ("root ::= (\"0x\" [A-F0-9]{2} \" \"?){3,5}", ["0xFF 0x12 0xAB", "0xFF 0x12 0xAB 0x00 0x00"],
         ["", "0xFF", "0xFF 0x12", "0xFF 0x12 0xAB 0x00 0x00 0x00"]),
        ("root ::= ( [x]* )*", ["", "x", "xx"], ["y", "yy"]),
    ]

    @Test func llamaCppIntegrationCasesPassAndFail() throws {
        for (text, passing, failing) in Self.cases {
            let m = try GrammarMatcher(Grammar(parsing: text))
            for s in passing { #expect(try m.matches(s), "\(text)\nmust match: \(s)") }
            for s in failing { #expect(try !m.matches(s), "\(text)\nmust not match: \(s)") }
        }
    }

    @Test func customRootAndMissingRoot() throws {
        #expect(throws: GrammarError.self) { try Grammar(parsing: "foobar ::= \"foobar\"") }
        let g = try Grammar(parsing: "foobar ::= \"foobar\"", root: "foobar")
        #expect(try GrammarMatcher(g).matches("foobar"))
    }

    /// A code point split across tokens: the first half is accepted only where some class
    /// could take the completed character, and completes in the next token.
    @Test func utf8SplitAcrossTokensIsMatchedAsOneCodePoint() throws {
        let g = try Grammar(parsing: "root ::= \"é\" [a-z] | [\\u4e00-\\u9fff]")
        let e = Array("é".utf8), han = Array("中".utf8)
        var m = try GrammarMatcher(g)
        #expect(try m.accept(e[..<1]))
        #expect(m.partial.remaining == 1)
        #expect(try m.accept(e[1...] + Array("x".utf8)))
        #expect(m.isComplete)
        var h = try GrammarMatcher(g)
        #expect(try h.accept(han[..<2]))
        #expect(try h.accept(han[2...]))
        #expect(h.isComplete)
        var wrong = try GrammarMatcher(g)
        #expect(try wrong.accept(Array("ü".utf8)[..<1]), "0xC3 could still become é")
        #expect(try !wrong.accept(Array("ü".utf8)[1...]), "but ü is not é")
        var cyrillic = try GrammarMatcher(g)
        #expect(try !cyrillic.accept(Array("ж".utf8)[..<1]), "no class holds U+0400...U+07FF")
        var invalid = try GrammarMatcher(try Grammar(parsing: "root ::= .*"))
        #expect(try !invalid.accept([0x80]), "a stray continuation byte is never text")
    }

    /// The full-vocabulary mask agrees with the per-token check, token by token, and EOS is
    /// allowed exactly where the grammar is complete.
    @Test func maskAgreesWithPerTokenCheckAndGatesEOS() throws {
        let words = ["yes", "no", "y", "es", "n", "o", " ", "maybe", "é", "\u{00}", ""]
        var pieces = words.map { Array($0.utf8) }
        pieces.append([0xC3])  // first byte of é
        pieces.append([0xA9])  // second byte of é
        let eos: Int32 = Int32(pieces.count)
        pieces.append([])
        let vocab = GrammarVocabulary(pieces: pieces, endOfGeneration: [eos])
        var c = try GrammarConstraint(grammar: try Grammar(parsing: "root ::= (\"yes\" | \"no\") \"é\"?"), vocabulary: vocab)
        func allowedByMask() throws -> Set<Int32> {
            var row = [Float](repeating: 0, count: pieces.count)
            try row.withUnsafeMutableBufferPointer { try c.mask($0) }
            return Set(row.indices.filter { row[$0] > -.infinity }.map(Int32.init))
        }
        func allowedOneByOne() throws -> Set<Int32> { Set(try (0..<Int32(pieces.count)).filter { try c.allows($0) }) }
        #expect(try allowedByMask() == [0, 1, 2, 4])
        #expect(try allowedOneByOne() == allowedByMask())
        try c.accept(2)  // "y"
        #expect(try allowedByMask() == [3])
        try c.accept(3)  // "es"
        #expect(try allowedByMask() == [8, 11, eos], "é whole or its first byte, or the end")
        #expect(try allowedOneByOne() == allowedByMask())
        try c.accept(11)
        #expect(try allowedByMask() == [12])
        try c.accept(12)
        #expect(c.isFinished)
        #expect(try allowedByMask() == [eos])
    }

    /// The sampler hook: whatever the logits favour, the sampled sequence follows the grammar.
    @Test func constrainedSamplingFollowsTheGrammarForAnyLogits() throws {
        let pieces = (0..<128).map { [UInt8($0)] } + [Array("true".utf8), Array("false".utf8), []]
        let eos: Int32 = Int32(pieces.count - 1)
        let vocab = GrammarVocabulary(pieces: pieces, endOfGeneration: [eos])
        let g = try Grammar(parsing: "root ::= \"[\" (bool (\", \" bool)*)? \"]\"\nbool ::= \"true\" | \"false\"")
        for seed in UInt64(1)...5 {
            var rng = SeededGenerator(seed: seed)
            var sampler = Sampler(SamplingParams(temperature: 1, topK: 0, topP: 1, minP: 0, seed: seed))
            var c = try GrammarConstraint(grammar: g, vocabulary: vocab)
            var text: [UInt8] = [], scratch: [Float] = []
            var ended = false
            for _ in 0..<64 where !c.isFinished {
                let logits = (0..<pieces.count).map { _ in Float(Double(rng.next() % 1000) / 100) }
                let t = try logits.withUnsafeBufferPointer { try c.sample($0, sampler: &sampler, scratch: &scratch) }
                if t == eos { ended = true; break }
                try c.accept(t)
                text += pieces[Int(t)]
            }
            let s = String(decoding: text, as: UTF8.self)
            var prefix = try GrammarMatcher(g)
            #expect(try prefix.accept(text), "seed \(seed): \(s) is not a prefix the grammar allows")
            if ended || c.isFinished { #expect(try GrammarMatcher(g).matches(s), "seed \(seed): \(s)") }
        }
    }
}
