import Engine
import ExpertCache
import Foundation
import HotCache
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Tokenizer

extension HotMoEServer {
    func addRoutes(_ router: Router<ServerContext>) {
        for path in ["/health", "/v1/health"] {
            router.get(RouterPath(path)) { _, _ in
                let busy = await self.scheduler.busySlots
                return HotMoEServer.json(["status": "ok", "slots_idle": self.options.parallel - busy, "slots_processing": busy])
            }
        }
        for path in ["/v1/models", "/models"] {
            router.get(RouterPath(path)) { _, _ in
                let c = self.model.config
                let meta: [String: Any] = ["n_ctx_train": c.contextLength, "n_ctx": self.options.contextSize, "n_vocab": c.vocabSize,
                                           "n_embd": c.embeddingLength, "size": self.model.file.fileSize]
                return HotMoEServer.json(["object": "list", "data": [["id": self.modelName, "aliases": self.options.aliases, "tags": self.options.tags,
                                                                     "object": "model", "created": Int(Date().timeIntervalSince1970),
                                                                     "owned_by": "hotmoe", "meta": meta]]])
            }
        }
        addNativeRoutes(router)
        addEmbeddingRoutes(router)
        addSlotRoutes(router)
        addToolRoutes(router)
        addCORSProxyRoutes(router)
        router.get("/metrics") { _, _ in
            guard self.options.metricsEndpoint else {
                return HotMoEServer.error(APIError(501, "/metrics is off: start the server with --metrics", type: "not_supported_error"))
            }
            let busy = await self.scheduler.busySlots, queued = await self.scheduler.queueDepth
            var response = HotMoEServer.raw(self.metrics.render(busy: busy, queued: queued, slots: self.options.parallel, runtime: self.runtime),
                                            type: "text/plain; version=0.0.4")
            response.headers[HTTPField.Name("Process-Start-Time-Unix")!] = String(HotMoEServer.startTime)
            return response
        }
        for path in ["/v1/chat/completions", "/chat/completions"] {
            router.post(RouterPath(path)) { req, ctx in await self.guarded { try await self.complete(req, ctx, chat: true) } }
        }
        router.post("/v1/completions") { req, ctx in await self.guarded { try await self.complete(req, ctx, chat: false) } }
        // As in llama-server, /completions without /v1 is the native endpoint.
        for path in ["/completion", "/completions"] {
            router.post(RouterPath(path)) { req, ctx in await self.guarded { try await self.completeNative(req, ctx) } }
        }
        router.get("/moe-layer-perf") { _, _ in HotMoEServer.raw(String(decoding: self.runtime.perfJSON(), as: UTF8.self)) }
        router.post("/moe-layer-perf") { req, ctx in
            await self.guarded {
                let f = try JSONFields(try await self.body(req, ctx))
                guard let m = try f.string("mode"), let mode = PerfMode(rawValue: m.lowercased()) else {
                    throw APIError(400, "'mode' must be \"full\", \"update\" or \"off\"")
                }
                // Between decode steps only: wait for idle slots, like every runtime change.
                await self.scheduler.exclusive { self.runtime.setPerfMode(mode) }
                return HotMoEServer.json(["success": true, "mode": mode.rawValue])
            }
        }
        router.post("/moe-hot-cache") { req, ctx in await self.guarded { try await self.applyCache(try await self.body(req, ctx)) } }
        router.get("/moe-hot-cache") { req, _ in
            await self.guarded {
                if let json = req.uri.queryParameters.get("json") { return try await self.applyCache(Data(json.utf8)) }
                return try await self.applyCache(self.runtime.perfJSON())
            }
        }
        // llama-server endpoints hotmoe does not serve: a 501 that says so, not a bare 404.
        let unsupported: [(String, String)] = [
            ("/infill", "code infill (FIM) is not supported"), ("/rerank", "reranking is not supported"),
            ("/reranking", "reranking is not supported"), ("/v1/rerank", "reranking is not supported"),
            ("/v1/responses", "the Responses API is not supported: use /v1/chat/completions"),
            ("/v1/messages", "the Anthropic Messages API is not supported: use /v1/chat/completions"),
            ("/v1/messages/count_tokens", "the Anthropic Messages API is not supported"),
            ("/lora-adapters", "LoRA adapters are not supported"),
        ]
        for (path, why) in unsupported {
            let answer: @Sendable (Request, ServerContext) async throws -> Response = { _, _ in
                HotMoEServer.error(APIError(501, "\(path): \(why)", type: "not_supported_error"))
            }
            router.post(RouterPath(path), use: answer)
            router.get(RouterPath(path), use: answer)
        }
        if options.webUI {
            router.get("/") { _, _ in HotMoEServer.raw(WebUI.page, type: "text/html; charset=utf-8") }
            router.get("/manifest.webmanifest") { _, _ in HotMoEServer.raw(WebUI.manifest, type: "application/manifest+json") }
            router.get("/favicon.svg") { _, _ in HotMoEServer.raw(WebUI.icon, type: "image/svg+xml") }
            router.get("/sw.js") { _, _ in HotMoEServer.raw(WebUI.serviceWorker, type: "text/javascript; charset=utf-8") }
            router.get("/_app/version.json") { _, _ in HotMoEServer.json(["version": WebUI.version]) }
        }
        for path in ["/v1/chat/completions/input_tokens", "/chat/completions/input_tokens"] {
            router.post(RouterPath(path)) { req, ctx in
                await self.guarded {
                    let f = try JSONFields(try await self.body(req, ctx))
                    try f.refuseUnimplemented()
                    return HotMoEServer.json(["input_tokens": self.tokenizer.encode(try self.renderChat(f, tools: []), parseSpecial: true).count])
                }
            }
        }
    }

