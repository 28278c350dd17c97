import Foundation
@testable import HotMoEServer
import Testing

/// Tool calls end to end on a random-weight model with the Qwen3 template: the tools reach the
/// prompt, and tool_choice "required" (grammar-forced) gives a parseable call, streamed or not.
@Suite(.serialized) struct ToolCallServerTests {
    static let tools = #"""
    [{"type": "function", "function": {"name": "set_color", "description": "Sets a color",
      "parameters": {"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]}, "level": {"type": "integer", "minimum": 0, "maximum": 9}},
                     "required": ["color", "level"], "additionalProperties": false}}},
     {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}, "additionalProperties": false}}}]
    """#

    /// set_color alone, for templates whose prompt around the tools is long (Llama 3.x): the
    /// random test model has a 1024-token context.
    static let colorTool = #"""
    [{"type": "function", "function": {"name": "set_color", "parameters": {"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]},
      "level": {"type": "integer", "minimum": 0, "maximum": 9}}, "required": ["color", "level"], "additionalProperties": false}}}]
    """#

    static func body(_ extra: String, tools: String = tools) -> String {
        #"{"messages": [{"role": "user", "content": "Pick a color."}], "max_tokens": 120, "temperature": 1.0, "tools": \#(tools), \#(extra)}"#
    }

    /// The call's name and parsed arguments, checked against the tool's schema by hand.
    static func validCall(name: String, arguments: String) -> Bool {
        guard let args = try? JSONSerialization.jsonObject(with: Data(arguments.utf8)) as? [String: Any] else { return false }
        switch name {
        case "ping": return args.isEmpty
        case "set_color":
            guard Set(args.keys) == ["color", "level"], let c = args["color"] as? String, ["red", "green", "blue"].contains(c),
                  let l = args["level"] as? Int, (0...9).contains(l) else { return false }
            return true
        default: return false
        }
    }

    /// (name, arguments) of the calls in a chat streaming response, from its deltas.
    static func streamedCalls(_ sse: String) -> (calls: [(String, String)], content: String, finish: String?) {
        var names: [Int: String] = [:], args: [Int: String] = [:], content = "", finish: String?
        for line in sse.split(separator: "\n") where line.hasPrefix("data: {") {
            guard let choice = (object(String(line.dropFirst(6)))["choices"] as? [[String: Any]])?.first else { continue }
            if let f = choice["finish_reason"] as? String { finish = f }
            let delta = choice["delta"] as? [String: Any] ?? [:]
            content += delta["content"] as? String ?? ""
            for call in delta["tool_calls"] as? [[String: Any]] ?? [] {
                let i = call["index"] as? Int ?? -1
                let fn = call["function"] as? [String: Any] ?? [:]
                if let n = fn["name"] as? String {
                    #expect(call["id"] is String && call["type"] as? String == "function")
                    names[i] = n
                }
                args[i, default: ""] += fn["arguments"] as? String ?? ""
            }
        }
        return (names.keys.sorted().map { (names[$0]!, args[$0] ?? "") }, content, finish)
    }

    @Test func requiredToolChoiceYieldsTheSameCallStreamedAndNot() async throws {
        let template = ChatTemplateServerTests.qwen3Template
        #expect(!template.isEmpty)
        try await withServer(configure: { $0.chatTemplateSource = template; $0.contextSize = 2048 }) { base, _ in
            let (s0, t0, _) = try await request(base, "/apply-template", method: "POST",
                                                json: #"{"messages": [{"role": "user", "content": "x"}], "tools": \#(Self.tools)}"#)
            #expect(s0 == 200)
            #expect((object(t0)["prompt"] as? String ?? "").contains(#"{"name": "set_color", "description": "Sets a color""#))
            let (auto, autoText, _) = try await request(base, "/v1/chat/completions", method: "POST", json: Self.body(#""max_tokens": 4, "seed": 1"#))
            #expect(auto == 200, "auto: \(autoText)")

            for (seed, choice) in [(1, #""required""#), (2, #""required""#), (3, #"{"type": "function", "function": {"name": "ping"}}"#)] {
                let name = try await Self.expectForcedCall(base, seed: seed, choice: choice)
                if seed == 3 { #expect(name == "ping") }
            }
            let refused: [(String, String)] = [
                (#""tool_choice": {"type": "function", "function": {"name": "nope"}}"#, "nope"),
                (#""tool_choice": "sometimes""#, "tool_choice"),
                (#""tool_choice": "required", "grammar": "root ::= \"x\"""#, "grammar"),
            ]
            for (extra, word) in refused {
                let (status, text, _) = try await request(base, "/v1/chat/completions", method: "POST", json: Self.body(extra))
                #expect(status == 400 && text.contains(word), "\(extra): \(text)")
            }
            // tool_choice "none": the tools stay out of the prompt and the output is plain content.
            let (sn, tn, _) = try await request(base, "/v1/chat/completions", method: "POST", json: Self.body(#""max_tokens": 3, "tool_choice": "none""#))
            #expect(sn == 200 && !tn.contains("tool_calls"), "\(tn)")
            let (sp, tp, _) = try await request(base, "/v1/completions", method: "POST",
                                                json: #"{"prompt": "x", "max_tokens": 1, "tools": \#(Self.tools)}"#)
            #expect(sp == 400 && tp.contains("chat field"), "\(tp)")
        }
    }

    /// A forced call (tool_choice `choice`) is one schema-valid call, the same streamed and not,
    /// with no content; returns its name.
    static func expectForcedCall(_ base: URL, seed: Int, choice: String, tools: String = tools, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let (status, text, _) = try await request(base, "/v1/chat/completions", method: "POST", json: body(#""seed": \#(seed), "tool_choice": \#(choice)"#, tools: tools))
        #expect(status == 200, "\(text)", sourceLocation: sourceLocation)
        let c = try #require((object(text)["choices"] as? [[String: Any]])?.first, sourceLocation: sourceLocation)
        #expect(c["finish_reason"] as? String == "tool_calls", "seed \(seed): \(text)", sourceLocation: sourceLocation)
        let message = c["message"] as? [String: Any] ?? [:]
        #expect(message["content"] is NSNull, "the forced output is only the call: \(text)", sourceLocation: sourceLocation)
        let calls = message["tool_calls"] as? [[String: Any]] ?? []
        #expect(calls.count == 1, "\(text)", sourceLocation: sourceLocation)
        let fn = calls.first?["function"] as? [String: Any] ?? [:]
        let name = fn["name"] as? String ?? "", arguments = fn["arguments"] as? String ?? ""
        #expect(calls.first?["type"] as? String == "function" && (calls.first?["id"] as? String)?.hasPrefix("call_") == true, sourceLocation: sourceLocation)
        #expect(validCall(name: name, arguments: arguments), "seed \(seed): \(name) \(arguments)", sourceLocation: sourceLocation)

        let (ss, sse, _) = try await request(base, "/v1/chat/completions", method: "POST",
                                             json: body(#""seed": \#(seed), "stream": true, "tool_choice": \#(choice)"#, tools: tools))
        #expect(ss == 200, sourceLocation: sourceLocation)
        let streamed = streamedCalls(sse)
        #expect(streamed.calls.count == 1 && streamed.calls.first?.0 == name && streamed.calls.first?.1 == arguments, "seed \(seed): \(sse)", sourceLocation: sourceLocation)
        #expect(streamed.content.isEmpty, "no markup in content deltas: \(streamed.content)", sourceLocation: sourceLocation)
        #expect(streamed.finish == "tool_calls", sourceLocation: sourceLocation)
        return name
    }

    /// Llama 3.3's template: a tools request is served (not refused as an unknown format), the
    /// tools reach the prompt, and tool_choice "required" forces a parseable bare-JSON call.
    @Test func llama3TemplateServesToolsAndForcesACall() async throws {
        let template = ToolCallParserTests.template("meta-llama-Llama-3.3-70B-Instruct")
        #expect(!template.isEmpty)
        // Its prompt around the tools is long: a model context of 2048 holds it.
        try await withServer(modelContext: 2048, configure: { $0.chatTemplateSource = template; $0.contextSize = 2048 }) { base, _ in
            let (s0, t0, _) = try await request(base, "/apply-template", method: "POST",
                                                json: #"{"messages": [{"role": "user", "content": "x"}], "tools": \#(Self.colorTool)}"#)
            #expect(s0 == 200)
            #expect((object(t0)["prompt"] as? String ?? "").contains(#""parameters": dictionary of argument name"#))
            let (auto, autoText, _) = try await request(base, "/v1/chat/completions", method: "POST", json: Self.body(#""max_tokens": 4, "seed": 1"#, tools: Self.colorTool))
            #expect(auto == 200, "auto: \(autoText)")
            for seed in [1, 2] {
                let name = try await Self.expectForcedCall(base, seed: seed, choice: #""required""#, tools: Self.colorTool)
                #expect(name == "set_color")
            }
        }
    }
}
