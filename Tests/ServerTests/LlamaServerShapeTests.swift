import Engine
import Foundation
@testable import HotMoEServer
import Testing
import Tokenizer

/// llama-server's native shapes: /completion, /slots, /metrics' llamacpp:* names, embeddings.
@Suite struct LlamaServerShapeTests {
    /// The native /completion: the same greedy text as /v1/completions, llama-server's fields,
    /// the stop type and word, streamed events that add up to the unstreamed answer, token ids
    /// that detokenize to the text, several prompts answered in order, a prefix reused.
    @Test func nativeCompletionShapeStreamAndPrompts() async throws {
        try await withServer(parallel: 2) { base, server in
            let prompt = "The cache keeps"
            let (s1, native, _) = try await request(base, "/completion", method: "POST",
                                                    json: #"{"prompt": "\#(prompt)", "n_predict": 6, "temperature": 0, "return_tokens": true}"#)
            let (_, openAI, _) = try await request(base, "/v1/completions", method: "POST",
                                                   json: #"{"prompt": "\#(prompt)", "max_tokens": 6, "temperature": 0}"#)
            let body = object(native)
            #expect(s1 == 200 && body["content"] as? String == completionText(openAI))
            let tokens = (body["tokens"] as? [Int] ?? []).map(Int32.init)
            #expect(tokens.count == 6 && server.tokenizer.decode(tokens) == body["content"] as? String)
            #expect(body["stop_type"] as? String == "limit" && body["stop"] as? Bool == true && body["truncated"] as? Bool == false)
            let settings = body["generation_settings"] as? [String: Any] ?? [:]
            #expect(settings["n_predict"] as? Int == 6 && settings["temperature"] as? Double == 0)
            let timings = body["timings"] as? [String: Any] ?? [:]
            #expect(timings["predicted_n"] as? Int == 6 && timings["cache_n"] != nil)
            #expect((body["prompt"] as? String)?.hasSuffix(prompt) == true && body["has_new_line"] is Bool)

            // Streamed: pieces then one final event with stop: true, no [DONE]; same text.
            let (s2, stream, _) = try await request(base, "/completion", method: "POST",
                                                    json: #"{"prompt": "\#(prompt)", "n_predict": 6, "temperature": 0, "stream": true}"#)
            let events = stream.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { object(String($0.dropFirst(6))) }
            #expect(s2 == 200 && !stream.contains("[DONE]") && events.last?["stop"] as? Bool == true)
            #expect(events.dropLast().allSatisfy { ($0["tokens"] as? [Int])?.isEmpty == false && $0["stop"] as? Bool == false })
            #expect(events.map { $0["content"] as? String ?? "" }.joined() == body["content"] as? String)

            // A stop string: stop_type word, the word named, the text cut before it.
            let text = body["content"] as? String ?? ""
            if let cut = text.dropFirst(2).first.map(String.init) {
                let stopJSON = String(decoding: try JSONSerialization.data(withJSONObject: [cut]), as: UTF8.self)
                let (_, stopped, _) = try await request(base, "/completion", method: "POST",
                                                        json: #"{"prompt": "\#(prompt)", "n_predict": 6, "temperature": 0, "stop": \#(stopJSON)}"#)
                let o = object(stopped)
                #expect(o["stop_type"] as? String == "word" && o["stopping_word"] as? String == cut)
                #expect((o["content"] as? String).map { text.hasPrefix($0) && !$0.contains(cut) } == true)
            }

            // Several prompts (text, token ids, mixed) give one result each, in order; ids as text.
            let ids = server.tokenizer.encode(prompt, parseSpecial: true).map(Int.init)
            let (s3, many, _) = try await request(base, "/completion", method: "POST",
                                                  json: #"{"prompt": [\#(ids), "\#(prompt)"], "n_predict": 4, "temperature": 0}"#)
            let list = (try? JSONSerialization.jsonObject(with: Data(many.utf8))) as? [[String: Any]] ?? []
            #expect(s3 == 200 && list.count == 2 && list[0]["content"] as? String == list[1]["content"] as? String)
            #expect(list.map { $0["index"] as? Int } == [0, 1])
            let (bad, badBody, _) = try await request(base, "/completion", method: "POST", json: #"{"prompt": [1, true], "n_predict": 1}"#)
            #expect(bad == 400 && badBody.contains("prompt[1]"))

            // response_fields keeps only the named paths; cache_prompt false recomputes the prompt.
            let (_, picked, _) = try await request(base, "/completion", method: "POST",
                                                   json: #"{"prompt": "\#(prompt)", "n_predict": 2, "response_fields": ["content", "generation_settings/n_predict"]}"#)
            #expect(Set(object(picked).keys) == ["content", "generation_settings/n_predict"])
            let (_, again, _) = try await request(base, "/completion", method: "POST",
                                                  json: #"{"prompt": "\#(prompt)", "n_predict": 2, "id_slot": 0}"#)
            let (_, cold, _) = try await request(base, "/completion", method: "POST",
                                                 json: #"{"prompt": "\#(prompt)", "n_predict": 2, "id_slot": 0, "cache_prompt": false}"#)
            #expect(((object(again)["timings"] as? [String: Any])?["cache_n"] as? Int ?? 0) > 0)
            #expect((object(cold)["timings"] as? [String: Any])?["cache_n"] as? Int == 0)
            #expect(object(cold)["id_slot"] as? Int == 0)
            let (noSlot, _, _) = try await request(base, "/completion", method: "POST", json: #"{"prompt": "x", "id_slot": 7}"#)
            #expect(noSlot == 400)
        }
    }

    /// A slot saved to a file and restored into the other slot continues exactly: the same
    /// greedy tokens as the original slot, with the saved prefix reused; hostile names refused.
    @Test func slotSaveRestoreEraseRoundTrip() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slots-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try await withServer(parallel: 2, configure: { $0.slotSavePath = folder.path }) { base, _ in
            let first = #"{"prompt": "Experts are cached when", "n_predict": 4, "temperature": 0, "id_slot": 1}"#
            let (s1, _, _) = try await request(base, "/completion", method: "POST", json: first)
            let (s2, saved, _) = try await request(base, "/slots/1?action=save", method: "POST", json: #"{"filename": "one.bin"}"#)
            #expect(s1 == 200 && s2 == 200 && (object(saved)["n_saved"] as? Int ?? 0) > 0, "\(s1) \(s2) \(saved)")
            let (s3, restored, _) = try await request(base, "/slots/0?action=restore", method: "POST", json: #"{"filename": "one.bin"}"#)
            #expect(s3 == 200 && object(restored)["n_restored"] as? Int == object(saved)["n_saved"] as? Int)
            let next = #"{"prompt": "Experts are cached when they are", "n_predict": 5, "temperature": 0, "id_slot": SLOT}"#
            let (_, onRestored, _) = try await request(base, "/completion", method: "POST", json: next.replacingOccurrences(of: "SLOT", with: "0"))
            let (_, onOriginal, _) = try await request(base, "/completion", method: "POST", json: next.replacingOccurrences(of: "SLOT", with: "1"))
            #expect(object(onRestored)["content"] as? String == object(onOriginal)["content"] as? String)
            let cached = (object(onRestored)["timings"] as? [String: Any])?["cache_n"] as? Int ?? 0
            #expect(cached > 0, "the restored slot reuses the saved prefix")
            let (s4, erased, _) = try await request(base, "/slots/0?action=erase", method: "POST")
            #expect(s4 == 200 && (object(erased)["n_erased"] as? Int ?? 0) > 0)
            let (s5, slots, _) = try await request(base, "/slots")
            let list = (try? JSONSerialization.jsonObject(with: Data(slots.utf8))) as? [[String: Any]] ?? []
            #expect(s5 == 200 && list.count == 2 && list.allSatisfy { $0["is_processing"] as? Bool == false })
            for name in ["../x", "a/b", ""] {
                let (status, _, _) = try await request(base, "/slots/0?action=save", method: "POST", json: #"{"filename": "\#(name)"}"#)
                #expect(status == 400, "\(name)")
            }
            try Data("HMSS garbage".utf8).write(to: folder.appendingPathComponent("bad.bin"))
            let (s6, badBody, _) = try await request(base, "/slots/0?action=restore", method: "POST", json: #"{"filename": "bad.bin"}"#)
            #expect(s6 == 400 && badBody.contains("saved slot state"))
        }
    }

    /// post_sampling_probs: the probabilities the sampler drew from. With top_k 3 at most three
    /// tokens have mass, they sum to 1, and the sampled token is one of them.
    @Test func postSamplingProbabilitiesAreTheSamplersDistribution() async throws {
        try await withServer { base, _ in
            let body = #"{"prompt": "The cache keeps", "n_predict": 4, "temperature": 1, "top_k": 3, "top_p": 1, "min_p": 0, "seed": 5, "n_probs": 5, "post_sampling_probs": true}"#
            let (status, text, _) = try await request(base, "/completion", method: "POST", json: body)
            let entries = object(text)["completion_probabilities"] as? [[String: Any]] ?? []
            #expect(status == 200 && entries.count == 4, "\(text)")
            for e in entries {
                let top = e["top_probs"] as? [[String: Any]] ?? []
                let probs = top.compactMap { $0["prob"] as? Double }
                #expect((1...3).contains(probs.count) && abs(probs.reduce(0, +) - 1) < 1e-5, "\(e)")
                #expect(probs == probs.sorted(by: >) && e["logprob"] == nil)
                #expect(top.contains { $0["id"] as? Int == e["id"] as? Int } && ((e["prob"] as? Double) ?? 0) > 0)
            }
            let (_, greedy, _) = try await request(base, "/completion", method: "POST",
                                                   json: #"{"prompt": "x", "n_predict": 1, "temperature": 0, "n_probs": 3, "post_sampling_probs": true}"#)
            let first = (object(greedy)["completion_probabilities"] as? [[String: Any]])?.first
            #expect(first?["prob"] as? Double == 1)
        }
    }

    /// llama-server's metric names with TYPE and HELP lines; the counters add up over requests;
    /// without --metrics the endpoint is a 501 that names the flag.
    @Test func llamaCppMetricNamesAndCounts() async throws {
        try await withServer { base, _ in
            var predicted = 0, processed = 0, cached = 0
            for n in [1, 4] {
                let (_, r, _) = try await request(base, "/completion", method: "POST", json: #"{"prompt": "I believe", "n_predict": \#(n)}"#)
                let t = object(r)["timings"] as? [String: Any] ?? [:]
                predicted += t["predicted_n"] as? Int ?? 0; processed += t["prompt_n"] as? Int ?? 0; cached += t["cache_n"] as? Int ?? 0
            }
            let (status, text, headers) = try await request(base, "/metrics")
            #expect(status == 200 && headers.keys.contains { ($0 as? String)?.lowercased() == "process-start-time-unix" })
            func value(_ name: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix("llamacpp:\(name) ") }.flatMap { Double($0.split(separator: " ")[1]) }
            }
            #expect(value("tokens_predicted_total") == Double(predicted))
            #expect(value("prompt_tokens_total") == Double(processed) && value("prompt_tokens_cached_total") == Double(cached))
            #expect((value("n_decode_total") ?? 0) >= Double(predicted - 2) && value("requests_processing") == 0)
            for name in ["prompt_tokens_seconds", "n_busy_slots_per_decode"] {
                #expect(text.contains("# TYPE llamacpp:\(name) gauge") && text.contains("# HELP llamacpp:\(name) "))
            }
        }
        try await withServer(configure: { $0.metricsEndpoint = false }) { base, _ in
            let (status, body, _) = try await request(base, "/metrics")
            #expect(status == 501 && body.contains("--metrics"))
        }
    }

    /// Embeddings are the pooled, normalised final hidden states the engine computes; off
    /// without --embedding.
    @Test func embeddingsArePooledNormalisedHiddenStates() async throws {
        try await withServer(configure: { $0.embeddings = true }) { base, server in
            let (s1, r, _) = try await request(base, "/v1/embeddings", method: "POST", json: #"{"input": ["hello world", "goodbye"]}"#)
            let data = object(r)["data"] as? [[String: Any]] ?? []
            #expect(s1 == 200 && data.count == 2)
            let v = (data.first?["embedding"] as? [Double]) ?? []
            #expect(v.count == server.model.config.embeddingLength && abs(v.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
            // The same vector from a direct float64 mean over the session's normed hidden states.
            let session = InferenceSession(model: server.model, contextSize: 64, maxBatch: 16, threads: 1)
            let rows = try session.embeddings(server.tokenizer.encode("hello world", parseSpecial: true), pooling: .none, normalize: false)
            var mean = [Double](repeating: 0, count: v.count)
            for row in rows { for j in 0..<mean.count { mean[j] += Double(row[j]) / Double(rows.count) } }
            let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(zip(mean, v).map { abs($0 / norm - $1) }.max()! < 1e-5)
            #expect(object(r)["usage"] != nil)
        }
        try await withServer { base, _ in
            let (status, body, _) = try await request(base, "/v1/embeddings", method: "POST", json: #"{"input": "x"}"#)
            #expect(status == 501 && body.contains("--embedding"))
        }
    }
}

@Suite struct LlamaServerProtocolTests {
    /// --cors-origins: localhost means the loopback hosts at any port; lookalikes are refused.
    @Test func corsPolicyMatchesLocalhostOriginsOnly() {
        let local = CORSPolicy(origins: ["localhost"])
        for o in ["http://localhost", "http://localhost:8080", "http://127.0.0.1:3000", "http://[::1]", "https://[::1]:3000"] {
            #expect(local.allows(o), "\(o)")
        }
        for o in ["http://evil.com", "http://notlocalhost", "http://localhost.evil.com", "ftp://localhost", "http://localhost/x"] {
            #expect(!local.allows(o), "\(o)")
        }
        #expect(CORSPolicy.any.allows("http://anything.example") && CORSPolicy(origins: ["http://a.b"]).allows("http://a.b"))
        #expect(!CORSPolicy(origins: ["http://a.b"]).allows("http://a.c"))
    }

    /// n choices, logit_bias by text, the context error llama-server's clients read, input
    /// token counts, the two-assistant rule, and an origin outside --cors-origins.
    @Test func choicesBiasContextErrorsAndCounts() async throws {
        try await withServer(parallel: 2, configure: { $0.cors = CORSPolicy(origins: ["localhost"]) }) { base, server in
            let chat = #"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "n": 3, "id_slot": 0}"#
            let (s1, many, _) = try await request(base, "/v1/chat/completions", method: "POST", json: chat)
            let choices = object(many)["choices"] as? [[String: Any]] ?? []
            #expect(s1 == 200 && choices.map { $0["index"] as? Int } == [0, 1, 2])
            let generated = (object(many)["usage"] as? [String: Any])?["completion_tokens"] as? Int ?? 0
            #expect((3...9).contains(generated), "three choices of at most 3 tokens each: \(generated)")

            // Banning the text of the greedy answer's first token changes that token.
            let body = #"{"prompt": "The cache keeps", "n_predict": 1, "temperature": 0, "return_tokens": true}"#
            let (_, plain, _) = try await request(base, "/completion", method: "POST", json: body)
            let first = (object(plain)["tokens"] as? [Int])?.first ?? -1
            let text = server.tokenizer.decode([Int32(first)])
            let textJSON = String(decoding: try JSONSerialization.data(withJSONObject: [[text, false]]), as: UTF8.self)
            if server.tokenizer.encode(text, addBOS: false) == [Int32(first)] {
                let (s2, banned, _) = try await request(base, "/completion", method: "POST",
                                                        json: body.replacingOccurrences(of: "}", with: #", "logit_bias": \#(textJSON)}"#))
                #expect(s2 == 200 && (object(banned)["tokens"] as? [Int])?.first != first)
            }

            let long = String(repeating: "word ", count: 600)
            let (s3, tooLong, _) = try await request(base, "/v1/completions", method: "POST", json: #"{"prompt": "\#(long)"}"#)
            let error = object(tooLong)["error"] as? [String: Any] ?? [:]
            #expect(s3 == 400 && error["type"] as? String == "exceed_context_size_error" && error["n_ctx"] as? Int == 512)
            #expect((error["message"] as? String)?.contains("exceeds the available context size") == true)

            let (s4, counted, _) = try await request(base, "/chat/completions/input_tokens", method: "POST",
                                                     json: #"{"messages": [{"role": "user", "content": "hi there"}]}"#)
            let (_, applied, _) = try await request(base, "/apply-template", method: "POST",
                                                    json: #"{"messages": [{"role": "user", "content": "hi there"}]}"#)
            let expected = server.tokenizer.encode(object(applied)["prompt"] as? String ?? "", parseSpecial: true).count
            #expect(s4 == 200 && object(counted)["input_tokens"] as? Int == expected)

            let twice = #"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "assistant", "content": "c"}]}"#
            let (s5, _, _) = try await request(base, "/v1/chat/completions", method: "POST", json: twice)
            #expect(s5 == 400)

            let (s6, _, evil) = try await request(base, "/completions", method: "OPTIONS",
                                                  headers: ["Origin": "http://evil.com", "Access-Control-Request-Method": "POST"])
            let (_, _, good) = try await request(base, "/completions", method: "OPTIONS",
                                                 headers: ["Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"])
            func allowOrigin(_ h: [AnyHashable: Any]) -> String? {
                h.first { ($0.key as? String)?.lowercased() == "access-control-allow-origin" }?.value as? String
            }
            #expect(s6 == 200 && allowOrigin(evil) == nil && allowOrigin(good) == "http://localhost:3000")
            for path in ["/infill", "/v1/responses", "/rerank"] {
                let (status, body, _) = try await request(base, path, method: "POST", json: "{}")
                #expect(status == 501 && (object(body)["error"] as? [String: Any])?["type"] as? String == "not_supported_error", "\(path)")
            }
        }
    }
}