    /// Manual apply: queued behind running requests, then delta replacement at rate 1.0.
    func applyCache(_ data: Data) async throws -> Response {
        runtime.requestManualApply()
        let runtime = runtime
        let result: Result<UpdateStats, Error> = await scheduler.exclusive { Result { try runtime.applyHotCache(json: data) } }
        switch result {
        case .success(let stats): return HotMoEServer.raw(stats.responseJSON(success: true, active: runtime.isActive))
        case .failure(let e): throw APIError(400, "\(e)")
        }
    }

    func complete(_ req: Request, _ ctx: ServerContext, chat: Bool) async throws -> Response {
        let f = try JSONFields(try await body(req, ctx))
        try f.refuseUnimplemented()
        let plan = try completionPlan(f, chat: chat)
        let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24).lowercased()
        let created = Int(Date().timeIntervalSince1970)
        let object = chat ? "chat.completion" : "text_completion"
        @Sendable func header() -> [String: Any] {
            ["id": id, "object": plan.stream ? (chat ? "chat.completion.chunk" : "text_completion") : object, "created": created,
             "model": modelName, "system_fingerprint": HotMoEServer.fingerprint]
        }
        if !plan.stream {
            let results = try await generateAll(plan, connected: ctx.clientConnected)
            let choices = results.enumerated().map { i, result -> [String: Any] in
                var choice: [String: Any]
                if chat {
                    let (message, finish) = chatMessage(result, tools: plan.tools, reasoning: plan.reasoning)
                    choice = ["index": i, "message": message, "finish_reason": finish]
                } else {
                    choice = ["index": i, "text": result.text, "logprobs": NSNull(), "finish_reason": result.finishReason]
                }
                if plan.topLogprobs != nil { choice["logprobs"] = chat ? chatLogprobs(result.logprobs) : completionLogprobs(result.logprobs) }
                return choice
            }
            var body = header()
            body["choices"] = choices
            if try f.bool("verbose") ?? options.verboseResponses {
                body["__verbose"] = nativeResult(results[0], index: 0, request: plan.requests[0], returnTokens: false, streamed: false)
            }
            body["usage"] = usage(results)
            body["timings"] = timings(results[0])
            if f.has("n_probs") { body["completion_probabilities"] = nativeProbabilities(results[0].logprobs) }
            return HotMoEServer.json(body)
        }
        @Sendable func chunk(_ delta: Any, finish: String?, logprobs: [TokenLogprob] = []) -> [String: Any] {
            var choice: [String: Any] = ["index": 0, "finish_reason": finish ?? NSNull()]
            choice[chat ? "delta" : "text"] = delta
            if plan.topLogprobs != nil && !logprobs.isEmpty {
                choice["logprobs"] = chat ? chatLogprobs(logprobs) : completionLogprobs(logprobs)
            }
            var c = header()
            c["choices"] = [choice]
            return c
        }
        let toolDeltas = plan.tools.parser.map(ToolCallDeltas.init)
        let thoughts = plan.reasoning.map(ReasoningStream.init)
        /// Answer text as deltas: through the tool-call splitter when the request has tools.
        @Sendable func contentDeltas(_ text: String) -> [[String: Any]] {
            if let toolDeltas { return toolDeltas.push(text) }
            return text.isEmpty ? [] : [["content": text]]
        }
        @Sendable func deltas(_ pieces: [ReasoningPiece]) -> [[String: Any]] {
            pieces.flatMap { p -> [[String: Any]] in
                switch p {
                case .reasoning(let t): return t.isEmpty ? [] : [["reasoning_content": t]]
                case .content(let t): return contentDeltas(t)
                }
            }
        }
        return try await streamResponse(plan.requests[0], slot: plan.slot, opening: { chat ? [chunk(["role": "assistant", "content": NSNull()], finish: nil)] : [] }, done: true,
            piece: { piece in
                if let progress = piece.promptProgress {
                    var event = header()
                    event["choices"] = [Any]()
                    event["prompt_progress"] = progress.json
                    event["timings"] = self.timings(piece.progress)
                    return [event]
                }
                if let thoughts {
                    let out = deltas(thoughts.push(piece.text))
                    if out.isEmpty {
                        return plan.topLogprobs == nil || piece.logprobs.isEmpty ? [] : [chunk([String: Any](), finish: nil, logprobs: piece.logprobs)]
                    }
                    return out.enumerated().map { i, d in chunk(d, finish: nil, logprobs: i == 0 ? piece.logprobs : []) }
                }
                if let toolDeltas {
                    // Content and calls as the splitter releases them; logprobs ride on the first.
                    let deltas = toolDeltas.push(piece.text)
                    if deltas.isEmpty {
                        return plan.topLogprobs == nil || piece.logprobs.isEmpty ? [] : [chunk([String: Any](), finish: nil, logprobs: piece.logprobs)]
                    }
                    return deltas.enumerated().map { i, d in chunk(d, finish: nil, logprobs: i == 0 ? piece.logprobs : []) }
                }
                // A piece without text (the EOS token) is sent only for its logprobs.
                if piece.text.isEmpty && (plan.topLogprobs == nil || piece.logprobs.isEmpty) { return [] }
                let delta: Any = chat ? (piece.text.isEmpty ? [String: Any]() : ["content": piece.text]) : piece.text
                var event = chunk(delta, finish: nil, logprobs: piece.logprobs)
                if plan.timingsPerToken { event["timings"] = self.timings(piece.progress) }
                return [event]
            },
            final: { result in
                let held = (deltas(thoughts?.finish() ?? []) + (toolDeltas?.finish() ?? [])).map { chunk($0, finish: nil) }
                let finish = toolDeltas.map { chatFinishReason(result, calls: $0.callCount) } ?? result.finishReason
                var last = chunk(chat ? [String: Any]() : "", finish: finish)
                last["timings"] = self.timings(result)
                guard plan.includeUsage else { return held + [last] }
                var usage = header()
                usage["choices"] = [Any]()
                usage["usage"] = self.usage([result])
                usage["timings"] = self.timings(result)
                return held + [last, usage]
            })
    }

    /// Token counts summed over the request's prompts.
    func usage(_ results: [GenerationResult]) -> [String: Any] {
        let prompt = results.map(\.promptTokens).reduce(0, +), completion = results.map(\.completionTokens).reduce(0, +)
        return ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": ["cached_tokens": results.map(\.cachedTokens).reduce(0, +)]]
    }

    /// llama-server's `timings` object.
    func timings(_ r: GenerationResult) -> [String: Any] { timings(r.progress) }

    func timings(_ r: GenerationProgress) -> [String: Any] {
        let promptN = r.promptTokens - r.cachedTokens
        func perToken(_ seconds: Double, _ n: Int) -> Double { n > 0 ? seconds * 1000 / Double(n) : 0 }
        return ["cache_n": r.cachedTokens, "prompt_n": promptN, "prompt_ms": r.promptSeconds * 1000,
                "prompt_per_token_ms": perToken(r.promptSeconds, promptN),
                "prompt_per_second": r.promptSeconds > 0 ? Double(promptN) / r.promptSeconds : 0,
                "predicted_n": r.completionTokens, "predicted_ms": r.generationSeconds * 1000,
                "predicted_per_token_ms": perToken(r.generationSeconds, max(0, r.completionTokens - 1)),
                "predicted_per_second": r.generationSeconds > 0 ? Double(max(0, r.completionTokens - 1)) / r.generationSeconds : 0]
    }
}

/// Set when the client goes away; the slot's thread checks it after every token.
final class CancelFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
