import Engine
import Foundation
@testable import HotMoEServer
import Testing

/// Llama 3.x calls and gpt-oss harmony channels on fixed model outputs (a random model cannot
/// write them): every form, several calls, malformed ones kept as content, and the same
/// result for every split of a streamed output.
@Suite struct ToolCallFormatTests {
    static let llama3 = ToolCallBodyParser(format: .llama3)
    static let harmony = ToolCallBodyParser(format: .harmony)
    static func split(_ text: String, _ parser: ToolCallBodyParser) -> SplitOutput { OutputSplitter.split(text, parser: parser) }

    @Test func llama3BareJSONCalls() {
        let one = #"{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}"#
        #expect(Self.split(one, Self.llama3) == SplitOutput([.call(ToolCall(name: "get_weather", arguments: #"{"city":"Paris","days":2}"#))]))
        ToolCallParserTests.expectSplitInvariant(one, Self.llama3)

        // Several calls separated by ';' or newlines, "arguments" as well as "parameters", a "type" key.
        let several = "\n" + #"{"name": "a", "parameters": {"x": "semi;colon {}"}}; {"type": "function", "name": "b", "arguments": {}}"# + "\n" + #"{"name": "c", "parameters": "{\"k\": [1]}"}"#
        #expect(Self.split(several, Self.llama3).calls == [ToolCall(name: "a", arguments: #"{"x":"semi;colon {}"}"#),
                                                            ToolCall(name: "b", arguments: "{}"), ToolCall(name: "c", arguments: #"{"k":[1]}"#)])
        #expect(Self.split(several, Self.llama3).content == nil)
        ToolCallParserTests.expectSplitInvariant(several, Self.llama3)

        // After <|python_tag|>, with content before it.
        let tagged = "Let me look.\n<|python_tag|>" + #"{"name": "a", "parameters": {}}"#
        #expect(Self.split(tagged, Self.llama3) == SplitOutput([.content("Let me look."), .call(ToolCall(name: "a", arguments: "{}"))]))
        ToolCallParserTests.expectSplitInvariant(tagged, Self.llama3)
    }

    @Test func llama3BuiltinToolCalls() {
        let search = #"<|python_tag|>brave_search.call(query="weather in Paris, today")"#
        #expect(Self.split(search, Self.llama3).calls == [ToolCall(name: "brave_search", arguments: #"{"query":"weather in Paris, today"}"#)])
        ToolCallParserTests.expectSplitInvariant(search, Self.llama3)
        let two = #"<|python_tag|>wolfram_alpha.call(query = "2+2", limit=3, opts={"a": [1, 2]})"#
        #expect(Self.split(two, Self.llama3).calls == [ToolCall(name: "wolfram_alpha", arguments: #"{"query":"2+2","limit":3,"opts":{"a":[1,2]}}"#)])
        // Python-only syntax and other code is not a call: it stays content as written.
        for text in [#"<|python_tag|>brave_search.call(query='x')"#, "<|python_tag|>print(1 + 2)", #"<|python_tag|>f.call(q="a", q="b")"#] {
            #expect(Self.split(text, Self.llama3) == SplitOutput([.content(text)]), "\(text)")
        }
    }

    @Test func llama3ContentAndMalformedCallsStayContent() {
        let cases = [
            "The weather is fine {\"name\": \"x\"} today.",                          // not at the start
            #"{"name": "a", "parameters": {"x": }}"#,                                 // bad JSON
            #"{"answer": 42}"#,                                                       // JSON, not a call
            #"{"name": "a", "parameters": {}} and then words"#,                       // trailing text
            #"{"name": "a", "parameters": {"x": 1}"#,                                  // cut off
            String(repeating: "{\"a\":", count: 3000),                                // hostile nesting
        ]
        for text in cases {
            let r = Self.split(text, Self.llama3)
            #expect(r.calls.isEmpty && r.content == text, "\(text.prefix(60))")
        }
        ToolCallParserTests.expectSplitInvariant(cases[0], Self.llama3)
        ToolCallParserTests.expectSplitInvariant(cases[1], Self.llama3)
    }

    @Test func harmonyChannelsAndCalls() {
        let answer = "<|channel|>analysis<|message|>User wants a joke. Keep it short.<|end|><|start|>assistant<|channel|>final<|message|>Why did the <b>chicken</b> cross?"
        #expect(Self.split(answer, Self.harmony) == SplitOutput([.reasoning("User wants a joke. Keep it short."), .content("Why did the <b>chicken</b> cross?")]))
        ToolCallParserTests.expectSplitInvariant(answer, Self.harmony)

        // The recipient in the channel header, then in the role header; several calls.
        let calls = "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}"
            + "<|start|>assistant to=functions.get_time<|channel|>commentary json<|message|>{}"
        let r = Self.split(calls, Self.harmony)
        #expect(r == SplitOutput([.reasoning("Need weather."), .call(ToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#)),
                                  .call(ToolCall(name: "get_time", arguments: "{}"))]))
        ToolCallParserTests.expectSplitInvariant(calls, Self.harmony)

        // A commentary preamble is content; an unfinished final message ends with the output.
        let preamble = "<|channel|>commentary<|message|>Checking now.<|end|><|start|>assistant<|channel|>final<|message|>Done"
        #expect(Self.split(preamble, Self.harmony) == SplitOutput([.content("Checking now."), .content("Done")]))
        ToolCallParserTests.expectSplitInvariant(preamble, Self.harmony)
    }

    @Test func harmonyMalformedAndPlainOutput() {
        let bad = "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{\"x\": "
        #expect(Self.split(bad, Self.harmony) == SplitOutput([.content("{\"x\": ")]))
        ToolCallParserTests.expectSplitInvariant(bad + "<|end|><|start|>assistant<|channel|>final<|message|>ok", Self.harmony)
        // Output without any header (a model ignoring the format) is content as written.
        let plain = "Just an answer, " + String(repeating: "long ", count: 80) + "<|end|> tail"
        #expect(Self.split(plain, Self.harmony) == SplitOutput([.content(String(plain.prefix(while: { $0 != "<" }))), .content(" tail")]))
        ToolCallParserTests.expectSplitInvariant(plain, Self.harmony)
        #expect(Self.split("short", Self.harmony) == SplitOutput([.content("short")]))
        // reasoning_format none: the analysis message stays in the content, markup and all.
        var raw = Self.harmony
        raw.reasoningAsContent = true
        let text = "<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>hi"
        #expect(Self.split(text, raw).content == "<|channel|>analysis<|message|>think<|end|>hi" && Self.split(text, raw).reasoning == nil)
    }

    @Test func llama3ForcingGrammar() throws {
        let tools: [(name: String, schema: Any)] = [
            ("get_weather", ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]]),
            ("ping", ["type": "object"]),
        ]
        let one = try GrammarMatcher(Grammar(parsing: ToolCallGrammar.gbnf(format: .llama3, template: "", tools: tools, parallel: false)))
        let call = #"{"name": "get_weather", "parameters": {"city": "Paris"}}"#
        #expect(try one.matches(call))
        #expect(Self.split(call, Self.llama3).calls == [ToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#)])
        #expect(try !one.matches(#"{"name": "get_weather", "parameters": {}}"#), "city is required")
        #expect(try !one.matches(call + ";" + call), "one call unless parallel_tool_calls")
        let parallel = try GrammarMatcher(Grammar(parsing: ToolCallGrammar.gbnf(format: .llama3, template: "", tools: tools, parallel: true)))
        let two = call + #";{"name": "ping", "parameters": {}}"#
        #expect(try parallel.matches(two))
        #expect(Self.split(two, Self.llama3).calls.count == 2)
        #expect(throws: GrammarError.self) { try ToolCallGrammar.gbnf(format: .harmony, template: "", tools: tools, parallel: false) }
    }
}
