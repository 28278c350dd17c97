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
}
