import Engine
import Foundation
@testable import HotMoEServer
import Testing

/// The server on a hybrid (DeltaNet + attention) model: every slot owns its recurrent state,
/// and prompt-prefix reuse, which cannot truncate a recurrent state, still gives cold-start output.
@Suite(.serialized) struct HybridServerTests {
    func engineGreedy(_ server: HotMoEServer, _ prompt: String, _ n: Int) throws -> String {
        let session = InferenceSession(model: server.model, contextSize: 512, maxBatch: 16, threads: 1)
        var sampler = Sampler(.greedy)
        var decoder = server.tokenizer.makeStreamingDecoder()
        var text = ""
        _ = try Generator.generate(session: session, prompt: server.tokenizer.encode(prompt), maxTokens: n,
                                   sampler: &sampler, stopTokens: []) { text += decoder.push($0); return true }
        return text + decoder.finish()
    }

    func body(_ prompt: String, _ n: Int) -> String {
        #"{"prompt": "\#(prompt)", "max_tokens": \#(n), "temperature": 0, "ignore_eos": true}"#
    }

    @Test func twoParallelSlotsOfAQwen35MoEModelMatchTheEngine() async throws {
        try await withServer(parallel: 2, architecture: "qwen35moe") { base, server in
            #expect(server.model.config.hasRecurrentLayers)
            let prompts = ["The quick brown fox", "Il sistema operativo"]
            let expected = try prompts.map { try engineGreedy(server, $0, 20) }
            async let a = request(base, "/v1/completions", method: "POST", json: body(prompts[0], 20))
            async let b = request(base, "/v1/completions", method: "POST", json: body(prompts[1], 20))
            let (ra, rb) = try await (a, b)
            #expect([completionText(ra.1), completionText(rb.1)] == expected)
        }
    }

    @Test func aRequestSharingAPrefixGivesColdStartTokens() async throws {
        try await withServer(architecture: "qwen3next") { base, server in
            let first = "The configuration file lists the options"
            let (_, r1, _) = try await request(base, "/v1/completions", method: "POST", json: body(first, 16))
            #expect(completionText(r1) == (try engineGreedy(server, first, 16)))
            // Shares the first prompt (whose end is a checkpoint), then goes elsewhere; then
            // the same prompt again (rewinds by one token); then a shorter prefix (cold start).
            for prompt in [first + " that the server reads", first + " that the server reads", "The configuration"] {
                let (_, r, _) = try await request(base, "/v1/completions", method: "POST", json: body(prompt, 16))
                #expect(completionText(r) == (try engineGreedy(server, prompt, 16)), "prompt '\(prompt)'")
            }
            let (_, again, _) = try await request(base, "/v1/completions", method: "POST", json: body("The configuration", 16))
            let cached = ((object(again)["usage"] as? [String: Any])?["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int
            #expect((cached ?? 0) > 0, "a repeated prompt reuses the state checkpoint before its last token")
        }
    }
}
