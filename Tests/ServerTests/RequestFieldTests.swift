import Engine
import Foundation
@testable import HotMoEServer
import Testing

@Suite struct RequestFieldTests {
    /// Nothing is accepted and ignored: a field hotmoe does not implement is a 400 naming it,
    /// unless it has the value that means "off".
    @Test func unimplementedFieldsAreRefusedByNameAndNeutralValuesAccepted() async throws {
        try await withServer { base, _ in
            let refused: [(String, String)] = [
                (#""tools": [{"type": "function", "function": {"name": "f"}}]"#, "tools"),
                (#""tool_choice": "required""#, "tool_choice"),
                (#""echo": true"#, "echo"), (#""mirostat": 2"#, "mirostat"), (#""no_such_field": 1"#, "no_such_field"),
            ]
            for (field, name) in refused {
                for path in ["/v1/completions", "/completion"] {
                    let (status, text, _) = try await request(base, path, method: "POST", json: #"{"prompt": "x", "max_tokens": 1, \#(field)}"#)
                    #expect(status == 400, "\(path) \(field): \(status)")
                    #expect(text.contains("'\(name)'"), "\(path) \(field): \(text)")
                }
                let chat = #"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1, \#(field)}"#
                let (status, _, _) = try await request(base, "/v1/chat/completions", method: "POST", json: chat)
                #expect(status == 400, "chat \(field)")
            }
            let neutral = #"{"prompt": "x", "max_tokens": 1, "frequency_penalty": 0, "presence_penalty": 0, "logprobs": false, "echo": false, "tools": [], "user": "u", "cache_prompt": true}"#
            let (status, text, _) = try await request(base, "/v1/completions", method: "POST", json: neutral)
            #expect(status == 200, "\(text)")
        }
    }

    /// `backend_sampling` asks to sample where the logits are, which in hotmoe is always the CPU
    /// sampler: true gives the same tokens and probabilities as false; a non-boolean is a 400.
    @Test func backendSamplingGivesTheSameTokensAndProbabilities() async throws {
        try await withServer { base, _ in
            func body(_ v: String) -> String {
                #"{"prompt": "Once upon", "n_predict": 12, "seed": 4242, "n_probs": 5, "post_sampling_probs": true, "ignore_eos": true, "cache_prompt": false, "backend_sampling": \#(v)}"#
            }
            let (s1, a, _) = try await request(base, "/completion", method: "POST", json: body("true"))
            let (s2, b, _) = try await request(base, "/completion", method: "POST", json: body("false"))
            #expect(s1 == 200 && s2 == 200, "\(a) \(b)")
            func probs(_ t: String) -> String {
                let o = try? JSONSerialization.jsonObject(with: Data(t.utf8)) as? [String: Any]
                let p = o?["completion_probabilities"] as? [[String: Any]] ?? []
                return String(decoding: (try? JSONSerialization.data(withJSONObject: p, options: .sortedKeys)) ?? Data(), as: UTF8.self)
            }
            #expect(!probs(a).isEmpty && probs(a) == probs(b))
            let (s3, c, _) = try await request(base, "/completion", method: "POST", json: body(#""yes""#))
            #expect(s3 == 400 && c.contains("'backend_sampling'"), "\(c)")
        }
    }

    /// Server sampling defaults (llama-server's --temp, --seed, ...) apply to requests that
    /// leave the fields out: such a request samples exactly as one that spells them out.
    @Test func serverSamplingDefaultsApplyToRequestsThatOmitThem() async throws {
        try await withServer(configure: { $0.defaultSampling = SamplingParams(temperature: 1.5, topK: 0, topP: 1, minP: 0, seed: 7) }) { base, _ in
            let implicit = #"{"prompt": "Once", "max_tokens": 24, "ignore_eos": true}"#
            let explicit = #"{"prompt": "Once", "max_tokens": 24, "ignore_eos": true, "temperature": 1.5, "top_k": 0, "top_p": 1, "min_p": 0, "seed": 7}"#
            let (s1, a, _) = try await request(base, "/v1/completions", method: "POST", json: implicit)
            let (s2, b, _) = try await request(base, "/v1/completions", method: "POST", json: explicit)
            let (s3, c, _) = try await request(base, "/v1/completions", method: "POST", json: implicit.replacingOccurrences(of: "}", with: #", "seed": 8}"#))
            #expect(s1 == 200 && s2 == 200 && s3 == 200)
            #expect(completionText(a) == completionText(b), "defaults must act as the explicit fields")
            #expect(completionText(a) != completionText(c), "a request's own seed still overrides the default")
        }
    }

    /// logit_bias and the penalties act: banning the greedy token changes the first token, a
    /// repeat penalty below 1 forces a token of the prompt, bad values are 400s.
    @Test func logitBiasAndPenaltiesChangeTheResult() async throws {
        try await withServer { base, server in
            let greedy = #"{"prompt": "Once upon", "max_tokens": 16, "temperature": 0, "ignore_eos": true"#
            // The first greedy token's text, encoded: banning those ids must change the start.
            let (_, one, _) = try await request(base, "/v1/completions", method: "POST",
                                                json: #"{"prompt": "Once upon", "max_tokens": 1, "temperature": 0}"#)
            let ids = server.tokenizer.encode(completionText(one), addBOS: false)
            try #require(!ids.isEmpty)
            let asObject = "{" + ids.map { "\"\($0)\": -100" }.joined(separator: ", ") + "}"
            let asPairs = "[" + ids.map { "[\($0), false]" }.joined(separator: ", ") + "]"
            for bias in [#""logit_bias": \#(asObject)"#, #""logit_bias": \#(asPairs)"#] {
                let (s, banned, _) = try await request(base, "/v1/completions", method: "POST", json: greedy + ", " + bias + "}")
                #expect(s == 200, "\(banned)")
                #expect(!completionText(banned).hasPrefix(completionText(one)), "banning the first greedy token must change the start")
            }
            // repeat_penalty < 1 multiplies the seen tokens' positive logits: with 0.01 over the
            // whole history, greedy must pick a token of the (long) prompt.
            let prompt = "the quick brown fox jumps over the lazy dog while seven wizards quietly judge boxing matches near old towers"
            let promptIDs = server.tokenizer.encode(prompt)
            let (sp, penalised, _) = try await request(base, "/v1/completions", method: "POST",
                                                       json: #"{"prompt": "\#(prompt)", "max_tokens": 1, "temperature": 0, "repeat_penalty": 0.01, "repeat_last_n": -1}"#)
            #expect(sp == 200)
            let pieces = Set(promptIDs.map { server.tokenizer.decode([$0]) })
            #expect(pieces.contains(completionText(penalised)), "'\(completionText(penalised))' is not a prompt token")
            let (_, unpenalised, _) = try await request(base, "/v1/completions", method: "POST",
                                                        json: #"{"prompt": "\#(prompt)", "max_tokens": 1, "temperature": 0}"#)
            if !pieces.contains(completionText(unpenalised)) {
                #expect(completionText(penalised) != completionText(unpenalised))
            }
            for bad in [#""repeat_penalty": 0"#, #""frequency_penalty": 3"#, #""logit_bias": {"999999": 1}"#, #""logit_bias": {"1": true}"#,
                        #""repeat_last_n": -2"#] {
                let (s, body, _) = try await request(base, "/v1/completions", method: "POST", json: greedy + ", " + bad + "}")
                #expect(s == 400, "\(bad): \(body)")
            }
        }
    }

    /// Logprobs in the three shapes; the values are the log-softmax of the engine's own logits.
    @Test func logprobsAreTheModelsLogSoftmax() async throws {
        try await withServer { base, server in
            let prompt = "Once upon a time"
            let (s1, chat, _) = try await request(base, "/v1/chat/completions", method: "POST",
                                                  json: #"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0, "logprobs": true, "top_logprobs": 3}"#)
            #expect(s1 == 200)
            let content = ((object(chat)["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]] ?? []
            #expect(content.count == 4)
            for e in content {
                let top = e["top_logprobs"] as? [[String: Any]] ?? []
                #expect(top.count == 3)
                let values = top.compactMap { $0["logprob"] as? Double }
                #expect(values == values.sorted(by: >) && values.allSatisfy { $0 <= 0 })
                // Greedy: the chosen token is the most likely one.
                #expect(abs((e["logprob"] as? Double ?? 1) - values[0]) < 1e-6)
            }
            let (s2, completion, _) = try await request(base, "/v1/completions", method: "POST",
                                                        json: #"{"prompt": "\#(prompt)", "max_tokens": 3, "temperature": 0, "logprobs": 2}"#)
            #expect(s2 == 200)
            let lp = (object(completion)["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any] ?? [:]
            let first = (lp["token_logprobs"] as? [Double])?.first
            // The first generated token's logprob from the engine's logits, in double.
            let session = InferenceSession(model: server.model, contextSize: 64, maxBatch: 16, threads: 1)
            let logits = Array(try session.forward(server.tokenizer.encode(prompt), logits: .last))
            let m = Double(logits.max()!), z = m + Foundation.log(logits.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) })
            let expected = Double(logits.max()!) - z
            #expect(first.map { abs($0 - expected) < 1e-4 } == true, "\(String(describing: first)) vs \(expected)")
            #expect((lp["tokens"] as? [String])?.count == 3 && (lp["top_logprobs"] as? [[String: Double]])?.count == 3)
            let (s3, native, _) = try await request(base, "/completion", method: "POST",
                                                    json: #"{"prompt": "\#(prompt)", "n_predict": 2, "temperature": 0, "n_probs": 2}"#)
            #expect(s3 == 200 && (object(native)["completion_probabilities"] as? [[String: Any]])?.count == 2)
            // Streamed: every chunk with text carries the logprobs of its tokens, the same as unstreamed.
            let (s4, streamed, _) = try await request(base, "/v1/chat/completions", method: "POST",
                                                      json: #"{"messages": [{"role": "user", "content": "\#(prompt)"}], "max_tokens": 4, "temperature": 0, "logprobs": true, "top_logprobs": 2, "stream": true}"#)
            let (s4b, whole, _) = try await request(base, "/v1/chat/completions", method: "POST",
                                                    json: #"{"messages": [{"role": "user", "content": "\#(prompt)"}], "max_tokens": 4, "temperature": 0, "logprobs": true, "top_logprobs": 2}"#)
            #expect(s4 == 200 && s4b == 200)
            let chunks = streamed.split(separator: "\n").filter { $0.hasPrefix("data: {") }.map { object(String($0.dropFirst(6))) }
            let streamedEntries = chunks.flatMap { c -> [[String: Any]] in
                let choice = (c["choices"] as? [[String: Any]])?.first
                return (choice?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]] ?? []
            }
            let wholeEntries = (((object(whole)["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]]) ?? []
            #expect(!wholeEntries.isEmpty && streamedEntries.count == wholeEntries.count)
            #expect(zip(streamedEntries, wholeEntries).allSatisfy { ($0["token"] as? String) == ($1["token"] as? String)
                && abs(($0["logprob"] as? Double ?? 1) - ($1["logprob"] as? Double ?? 2)) < 1e-6 })
            let (s5, _, _) = try await request(base, "/v1/completions", method: "POST", json: #"{"prompt": "x", "max_tokens": 1, "top_logprobs": 2}"#)
            #expect(s5 == 400)
        }
    }
}
