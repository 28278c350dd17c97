import Foundation
import HotMoEServer
import Testing

/// Assistant prefill and `continue_final_message`, as llama-server answers them: the prompt is
/// the conversation without its last message, the generation prompt, then that message's text.
@Suite(.serialized) struct ChatContinuationTests {
    static let system = #"{"role": "system", "content": "Book"}, {"role": "user", "content": "What is the best book"}"#

    func prompt(_ base: URL, _ body: String) async throws -> (Int, String) {
        let (status, text, _) = try await request(base, "/apply-template", method: "POST", json: body)
        return (status, object(text)["prompt"] as? String ?? text)
    }

    @Test func finalAssistantMessageIsContinued() async throws {
        try await withServer(configure: { $0.chatTemplateSource = ChatTemplateServerTests.qwen3Template }) { base, _ in
            let (s0, opening) = try await prompt(base, #"{"messages": [\#(Self.system)]}"#)
            #expect(s0 == 200 && opening.hasSuffix("<|im_start|>assistant\n"))
            let (s1, prefilled) = try await prompt(base, #"{"messages": [\#(Self.system), {"role": "assistant", "content": "Whill"}]}"#)
            #expect(s1 == 200)
            #expect(prefilled == opening + "Whill")
            // Text parts of the continued message are joined by blank lines, as llama.cpp renders them.
            let parts = #"[{"type": "text", "text": "Wh"}, {"type": "text", "text": "ill"}]"#
            let (s2, joined) = try await prompt(base, #"{"messages": [\#(Self.system), {"role": "assistant", "content": \#(parts)}]}"#)
            #expect(s2 == 200 && joined == opening + "Wh\n\nill")
            // The explicit vLLM / transformers form gives the same prompt.
            let (s3, explicit) = try await prompt(base, #"{"add_generation_prompt": false, "continue_final_message": true, "messages": [\#(Self.system), {"role": "assistant", "content": "Whill"}]}"#)
            #expect(s3 == 200 && explicit == prefilled)
        }
    }

    @Test func contradictoryOrUnsupportedContinuationsAreRefused() async throws {
        try await withServer(configure: { $0.chatTemplateSource = ChatTemplateServerTests.qwen3Template }) { base, _ in
            let both = #"{"max_tokens": 2, "add_generation_prompt": true, "continue_final_message": true, "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}"#
            let (s1, b1, _) = try await request(base, "/v1/chat/completions", method: "POST", json: both)
            #expect(s1 == 400 && b1.contains("add_generation_prompt"))
            let twice = #"{"max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "A"}, {"role": "assistant", "content": "B"}]}"#
            let (s2, b2, _) = try await request(base, "/v1/chat/completions", method: "POST", json: twice)
            #expect(s2 == 400 && b2.contains("2 or more assistant messages"))
            let thought = #"{"max_tokens": 2, "add_generation_prompt": false, "continue_final_message": "reasoning_content", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "A"}]}"#
            let (s3, b3, _) = try await request(base, "/v1/chat/completions", method: "POST", json: thought)
            #expect(s3 == 400 && b3.contains("continue_final_message"))
            let calls = #"{"max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}"#
            let (s4, b4, _) = try await request(base, "/v1/chat/completions", method: "POST", json: calls)
            #expect(s4 == 400 && b4.contains("tool calls"))
        }
    }

    /// --no-prefill-assistant: the final assistant message is a finished turn, and the model answers after it.
    @Test func prefillCanBeTurnedOff() async throws {
        try await withServer(configure: { $0.chatTemplateSource = ChatTemplateServerTests.qwen3Template; $0.prefillAssistant = false }) { base, _ in
            let (s, text) = try await prompt(base, #"{"messages": [\#(Self.system), {"role": "assistant", "content": "Whill"}]}"#)
            #expect(s == 200)
            #expect(text.hasSuffix("Whill<|im_end|>\n<|im_start|>assistant\n"))
        }
    }

    /// --verbose: chat answers carry `__verbose` with the prompt, unless the request says `"verbose": false`.
    @Test func verboseServerAnswersCarryThePrompt() async throws {
        try await withServer(configure: { $0.chatTemplateSource = ChatTemplateServerTests.qwen3Template; $0.verboseResponses = true }) { base, _ in
            let chat = #"{"max_tokens": 2, "messages": [\#(Self.system), {"role": "assistant", "content": "Whill"}]"#
            let (s1, b1, _) = try await request(base, "/v1/chat/completions", method: "POST", json: chat + "}")
            #expect(s1 == 200)
            let verbose = object(b1)["__verbose"] as? [String: Any]
            #expect((verbose?["prompt"] as? String)?.hasSuffix("<|im_start|>assistant\nWhill") == true)
            let (s2, b2, _) = try await request(base, "/v1/chat/completions", method: "POST", json: chat + #", "verbose": false}"#)
            #expect(s2 == 200 && object(b2)["__verbose"] == nil)
        }
    }
}
