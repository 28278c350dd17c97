import Engine
import Foundation
import Hummingbird
import Tokenizer

/// llama-server's native endpoints beside the OpenAI ones: /tokenize, /detokenize,
/// /apply-template, /props, and the aliases without /v1.
extension HotMoEServer {
    func addNativeRoutes(_ router: Router<ServerContext>) {
        router.post("/tokenize") { req, ctx in
            await self.guarded {
                let f = try JSONFields(try await self.body(req, ctx))
                guard let content = try f.string("content") else { throw APIError(400, "'content' (string) is required") }
                try f.refuse(except: ["content", "add_special", "parse_special", "with_pieces"])
                // add_special adds what the vocabulary adds (BOS only where the model uses one), as llama.cpp does.
                let ids = self.tokenizer.encode(content, addBOS: try f.bool("add_special") == true ? nil : false,
                                                parseSpecial: try f.bool("parse_special") ?? true)
                guard try f.bool("with_pieces") ?? false else { return HotMoEServer.json(["tokens": ids.map(Int.init)]) }
                let pieces: [[String: Any]] = ids.map { id in
                    let text = self.tokenizer.decode([id], renderSpecial: true)
                    // A piece that is not whole UTF-8 on its own is given as its bytes, as llama-server does.
                    let bytes = Array(text.utf8)
                    return ["id": Int(id), "piece": text.contains("\u{FFFD}") ? bytes.map(Int.init) as Any : text as Any]
                }
                return HotMoEServer.json(["tokens": pieces])
            }
        }
        router.post("/detokenize") { req, ctx in
            await self.guarded {
                let f = try JSONFields(try await self.body(req, ctx))
                try f.refuse(except: ["tokens"])
                guard let list = f.object["tokens"] as? [Any] else { throw APIError(400, "'tokens' (array of token ids) is required") }
                let vocab = self.model.config.vocabSize
                let ids = try list.enumerated().map { i, v -> Int32 in
                    guard JSONFields.isNumber(v), let n = v as? NSNumber, n.doubleValue == n.doubleValue.rounded(),
                          n.intValue >= 0, n.intValue < vocab else {
                        throw APIError(400, "tokens[\(i)] must be a token id in 0..<\(vocab)")
                    }
                    return Int32(n.intValue)
                }
                return HotMoEServer.json(["content": self.tokenizer.decode(ids)])
            }
        }
        router.post("/apply-template") { req, ctx in
            await self.guarded {
                let f = try JSONFields(try await self.body(req, ctx))
                try f.refuse(except: ["messages", "tools", "chat_template_kwargs", "add_generation_prompt", "continue_final_message"])
                let text = try self.renderChat(f, tools: try f.tools())
                return HotMoEServer.json(["prompt": text])
            }
        }
        router.get("/props") { _, _ in
            let s = self.options.defaultSampling
            var settings: [String: Any] = ["temperature": s.temperature, "top_k": s.topK, "top_p": s.topP, "min_p": s.minP,
                                           "n_predict": self.options.defaultMaxTokens, "ignore_eos": self.options.defaultIgnoreEOS,
                                           "n_ctx": self.options.contextSize]
            settings["seed"] = s.seed.map { Int($0) } ?? -1
            return HotMoEServer.json([
                "default_generation_settings": ["params": settings, "n_ctx": settings["n_ctx"]!],
                "total_slots": self.options.parallel,
                "model_path": self.model.file.path,
                "model_alias": self.modelName,
                "chat_template": self.model.file.metadata["tokenizer.chat_template"]?.string ?? "",
                "bos_token": self.tokenizer.bosToken.flatMap { self.tokenizer.tokenText($0) } ?? "",
                "eos_token": self.tokenizer.eosToken.flatMap { self.tokenizer.tokenText($0) } ?? "",
                "build_info": "hotmoe",
                "is_sleeping": false,
            ])
        }
    }
}

/// Logprobs in the three response shapes: OpenAI chat, OpenAI completions, llama.cpp's native.
extension HotMoEServer {
    private func piece(_ id: Int32) -> (text: String, bytes: [Int]) {
        let text = tokenizer.decode([id], renderSpecial: true)
        return (text, Array(text.utf8).map(Int.init))
    }

    /// A logprob of -inf (a banned token) has no JSON number: OpenAI clients read -9999.
    private func number(_ lp: Float) -> Double { lp.isFinite ? Double(lp) : -9999 }

    func chatLogprobs(_ entries: [TokenLogprob]) -> [String: Any] {
        ["content": entries.map { e -> [String: Any] in
            let p = piece(e.id)
            return ["token": p.text, "logprob": number(e.logprob), "bytes": p.bytes,
                    "top_logprobs": e.top.map { t -> [String: Any] in
                        let q = piece(t.id)
                        return ["token": q.text, "logprob": number(t.logprob), "bytes": q.bytes]
                    }]
        }]
    }

    func completionLogprobs(_ entries: [TokenLogprob]) -> [String: Any] {
        var offset = 0
        var offsets: [Int] = []
        for e in entries { offsets.append(offset); offset += piece(e.id).text.utf16.count }
        return ["tokens": entries.map { piece($0.id).text }, "token_logprobs": entries.map { number($0.logprob) },
                "top_logprobs": entries.map { e in Dictionary(e.top.map { (piece($0.id).text, number($0.logprob)) }, uniquingKeysWith: max) },
                "text_offset": offsets]
    }

    /// llama-server's completion_probabilities: logprobs of the model, or with `postSampling`
    /// the probabilities the sampler drew from ("prob" / "top_probs").
    func nativeProbabilities(_ entries: [TokenLogprob], postSampling: Bool = false) -> [[String: Any]] {
        let value = postSampling ? "prob" : "logprob", top = postSampling ? "top_probs" : "top_logprobs"
        func v(_ lp: Float) -> Double { postSampling ? Foundation.exp(Double(lp)) : number(lp) }
        return entries.map { e in
            let p = piece(e.id)
            return ["id": Int(e.id), "token": p.text, value: v(e.logprob), "bytes": p.bytes,
                    top: e.top.map { t -> [String: Any] in
                        let q = piece(t.id)
                        return ["id": Int(t.id), "token": q.text, value: v(t.logprob), "bytes": q.bytes]
                    }]
        }
    }
}
