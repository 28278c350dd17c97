import Engine
import Foundation
@testable import HotMoEServer
import Testing

/// The tool-call parser on fixed model outputs (random models cannot write calls): complete
/// calls, several calls, malformed markup kept as content, and the same result however the
/// output is split into streamed pieces.
@Suite struct ToolCallParserTests {
    static let hermes = ToolCallBodyParser(format: .hermes)

    static func template(_ name: String) -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("TokenizerTests/Fixtures/chat_templates/\(name).jinja")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }

    /// Every split of `text` into two pieces, and into single characters, gives the events of
    /// the whole text (concatenated the same way).
    static func expectSplitInvariant(_ text: String, _ parser: ToolCallBodyParser, sourceLocation: SourceLocation = #_sourceLocation) {
        let whole = OutputSplitter.split(text, parser: parser)
        let chars = Array(text)
        for cut in 0...chars.count {
            var s = OutputSplitter(parser: parser)
            let events = s.push(String(chars[..<cut])) + s.push(String(chars[cut...])) + s.finish()
            #expect(SplitOutput(events) == whole, "cut at \(cut)", sourceLocation: sourceLocation)
        }
        var s = OutputSplitter(parser: parser)
        let events = chars.flatMap { s.push(String($0)) } + s.finish()
        #expect(SplitOutput(events) == whole, "character by character", sourceLocation: sourceLocation)
    }

    @Test func formatIsDetectedFromTheTemplateFamily() {
        let expected: [(String, ToolCallFormat?)] = [
            ("Qwen-Qwen2.5-7B-Instruct", .hermes), ("Qwen-Qwen3-0.6B", .hermes), ("Qwen-QwQ-32B", .hermes),
            ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use", .hermes), ("Qwen3.5-4B", .qwenXML), ("Qwen3-Coder", .qwenXML),
            ("GLM-4.6", .glm), ("GLM-4.7-Flash", .glm), ("mistralai-Mistral-Nemo-Instruct-2407", .mistral),
            ("Mistral-Small-3.2-24B-Instruct-2506", .mistral), ("google-gemma-2-2b-it", nil),
            ("meta-llama-Llama-3.1-8B-Instruct", .llama3), ("meta-llama-Llama-3.2-3B-Instruct", .llama3),
            ("meta-llama-Llama-3.3-70B-Instruct", .llama3), ("openai-gpt-oss-120b", .harmony),
            ("deepseek-ai-DeepSeek-R1-Distill-Llama-8B", nil),
        ]
        for (name, format) in expected {
            let source = Self.template(name)
            #expect(!source.isEmpty, "\(name) fixture")
            #expect(ToolCallFormat.detect(template: source) == format, "\(name)")
        }
    }

    @Test func hermesCallsWithContentAroundThem() {
        let one = OutputSplitter.split("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>", parser: Self.hermes)
        #expect(one.content == nil)
        #expect(one.calls == [ToolCall(name: "get_weather", arguments: #"{"city":"Paris","days":2}"#)])

        let text = "Let me check.\n\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": [1, 2.5, null]}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": \"{\\\"q\\\": \\\"é\\\"}\"}\n</tool_call>\n"
        let two = OutputSplitter.split(text, parser: Self.hermes)
        #expect(two.content == "Let me check.")
        #expect(two.calls == [ToolCall(name: "a", arguments: #"{"x":[1,2.5,null]}"#), ToolCall(name: "b", arguments: #"{"q":"é"}"#)])
        Self.expectSplitInvariant(text, Self.hermes)

        // An output without calls is left exactly as it was, whitespace and all.
        let plain = "  no calls here <tool_ca but close \n"
        #expect(OutputSplitter.split(plain, parser: Self.hermes).content == plain)
        Self.expectSplitInvariant(plain, Self.hermes)
    }

    @Test func malformedCallsStayContentWithoutCrashing() {
        let cases = [
            "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": }\n</tool_call>",   // bad JSON
            "<tool_call>\n{\"arguments\": {}}\n</tool_call>",                          // no name
            "<tool_call>\n[1, 2]\n</tool_call>",                                        // not an object
            "<tool_call>\n{\"name\": \"a\", \"arguments\": 5}\n</tool_call>",           // arguments not an object
            "<tool_call>\n" + String(repeating: "[", count: 5000) + "\n</tool_call>",   // hostile nesting
            "before <tool_call>\n{\"name\": \"a\"",                                    // cut off mid-call
        ]
        for text in cases {
            let r = OutputSplitter.split(text, parser: Self.hermes)
            #expect(r.calls.isEmpty, "\(text.prefix(60))")
            #expect(r.content == text, "\(text.prefix(60))")
        }
        Self.expectSplitInvariant(cases[0] + " then <tool_call>{\"name\": \"ok\", \"arguments\": {}}</tool_call> end", Self.hermes)
        // A call the model ended without its closer still counts when it is complete.
        let open = OutputSplitter.split("<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n", parser: Self.hermes)
        #expect(open.calls == [ToolCall(name: "f", arguments: "{}")] && open.content == nil)
    }

    @Test func qwenXMLValuesFollowTheParameterTypes() {
        let parser = ToolCallBodyParser(format: .qwenXML, stringParameters: ["search": ["query", "code"]])
        let text = "Searching.\n<tool_call>\n<function=search>\n<parameter=query>\n42\n</parameter>\n<parameter=limit>\n5\n</parameter>\n<parameter=code>\nline 1\nline 2\n</parameter>\n</function>\n</tool_call>"
        let r = OutputSplitter.split(text, parser: parser)
        #expect(r.content == "Searching.")
        #expect(r.calls == [ToolCall(name: "search", arguments: #"{"query":"42","limit":5,"code":"line 1\nline 2"}"#)])
        Self.expectSplitInvariant(text, parser)
        let bad = "<tool_call>\n<function=search>\n<parameter=query>\nx\n</function>\n</tool_call>"
        #expect(OutputSplitter.split(bad, parser: parser).calls.isEmpty)
    }

    @Test func glmArgumentPairs() {
        let parser = ToolCallBodyParser(format: .glm, stringParameters: ["get_weather": ["city"]])
        let text = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>"
        let r = OutputSplitter.split(text, parser: parser)
        #expect(r.calls == [ToolCall(name: "get_weather", arguments: #"{"city":"Paris","days":3}"#)] && r.content == nil)
        Self.expectSplitInvariant(text, parser)
        let none = OutputSplitter.split("<tool_call>ping\n</tool_call>", parser: parser)
        #expect(none.calls == [ToolCall(name: "ping", arguments: "{}")])
    }

    @Test func mistralArrayAndArgsForms() {
        let parser = ToolCallBodyParser(format: .mistral)
        let nemo = #"[TOOL_CALLS][{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {}}]"#
        #expect(OutputSplitter.split(nemo, parser: parser).calls == [ToolCall(name: "a", arguments: #"{"x":1}"#), ToolCall(name: "b", arguments: "{}")])
        Self.expectSplitInvariant("Sure. " + nemo, parser)
        let small = #"[TOOL_CALLS]a[ARGS]{"x": 1}[TOOL_CALLS]b[ARGS]{}"#
        #expect(OutputSplitter.split(small, parser: parser).calls == [ToolCall(name: "a", arguments: #"{"x":1}"#), ToolCall(name: "b", arguments: "{}")])
        Self.expectSplitInvariant(small, parser)
        let bad = #"[TOOL_CALLS][{"name": "a", "arguments": {"x": 1}"#
        #expect(OutputSplitter.split(bad, parser: parser) == SplitOutput([.content(bad)]))
    }

    /// The forcing grammar admits exactly the family's call layout with schema-valid arguments.
    @Test func forcingGrammarAdmitsOnlyWellFormedCalls() throws {
        let tools: [(name: String, schema: Any)] = [
            ("get_weather", ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]]),
            ("ping", ["type": "object"]),
        ]
        let hermes = try GrammarMatcher(Grammar(parsing: ToolCallGrammar.gbnf(format: .hermes, template: "", tools: tools, parallel: false)))
        #expect(try hermes.matches("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"))
        #expect(try hermes.matches("<tool_call>\n{\"name\": \"ping\", \"arguments\": {}}\n</tool_call>"))
        #expect(try !hermes.matches("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>"), "city is required")
        #expect(try !hermes.matches("<tool_call>\n{\"name\": \"other\", \"arguments\": {}}\n</tool_call>"))
        #expect(try !hermes.matches("hello"))
        let two = "<tool_call>\n{\"name\": \"ping\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"ping\", \"arguments\": {}}\n</tool_call>"
        #expect(try !hermes.matches(two), "one call unless parallel_tool_calls")
        let parallel = try GrammarMatcher(Grammar(parsing: ToolCallGrammar.gbnf(format: .hermes, template: "", tools: tools, parallel: true)))
        #expect(try parallel.matches(two))
        let nemo = try GrammarMatcher(Grammar(parsing: ToolCallGrammar.gbnf(format: .mistral, template: "", tools: tools, parallel: true)))
        #expect(try nemo.matches(#"[TOOL_CALLS][{"name": "ping", "arguments": {}}, {"name": "get_weather", "arguments": {"city": "x"}}]"#))
        #expect(throws: GrammarError.self) { try ToolCallGrammar.gbnf(format: .glm, template: "", tools: tools, parallel: false) }
    }
}
