@testable import Engine
import Foundation
import Testing

/// The GBNF parser against llama.cpp's grammars/*.gbnf (copied into Golden/grammars) and
/// against broken grammars, which must fail with a message that names the problem and where.
@Suite struct GrammarParserTests {
    static func fixture(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: "Golden/grammars/\(name)", withExtension: nil))
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test(arguments: ["arithmetic.gbnf", "c.gbnf", "chess.gbnf", "english.gbnf", "japanese.gbnf", "json.gbnf", "json_arr.gbnf", "list.gbnf"])
    func parsesLlamaCppGrammars(_ name: String) throws {
        let g = try Grammar(parsing: try Self.fixture(name))
        #expect(g.ruleNames[g.rootRule] == "root")
        #expect(g.elements.last?.kind == .end)
        _ = try GrammarMatcher(g)
    }

    @Test func bundledGrammarsMatchWhatTheyDescribe() throws {
        let json = try GrammarMatcher(Grammar(parsing: try Self.fixture("json.gbnf")))
        #expect(try json.matches(#"{"a": [1, 2.5e3, true, null], "b": {"c": "\u00e9x"}}"#))
        #expect(try !json.matches(#"{"a": }"#))
        #expect(try !json.matches(#"[1]"#), "json.gbnf's root is an object")
        let arithmetic = try GrammarMatcher(Grammar(parsing: try Self.fixture("arithmetic.gbnf")))
        #expect(try arithmetic.matches("a+b*2=c\n"))
        #expect(try !arithmetic.matches("a+=c\n"))
        let list = try GrammarMatcher(Grammar(parsing: try Self.fixture("list.gbnf")))
        #expect(try list.matches("- one\n- two\n"))
        #expect(try !list.matches("- one\n-two\n"))
        let chess = try GrammarMatcher(Grammar(parsing: try Self.fixture("chess.gbnf")))
        #expect(try chess.matches("1. e4 e5\n2. Nf3 Nc6\n"))
    }

    /// Escapes decode to the code points llama.cpp gives them.
    @Test func escapesAndClassesParseToTheirCodePoints() throws {
        let g = try Grammar(parsing: #"root ::= "\x41\u00e9\U0001F600\n\t\r\\\"" [^\]\-a-c] ."#)
        let chars = g.elements.filter { $0.kind == .char }.map(\.value)
        #expect(chars == [0x41, 0xE9, 0x1F600, 0x0A, 0x09, 0x0D, 0x5C, 0x22])
        let m = try GrammarMatcher(g)
        #expect(try m.matches("Aé😀\n\t\r\\\"dz"))
        #expect(try !m.matches("Aé😀\n\t\r\\\"bz"), "b is in the negated class a-c")
        #expect(try !m.matches("Aé😀\n\t\r\\\"-z"), "an escaped - is a member, not a range")
    }

    @Test func multiLineRulesCommentsAndRepetitionForms() throws {
        let text = """
        # a comment line
        root ::= item{2} sep? ( # inside a group a rule may go on over lines
            ( "x"{1,} | "y"{0,2} )
            "z"{2,3} )
        item ::= [0-9]
        sep ::= ","
        """
        let m = try GrammarMatcher(Grammar(parsing: text))
        #expect(try m.matches("12,xxxzz"))
        #expect(try m.matches("12zzz"))
        #expect(try m.matches("12yyzz"))
        #expect(try !m.matches("12yyyzz"))
        #expect(try !m.matches("1zz"))
        #expect(try !m.matches("12zzzz"))
    }

    /// Broken grammars: each error names the problem and its line/column.
    @Test(arguments: [
        ("root ::= foo", "undefined rule 'foo'", "line 1, column 10"),
        ("rot ::= \"a\"", "no 'root' rule", ""),
        ("root ::= \"abc", "unterminated string", ""),
        ("root ::= [abc", "unterminated character class", "line 1, column 10"),
        ("root ::= (\"a\"", "expecting ')'", "line 1, column 10"),
        ("root ::= \"a\"\nroot ::= \"b\"", "defined twice", "line 2, column 1"),
        ("root := \"a\"", "expecting '::='", "line 1, column 6"),
        ("root ::= \"\\q\"", "unknown escape", ""),
        ("root ::= \"\\x4\"", "hex digits", ""),
        ("root ::= *", "expecting an item before the repetition", ""),
        ("root ::= \"a\"{3,1}", "max < min", ""),
        ("root ::= \"a\"{5000}", "more than 2000", ""),
        ("root ::= \"a\"{x}", "expecting an integer", ""),
        ("root ::= \"a\" | root \"a\"", "left-recursive", ""),
        ("root ::= asdf\nasdf ::= \"a\" | foo \"b\"\nfoo ::= \"c\" | empty asdf \"d\" | \"e\"\nempty ::= \"blah\" | ", "left-recursive", ""),
        ("root ::= (\"\")*", "left-recursive", ""),
        ("root ::= <[10]>", "token references", ""),
        ("root ::= []", "empty character class", ""),
        ("root ::= \"a\" )", "expecting newline or end", "line 1, column 14"),
    ])
    func brokenGrammarsFailWithAPositionedMessage(_ text: String, _ message: String, _ position: String) {
        do {
            _ = try Grammar(parsing: text)
            Issue.record("accepted: \(text)")
        } catch {
            let d = "\(error)"
            #expect(d.contains(message), "\(text): \(d)")
            if !position.isEmpty { #expect(d.contains(position), "\(text): \(d)") }
        }
    }

    /// Hostile sizes end in an error, quickly, with no crash: deep nesting, repetition
    /// products, expansion past the element budget, long rule chains.
    @Test func hostileGrammarsAreRefusedWithinBounds() throws {
        let deep = "root ::= " + String(repeating: "(", count: 10_000) + "\"a\"" + String(repeating: ")", count: 10_000)
        #expect(throws: GrammarError.self) { try Grammar(parsing: deep) }
        #expect(throws: GrammarError.self) { try Grammar(parsing: #"root ::= (("a"{1,100}){1,100}){1,100}"#) }
        #expect(throws: GrammarError.self) { try Grammar(parsing: "root ::= \"" + String(repeating: "a", count: 2000) + "\"{1000}") }
        // A 20k-rule left-recursive chain: checked without recursion.
        var chain = "root ::= r0\n"
        for i in 0..<20_000 { chain += "r\(i) ::= r\(i + 1) \"x\"\n" }
        chain += "r20000 ::= root | \"y\"\n"
        #expect(throws: GrammarError.self) { try Grammar(parsing: chain) }
        // Exponential ambiguity: the stack set is bounded, not unbounded.
        let ambiguous = try Grammar(parsing: "root ::= a*\na ::= \"x\" | \"x\" \"x\" | \"x\" a")
        var m = try GrammarMatcher(ambiguous)
        var failed = false
        for _ in 0..<200 {
            do { guard try m.accept(Array("x".utf8)) else { break } } catch { failed = true; break }
        }
        #expect(failed || m.stacks.count <= GrammarLimits.maxStacks)
    }
}
