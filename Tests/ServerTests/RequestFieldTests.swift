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
                (#""response_format": {"type": "json_object"}"#, "response_format"),
                (#""logprobs": true"#, "logprobs"), (#""top_logprobs": 3"#, "top_logprobs"), (#""n_probs": 2"#, "n_probs"),
                (#""logit_bias": {"5": -100}"#, "logit_bias"), (#""frequency_penalty": 0.5"#, "frequency_penalty"),
                (#""presence_penalty": 0.5"#, "presence_penalty"), (#""repeat_penalty": 1.2"#, "repeat_penalty"),
                (#""grammar": "root ::= \"a\"""#, "grammar"), (#""echo": true"#, "echo"), (#""mirostat": 2"#, "mirostat"),
                (#""json_schema": {}"#, "json_schema"), (#""no_such_field": 1"#, "no_such_field"),
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
}
