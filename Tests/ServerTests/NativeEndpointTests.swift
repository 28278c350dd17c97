import Engine
import Foundation
@testable import HotMoEServer
import Testing
import Tokenizer

@Suite struct NativeEndpointTests {
    /// /tokenize and /detokenize agree with the tokenizer, /apply-template with the chat
    /// template, the aliases without /v1 answer as the /v1 routes do, unknown routes get JSON.
    @Test func tokenizeDetokenizeTemplatePropsAndAliases() async throws {
        try await withServer { base, server in
            let text = "Hello world, hello MoE"
            let (s1, t, _) = try await request(base, "/tokenize", method: "POST", json: #"{"content": "\#(text)"}"#)
            #expect(s1 == 200)
            let ids = (object(t)["tokens"] as? [Int]) ?? []
            #expect(ids.map(Int32.init) == server.tokenizer.encode(text, addBOS: false, parseSpecial: true))
            let (s2, d, _) = try await request(base, "/detokenize", method: "POST", json: #"{"tokens": \#(ids)}"#)
            #expect(s2 == 200 && object(d)["content"] as? String == server.tokenizer.decode(ids.map(Int32.init)))
            let (s3, pieces, _) = try await request(base, "/tokenize", method: "POST", json: #"{"content": "ab", "with_pieces": true}"#)
            #expect(s3 == 200 && pieces.contains("\"piece\""))
            let (bad, badText, _) = try await request(base, "/detokenize", method: "POST", json: #"{"tokens": [-1]}"#)
            #expect(bad == 400 && badText.contains("tokens[0]"))
            let (s4, tpl, _) = try await request(base, "/apply-template", method: "POST",
                                                 json: #"{"messages": [{"role": "user", "content": "hi"}]}"#)
            #expect(s4 == 200)
            // The generated model's template renders the same through Jinja and the family renderer.
            let hi = [ChatMessage(role: "user", content: "hi")]
            let viaJinja = try ChatFormatter(tokenizer: server.tokenizer).render(hi, addGenerationPrompt: true)
            #expect(object(tpl)["prompt"] as? String == viaJinja)
            #expect(viaJinja == server.tokenizer.chatTemplate.render(hi, addGenerationPrompt: true))
            let (s5, props, _) = try await request(base, "/props")
            #expect(s5 == 200 && object(props)["total_slots"] as? Int == 1 && props.contains("default_generation_settings"))
            for path in ["/v1/health", "/models"] {
                let (status, _, _) = try await request(base, path)
                #expect(status == 200, "\(path)")
            }
            let body = #"{"prompt": "Hi", "max_tokens": 3, "temperature": 0}"#
            let (_, viaV1, _) = try await request(base, "/v1/completions", method: "POST", json: body)
            let (_, alias, _) = try await request(base, "/completions", method: "POST", json: body)
            // /completions without /v1 is llama-server's native endpoint, with the same text.
            #expect(completionText(viaV1) == object(alias)["content"] as? String)
            let chat = #"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}"#
            let (chatStatus, _, _) = try await request(base, "/chat/completions", method: "POST", json: chat)
            #expect(chatStatus == 200)
            let (missing, missingBody, _) = try await request(base, "/no/such/route")
            #expect(missing == 404 && object(missingBody)["error"] != nil, "\(missingBody)")
        }
    }

    /// Under --api-key: a preflight is answered before the key check with CORS headers; the
    /// key works as Bearer or X-Api-Key; /metrics needs it; health stays public.
    @Test func corsPreflightAndApiKeyHeaders() async throws {
        try await withServer(configure: { $0.apiKey = "sekrit" }) { base, _ in
            let (pre, _, headers) = try await request(base, "/v1/chat/completions", method: "OPTIONS",
                                                      headers: ["Origin": "http://example.com", "Access-Control-Request-Method": "POST",
                                                                "Access-Control-Request-Headers": "authorization, content-type"])
            #expect(pre == 200, "preflight must not need the key (llama-server answers it with 200)")
            let allowOrigin = headers.first { ($0.key as? String)?.lowercased() == "access-control-allow-origin" }?.value as? String
            #expect(allowOrigin == "http://example.com")
            let (health, _, _) = try await request(base, "/health")
            #expect(health == 200)
            let (metrics, _, _) = try await request(base, "/metrics")
            #expect(metrics == 401, "/metrics is behind the key")
            let (withKey, _, _) = try await request(base, "/metrics", headers: ["X-Api-Key": "sekrit"])
            #expect(withKey == 200)
            let (bearer, _, _) = try await request(base, "/tokenize", method: "POST", json: #"{"content": "x"}"#,
                                                   headers: ["Authorization": "Bearer sekrit"])
            #expect(bearer == 200)
            let (wrong, _, _) = try await request(base, "/tokenize", method: "POST", json: #"{"content": "x"}"#,
                                                  headers: ["X-Api-Key": "nope"])
            #expect(wrong == 401)
            // The web UI's static files stay public (the page asks for the key itself).
            for path in ["/", "/sw.js", "/manifest.webmanifest", "/favicon.svg", "/_app/version.json"] {
                let (status, text, _) = try await request(base, path)
                #expect(status == 200 && !text.isEmpty, "\(path): \(status)")
            }
            let (_, manifest, _) = try await request(base, "/manifest.webmanifest")
            #expect(object(manifest)["start_url"] as? String == "/")
            let (_, version, _) = try await request(base, "/_app/version.json")
            let (_, worker, _) = try await request(base, "/sw.js")
            let v = try #require(object(version)["version"] as? String)
            #expect(worker.contains("hotmoe-shell-\(v)"), "the worker's cache carries the page version")
        }
    }

    /// llama-server's --alias is a comma list (the id is the first in sorted order) and --tags
    /// are listed beside it.
    @Test func modelListShowsAliasesAndTags() async throws {
        try await withServer(configure: { $0.aliases = ["tinyllama-2", "fim", "code"].sorted(); $0.tags = ["chat", "small"] }) { base, _ in
            let (status, body, _) = try await request(base, "/models")
            #expect(status == 200)
            let model = try #require((object(body)["data"] as? [[String: Any]])?.first)
            #expect(model["id"] as? String == "code")
            #expect(Set(model["aliases"] as? [String] ?? []) == ["tinyllama-2", "fim", "code"])
            #expect(model["tags"] as? [String] == ["chat", "small"])
            #expect((model["meta"] as? [String: Any])?["n_ctx"] as? Int != nil)
        }
    }
}

@Suite struct ChatTemplateServerTests {
    static let qwen3Template: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("TokenizerTests/Fixtures/chat_templates/Qwen-Qwen3-0.6B.jinja")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()

    /// /apply-template puts the request's tools into the prompt through the Jinja template, and a
    /// conversation with a content-null assistant tool call and a tool reply is accepted.
    @Test func toolsAndToolMessagesReachTheTemplate() async throws {
        #expect(!Self.qwen3Template.isEmpty)
        try await withServer(configure: { $0.chatTemplateSource = Self.qwen3Template }) { base, _ in
            let tools = #"[{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]"#
            let (s1, body1, _) = try await request(base, "/apply-template", method: "POST",
                                                   json: #"{"messages": [{"role": "user", "content": "hi"}], "tools": \#(tools)}"#)
            #expect(s1 == 200)
            let prompt = object(body1)["prompt"] as? String ?? ""
            #expect(prompt.contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather\""))
            #expect(prompt.hasSuffix("<|im_start|>assistant\n"))
            let conversation = #"""
            {"messages": [{"role": "user", "content": "weather?"},
              {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
              {"role": "tool", "tool_call_id": "c1", "content": "sunny"}], "tools": \#(tools)}
            """#
            let (s2, body2, _) = try await request(base, "/apply-template", method: "POST", json: conversation)
            #expect(s2 == 200)
            let p2 = object(body2)["prompt"] as? String ?? ""
            #expect(p2.contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"))
            #expect(p2.contains("<tool_response>\nsunny\n</tool_response>"))
            let chat = conversation.replacingOccurrences(of: #", "tools": \#(tools)}"#, with: #", "max_tokens": 2}"#)
            let (s3, _, _) = try await request(base, "/v1/chat/completions", method: "POST", json: chat)
            #expect(s3 == 200)
            let (s4, body4, _) = try await request(base, "/v1/chat/completions", method: "POST",
                                                   json: #"{"messages": [{"role": "user", "content": "x", "weird": 1}]}"#)
            #expect(s4 == 400 && body4.contains("weird"))
        }
    }
}
