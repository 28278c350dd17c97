import Engine
import ExpertCache
import Foundation
import HotCache
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
                HotMoEServer.json(["object": "list", "data": [["id": self.modelName, "object": "model", "created": Int(Date().timeIntervalSince1970),
                                                              "owned_by": "hotmoe", "meta": ["n_ctx_train": self.model.config.contextLength,
                                                                                            "n_vocab": self.model.config.vocabSize]]]])
            }
        }
        addNativeRoutes(router)
        router.get("/metrics") { _, _ in
            let busy = await self.scheduler.busySlots, queued = await self.scheduler.queueDepth
            return HotMoEServer.raw(self.metrics.render(busy: busy, queued: queued, slots: self.options.parallel, runtime: self.runtime),
                                    type: "text/plain; version=0.0.4")
        }
        for path in ["/v1/chat/completions", "/chat/completions"] {
            router.post(RouterPath(path)) { req, ctx in await self.guarded { try await self.complete(req, ctx, chat: true) } }
        }
        for path in ["/v1/completions", "/completions", "/completion"] {
            router.post(RouterPath(path)) { req, ctx in await self.guarded { try await self.complete(req, ctx, chat: false) } }
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
        router.get("/") { _, _ in HotMoEServer.raw(WebUI.page, type: "text/html; charset=utf-8") }
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
        let (sampling, maxTokens, ignoreEOS) = try f.generationParameters(defaultMaxTokens: options.defaultMaxTokens,
                                                                          defaults: options.defaultSampling,
                                                                          defaultIgnoreEOS: options.defaultIgnoreEOS)
        let stream = try f.bool("stream") ?? false
        let includeUsage = ((f.object["stream_options"] as? [String: Any])?["include_usage"] as? Bool) ?? false
        let prompt: [Int32]
        if chat {
            let text = try renderChat(f, tools: [])
            prompt = tokenizer.encode(text, parseSpecial: true)
        } else {
            if let s = f.object["prompt"] as? String {
                prompt = tokenizer.encode(s)
            } else if let list = f.object["prompt"] as? [String], list.count == 1 {
                prompt = tokenizer.encode(list[0])
            } else {
                throw APIError(400, "'prompt' must be a string (or an array with one string)")
            }
        }
        let ctxSize = min(options.contextSize, model.config.contextLength)
        guard !prompt.isEmpty else { throw APIError(400, "the prompt is empty") }
        guard prompt.count < ctxSize else {
            throw APIError(400, "the prompt has \(prompt.count) tokens, the context holds \(ctxSize) (raise --ctx-size)")
        }
        let adjustments = try f.adjustments(defaults: options.defaultAdjustments, vocabSize: model.config.vocabSize)
        let topLogprobs = try f.topLogprobs(chat: chat)
        if stream && topLogprobs != nil { throw APIError(400, "'logprobs' with 'stream': true is not supported yet (ask without streaming)") }
        let gen = GenerationRequest(prompt: prompt, maxTokens: min(maxTokens, ctxSize - prompt.count), sampling: sampling,
                                    stop: try f.stop(), ignoreEOS: ignoreEOS, adjustments: adjustments, topLogprobs: topLogprobs,
                                    traceDomain: chat ? "chat" : "completion")
        let slot = try await scheduler.acquire()
        let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24).lowercased()
        let created = Int(Date().timeIntervalSince1970)
        if !stream {
            let result: GenerationResult
            do { result = try await slot.generate(gen, tokenizer: tokenizer) { _ in true } } catch {
                await scheduler.release(slot)
                throw error
            }
            await scheduler.release(slot)
            metrics.record(result)
            afterRequest()
            var choice: [String: Any] = chat
                ? ["index": 0, "message": ["role": "assistant", "content": result.text], "finish_reason": result.finishReason]
                : ["index": 0, "text": result.text, "logprobs": NSNull(), "finish_reason": result.finishReason]
            var body: [String: Any] = ["id": id, "object": chat ? "chat.completion" : "text_completion", "created": created,
                                       "model": modelName, "usage": usage(result), "timings": timings(result)]
            if topLogprobs != nil {
                choice["logprobs"] = chat ? chatLogprobs(result.logprobs) : completionLogprobs(result.logprobs)
                if f.has("n_probs") { body["completion_probabilities"] = nativeProbabilities(result.logprobs) }
            }
            body["choices"] = [choice]
            return HotMoEServer.json(body)
        }
        // Streaming: generation runs on the slot's thread; pieces cross over through an AsyncStream.
        let (pieces, continuation) = AsyncStream<String>.makeStream()
        let cancelFlag = CancelFlag()
        let tokenizer = tokenizer
        let generation = Task {
            defer { continuation.finish() }
            return try await slot.generate(gen, tokenizer: tokenizer) { piece in
                continuation.yield(piece)
                return !cancelFlag.isSet
            }
        }
        let model = modelName
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: ResponseBody { writer in
            func send(_ object: [String: Any]) async throws {
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                try await writer.write(ByteBuffer(string: "data: " + String(decoding: data, as: UTF8.self) + "\n\n"))
            }
            func chunk(_ content: String?, finish: String?) -> [String: Any] {
                let delta: Any
                if chat { delta = content.map { ["content": $0] } ?? [String: Any]() } else { delta = content ?? "" }
                var choice: [String: Any] = ["index": 0, "finish_reason": finish ?? NSNull()]
                choice[chat ? "delta" : "text"] = delta
                return ["id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created, "model": model, "choices": [choice]]
            }
            var clientGone = false
            do {
                if chat { try await send(["id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                                          "choices": [["index": 0, "delta": ["role": "assistant", "content": ""], "finish_reason": NSNull()]]]) }
                for await piece in pieces { try await send(chunk(piece, finish: nil)) }
            } catch {
                clientGone = true
                cancelFlag.set()
            }
            let outcome = await generation.result
            await self.scheduler.release(slot)
            if case .failure(let error) = outcome, !clientGone {
                // The stream has already said 200: the failure goes to the client as an error event.
                try? await send(["error": ["code": 500, "message": "\(error)", "type": "server_error"]])
            }
            if case .success(let result) = outcome {
                self.metrics.record(result)
                if !clientGone {
                    var last = chunk(nil, finish: result.finishReason)
                    last["timings"] = self.timings(result)
                    try? await send(last)
                    if includeUsage {
                        try? await send(["id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created,
                                         "model": model, "choices": [Any](), "usage": self.usage(result)])
                    }
                    try? await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                }
            } else {
                self.metrics.recordError()
            }
            self.afterRequest()
            try? await writer.finish(nil)
        })
    }

    func usage(_ r: GenerationResult) -> [String: Any] {
        ["prompt_tokens": r.promptTokens, "completion_tokens": r.completionTokens, "total_tokens": r.promptTokens + r.completionTokens,
         "prompt_tokens_details": ["cached_tokens": r.cachedTokens]]
    }

    func timings(_ r: GenerationResult) -> [String: Any] {
        ["prompt_n": r.promptTokens - r.cachedTokens, "prompt_ms": r.promptSeconds * 1000,
         "prompt_per_second": r.promptSeconds > 0 ? Double(r.promptTokens - r.cachedTokens) / r.promptSeconds : 0,
         "predicted_n": r.completionTokens, "predicted_ms": r.generationSeconds * 1000,
         "predicted_per_second": r.generationSeconds > 0 ? Double(max(0, r.completionTokens - 1)) / r.generationSeconds : 0]
    }
}

/// Set when the client goes away; the slot's thread checks it after every token.
final class CancelFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
