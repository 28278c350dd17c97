import Foundation
@testable import HotMoEServer
import Testing
import Tokenizer

@Suite struct ReasoningTests {
    static let think = ReasoningTags(start: "<think>", end: "</think>")

    /// Thoughts and answer come apart the same however the output is split into pieces, tags
    /// never leak, and the whitespace after the end tag is dropped.
    @Test func splitterIsTheSameForEveryStreamSplit() {
        let cases: [(text: String, inside: Bool, reasoning: String?, content: String)] = [
            ("<think>\nweigh it</think>\n\nThe answer.", false, "\nweigh it", "The answer."),
            ("  <think>a</think>b", false, "a", "b"),
            ("plain answer <think> in text", false, nil, "plain answer <think> in text"),
            ("opened by the prompt</think> done", true, "opened by the prompt", "done"),
            ("<think>never closed", false, "never closed", ""),
            ("<thi", false, nil, "<thi"),
        ]
        for c in cases {
            let whole = ReasoningSplitter.split(c.text, tags: Self.think, startsInside: c.inside, keepInContent: false)
            #expect(whole.reasoning == c.reasoning && whole.content == c.content, "\(c.text)")
            let chars = Array(c.text)
            for cut in 0...chars.count {
                for second in cut...chars.count {
                    var s = ReasoningSplitter(tags: Self.think, startsInside: c.inside, keepInContent: false)
                    let parts = [String(chars[..<cut]), String(chars[cut..<second]), String(chars[second...])]
                    let pieces = parts.flatMap { s.push($0) } + s.finish()
                    let reasoning = pieces.compactMap { if case .reasoning(let t) = $0 { t } else { nil } }.joined()
                    let content = pieces.compactMap { if case .content(let t) = $0 { t } else { nil } }.joined()
                    #expect((reasoning.isEmpty ? nil : reasoning) == c.reasoning && content == c.content, "\(parts)")
                }
            }
        }
        // deepseek-legacy keeps the thoughts, with their tags, in the content too.
        let legacy = ReasoningSplitter.split("<think>x</think>y", tags: Self.think, startsInside: false, keepInContent: true)
        #expect(legacy.reasoning == "x" && legacy.content == "<think>x</think>y")
        #expect(ReasoningTags.detect(template: "{{ '<think>' }}") == Self.think && ReasoningTags.detect(template: "{{ x }}") == nil)
    }

    /// Thinking off closes a thought the template opens (QwQ), and the request's
    /// reasoning_format is checked.
    @Test func thinkingOffClosesTheOpenedThought() async throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("TokenizerTests/Fixtures/chat_templates/Qwen-QwQ-32B.jinja")
        let template = try String(contentsOf: url, encoding: .utf8)
        let body = #"{"messages": [{"role": "user", "content": "What is today?"}]KWARGS}"#
        try await withServer(configure: { $0.chatTemplateSource = template; $0.contextSize = 1024 }) { base, _ in
            let (_, on, _) = try await request(base, "/apply-template", method: "POST", json: body.replacingOccurrences(of: "KWARGS", with: ""))
            #expect((object(on)["prompt"] as? String)?.hasSuffix("<|im_start|>assistant\n<think>\n") == true, "\(on)")
            let (_, off, _) = try await request(base, "/apply-template", method: "POST",
                                                json: body.replacingOccurrences(of: "KWARGS", with: #", "chat_template_kwargs": {"enable_thinking": false}"#))
            #expect((object(off)["prompt"] as? String)?.hasSuffix("<think>\n</think>") == true, "\(off)")
            // add_generation_prompt false leaves the assistant turn unopened.
            let (_, noPrompt, _) = try await request(base, "/apply-template", method: "POST",
                                                     json: body.replacingOccurrences(of: "KWARGS", with: #", "add_generation_prompt": false"#))
            #expect((object(noPrompt)["prompt"] as? String)?.hasSuffix("<|im_start|>assistant\n<think>\n") == false, "\(noPrompt)")
            let (bad, badBody, _) = try await request(base, "/v1/chat/completions", method: "POST",
                                                      json: body.replacingOccurrences(of: "KWARGS", with: #", "reasoning_format": "bogus", "max_tokens": 1"#))
            #expect(bad == 400 && badBody.contains("reasoning_format"))
            // A random model's answer starts inside the opened thought: it all lands in reasoning_content.
            let (s, answer, _) = try await request(base, "/v1/chat/completions", method: "POST",
                                                   json: body.replacingOccurrences(of: "KWARGS", with: #", "max_tokens": 4, "temperature": 0"#))
            let message = (object(answer)["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any] ?? [:]
            #expect(s == 200 && message["reasoning_content"] != nil, "\(answer)")
        }
    }
}

@Suite struct PromptProgressTests {
    /// return_progress: one report before the first batch (processed == cache), one after each
    /// batch with processed growing to the total, then the answer; refused without streaming.
    @Test func promptProgressReportsEachBatch() async throws {
        try await withServer(configure: { $0.batchSize = 8 }) { base, server in
            let prompt = String(repeating: "experts are cached ", count: 6)
            let tokens = server.tokenizer.encode(prompt, parseSpecial: true).count
            let body = #"{"prompt": "\#(prompt)", "n_predict": 2, "stream": true, "return_progress": true, "cache_prompt": false}"#
            let (status, sse, _) = try await request(base, "/completion", method: "POST", json: body)
            let events = sse.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { object(String($0.dropFirst(6))) }
            let progress = events.compactMap { $0["prompt_progress"] as? [String: Any] }
            let processed = progress.compactMap { $0["processed"] as? Int }
            #expect(status == 200 && progress.count == 1 + (tokens + 7) / 8, "\(tokens) tokens: \(progress)")
            #expect(processed.first == 0 && processed.last == tokens && processed == processed.sorted())
            #expect(progress.allSatisfy { $0["total"] as? Int == tokens && $0["cache"] as? Int == 0 })
            #expect((events.first?["timings"] as? [String: Any])?["prompt_n"] as? Int == 0)
            #expect(events.last?["stop"] as? Bool == true)
            let (refused, _, _) = try await request(base, "/completion", method: "POST", json: #"{"prompt": "x", "return_progress": true}"#)
            #expect(refused == 400)
        }
    }
}
