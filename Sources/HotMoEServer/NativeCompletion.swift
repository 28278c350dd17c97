import Engine
import Foundation
import Hummingbird
import Synchronization

/// llama-server's native POST /completion: its request fields and its response shape
/// (content, tokens, stop, stop_type, stopping_word, truncated, timings with cache_n,
/// generation_settings, completion_probabilities, id_slot), streamed as one event per piece.
extension HotMoEServer {
    /// Fields only the native endpoint reads, on top of the shared ones.
    static let nativeFields: Set<String> = ["return_tokens", "response_fields", "post_sampling_probs"]
    /// Native fields for features hotmoe lacks, with the value that means "off".
    static let nativeNeutral: [String: @Sendable (Any) -> Bool] = [
        "n_keep": { ($0 as? NSNumber)?.intValue == 0 },
        "t_max_predict_ms": { ($0 as? NSNumber)?.intValue == 0 },
        "lora": { ($0 as? [Any])?.isEmpty == true },
        "n_indent": { ($0 as? NSNumber)?.intValue == 0 },
    ]

    func completeNative(_ req: Request, _ ctx: ServerContext) async throws -> Response {
        let f = try JSONFields(try await body(req, ctx))
        try f.refuseUnimplemented(extra: Self.nativeFields, extraNeutral: Self.nativeNeutral)
        var planned = try completionPlan(f, chat: false)
        let postSampling = try f.bool("post_sampling_probs") ?? false
        for i in planned.requests.indices { planned.requests[i].postSamplingProbs = postSampling }
        let plan = planned
        let returnTokens = try f.bool("return_tokens") ?? false
        let fields = try responseFields(f)
        if !plan.stream {
            let results = try await generateAll(plan, connected: ctx.clientConnected)
            let bodies = results.enumerated().map { i, r in
                select(fields, from: nativeResult(r, index: i, request: plan.requests[i], returnTokens: returnTokens, streamed: false))
            }
            return HotMoEServer.json(bodies.count == 1 ? bodies[0] as Any : bodies as Any)
        }
        let gen = plan.requests[0]
        let counter = TokenCounter()
        return try await streamResponse(gen, slot: plan.slot, opening: { [] }, done: false,
            piece: { p in
                if let progress = p.promptProgress {
                    return [["index": 0, "content": "", "tokens": [Int](), "stop": false, "prompt_progress": progress.json,
                             "timings": self.timings(p.progress), "tokens_predicted": 0, "tokens_evaluated": gen.prompt.count]]
                }
                let predicted = counter.add(p.tokens.count)
                var event: [String: Any] = ["index": 0, "content": p.text, "tokens": p.tokens.map(Int.init), "stop": false,
                                            "tokens_predicted": predicted, "tokens_evaluated": gen.prompt.count]
                if gen.topLogprobs != nil { event["completion_probabilities"] = self.nativeProbabilities(p.logprobs, postSampling: postSampling) }
                if plan.timingsPerToken { event["timings"] = self.timings(p.progress) }
                return [event]
            },
            final: { r in [self.select(fields, from: self.nativeResult(r, index: 0, request: gen, returnTokens: returnTokens, streamed: true))] })
    }

    /// One result in llama-server's shape. A streamed final event carries no text or tokens
    /// (they went out piece by piece).
    func nativeResult(_ r: GenerationResult, index: Int, request: GenerationRequest, returnTokens: Bool, streamed: Bool) -> [String: Any] {
        var stoppingWord = ""
        if case .word(let w) = r.stopType { stoppingWord = w }
        var body: [String: Any] = [
            "index": index, "content": streamed ? "" : r.text, "tokens": returnTokens && !streamed ? r.tokens.map(Int.init) : [Int](),
            "id_slot": r.slotID, "stop": true, "model": modelName, "tokens_predicted": r.completionTokens,
            "tokens_evaluated": r.promptTokens, "generation_settings": generationSettings(request, stream: streamed),
            "prompt": tokenizer.decode(request.prompt, renderSpecial: true), "has_new_line": r.text.contains("\n"),
            "truncated": r.truncated, "stop_type": r.stopType.name, "stopping_word": stoppingWord, "tokens_cached": r.cachedTokens + r.completionTokens,
            "timings": timings(r),
        ]
        if !streamed && request.topLogprobs != nil {
            body["completion_probabilities"] = nativeProbabilities(r.logprobs, postSampling: request.postSamplingProbs)
        }
        return body
    }

    /// llama-server's generation_settings: the values this request ran with. Samplers hotmoe
    /// does not have are reported with their "off" values, which is what ran.
    func generationSettings(_ r: GenerationRequest, stream: Bool) -> [String: Any] {
        let s = r.sampling, a = r.adjustments
        return [
            "seed": s.seed.map { Int($0) } ?? 0xFFFF_FFFF, "temperature": s.temperature, "top_k": s.topK, "top_p": s.topP,
            "min_p": s.minP, "dynatemp_range": 0, "dynatemp_exponent": 1, "top_n_sigma": -1, "xtc_probability": 0,
            "xtc_threshold": 0.1, "typical_p": 1, "repeat_last_n": a.repeatLastN, "repeat_penalty": a.repeatPenalty,
            "presence_penalty": a.presencePenalty, "frequency_penalty": a.frequencyPenalty, "dry_multiplier": 0, "dry_base": 1.75,
            "dry_allowed_length": 2, "dry_penalty_last_n": -1, "mirostat": 0, "mirostat_tau": 5, "mirostat_eta": 0.1,
            "adaptive_target": -1, "adaptive_decay": 0.9, "max_tokens": r.maxTokens, "n_predict": r.maxTokens, "n_keep": 0,
            "n_discard": 0, "ignore_eos": r.ignoreEOS, "stream": stream, "n_probs": r.topLogprobs ?? 0, "min_keep": 0,
            "stop": r.stop, "logit_bias": a.bias.keys.sorted().map { [Int($0), a.bias[$0]!.isFinite ? Double(a.bias[$0]!) as Any : false as Any] },
            "samplers": ["penalties", "top_k", "top_p", "min_p", "temperature"], "post_sampling_probs": r.postSamplingProbs,
            "timings_per_token": false, "lora": [Any](), "cache_prompt": r.reusePrefix,
        ]
    }

    /// `response_fields`: the paths (a/b for nested) to keep, each under its path as the key.
    private func responseFields(_ f: JSONFields) throws -> [String]? {
        guard f.has("response_fields") else { return nil }
        guard let list = f.object["response_fields"] as? [String] else {
            throw APIError(400, "'response_fields' must be an array of strings")
        }
        return list.isEmpty ? nil : list
    }

    private func select(_ fields: [String]?, from body: [String: Any]) -> [String: Any] {
        guard let fields else { return body }
        var out: [String: Any] = [:]
        for path in fields {
            var value: Any? = body
            for key in path.split(separator: "/") { value = (value as? [String: Any])?[String(key)] }
            if let value { out[path] = value }
        }
        return out
    }
}

/// Tokens streamed so far (tokens_predicted in each native stream event).
final class TokenCounter: Sendable {
    private let count = Atomic<Int>(0)
    func add(_ n: Int) -> Int { count.add(n, ordering: .relaxed).newValue }
}
