import Engine
import Foundation
import GGUF
import Testing
import Tokenizer
@testable import HotMoEServer

/// A model whose weights turn some requests' logits into NaN (a corrupt file): those requests
/// get a clear 500 error, and the server goes on serving.
@Suite(.serialized) struct NonFiniteServerTests {
    static let poisonedWord = "zebra"

    /// Poisons the scale of the first block of the embedding row of the last token of
    /// `poisonedWord`: every prompt holding that token computes NaN from there on.
    static func poisonEmbedding(_ path: String) throws -> String {
        let tokenizer = try Tokenizer(gguf: try GGUFFile(path: path))
        let token = try #require(tokenizer.encode(poisonedWord).last)
        let d = try #require(try GGUFFile(path: path).tensor("token_embd.weight")).rowLength
        let bad = path + ".poisoned.gguf"
        try CorruptModel.write(from: path, to: bad, poison: [CorruptModel.Poison("token_embd.weight", element: Int(token) * d, .nan)])
        return bad
    }

    @Test func nonFiniteLogitsGiveAServerErrorAndTheNextRequestIsServed() async throws {
        try await withServer(derive: Self.poisonEmbedding) { base, server in
            let clean = "The cache keeps"
            #expect(!server.tokenizer.encode(clean).contains(server.tokenizer.encode(Self.poisonedWord).last!))
            let (status, text, _) = try await request(base, "/v1/completions", method: "POST",
                                                      json: #"{"prompt": "a \#(Self.poisonedWord)", "max_tokens": 8, "temperature": 0}"#)
            #expect(status == 500)
            let error = object(text)["error"] as? [String: Any]
            #expect(error?["type"] as? String == "server_error")
            #expect((error?["message"] as? String)?.contains("no finite logit") == true, "\(text)")
            // Streaming: the status line is out before the failure, which arrives as an error event.
            let (s2, sse, _) = try await request(base, "/v1/chat/completions", method: "POST",
                                                 json: #"{"messages": [{"role": "user", "content": "\#(Self.poisonedWord)"}], "max_tokens": 8, "stream": true}"#)
            #expect(s2 == 200)
            #expect(sse.contains(#"data: {"error":"#) && sse.contains("no finite logit") && !sse.contains("[DONE]"), "\(sse)")
            // The slot serves a clean prompt next, from a fresh cache.
            let (s3, after, _) = try await request(base, "/v1/completions", method: "POST",
                                                   json: #"{"prompt": "\#(clean)", "max_tokens": 6, "temperature": 0, "ignore_eos": true}"#)
            #expect(s3 == 200)
            #expect(completionText(after) != "<none>" && !completionText(after).isEmpty)
            let (s4, health, _) = try await request(base, "/health")
            #expect(s4 == 200 && health.contains("\"ok\""))
        }
    }

    /// NaN and Inf in the router, attention and expert weights (quantised block scales) on top
    /// of random bytes in every float tensor (norms included).
    static func poisonEverywhere(_ path: String) throws -> String {
        let random = path + ".random.gguf", bad = path + ".nan-inf.gguf"
        try CorruptModel.writeRandomFloatData(from: path, to: random, seed: 7)
        defer { try? FileManager.default.removeItem(atPath: random) }
        try CorruptModel.write(from: random, to: bad, poison: [
            CorruptModel.Poison("blk.0.ffn_gate_inp.weight", element: 0, .nan),
            CorruptModel.Poison("blk.1.ffn_gate_inp.weight", element: 3, .infinity),
            CorruptModel.Poison("blk.0.attn_q.weight", element: 0, .infinity),
            CorruptModel.Poison("blk.0.attn_v.weight", element: 40, .nan),
            CorruptModel.Poison("blk.0.ffn_up_exps.weight", element: 0, -.infinity),
            CorruptModel.Poison("blk.1.ffn_down_exps.weight", element: 64, .nan),
        ])
        return bad
    }

    /// Every request on such a model ends with an answer, never a signal: 200 with text, or 500
    /// naming the non-finite logits (streamed: an error event); the server keeps serving.
    @Test func nanAndInfInRouterAttentionAndExpertsNeverCrashTheServer() async throws {
        try await withServer(parallel: 2, derive: Self.poisonEverywhere) { base, _ in
            let bodies = [
                ("/v1/completions", #"{"prompt": "The cache keeps", "max_tokens": 8, "temperature": 0}"#),
                ("/v1/completions", #"{"prompt": "hello world", "max_tokens": 8, "temperature": 0.8, "seed": 3}"#),
                ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "stream": true}"#),
                ("/v1/completions", #"{"prompt": "again", "max_tokens": 8, "stream": true, "temperature": 0}"#),
            ]
            try await withThrowingTaskGroup(of: (Int, String, Bool).self) { group in
                for (path, json) in bodies + bodies {
                    group.addTask {
                        let (status, text, _) = try await request(base, path, method: "POST", json: json)
                        return (status, text, json.contains(#""stream": true"#))
                    }
                }
                var nonFinite = 0
                for try await (status, text, stream) in group {
                    if text.contains("no finite logit") { nonFinite += 1 }
                    if stream {
                        #expect(status == 200, "\(text)")
                        #expect(text.contains("[DONE]") || (text.contains(#"data: {"error":"#) && text.contains("no finite logit")), "\(text)")
                    } else {
                        #expect(status == 200 || (status == 500 && text.contains("no finite logit")), "\(status) \(text)")
                    }
                }
                // The poison reached the computation (otherwise this proves nothing).
                #expect(nonFinite > 0)
            }
            let (status, health, _) = try await request(base, "/health")
            #expect(status == 200 && health.contains("\"ok\""))
        }
    }
}
