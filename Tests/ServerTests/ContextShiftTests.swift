import Foundation
@testable import HotMoEServer
import Testing

/// llama-server's --context-shift: a full slot drops tokens after the kept head and goes on.
@Suite struct ContextShiftTests {
    private func completion(_ base: URL, _ json: String) async throws -> (Int, [String: Any]) {
        let (status, text, _) = try await request(base, "/completion", method: "POST", json: json)
        return (status, (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? ["raw": text])
    }

    private func message(_ body: [String: Any]) -> String { (body["error"] as? [String: Any])?["message"] as? String ?? "" }

    @Test func spanFollowsLlamaServerArithmetic() {
        // Head of 1 (the BOS), 47 after it: half (23) dropped.
        #expect(ContextShift(keep: 1, discard: 0).span(count: 48, capacity: 48) == (1, 23))
        // The head is at most capacity - 4; at least one token after it stays.
        #expect(ContextShift(keep: 100, discard: 0).span(count: 48, capacity: 48) == (44, 2))
        #expect(ContextShift(keep: 1, discard: 100).span(count: 48, capacity: 48) == (1, 46))
        #expect(ContextShift(keep: 1, discard: 5).span(count: 48, capacity: 48) == (1, 5))
    }

    /// Past the context with the shift on; the token after the first shift is what a fresh
    /// request on the shifted history predicts (the recomputed rows are exact).
    @Test func generationGoesPastTheContextAndContinuesTheShiftedHistory() async throws {
        let capacity = 48
        try await withServer(configure: { $0.contextSize = capacity; $0.contextShift = true }) { base, server in
            let prompt = "The configuration file lists every expert"
            let ids = server.tokenizer.encode(prompt, parseSpecial: true).map(Int.init)
            let asked = 2 * capacity
            let (status, body) = try await completion(base, #"{"prompt": "\#(prompt)", "n_predict": \#(asked), "temperature": 0, "ignore_eos": true, "return_tokens": true}"#)
            try #require(status == 200, "\(body)")
            let tokens = try #require(body["tokens"] as? [Int])
            #expect(tokens.count == asked)
            #expect(body["truncated"] as? Bool == true)
            // The first shift comes before generated token j (0-based) = capacity - prompt.
            let j = capacity - ids.count
            let history = ids + tokens[..<j]
            let keep = server.tokenizer.addBOSByDefault ? 1 : 0
            let (k, d) = ContextShift(keep: keep, discard: 0).span(count: history.count, capacity: capacity)
            let shifted = Array(history[..<k]) + Array(history[(k + d)...]) + [tokens[j]]
            let (s2, fresh) = try await completion(base, #"{"prompt": \#(shifted), "n_predict": 1, "temperature": 0, "ignore_eos": true, "return_tokens": true, "cache_prompt": false}"#)
            try #require(s2 == 200, "\(fresh)")
            #expect(fresh["tokens"] as? [Int] == [tokens[j + 1]], "after the shift: \(tokens[(j + 1)...].prefix(4)) vs fresh \(fresh["tokens"] ?? "")")
        }
    }

    /// With the shift on a generation can run far past the context: a non-streamed request
    /// whose client has gone must free its slot. (30000 tokens, not an endless -1, so that a
    /// regression fails in minutes instead of hanging the suite.)
    @Test func anEndlessGenerationStopsWhenItsClientLeaves() async throws {
        try await withServer(configure: { $0.contextSize = 48; $0.contextShift = true; $0.slotsEndpoint = true }) { base, _ in
            let client = Task { _ = try await request(base, "/completion", method: "POST", json: #"{"prompt": "Once", "n_predict": 30000, "ignore_eos": true}"#).0 }
            func processing() async throws -> Bool {
                let (_, text, _) = try await request(base, "/slots")
                let slots = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]] ?? []
                return slots.first?["is_processing"] as? Bool ?? false
            }
            var started = false
            for _ in 0..<100 where !started { started = try await processing(); if !started { try await Task.sleep(for: .milliseconds(20)) } }
            try #require(started, "the generation never started")
            client.cancel()
            var freed = false
            for _ in 0..<150 where !freed { try await Task.sleep(for: .milliseconds(100)); freed = !(try await processing()) }
            #expect(freed, "the slot still generates for a client that has gone")
        }
    }

    @Test func withoutTheShiftTheContextEndsGenerationAndNKeepIsRefused() async throws {
        try await withServer(configure: { $0.contextSize = 48 }) { base, _ in
            let (status, body) = try await completion(base, #"{"prompt": "Once upon a time", "n_predict": 200, "ignore_eos": true}"#)
            #expect(status == 200)
            #expect(body["truncated"] as? Bool == true)
            #expect(((body["timings"] as? [String: Any])?["predicted_n"] as? Int ?? 0) < 48)
            for field in [#""n_keep": 4"#, #""n_discard": 8"#] {
                let (s, b) = try await completion(base, #"{"prompt": "Once", "n_predict": 2, \#(field)}"#)
                #expect(s == 400 && message(b).contains("--context-shift"), "\(field): \(b)")
            }
        }
        try await withServer(configure: { $0.contextSize = 48; $0.contextShift = true }) { base, _ in
            let (s, b) = try await completion(base, #"{"prompt": "Once", "n_predict": 2, "n_keep": -2}"#)
            #expect(s == 400 && message(b).contains("'n_keep'"), "\(b)")
            // The kept head is the whole prompt with n_keep -1: generation still goes past the context.
            let (s2, b2) = try await completion(base, #"{"prompt": "Once upon a time", "n_predict": 80, "n_keep": -1, "ignore_eos": true, "return_tokens": true}"#)
            #expect(s2 == 200 && (b2["tokens"] as? [Int])?.count == 80, "\(b2)")
        }
    }
}
